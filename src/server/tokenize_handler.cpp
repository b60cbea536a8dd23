// POST /tokenize and /detokenize (vLLM's shapes; SGLang's "text" is accepted too):
// {"prompt": "..."} or {"messages": [...]} -> {"tokens": [...], "count", "max_model_len"};
// {"tokens": [...]} -> {"prompt": "..."}.
#include "server/api_error.h"
#include "server/api_handlers.h"

namespace dsv4::server {

HttpResponse handle_tokenize(const ServingContext& ctx, const HttpRequest& request) {
  const Json body = parse_json_body(request.body);
  std::string text;
  if (body.contains("messages")) {
    ChatRequest chat = parse_chat_request(body);
    text = render_chat_prompt(chat.messages, chat.encode);
  } else if (auto p = get_string(body, "prompt")) {
    text = *p;
  } else if (auto t = get_string(body, "text")) {
    text = *t;
  } else {
    bad_request("prompt", "'prompt' (or 'messages') is required");
  }
  const std::vector<int32_t> ids = tokenize(ctx, text);
  Json out{{"tokens", ids}, {"count", ids.size()}, {"max_model_len", ctx.max_model_len}};
  if (get_bool(body, "return_token_strs").value_or(false)) {
    Json strs = Json::array();
    for (int32_t id : ids) strs.push_back(ctx.tokenizer->id_to_token(uint32_t(id)));
    out["token_strs"] = strs;
  }
  return json_response(200, out);
}

HttpResponse handle_detokenize(const ServingContext& ctx, const HttpRequest& request) {
  const Json body = parse_json_body(request.body);
  const tokenizer::Tokenizer& tok = require_tokenizer(ctx, "/detokenize");
  const Json* tokens = get_array(body, "tokens");
  if (!tokens) bad_request("tokens", "'tokens' is required");
  std::vector<uint32_t> ids;
  for (const Json& t : *tokens) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= int64_t(tok.id_bound()))
      bad_request("tokens", "'tokens' must be token ids in [0, {})", tok.id_bound());
    ids.push_back(uint32_t(t.get<int64_t>()));
  }
  return json_response(200, Json{{"prompt", tok.decode(ids)}});
}

}  // namespace dsv4::server
