"""Fixtures for the model layer: a clean scripted registry, a local flaky OpenAI-style server,
and (integration only) the real embedded model."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ptrain.llm import weights
from ptrain.llm.scripted import clear_scripted

# The shared conftest gives every test a private HOME; the model weights stay in the real user
# cache (resolved here, at import, before HOME moves), so they are pulled once per machine.
MODEL_CACHE = str(weights.cache_root())


@pytest.fixture(autouse=True)
def _model_cache(monkeypatch):
    monkeypatch.setenv("PTRAIN_CACHE_DIR", MODEL_CACHE)


@pytest.fixture(autouse=True)
def _clean_scripted():
    clear_scripted()
    yield
    clear_scripted()


class FlakyServer:
    """An OpenAI-compatible /v1/chat/completions on 127.0.0.1 that answers with the queued
    HTTP statuses first, then with ``reply``."""

    def __init__(self):
        self.statuses: list[int] = []
        self.reply = "ok"
        self.requests: list[dict] = []
        self.latency_s = 0.0  # each answer waits this long (to measure concurrency)
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append(body)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                if server.latency_s:
                    time.sleep(server.latency_s)
                with server._lock:
                    server.in_flight -= 1
                status = server.statuses.pop(0) if server.statuses else 200
                if status == 200:
                    payload = {
                        "id": "x",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body.get("model", "m"),
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": server.reply},
                            }
                        ],
                        "usage": {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13},
                    }
                else:
                    payload = {"error": {"message": f"status {status}", "type": "test"}}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def flaky_server():
    srv = FlakyServer()
    yield srv
    srv.close()


@pytest.fixture(scope="session")
def smollm2_path():
    """The real SmolLM2 weights, pulled into the user cache once (CI pulls them beforehand)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PTRAIN_CACHE_DIR", MODEL_CACHE)
        weights.pull("smollm2-135m")
        return weights.path_of("smollm2-135m")


@pytest.fixture(scope="session")
def minilm():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PTRAIN_CACHE_DIR", MODEL_CACHE)
        weights.pull("all-minilm-l6-v2")
        return weights.ensure("all-minilm-l6-v2")
