"""Starts `dsv4 serve` on a free loopback port for the tests and stops it afterwards.

ctest sets DSV4_CLI (the dsv4 binary), DSV4_DEFAULT_MODEL (build/models/default) and
DSV4_GOLDEN_A (../shared/golden/golden-a). All traffic goes to 127.0.0.1 only.
"""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

API_KEY = "test-key-123"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=60):
    """(status, parsed JSON or text) for one request."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, text = r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode("utf-8", "replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


class Server:
    def __init__(self, model_dir, *args, api_key=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_key = api_key
        cmd = [os.environ["DSV4_CLI"], "serve", model_dir, "--port", str(self.port)] + list(args)
        if api_key:
            cmd += ["--api-key", api_key]
        self.log_path = f"/tmp/dsv4-serve-test-{self.port}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self.health = []  # every /health status seen while waiting
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dsv4 serve exited with {self.proc.returncode}: {self.read_log()}")
            try:
                status, body = http("GET", self.url + "/health", timeout=5)
                self.health.append((status, body))
                if status == 200:
                    return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("dsv4 serve did not become healthy in 120 s: " + self.read_log())

    def headers(self):
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def post(self, path, body, headers=None, timeout=120):
        h = self.headers()
        h.update(headers or {})
        return http("POST", self.url + path, body, h, timeout)

    def get(self, path, headers=None):
        h = self.headers()
        h.update(headers or {})
        return http("GET", self.url + path, None, h)

    def read_log(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@pytest.fixture(scope="session")
def server():
    """The built-in default model (random weights, real tokenizer), with an API key, a small
    context and a small queue so that the 400 / 429 paths can be reached."""
    s = Server(os.environ["DSV4_DEFAULT_MODEL"], "--max-model-len", "512", "--max-num-seqs", "8",
               "--max-queued-requests", "8", "--max-request-mib", "1", "--served-model-name", "dsv4-default",
               api_key=API_KEY)
    yield s
    code = s.stop()
    assert code == 0, f"exit {code}: " + s.read_log()


@pytest.fixture(scope="session")
def openai_client(server):
    import openai
    return openai.OpenAI(base_url=server.url + "/v1", api_key=API_KEY, max_retries=0, timeout=120)


@pytest.fixture(scope="session")
def anthropic_client(server):
    import anthropic
    return anthropic.Anthropic(base_url=server.url, api_key=API_KEY, max_retries=0, timeout=120)
