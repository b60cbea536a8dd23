"""A smaller subset against golden-a (the official reference's vectors; no tokenizer): token-id
prompts on /v1/completions give the reference's greedy continuations, streamed or not, with and
without MTP speculative decoding; text endpoints say clearly that a tokenizer is needed."""
import json
import os

import pytest

from conftest import Server, http

GOLDEN = os.environ["DSV4_GOLDEN_A"]


@pytest.fixture(scope="module")
def golden():
    with open(os.path.join(GOLDEN, "expected.json")) as f:
        return {p["name"]: p for p in json.load(f)["prompts"]}


@pytest.mark.parametrize("extra", [[], ["--speculative-config", '{"method": "mtp", "num_speculative_tokens": 2}']])
def test_greedy_continuations_match_the_reference(golden, extra):
    s = Server(GOLDEN, *extra)
    try:
        p = golden["p0"]
        n = len(p["greedy_tokens"])
        status, r = http("POST", s.url + "/v1/completions",
                         {"prompt": p["token_ids"], "max_tokens": n, "temperature": 0, "ignore_eos": True})
        assert status == 200, r
        assert r["choices"][0]["token_ids"] == p["greedy_tokens"]
        assert r["usage"] == {"prompt_tokens": len(p["token_ids"]), "completion_tokens": n, "total_tokens": len(p["token_ids"]) + n,
                              "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}}
        # Streamed, two prompts at once (batched): the same ids.
        status, raw = http("POST", s.url + "/v1/completions",
                           {"prompt": [p["token_ids"], golden["p1"]["token_ids"]], "max_tokens": n, "temperature": 0,
                            "ignore_eos": True, "stream": True})
        assert status == 200
        ids = {0: [], 1: []}
        for event in raw.split("\n\n"):
            if event.startswith("data: {"):
                c = json.loads(event[6:])["choices"][0]
                ids[c["index"]] += c.get("token_ids", [])
        assert ids[0] == p["greedy_tokens"] and ids[1] == golden["p1"]["greedy_tokens"]
        status, e = http("POST", s.url + "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]})
        assert status == 400 and "tokenizer" in e["error"]["message"]
    finally:
        assert s.stop() == 0
