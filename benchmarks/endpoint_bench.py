"""Throughput against a remote OpenAI-compatible endpoint as ``concurrency`` grows.

A stub ``/v1/chat/completions`` server on 127.0.0.1 answers every request after a fixed latency
(``--latency-ms``, default 200: a hosted model's time to a short answer), like a remote endpoint
whose capacity is not the bottleneck. ptrain's real client (``LLM``: cache off, budget, rate
limiter, the per-endpoint in-flight cap, LangChain ``ChatOpenAI`` over HTTP) sends ``--requests``
requests through ``LLM.batch`` at each concurrency level. Speed-up = requests/s at that level
over requests/s at concurrency 1; efficiency = speed-up / concurrency (target >= 0.8 up to 16).
Levels interleave within a round; each figure is the median of ``--rounds`` rounds.

    python benchmarks/endpoint_bench.py [--requests 64] [--rounds 3] [--latency-ms 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LEVELS = (1, 2, 4, 8, 16)


def _stub(latency_s: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real endpoint behind a proxy

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            time.sleep(latency_s)
            payload = {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model", "m"),
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": "ok"},
                    }
                ],
                "usage": {"prompt_tokens": 20, "completion_tokens": 1, "total_tokens": 21},
            }
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def _rate(url: str, concurrency: int, requests: int) -> float:
    from ptrain.config import ModelSettings
    from ptrain.llm.client import LLM

    settings = ModelSettings(
        provider="openai-compatible",
        model="stub",
        base_url=url,
        concurrency=concurrency,
        max_retries=0,
    )
    llm = LLM(settings, cache_dir=None)
    _ = llm.model  # build the client outside the timed part
    msgs = [[("user", f"request {i}")] for i in range(requests)]
    t0 = time.perf_counter()
    out = llm.batch(msgs)
    elapsed = time.perf_counter() - t0
    failed = [r for r in out if isinstance(r, Exception)]
    if failed:
        raise SystemExit(f"{len(failed)} requests failed: {failed[0]}")
    return requests / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--latency-ms", type=float, default=200.0)
    args = ap.parse_args()

    httpd = _stub(args.latency_ms / 1000)
    url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    rates: dict[int, list[float]] = {c: [] for c in LEVELS}
    for _ in range(args.rounds):
        for c in LEVELS:
            rates[c].append(_rate(url, c, args.requests))
    httpd.shutdown()

    base = statistics.median(rates[1])
    print(f"stub latency {args.latency_ms:.0f} ms, {args.requests} requests, {args.rounds} rounds")
    print("| concurrency | requests/s (median, min-max) | speed-up | efficiency |")
    print("|---:|---:|---:|---:|")
    for c in LEVELS:
        med = statistics.median(rates[c])
        lo, hi = min(rates[c]), max(rates[c])
        speed = med / base
        print(f"| {c} | {med:.1f} ({lo:.1f}-{hi:.1f}) | {speed:.2f}x | {speed / c:.2f} |")


if __name__ == "__main__":
    main()
