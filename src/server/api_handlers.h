// The API endpoints that generate or tokenize. Each parses its body, renders and tokenizes the
// prompt, submits one engine request per choice, and answers as one JSON object or as an SSE
// stream. Problems are thrown as ApiError (the server renders them).
#pragma once

#include "server/http_server.h"
#include "server/serving.h"

namespace dsv4::server {

HttpResponse handle_chat_completions(const ServingContext& ctx, const HttpRequest& request);  // POST /v1/chat/completions
HttpResponse handle_completions(const ServingContext& ctx, const HttpRequest& request);       // POST /v1/completions
HttpResponse handle_messages(const ServingContext& ctx, const HttpRequest& request);          // POST /v1/messages
HttpResponse handle_tokenize(const ServingContext& ctx, const HttpRequest& request);          // POST /tokenize
HttpResponse handle_detokenize(const ServingContext& ctx, const HttpRequest& request);        // POST /detokenize

}  // namespace dsv4::server
