"""The embedded OpenAI-compatible server: llama.cpp (via xllamacpp) on 127.0.0.1 in this process.

``base_url(name)`` starts one server per local model per process, lazily, on a free port, waits
until ``/health`` answers, and registers an ``atexit`` hook that stops it. Everything then talks
to it through ``ChatOpenAI(base_url=...)``, the same path as production endpoints.

``python -m ptrain.llm.server NAME_OR_GGUF [--port N]`` runs the same server in the foreground
(it prints ``listening http://127.0.0.1:PORT`` once ready): that is the "separately started
OpenAI-compatible server" used by the integration tests, and a handy local endpoint.

Tunables (environment): ``PTRAIN_LOCAL_THREADS`` (default: the idle cores, see
``default_threads``),
``PTRAIN_LOCAL_CTX`` (default 8192 tokens, shared by the slots), ``PTRAIN_LOCAL_PARALLEL``
(default 2 concurrent requests).
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptrain.errors import ModelError
from ptrain.llm import weights

SEED = 42
_lock = threading.Lock()
_servers: dict[str, EmbeddedServer] = {}


@dataclass
class EmbeddedServer:
    name: str
    path: Path
    url: str  # http://127.0.0.1:PORT (no /v1)
    load_s: float
    _handle: Any

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def stop(self) -> None:
        # xllamacpp stops the HTTP loop and frees the model when the Server is destroyed.
        self._handle = None


def _int_env(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def default_threads() -> int:
    """Cores not already busy (by the 1-minute load average), at least 1, at most 8.

    llama.cpp's threads meet at a barrier after every layer, so one thread that has to share
    its core with other work stalls all of them: measured here on 2 busy cores, 2 threads
    generated 4-7 tokens/s where 1 thread generated 26-29.
    """
    cores = os.cpu_count() or 2
    try:
        busy = int(os.getloadavg()[0])
    except OSError:  # pragma: no cover - no load average on this platform
        busy = 0
    return max(1, min(8, cores - busy))


def _params(path: Path, port: int = 0) -> Any:
    import xllamacpp

    p = xllamacpp.CommonParams()
    p.model.path = str(path)
    p.hostnames = ["127.0.0.1"]
    p.port = port  # 0: the OS picks a free port; listening_address reports it
    p.n_parallel = _int_env("PTRAIN_LOCAL_PARALLEL", 2)
    p.n_ctx = _int_env("PTRAIN_LOCAL_CTX", 8192)
    # One KV buffer for all slots, so a single long few-shot prompt may use the whole context.
    p.kv_unified = True
    threads = _int_env("PTRAIN_LOCAL_THREADS", default_threads())
    p.cpuparams.n_threads = threads
    p.cpuparams_batch.n_threads = threads
    # No server-wide seed: requests without one must vary (training samples at temperature
    # 0.7); the client sends SEED with every temperature-0 request instead.
    p.verbosity = -1  # llama.cpp logs every request otherwise
    p.warmup = True
    return p


def start(path: Path, *, name: str = "local", port: int = 0) -> EmbeddedServer:
    """Load ``path`` and serve it; returns once the server answers ``/health``."""
    try:
        import xllamacpp
    except ImportError as e:  # pragma: no cover - xllamacpp is a hard dependency
        raise ModelError(
            "the embedded model needs xllamacpp, which is not installed",
            "pip install xllamacpp (a prebuilt wheel; nothing compiles)",
        ) from e
    t0 = time.perf_counter()
    try:
        handle = xllamacpp.Server(_params(path, port))
    except Exception as e:
        raise ModelError(
            f"llama.cpp could not load {path.name}: {e}",
            f"run `ptrain models pull {name} --force` if the file is damaged",
        ) from e
    url = handle.listening_address.rstrip("/")
    _wait_healthy(url, timeout_s=30)
    return EmbeddedServer(name, path, url, time.perf_counter() - t0, handle)


def _wait_healthy(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if json.loads(r.read()).get("status") == "ok":
                    return
        except (urllib.error.URLError, OSError, ValueError) as e:
            last = e
        time.sleep(0.05)
    raise ModelError(
        f"the embedded model server at {url} did not become ready: {last}",
        "check free memory, or set PTRAIN_LOCAL_CTX lower",
    )


def get(name: str) -> EmbeddedServer:
    """The running embedded server for local model ``name``, started on first use."""
    with _lock:
        srv = _servers.get(name)
        if srv is None:
            srv = start(weights.path_of(name), name=name)
            _servers[name] = srv
        return srv


def base_url(name: str) -> str:
    return get(name).base_url


def stop_all() -> None:
    with _lock:
        for srv in _servers.values():
            srv.stop()
        _servers.clear()


atexit.register(stop_all)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import signal

    ap = argparse.ArgumentParser(prog="python -m ptrain.llm.server")
    ap.add_argument("model", help="a local model name (see `ptrain models list`) or a .gguf path")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    path = Path(args.model)
    if path.suffix != ".gguf":
        path = weights.path_of(args.model)
    srv = start(path, name=args.model, port=args.port)
    print(f"listening {srv.url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    srv.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
