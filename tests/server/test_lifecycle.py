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
    for args, want in [(["--device", "cuda"], "CUDA backend"), (["--numerics", "fast"], "--numerics"),
                       (["--speculative-config", '{"method": "eagle"}'], "mtp"),
                       (["--max-model-len", "99999999"], "--max-model-len")]:
        r = subprocess.run([cli, "serve", model, "--port", "0"] + args, capture_output=True, text=True, timeout=120)
        assert r.returncode == 1 and want in r.stderr, (args, r.stderr)
