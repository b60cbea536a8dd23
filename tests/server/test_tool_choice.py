"""Forced tool calls (tool_choice "required" / a named function; Anthropic "any" / "tool") with the
real clients on the built-in model (random weights: the arguments are noise, but the constraint
makes them valid calls of the offered functions), and cancelling a non-streaming request whose
client has gone."""
import json
import socket
import time

import openai
import pytest

from conftest import API_KEY, http

MSG = [{"role": "user", "content": "Weather in Paris?"}]
WEATHER = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 12},
                                            "unit": {"enum": ["c", "f"]}, "days": {"type": "integer"}},
           "required": ["city"]}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city", "parameters": WEATHER}},
         {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}]
# Thinking off: the random model would not close its reasoning (the constraint starts after </think>).
OFF = {"thinking": False}


def valid_call(name, arguments):
    args = json.loads(arguments)
    assert isinstance(args, dict), arguments
    if name == "now":
        return args == {}
    assert name == "get_weather", name
    assert set(args) <= {"city", "unit", "days"} and "city" in args, args
    assert isinstance(args["city"], str) and len(args["city"]) <= 12, args
    assert args.get("unit", "c") in ("c", "f"), args
    assert isinstance(args.get("days", 0), int) and not isinstance(args.get("days", 0), bool), args
    return True


def test_required_non_streaming_n_choices(openai_client):
    r = openai_client.chat.completions.create(model="m", messages=MSG, tools=TOOLS, tool_choice="required", n=3,
                                              max_tokens=180, temperature=0.8, seed=7, parallel_tool_calls=False,
                                              extra_body=OFF)
    assert len(r.choices) == 3
    for c in r.choices:
        assert c.finish_reason == "tool_calls", c
        assert c.message.content is None
        assert len(c.message.tool_calls) == 1
        t = c.message.tool_calls[0]
        assert t.type == "function" and t.id.startswith("call_")
        assert valid_call(t.function.name, t.function.arguments)
    assert r.usage.completion_tokens > 0


def test_required_parallel_calls(openai_client):
    r = openai_client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Time?"}],
                                              tools=TOOLS[1:], tool_choice="required", n=4, max_tokens=180,
                                              temperature=1.0, seed=11, extra_body=OFF)
    done = [c for c in r.choices if c.finish_reason == "tool_calls"]
    assert done, r  # the constraint closes the block with EOS when the model ends it
    for c in r.choices:
        assert c.finish_reason in ("tool_calls", "length")
        assert c.message.content in (None, "") or c.finish_reason == "length"
    for c in done:
        assert len(c.message.tool_calls) >= 1
        assert all(valid_call(t.function.name, t.function.arguments) for t in c.message.tool_calls)
        assert len({t.id for t in c.message.tool_calls}) == len(c.message.tool_calls)


def test_named_function_streaming(openai_client):
    kw = dict(model="m", messages=MSG, tools=TOOLS, max_tokens=180, temperature=0.7, seed=5, extra_body=OFF,
              tool_choice={"type": "function", "function": {"name": "get_weather"}})
    whole = openai_client.chat.completions.create(**kw)
    c = whole.choices[0]
    assert c.finish_reason == "tool_calls" and c.message.content is None
    assert [t.function.name for t in c.message.tool_calls] == ["get_weather"]
    assert valid_call("get_weather", c.message.tool_calls[0].function.arguments)
    chunks = list(openai_client.chat.completions.create(stream=True, n=2, **kw))
    for index in (0, 1):
        mine = [ch.choices[0] for ch in chunks if ch.choices and ch.choices[0].index == index]
        calls = [t for ch in mine for t in (ch.delta.tool_calls or [])]
        assert [t.function.name for t in calls] == ["get_weather"] and calls[0].index == 0 and calls[0].id
        assert valid_call("get_weather", calls[0].function.arguments)
        assert "".join(ch.delta.content or "" for ch in mine) == ""
        assert [ch.finish_reason for ch in mine if ch.finish_reason] == ["tool_calls"]
    # Seeded: the stream's first choice is the non-streamed answer.
    first = [t for ch in chunks if ch.choices and ch.choices[0].index == 0 for t in (ch.choices[0].delta.tool_calls or [])]
    assert first[0].function.arguments == c.message.tool_calls[0].function.arguments


def test_required_in_thinking_mode_reasons_first(openai_client):
    r = openai_client.chat.completions.create(model="m", messages=MSG, tools=TOOLS, tool_choice="required",
                                              max_tokens=6, temperature=0, seed=1)
    c = r.choices[0]
    # The reasoning is the model's own (unconstrained, no EOS); the calls would follow </think>.
    assert c.finish_reason == "length" and c.message.reasoning_content
    assert r.usage.completion_tokens == 6


def test_tool_choice_errors(server):
    def err(body, param):
        s, b = server.post("/v1/chat/completions", {"messages": MSG, "max_tokens": 4, **body})
        assert s == 400 and b["error"]["param"] == param, (s, b)
        return b["error"]["message"]

    err({"tool_choice": "required"}, "tool_choice")
    err({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice")
    err({"tools": TOOLS, "tool_choice": {"type": "function"}}, "tool_choice")
    err({"tools": TOOLS, "tool_choice": "sometimes"}, "tool_choice")
    err({"tools": TOOLS, "tool_choice": "required", "ignore_eos": True}, "tool_choice")
    err({"tools": TOOLS, "tool_choice": "required", "response_format": {"type": "json_object"}}, "tool_choice")
    bad = [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"x": {"type": "string", "pattern": "^a"}}}}}]
    assert "pattern" in err({"tools": bad, "tool_choice": "required", **OFF}, "tools")
    # auto / none keep working; the unforced request with the same bad schema is fine.
    for choice in ("auto", "none"):
        s, b = server.post("/v1/chat/completions", {"messages": MSG, "max_tokens": 2, "tools": bad, "tool_choice": choice})
        assert s == 200, b


def test_anthropic_any_and_tool(anthropic_client):
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER},
             {"name": "now", "input_schema": {"type": "object", "properties": {}}}]
    m = anthropic_client.messages.create(model="m", max_tokens=180, messages=MSG, tools=tools,
                                         tool_choice={"type": "any", "disable_parallel_tool_use": True},
                                         extra_body={"temperature": 0.8, "seed": 3})
    assert m.stop_reason == "tool_use"
    assert [b.type for b in m.content] == ["tool_use"]
    assert m.content[0].id.startswith("toolu_") and valid_call(m.content[0].name, json.dumps(m.content[0].input))
    kw = dict(model="m", max_tokens=180, messages=MSG, tools=tools, tool_choice={"type": "tool", "name": "get_weather"},
              extra_body={"temperature": 0.8, "seed": 4})
    with anthropic_client.messages.stream(**kw) as stream:
        events = list(stream)
        final = stream.get_final_message()
    starts = [e.content_block.type for e in events if e.type == "content_block_start"]
    assert starts == ["tool_use"]
    assert final.stop_reason == "tool_use" and final.content[0].name == "get_weather"
    assert valid_call("get_weather", json.dumps(final.content[0].input))
    whole = anthropic_client.messages.create(**kw)
    assert whole.content[0].input == final.content[0].input


def metrics(server):
    _, text = http("GET", server.url + "/metrics")
    return text


def metric(text, prefix):
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.split(" ")[-1])
    return 0.0


def cache_blocks_used(server):
    return {l.split("pool=\"")[1].split("\"")[0]: int(float(l.split(" ")[1])) for l in metrics(server).splitlines()
            if l.startswith("dsv4:cache_blocks_used{")}


ABORTS = 'vllm:request_success_total{model_name="dsv4-default",finished_reason="abort"}'
RUNNING = 'vllm:num_requests_running{model_name="dsv4-default"}'


@pytest.mark.parametrize("path,body", [
    ("/v1/chat/completions", {"messages": MSG, "n": 4}),
    ("/v1/completions", {"prompt": "Once upon a time", "n": 4}),
    ("/v1/messages", {"messages": MSG}),
])
def test_disconnect_before_a_non_streaming_answer_cancels_it(server, path, body):
    idle = cache_blocks_used(server)
    aborts = metric(metrics(server), ABORTS)
    choices = body.get("n", 1)
    data = json.dumps({**body, "max_tokens": 480, "ignore_eos": True}).encode()
    s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    s.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Authorization: Bearer " + API_KEY.encode() + b"\r\nContent-Length: " + str(len(data)).encode() +
              b"\r\n\r\n" + data)
    deadline = time.time() + 60
    while metric(metrics(server), RUNNING) < choices and time.time() < deadline:
        time.sleep(0.05)
    assert metric(metrics(server), RUNNING) == choices
    started = time.time()
    s.close()  # no answer yet: the request is generating 480 tokens per choice
    while (metric(metrics(server), ABORTS) < aborts + choices or cache_blocks_used(server) != idle) and \
            time.time() < started + 20:
        time.sleep(0.05)
    assert metric(metrics(server), ABORTS) == aborts + choices
    assert cache_blocks_used(server) == idle
    assert metric(metrics(server), RUNNING) == 0
    assert "(client gone)" in server.read_log()
    assert http("GET", server.url + "/health")[0] == 200
