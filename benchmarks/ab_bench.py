"""Runtime cost of A/B testing: ``PromptRepo.get`` warm, with and without an experiment.

Builds a small prompt repo (three prompts, two versions each, v1 deployed; one prompt with a
running experiment, one with a stopped one), then times warm calls (the same call repeated on one
PromptRepo) in these cases:

* ``get(name)`` with no experiment — today's path, the reference;
* ``get(name, unit_id=...)`` with no experiment — one extra ref-file read that finds nothing;
* ``get(name)`` while an experiment runs — unchanged path (no unit id, no experiment lookup);
* ``get(name, unit_id=...)`` while an experiment runs — one ref read, one cache lookup, one
  blake2b of the unit id (a different unit id on every call, so no per-unit caching helps);
* ``get(name, unit_id=...)`` after the experiment stopped — the ref read, then today's path.

Each case is the median of ``--rounds`` rounds of ``--calls`` calls; rounds interleave the
cases. Target: within a few
microseconds of today's warm call.

    python benchmarks/ab_bench.py [--calls 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

PROMPT = (
    "schema_version: 1\ntype: system\ninput_variables: [name]\ntemplate: '{greeting} {{name}}'\n"
)


def _setup(root: Path):
    """Three prompts, v1 deployed: ``plain`` (no experiment), ``live`` (one running),
    ``done`` (one stopped)."""
    from ptrain import PromptRepo, ab
    from ptrain.initialize import init

    init(root)
    repo = PromptRepo(root)
    for name in ("plain", "live", "done"):
        repo.create(name, PROMPT.format(greeting="Hello"))
        repo.update(name, PROMPT.format(greeting="Hi"))
        repo.deploy(name, 1)
    ab.start(repo, "live", ["A=1", "B=2"])
    ab.start(repo, "done", ["A=1", "B=2"])
    ab.stop(repo, "done")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    from ptrain import PromptRepo

    with tempfile.TemporaryDirectory(prefix="ptrain-ab-bench-") as tmp:
        for key in ("AUTHOR", "COMMITTER"):
            os.environ.setdefault(f"GIT_{key}_NAME", "Bench")
            os.environ.setdefault(f"GIT_{key}_EMAIL", "bench@example.com")
        root = Path(tmp) / "repo"
        _setup(root)
        repo = PromptRepo(root)
        units = [f"user-{i}" for i in range(args.calls)]
        cases = {
            "get(name), no experiment (today)": lambda i: repo.get("plain"),
            "get(name, unit_id), no experiment": lambda i: repo.get("plain", unit_id=units[i]),
            "get(name), experiment running": lambda i: repo.get("live"),
            "get(name, unit_id), experiment running": lambda i: repo.get("live", unit_id=units[i]),
            "get(name, unit_id), experiment stopped": lambda i: repo.get("done", unit_id=units[i]),
        }
        samples: dict[str, list[float]] = {k: [] for k in cases}
        for fn in cases.values():
            fn(0)  # warm the caches
        # rounds interleave the cases, so a busy machine's drift hits them all alike
        for _ in range(args.rounds):
            for label, fn in cases.items():
                t = time.perf_counter()
                for i in range(args.calls):
                    fn(i)
                samples[label].append((time.perf_counter() - t) / args.calls)
        assert repo.get("live", unit_id="x").variant in ("A", "B")
        assert repo.get("plain", unit_id="x").variant is None
        assert repo.get("done", unit_id="x").variant is None

    rows = [(k, statistics.median(v)) for k, v in samples.items()]
    base = rows[0][1]
    width = max(len(r[0]) for r in rows)
    print(f"{'case'.ljust(width)}  warm/call  vs today")
    for label, t in rows:
        print(f"{label.ljust(width)}  {t * 1e6:6.2f} us  {(t - base) * 1e6:+6.2f} us")


if __name__ == "__main__":
    main()
