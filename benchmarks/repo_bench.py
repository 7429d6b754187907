"""Speed of the prompt repository: CLI read commands and runtime get(), on a big repo.

Builds a prompt repo with PROMPTS prompts x VERSIONS versions (one commit per version, 4,000
commits by default) with ``git fast-import``, deploys every prompt to staging and production
(deploy records in ptrain's own tag format, so ``prompt list`` sees 400 moving tags), then
measures, side by side in one run:

* ``ptrain --help``, ``ptrain prompt show NAME``, ``ptrain prompt show NAME --env production``,
  ``ptrain prompt list`` — wall time of the real console script (a fresh process each run),
  output to a pipe; ``prompt list`` also to a pseudo-terminal, where tables are drawn by rich;
* ``PromptRepo(path).get(NAME)`` cold (new PromptRepo, first call; imports already done) and
  warm (the same call repeated).

CLI rows also give the CPU time (user+sys of ptrain and its git children), which a busy
machine inflates far less than wall time.

Targets (issue 2): CLI <= 200 ms median, get() warm <= 50 us, cold <= 20 ms.

    python benchmarks/repo_bench.py [--runs 15] [--prompts 200] [--versions 20] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scale_bench, beside this file

TARGETS = {"cli": 0.200, "cold": 0.020, "warm": 50e-6}

PROMPT = """\
# {name}: generated for the benchmark
schema_version: 1
description: Benchmark prompt {name}, revision {rev}.
type: system
owner: bench
labels: [bench]
input_variables: [message]
messages:
  - role: system
    content: |
      You are assistant number {i}. This is revision {rev}.
      Answer briefly and politely.
  - role: human
    content: "{{message}}"
examples:
  - inputs: {{message: "hello"}}
    output: hi
model: {{temperature: 0.0, max_tokens: 64}}
"""


# What any typer command costs before ptrain does anything: typer 0.2x validates parameters
# with pydantic TypeAdapters, so pydantic is imported and schemas are built on every run.
TYPER_FLOOR = """\
import typer

app = typer.Typer()


@app.command()
def show(name: str, env: str = typer.Option(None, "--env")):
    print(name, env)


app()
"""


def build_repo(root: Path, prompts: int, versions: int, commit_graph: bool = True) -> list[str]:
    """A prompt repo with ``prompts`` x ``versions`` commits, staging on the latest version and
    production on the one before; returns the prompt names (scale_bench's builder, without its
    training branches and feedback)."""
    from scale_bench import build_repo as build

    return build(
        root,
        prompts,
        versions,
        prompt=PROMPT,
        trained=False,
        feedback=False,
        commit_graph=commit_graph,
    )


def _median_cli(
    args_list: dict[str, list[str]], root: Path, runs: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall time and CPU time (user+sys of the process and its git children) per command."""
    exe = shutil.which("ptrain", path=str(Path(sys.executable).parent)) or "ptrain"
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: byte code cached
    times: dict[str, list[float]] = {k: [] for k in args_list}
    cpu: dict[str, list[float]] = {k: [] for k in args_list}

    def argv(args: list[str]) -> list[str]:
        return args[1:] if args[0] == "python" else [exe, *args]

    for label, args in args_list.items():  # warm-up: byte code, page cache
        p = subprocess.run(argv(args), cwd=root, env=env, capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"{label} failed: {p.stderr}")
    for _ in range(runs):
        for label, args in args_list.items():  # interleaved, so load spikes hit all alike
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            if label.endswith("(terminal)"):
                _run_tty(argv(args), root, {**env, "COLUMNS": "120", "LINES": "50"})
            else:
                subprocess.run(argv(args), cwd=root, env=env, capture_output=True)
            times[label].append(time.perf_counter() - t)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[label].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return times, cpu


def _run_tty(argv: list[str], root: Path, env: dict[str, str]) -> None:
    """Run with stdout on a pseudo-terminal, as a person at a terminal would (rich output)."""
    master, slave = os.openpty()
    p = subprocess.Popen(argv, cwd=root, env=env, stdout=slave, stderr=slave)
    os.close(slave)
    try:
        while os.read(master, 65536):
            pass
    except OSError:  # EIO: the child closed the terminal
        pass
    finally:
        os.close(master)
    p.wait()


def _get_times(root: Path, names: list[str], runs: int) -> tuple[list[float], list[float]]:
    from ptrain import PromptRepo

    PromptRepo(root).get(names[0])  # imports and lazy singletons done before timing
    cold = []
    for i in range(runs):
        name = names[(i * 7) % len(names)]
        t = time.perf_counter()
        PromptRepo(root).get(name, env="production")
        cold.append(time.perf_counter() - t)
    repo = PromptRepo(root)
    repo.get(names[1])
    warm, n = [], 2000
    for _ in range(runs):
        t = time.perf_counter()
        for _ in range(n):
            repo.get(names[1], env="production")
        warm.append((time.perf_counter() - t) / n)
    return cold, warm


def _fmt(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.1f} ms"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--prompts", type=int, default=200)
    ap.add_argument("--versions", type=int, default=20)
    ap.add_argument("--keep", type=Path, help="Build the repo here and keep it.")
    ap.add_argument(
        "--no-commit-graph",
        action="store_true",
        help="Measure without the commit-graph ptrain maintains (e.g. a fresh plain clone).",
    )
    a = ap.parse_args()

    tmp = None
    if a.keep:
        root = a.keep
        if root.exists():
            shutil.rmtree(root)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="ptrain-bench-")
        root = Path(tmp.name) / "repo"
    try:
        t = time.perf_counter()
        names = build_repo(root, a.prompts, a.versions, not a.no_commit_graph)
        built = time.perf_counter() - t
        name = names[len(names) // 2]
        floor_app = root.parent / "typer_floor.py"
        floor_app.write_text(TYPER_FLOOR)
        commands = {
            # floors to read the rows against: a bare interpreter, and a one-command typer app
            "python -c pass": ["python", sys.executable, "-c", "pass"],
            "typer floor": ["python", sys.executable, str(floor_app), name, "--env", "x"],
            "ptrain --help": ["--help"],
            f"ptrain prompt show {name}": ["prompt", "show", name],
            f"ptrain prompt show {name} --env production": [
                "prompt",
                "show",
                name,
                "--env",
                "production",
            ],
            "ptrain prompt list": ["prompt", "list"],
            "ptrain prompt list (terminal)": ["prompt", "list"],
        }
        cli, cpu = _median_cli(commands, root, a.runs)
        cold, warm = _get_times(root, names, a.runs)
    finally:
        if tmp:
            tmp.cleanup()

    rows = [(label, ts, cpu[label], TARGETS["cli"]) for label, ts in cli.items()]
    floors = [rows.pop(0), rows.pop(0)]
    rows += [("get() cold (new PromptRepo, first call)", cold, None, TARGETS["cold"])]
    rows += [("get() warm (repeated call)", warm, None, TARGETS["warm"])]
    load = os.getloadavg()
    print(
        f"repo: {a.prompts} prompts x {a.versions} versions "
        f"({a.prompts * a.versions} commits, {2 * a.prompts} deploy tags), built in {built:.1f} s"
    )
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {load[0]:.1f} at the end; "
        f"runs={a.runs}; commit-graph: {'no' if a.no_commit_graph else 'yes'}"
    )
    print()
    print("| what | median wall | p90 wall | median CPU | target | |")
    print("|---|---:|---:|---:|---:|---|")
    ok = True
    for label, ts, cpu_ts, target in rows:
        med = statistics.median(ts)
        p90 = sorted(ts)[int(0.9 * (len(ts) - 1))]
        cpu_med = _fmt(statistics.median(cpu_ts)) if cpu_ts else "-"
        ok &= med <= target
        mark = "ok" if med <= target else "MISSED"
        print(f"| `{label}` | {_fmt(med)} | {_fmt(p90)} | {cpu_med} | ≤ {_fmt(target)} | {mark} |")
    for (label, ts, cpu_ts, _), what in zip(
        floors, ("interpreter start", "one-command typer app"), strict=True
    ):
        print(
            f"| floor: {what} (`{label}`) | {_fmt(statistics.median(ts))} | "
            f"{_fmt(sorted(ts)[int(0.9 * (len(ts) - 1))])} | {_fmt(statistics.median(cpu_ts))}"
            " | | |"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
