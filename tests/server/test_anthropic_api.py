"""POST /v1/messages with the real anthropic client: content blocks, thinking, tool_use history,
stop reasons, usage, and the streaming events (message_start ... message_stop)."""
import anthropic
import pytest

from conftest import http

MSG = [{"role": "user", "content": "Hello there"}]


def test_message_shape(anthropic_client):
    m = anthropic_client.messages.create(model="dsv4-default", max_tokens=5, messages=MSG, extra_body={"temperature": 0})
    assert m.type == "message" and m.role == "assistant" and m.id.startswith("msg_")
    assert m.stop_reason in ("max_tokens", "end_turn")
    assert m.usage.output_tokens <= 5 and m.usage.input_tokens > 0
    assert [b.type for b in m.content] == ["text"]  # no thinking unless asked for


def test_thinking_blocks(anthropic_client):
    m = anthropic_client.messages.create(model="m", max_tokens=6, messages=MSG, 
                                         thinking={"type": "enabled", "budget_tokens": 1024},
                                         extra_body={"ignore_eos": True, "temperature": 0})
    assert m.content[0].type == "thinking" and m.content[0].thinking
    assert m.stop_reason == "max_tokens" and m.usage.output_tokens == 6


def test_system_tools_and_tool_results(anthropic_client):
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object",
              "properties": {"city": {"type": "string"}}}}]
    base = anthropic_client.messages.create(model="m", max_tokens=1, messages=MSG)
    m = anthropic_client.messages.create(
        model="m", max_tokens=2, system="Be brief.", tools=tools,
        messages=MSG + [{"role": "assistant", "content": [{"type": "text", "text": "Let me check."},
                                                          {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                                           "input": {"city": "Paris"}}]},
                        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                                      "content": "sunny"}]}])
    assert m.usage.input_tokens > base.usage.input_tokens + 20


def test_stop_sequences(anthropic_client):
    m = anthropic_client.messages.create(model="m", max_tokens=12, messages=MSG,
                                         extra_body={"ignore_eos": True, "temperature": 0})
    text = m.content[0].text
    stop = text[len(text) // 2:len(text) // 2 + 2]
    if stop.strip():
        s = anthropic_client.messages.create(model="m", max_tokens=12, messages=MSG, 
                                             stop_sequences=[stop], extra_body={"ignore_eos": True, "temperature": 0})
        assert s.stop_reason == "stop_sequence" and s.stop_sequence == stop
        assert s.content[0].text == text[:text.find(stop)]


def test_streaming_events(anthropic_client):
    kw = dict(model="m", max_tokens=8, messages=MSG, extra_body={"ignore_eos": True, "temperature": 0})
    whole = anthropic_client.messages.create(**kw)
    with anthropic_client.messages.stream(**kw) as stream:
        events = [e.type for e in stream]
        final = stream.get_final_message()
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert "content_block_start" in events and "content_block_stop" in events and "message_delta" in events
    assert final.content[0].text == whole.content[0].text
    assert final.usage.output_tokens == 8 and final.stop_reason == "max_tokens"
    with anthropic_client.messages.stream(thinking={"type": "enabled", "budget_tokens": 1000}, **kw) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "thinking"


def test_errors_are_anthropic_shaped(server, anthropic_client):
    s, b = server.post("/v1/messages", {"messages": MSG})  # no max_tokens
    assert s == 400 and b["type"] == "error" and b["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in b["error"]["message"]
    with pytest.raises(anthropic.BadRequestError):
        anthropic_client.messages.create(model="m", max_tokens=2, messages=[{"role": "system", "content": "x"}])
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=server.url, api_key="wrong", max_retries=0).messages.create(
            model="m", max_tokens=1, messages=MSG)
