"""Start-up and shutdown: /health during loading, SIGINT/SIGTERM with requests in flight (they
finish or are aborted, and the process exits 0), bad flags."""
import json
import os
import signal
import subprocess
import threading

from conftest import Server, http


def test_sigterm_with_a_stream_in_flight_exits_zero():
    s = Server(os.environ["DSV4_DEFAULT_MODEL"], "--shutdown-timeout", "1")
    results = []

    def stream():
        results.append(http("POST", s.url + "/v1/completions",
                            {"prompt": "x", "max_tokens": 5000, "ignore_eos": True, "stream": True}, timeout=60))

    t = threading.Thread(target=stream)
    t.start()
    import time
    time.sleep(1.0)
    assert s.stop(signal.SIGTERM, timeout=60) == 0, s.read_log()
    t.join(timeout=60)
    assert results, "the in-flight request did not return"
    status, body = results[0]
    assert status == 200
    assert "aborted" in str(body) or "[DONE]" in str(body)
    assert "stopped" in s.read_log()


def test_sigint_when_idle_exits_zero():
    s = Server(os.environ["DSV4_DEFAULT_MODEL"], "--served-model-name", "x")
    assert s.stop(signal.SIGINT) == 0, s.read_log()


def test_bad_flags_are_clear_errors():
    cli, model = os.environ["DSV4_CLI"], os.environ["DSV4_DEFAULT_MODEL"]
    for args, want in [(["--device", "tpu"], "--device"), (["--numerics", "fast"], "--numerics"),
                       (["--speculative-config", '{"method": "eagle"}'], "mtp"),
                       (["--max-model-len", "99999999"], "--max-model-len")]:
        r = subprocess.run([cli, "serve", model, "--port", "0"] + args, capture_output=True, text=True, timeout=120)
        assert r.returncode == 1 and want in r.stderr, (args, r.stderr)


def test_bench_serve_reports_every_request(server):
    cli = os.environ["DSV4_CLI"]
    for endpoint in ["/v1/completions", "/v1/chat/completions"]:
        r = subprocess.run([cli, "bench", "serve", "--base-url", server.url, "--endpoint", endpoint,
                            "--api-key", server.api_key, "--num-prompts", "6", "--input-len", "8", "--output-len", "4",
                            "--max-concurrency", "3", "--request-rate", "50", "--json"],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        j = json.loads(r.stdout)
        assert j["completed"] == 6 and j["failed"] == 0, j
        assert j["total_output_tokens"] == 24 and j["max_concurrency"] == 3
        for k in ["ttft", "tpot", "itl", "e2el"]:
            assert j[f"mean_{k}_ms"] > 0 and j[f"p99_{k}_ms"] >= j[f"median_{k}_ms"]
        assert j["output_throughput"] > 0
    r = subprocess.run([cli, "bench", "serve", "--base-url", server.url, "--api-key", server.api_key, "--num-prompts",
                        "4", "--input-len", "4", "--output-len", "2", "--concurrency-sweep", "1,4", "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert [x["max_concurrency"] for x in json.loads(r.stdout)] == [1, 4]
