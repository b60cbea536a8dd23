"""dsv4 serve driven with the real openai client on the built-in default model (random weights:
the text is noise, so the checks are on structure, counts and determinism, not on meaning)."""
import json
import socket
import threading
import time

import openai
import pytest

from conftest import API_KEY, http

MSG = [{"role": "user", "content": "Hello, who are you?"}]


def test_health_models_version(server):
    status, body = http("GET", server.url + "/health")  # no key needed
    assert (status, body) == (200, {"status": "ok"})
    assert all(s in (200, 503) for s, _ in server.health)
    assert all(b == {"status": "loading"} for s, b in server.health if s == 503)
    status, body = server.get("/v1/models")
    assert status == 200 and body["object"] == "list"
    assert body["data"][0]["id"] == "dsv4-default" and body["data"][0]["max_model_len"] == 512


def test_models_through_the_client(openai_client):
    assert [m.id for m in openai_client.models.list()] == ["dsv4-default"]


def test_chat_completion_shape_and_usage(openai_client):
    r = openai_client.chat.completions.create(model="dsv4-default", messages=MSG, max_tokens=6, temperature=0,
                                              extra_body={"ignore_eos": True})
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-")
    c = r.choices[0]
    assert c.finish_reason == "length" and c.message.role == "assistant"
    assert r.usage.completion_tokens == 6
    assert r.usage.total_tokens == r.usage.prompt_tokens + 6
    assert r.usage.prompt_tokens_details.cached_tokens == 0
    # Thinking is on by default: the tokens before </think> are reasoning.
    assert isinstance(c.message.reasoning_content, str)
    assert r.usage.completion_tokens_details.reasoning_tokens <= 6


def test_thinking_switches(openai_client, server):
    def run(**extra):
        r = openai_client.chat.completions.create(model="m", messages=MSG, max_tokens=4, temperature=0,
                                                  extra_body=dict(ignore_eos=True, **extra))
        return r

    on = run()
    for off in (run(thinking={"type": "disabled"}), run(chat_template_kwargs={"enable_thinking": False}),
                run(chat_template_kwargs={"thinking": False}), run(reasoning_effort="none")):
        assert off.choices[0].message.reasoning_content is None
        assert off.usage.completion_tokens_details.reasoning_tokens == 0
        assert off.choices[0].message.content  # chat mode: the output is content
    assert on.usage.completion_tokens_details.reasoning_tokens == 4 or "</think>" in str(on)
    # reasoning_effort=max adds the effort paragraph to the prompt.
    assert run(reasoning_effort="max").usage.prompt_tokens > on.usage.prompt_tokens
    # The prompt is the official encoding: /tokenize with the same messages agrees.
    status, t = server.post("/tokenize", {"messages": MSG})
    assert status == 200 and t["count"] == on.usage.prompt_tokens


def test_streaming_matches_the_whole_answer_and_reports_usage(openai_client):
    kw = dict(model="m", messages=MSG, max_tokens=8, temperature=0, extra_body={"ignore_eos": True, "thinking": False})
    whole = openai_client.chat.completions.create(**kw)
    chunks = list(openai_client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kw))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(ch.usage is None for ch in chunks[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 8
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == whole.choices[0].message.content
    finals = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert finals == ["length"]
    assert len({ch.id for ch in chunks}) == 1
    # Without include_usage no usage chunk.
    plain = list(openai_client.chat.completions.create(stream=True, **kw))
    assert all(ch.choices for ch in plain)


def test_raw_sse_framing(server):
    import urllib.request
    req = urllib.request.Request(server.url + "/v1/chat/completions", method="POST",
                                 data=json.dumps({"messages": MSG, "max_tokens": 3, "stream": True,
                                                  "ignore_eos": True}).encode(),
                                 headers={**server.headers(), "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        raw = r.read().decode()
    events = raw.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    for e in events[:-2]:
        assert e.startswith("data: {") and "\n" not in e
        json.loads(e[6:])


def test_n_choices(openai_client):
    r = openai_client.chat.completions.create(model="m", messages=MSG, max_tokens=3, n=3, seed=5,
                                              extra_body={"ignore_eos": True, "thinking": False})
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert r.usage.completion_tokens == 9
    stream = list(openai_client.chat.completions.create(model="m", messages=MSG, max_tokens=3, n=2, stream=True,
                                                        extra_body={"ignore_eos": True}))
    assert {ch.choices[0].index for ch in stream} == {0, 1}
    assert sum(1 for ch in stream if ch.choices[0].finish_reason) == 2


def test_seed_reproducibility(openai_client):
    def run(seed):
        return openai_client.completions.create(model="m", prompt="Once upon a time", max_tokens=12, temperature=1.0,
                                                seed=seed, extra_body={"ignore_eos": True, "return_token_ids": True})
    a, b, c = run(1234), run(1234), run(99)
    assert a.choices[0].text == b.choices[0].text
    assert a.model_extra is not None
    assert a.choices[0].model_extra["token_ids"] == b.choices[0].model_extra["token_ids"]
    assert a.choices[0].model_extra["token_ids"] != c.choices[0].model_extra["token_ids"]


def test_stop_strings_and_stop_token_ids(openai_client):
    base = openai_client.completions.create(model="m", prompt="The weather today", max_tokens=16, temperature=0,
                                            extra_body={"ignore_eos": True, "return_token_ids": True})
    text, ids = base.choices[0].text, base.choices[0].model_extra["token_ids"]
    assert base.usage.completion_tokens == 16
    # A stop string from the middle of the greedy text: the answer ends right before it.
    start = len(text) // 2
    stop = text[start:start + 3]
    cut = text.find(stop)
    if stop.strip():
        r = openai_client.completions.create(model="m", prompt="The weather today", max_tokens=16, temperature=0,
                                             stop=[stop], extra_body={"ignore_eos": True})
        assert r.choices[0].finish_reason == "stop"
        assert r.choices[0].text == text[:cut]
    # A stop token id: generation ends at its first occurrence (the id is the last one generated).
    k = ids.index(ids[5])
    r = openai_client.completions.create(model="m", prompt="The weather today", max_tokens=16, temperature=0,
                                         extra_body={"ignore_eos": True, "stop_token_ids": [ids[5]],
                                                     "return_token_ids": True})
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].model_extra["token_ids"] == ids[:k + 1]


def test_min_tokens_and_max_completion_tokens(openai_client):
    r = openai_client.chat.completions.create(model="m", messages=MSG, max_completion_tokens=5, temperature=0,
                                              extra_body={"min_tokens": 5})
    assert r.usage.completion_tokens == 5


def test_chat_logprobs(openai_client):
    r = openai_client.chat.completions.create(model="m", messages=MSG, max_tokens=5, temperature=0, logprobs=True,
                                              top_logprobs=3, extra_body={"ignore_eos": True})
    content = r.choices[0].logprobs.content
    assert len(content) == 5
    for e in content:
        assert e.logprob <= 0 and len(e.top_logprobs) == 3
        assert e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob >= e.top_logprobs[2].logprob
        assert abs(e.top_logprobs[0].logprob - e.logprob) < 1e-4  # greedy: the chosen one is the top one
    stream = list(openai_client.chat.completions.create(model="m", messages=MSG, max_tokens=5, temperature=0,
                                                        logprobs=True, stream=True, extra_body={"ignore_eos": True}))
    got = [e for ch in stream if ch.choices and ch.choices[0].logprobs for e in ch.choices[0].logprobs.content]
    assert [e.logprob for e in got] == pytest.approx([e.logprob for e in content], abs=1e-5)


def test_completion_logprobs_and_echo(openai_client):
    r = openai_client.completions.create(model="m", prompt="Hello", max_tokens=4, temperature=0, logprobs=2,
                                         echo=True, extra_body={"ignore_eos": True})
    lp = r.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == 4
    assert all(len(t) <= 2 for t in lp.top_logprobs)
    assert r.choices[0].text.startswith("Hello")


def test_completions_several_prompts_and_ids(openai_client):
    r = openai_client.completions.create(model="m", prompt=["a b c", "d e"], max_tokens=2, n=2,
                                         extra_body={"ignore_eos": True})
    assert [c.index for c in r.choices] == [0, 1, 2, 3] and r.usage.completion_tokens == 8
    r = openai_client.completions.create(model="m", prompt=[1000, 2000, 3000], max_tokens=2,
                                         extra_body={"ignore_eos": True})
    assert r.usage.prompt_tokens == 3


def metric(server, name):
    _, text = http("GET", server.url + "/metrics")
    return sum(float(l.split(" ")[1]) for l in text.splitlines() if l.startswith(name + "{"))


def test_prefix_cache_hit_equals_miss(server, openai_client):
    import random
    rng = random.Random()
    prompt = [rng.randrange(1000, 20000) for _ in range(300)]  # fresh each run: the first call misses
    hits0 = metric(server, "vllm:prefix_cache_hits_total")
    for sampling in ({"temperature": 0}, {"temperature": 1.0, "seed": rng.randrange(1 << 30)}):
        first = openai_client.completions.create(model="m", prompt=prompt, max_tokens=12,
                                                 extra_body={"ignore_eos": True, "return_token_ids": True},
                                                 **sampling)
        again = openai_client.completions.create(model="m", prompt=prompt, max_tokens=12,
                                                 extra_body={"ignore_eos": True, "return_token_ids": True},
                                                 **sampling)
        assert again.usage.prompt_tokens_details.cached_tokens == 256  # (300 - 1) // 128 blocks
        assert first.choices[0].text == again.choices[0].text
    assert metric(server, "vllm:prefix_cache_hits_total") >= hits0 + 3 * 256  # the seeded pair hits twice
    assert metric(server, "vllm:prefix_cache_queries_total") >= 4 * 300


def test_tokenize_round_trip(server):
    text = "Hello, 世界! DeepSeek-V4 tokenizes this. 🙂"
    status, t = server.post("/tokenize", {"prompt": text})
    assert status == 200 and t["count"] == len(t["tokens"]) > 5
    status, d = server.post("/detokenize", {"tokens": t["tokens"]})
    assert status == 200 and d["prompt"] == text


def test_tools_are_rendered_into_the_prompt(openai_client):
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    plain = openai_client.chat.completions.create(model="m", messages=MSG, max_tokens=1)
    with_tools = openai_client.chat.completions.create(model="m", messages=MSG, max_tokens=1, tools=tools)
    assert with_tools.usage.prompt_tokens > plain.usage.prompt_tokens + 20
    none = openai_client.chat.completions.create(model="m", messages=MSG, max_tokens=1, tools=tools, tool_choice="none")
    assert none.usage.prompt_tokens == plain.usage.prompt_tokens
    # A conversation with a tool call and its result is accepted (the encoder renders DSML).
    conv = MSG + [{"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]
    r = openai_client.chat.completions.create(model="m", messages=conv, max_tokens=2, tools=tools)
    assert r.usage.prompt_tokens > with_tools.usage.prompt_tokens


def test_metrics(server, openai_client):
    openai_client.chat.completions.create(model="m", messages=MSG, max_tokens=2)
    status, text = http("GET", server.url + "/metrics")
    assert status == 200
    for name in ["vllm:time_to_first_token_seconds_bucket", "vllm:inter_token_latency_seconds_count",
                 "vllm:e2e_request_latency_seconds_sum", "vllm:request_queue_time_seconds_count",
                 "vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
                 "vllm:prefix_cache_queries_total", "vllm:prefix_cache_hits_total", "vllm:prompt_tokens_total",
                 "vllm:generation_tokens_total", "vllm:num_preemptions_total", "dsv4:cache_blocks_used"]:
        assert name in text, name
    values = {l.split(" ")[0].split("{")[0]: float(l.split(" ")[1]) for l in text.splitlines()
              if l and not l.startswith("#") and "_bucket" not in l}
    assert values["vllm:generation_tokens_total"] > 0 and values["vllm:e2e_request_latency_seconds_count"] > 0


# ---- errors ----

def err(status_body, status, param=None):
    s, b = status_body
    assert s == status, b
    assert set(b["error"]) == {"message", "type", "param", "code"}, b
    if param:
        assert b["error"]["param"] == param, b
    return b["error"]


def test_400_invalid_fields_name_the_field(server):
    ok = {"messages": MSG, "max_tokens": 2}
    err(server.post("/v1/chat/completions", {**ok, "temperature": "hot"}), 400, "temperature")
    err(server.post("/v1/chat/completions", {**ok, "temperature": -1}), 400, "temperature")
    err(server.post("/v1/chat/completions", {**ok, "top_p": 0}), 400, "top_p")
    err(server.post("/v1/chat/completions", {**ok, "max_tokens": 1.5}), 400, "max_tokens")
    err(server.post("/v1/chat/completions", {**ok, "n": 0}), 400, "n")
    err(server.post("/v1/chat/completions", {**ok, "stop": [1, 2]}), 400, "stop")
    err(server.post("/v1/chat/completions", {**ok, "stream_options": {"include_usage": True}}), 400, "stream_options")
    err(server.post("/v1/chat/completions", {**ok, "top_logprobs": 2}), 400, "top_logprobs")
    err(server.post("/v1/chat/completions", {"max_tokens": 2}), 400, "messages")
    err(server.post("/v1/chat/completions", {**ok, "messages": [{"role": "wizard", "content": "x"}]}), 400, "messages")
    err(server.post("/v1/chat/completions", {**ok, "tool_choice": "required"}), 400, "tool_choice")
    err(server.post("/v1/chat/completions", {**ok, "reasoning_effort": "extreme"}), 400, "reasoning_effort")
    err(server.post("/v1/completions", {"prompt": [1, -2]}), 400, "prompt")
    err(server.post("/v1/completions", {"prompt": [999999999]}), 400, "prompt")
    err(server.post("/v1/completions", {"prompt": ""}), 400, "prompt")


def test_response_format_constrains_the_answer(server, openai_client):
    ok = {"messages": MSG, "max_tokens": 2}
    assert server.post("/v1/chat/completions", {**ok, "response_format": {"type": "text"}})[0] == 200
    schema = {"type": "object", "properties": {"answer": {"enum": ["yes", "no"]}}, "required": ["answer"],
              "additionalProperties": False}
    r = openai_client.chat.completions.create(
        model="m", messages=MSG, max_tokens=64, temperature=0.8, seed=3,
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}})
    c = r.choices[0]
    assert c.finish_reason == "stop", c  # the constraint ends the value, then only EOS is allowed
    assert json.loads(c.message.content) in ({"answer": "yes"}, {"answer": "no"})
    assert c.message.reasoning_content is None  # JSON formats answer in non-thinking mode
    r = openai_client.chat.completions.create(model="m", messages=MSG, max_tokens=200, temperature=0.8, seed=4,
                                              response_format={"type": "json_object"})
    if r.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(r.choices[0].message.content), dict)
    else:
        assert r.choices[0].message.content.lstrip().startswith("{")


def test_400_response_format_is_validated(server):
    ok = {"messages": MSG, "max_tokens": 2}
    err(server.post("/v1/chat/completions", {**ok, "response_format": {"type": "json_schema"}}), 400,
        "response_format.json_schema")
    err(server.post("/v1/chat/completions", {**ok, "response_format": {"type": "yaml"}}), 400, "response_format.type")
    err(server.post("/v1/chat/completions", {**ok, "response_format": {"type": "json_schema", "json_schema": {
        "name": "x", "schema": {"type": "object", "patternProperties": {"^a": {}}}}}}), 400, "response_format")


def test_400_context_length(server, openai_client):
    e = err(server.post("/v1/completions", {"prompt": "word " * 600, "max_tokens": 1}), 400, "prompt")
    assert e["code"] == "context_length_exceeded" and "512" in e["message"]
    e = err(server.post("/v1/completions", {"prompt": "word", "max_tokens": 600}), 400, "max_tokens")
    with pytest.raises(openai.BadRequestError):
        openai_client.completions.create(model="m", prompt="word " * 600, max_tokens=1)


def test_400_malformed_bodies(server):
    h = {"Content-Type": "application/json"}
    for body in [b"{", b"[1,2]", b"null", b'{"messages": ', b"\xff\xfe{}", b'{"messages": [{"role": "user", "content": "\xff"}]}',
                 b"[" * 100000 + b"]" * 100000, b'{"a":' * 5000 + b"1" + b"}" * 5000]:
        s, b = server.post("/v1/chat/completions", body, h)
        assert s == 400 and b["error"]["type"] == "invalid_request_error", (body[:20], s, b)
    assert http("GET", server.url + "/health")[0] == 200


def test_401_wrong_or_missing_key(server):
    for headers in [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer " + API_KEY + "x"}]:
        e = err(http("POST", server.url + "/v1/chat/completions", {"messages": MSG}, headers), 401)
        assert e["type"] == "authentication_error"
    assert http("POST", server.url + "/v1/completions", {"prompt": "x", "max_tokens": 1},
                {"x-api-key": API_KEY})[0] == 200
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.url + "/v1", api_key="nope", max_retries=0).models.list()


def test_404_405_413(server):
    err(server.get("/v1/nothing"), 404)
    e = err(server.get("/v1/chat/completions"), 405)
    s, b = server.post("/v1/chat/completions", b'{"messages": "' + b"x" * (2 << 20) + b'"}', {"Content-Type": "application/json"})
    assert s == 413 and b["error"]["type"] == "request_too_large", (s, str(b)[:200])
    assert http("GET", server.url + "/health")[0] == 200


def test_429_when_the_queue_is_full(server):
    # 8 running + 8 queued at most: 40 concurrent long requests cannot all be taken.
    statuses = []
    lock = threading.Lock()

    def one():
        s, _ = server.post("/v1/completions", {"prompt": "x y z", "max_tokens": 40, "ignore_eos": True})
        with lock:
            statuses.append(s)

    threads = [threading.Thread(target=one) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(statuses) == 40
    assert set(statuses) <= {200, 429} and statuses.count(429) > 0 and statuses.count(200) >= 8, statuses
    s, b = server.post("/v1/completions", {"prompt": "x", "max_tokens": 1})
    assert s == 200


def cache_blocks_used(server):
    _, text = http("GET", server.url + "/metrics")
    return {l.split("pool=\"")[1].split("\"")[0]: int(float(l.split(" ")[1])) for l in text.splitlines()
            if l.startswith("dsv4:cache_blocks_used{")}


def test_disconnect_mid_stream_frees_the_cache(server):
    idle = cache_blocks_used(server)
    body = json.dumps({"messages": MSG, "max_tokens": 400, "stream": True, "ignore_eos": True}).encode()
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Authorization: Bearer " + API_KEY.encode() + b"\r\nContent-Length: " + str(len(body)).encode() +
                  b"\r\n\r\n" + body)
        got = b""
        while got.count(b"data: ") < 4:
            got += s.recv(4096)
        s.close()  # abruptly, mid-stream
    deadline = time.time() + 30
    while cache_blocks_used(server) != idle and time.time() < deadline:
        time.sleep(0.1)
    assert cache_blocks_used(server) == idle
    _, text = http("GET", server.url + "/metrics")
    assert "vllm:num_requests_running{model_name=\"dsv4-default\"} 0" in text
    assert http("GET", server.url + "/health")[0] == 200
