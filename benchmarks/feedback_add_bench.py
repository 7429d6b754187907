"""`ptrain feedback add` in a fresh process, two checkouts side by side in one run.

    python benchmarks/feedback_add_bench.py --before /tmp/main-checkout [--runs 21]

Makes a small prompt repo (``ptrain init``, one prompt created and deployed to production) in a
temporary directory, then runs, interleaved so machine load hits both alike, the console script
(each checkout's own entry point, see ``script``) with ``PYTHONPATH`` pointed at each checkout (``--before``, e.g. an export of main, and
``--after``, default this one):

* ``ptrain feedback add support/triage --rating 0.9 -m fine`` (the command under test);
* ``ptrain --help`` (the floor: Python, typer and ptrain's CLI wiring, no work).

Reports the median wall time and the median CPU time (user + sys of the child) of each, and the
after/before ratios. Bytecode is written and used (``PYTHONDONTWRITEBYTECODE`` is dropped for
the children) as in an installed ptrain; the warm-up runs write it. Target: ``feedback add`` <= 200 ms median (issue 13). Without ``--before``
only this checkout is timed.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET_S = 0.200
COMMANDS = (
    ("`ptrain feedback add NAME --rating 0.9 -m fine`", ["feedback", "add", "support/triage",
                                                         "--rating", "0.9", "-m", "fine"]),
    ("`ptrain --help` (floor)", ["--help"]),
)  # fmt: skip


def _env(checkout: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPATH": str(checkout)}


def script(checkout: Path) -> list[str]:
    """What the console script of ``checkout`` runs: its ``[project.scripts] ptrain`` entry
    point (``ptrain.cli.main:run`` before the fast entry, ``ptrain.cli.entry:run`` after), as
    ``python -c`` does it, so each side is timed with its own entry point."""
    import tomllib

    target = tomllib.loads((checkout / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, func = target["ptrain"].partition(":")
    code = f"import sys; from {module} import {func}; sys.argv[0] = 'ptrain'; sys.exit({func}())"
    return [sys.executable, "-c", code]


def _run(exe: list[str], checkout: Path, args: list[str], cwd: Path) -> tuple[float, float]:
    """(wall, cpu) seconds of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([*exe, *args], cwd=cwd, env=_env(checkout), check=True, capture_output=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def make_repo(exe: list[str], checkout: Path, root: Path) -> None:
    for args in (
        ["init", "."],
        ["prompt", "create", "support/triage", "--template", "Classify: {message}"],
        ["prompt", "deploy", "support/triage", "1", "--env", "production"],
    ):
        subprocess.run([*exe, *args], cwd=root, env=_env(checkout), check=True, capture_output=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", type=Path, help="another ptrain checkout to compare with")
    ap.add_argument("--after", type=Path, default=HERE.parent)
    ap.add_argument("--runs", type=int, default=21)
    args = ap.parse_args()
    sides = [("after", args.after.resolve())]
    if args.before is not None:
        sides.insert(0, ("before", args.before.resolve()))
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        subprocess.run(["git", "init", "-q", "."], cwd=root, check=True)
        for key, value in (("user.name", "Bench"), ("user.email", "bench@example.com")):
            subprocess.run(["git", "config", key, value], cwd=root, check=True)
        make_repo(script(args.after.resolve()), args.after.resolve(), root)
        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _label, cmd in COMMANDS:
            for _side, checkout in sides:  # warm the OS caches and .pyc files of both
                _run(script(checkout), checkout, cmd, root)
        for _ in range(args.runs):
            for label, cmd in COMMANDS:
                for side, checkout in sides:
                    run = _run(script(checkout), checkout, cmd, root)
                    times.setdefault((label, side), []).append(run)
    print(f"{args.runs} interleaved runs each, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}; medians")  # fmt: skip
    print()
    _table(times, [s for s, _ in sides])
    return 0


def _table(times: dict[tuple[str, str], list[tuple[float, float]]], sides: list[str]) -> None:
    def med(label: str, side: str, i: int) -> float:
        return statistics.median(t[i] for t in times[(label, side)])

    head = [f"{s} wall" for s in sides] + [f"{s} CPU" for s in sides]
    if len(sides) == 2:
        head.insert(2, "after/before")
    print("| command | " + " | ".join(head) + " | target | |")
    print("|---" * (len(head) + 3) + "|")
    for label, _ in COMMANDS:
        cells = [f"{med(label, s, 0) * 1000:.1f} ms" for s in sides]
        if len(sides) == 2:
            cells.append(f"{med(label, 'after', 0) / med(label, 'before', 0):.3f}x")
        cells += [f"{med(label, s, 1) * 1000:.1f} ms" for s in sides]
        is_add = label.startswith("`ptrain feedback add")
        target = f"{TARGET_S * 1000:.0f} ms" if is_add else "-"
        ok = ("ok" if med(label, "after", 0) <= TARGET_S else "MISSED") if is_add else ""
        print(f"| {label} | " + " | ".join(cells) + f" | {target} | {ok} |")


if __name__ == "__main__":
    sys.exit(main())
