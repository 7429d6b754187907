"""``ptrain ui``: server start and API answer times on the UI test's story repository, plus the
feedback endpoints on a larger store (cold = first request, warm = the memoised scan).

    python benchmarks/ui_bench.py                 # --records 100000 --runs 5

Run from a source checkout (it builds the repository with ``tests/ui/builder.py``). Figures are
medians over ``--runs`` requests in one process; the machine is shared, so compare ratios.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NAME = "assistant/intent"
PATHS = [
    "/",
    "api/prompts",
    f"api/prompt?name={NAME}",
    f"api/diff?name={NAME}&a=1&b=2",
    f"api/feedback?name={NAME}",
    f"api/feedback/lists?name={NAME}",
    f"api/evals?name={NAME}",
    "api/training",
    f"api/ab?name={NAME}",
]


def _get(url: str) -> float:
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as r:
        r.read()
    return (time.perf_counter() - t) * 1000


def _add_records(root: Path, n: int) -> None:
    from ptrain import PromptRepo
    from ptrain.feedback import record_many

    v = PromptRepo(root).resolve(NAME, 1)
    rng, t0, recs = random.Random(0), datetime(2026, 9, 1, tzinfo=UTC), []
    for i in range(n):
        base = {"prompt": NAME, "version": v.commit, "version_number": 1, "env": "production",
                "ts": (t0 + timedelta(seconds=60 * i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")}  # fmt: skip
        if rng.random() < 0.3:
            recs.append({**base, "kind": "rating", "rating": rng.random(),
                         "inputs": {"utterance": f"u{i}"}, "output": "play_music"})  # fmt: skip
        else:
            recs.append({**base, "kind": "success", "latency_ms": rng.uniform(100, 900),
                         "prompt_tokens": 100, "completion_tokens": 5})  # fmt: skip
    for j in range(0, n, 20_000):
        record_many(root, recs[j : j + 20_000])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from ptrain.ui.server import make_server
    from tests.ui.builder import build

    root = build(Path(tempfile.mkdtemp(prefix="ptrain-ui-bench-")) / "repo")
    t = time.perf_counter()
    server = make_server(root, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    first = _get(server.url + "api/prompts")
    print(f"make_server + first answer: {(time.perf_counter() - t) * 1000:.0f} ms")
    print("\n| request (story repo) | first ms | median ms |\n|---|---:|---:|")
    for p in PATHS:
        first = _get(server.url + p.lstrip("/"))
        warm = statistics.median(_get(server.url + p.lstrip("/")) for _ in range(args.runs))
        print(f"| `{p}` | {first:.1f} | {warm:.1f} |")
    _add_records(root, args.records)
    print(f"\n| +{args.records:,} records | cold ms | warm median ms |\n|---|---:|---:|")
    for p in PATHS[4:6]:
        cold = _get(server.url + p)
        warm = statistics.median(_get(server.url + p) for _ in range(args.runs))
        print(f"| `{p}` | {cold:.0f} | {warm:.1f} |")
    server.shutdown()


if __name__ == "__main__":
    main()
