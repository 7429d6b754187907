"""ptrain at scale: 1,000 prompts x 30 versions, before vs after, side by side in one run.

Builds (once, cached under ``benchmarks/.data/``) a prompt repo of PROMPTS prompts x VERSIONS
versions with ``git fast-import``: 30,001 commits by default, every prompt deployed to staging
and production (2 moving tags + 2 deploy records per prompt: 4,000 tags), every third prompt
trained once (a commit with the trailer ``Ptrain-Trained: <name>`` on a ``ptrain-train/*``
branch, 333 branches) and 20 feedback records for each of the first 100 prompts.

Then times, interleaved, the same commands with two checkouts of ptrain (``--before``, e.g. main
at 2b4afaa in a separate worktree, and ``--after``, this one; each a fresh process with
``PYTHONPATH`` pointed at the checkout):

* ``ptrain train status --json``, ``ptrain train due --json`` (after only);
* ``ptrain prompt show NAME``, ``ptrain prompt list``: warm (the per-HEAD caches in place) and
  cold (every ptrain cache under the git dir deleted before each run);
* ``ptrain feedback add NAME --rating 1``;
* ``PromptRepo.record_feedback`` per record, in one process: given the ``LoadedPrompt`` that
  ``get()`` returned, and given the prompt's name (the deployed version is looked up).

Medians over ``--runs`` (``train status`` before: ``--slow-runs``, it takes minutes). Feedback
written by the measurements is removed again, so every run sees the same repo.

    python benchmarks/scale_bench.py --before /work/wt/bench-base [--runs 7] [--slow-runs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
AFTER = HERE.parent
DATA = HERE / ".data"
BUILD_VERSION = 2  # bump when the generated repo changes

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
model: {{temperature: 0.0, max_tokens: 64}}
"""

WHO = b"Bench <bench@example.com>"


def _data(text: str) -> bytes:
    raw = text.encode()
    return b"data %d\n%s\n" % (len(raw), raw)


def _git(root: Path, *args: str, data: bytes | None = None) -> str:
    p = subprocess.run(["git", *args], cwd=root, input=data, capture_output=True, check=True)
    return p.stdout.decode()


def build_repo(
    root: Path,
    prompts: int,
    versions: int,
    *,
    prompt: str = PROMPT,
    trained: bool = True,
    feedback: bool = True,
    commit_graph: bool = True,
) -> list[str]:
    """The benchmark repo (see the module docstring); returns the prompt names. ``repo_bench``
    builds its smaller repo here too, without training branches and feedback."""
    from ptrain.config import DEFAULT_CONFIG_YAML
    from ptrain.deploy import DeployRecord, record_text

    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    names = [f"team{i % 10}/prompt{i:0{max(3, len(str(prompts - 1)))}d}" for i in range(prompts)]
    when = 1_700_000_000
    out = [b"commit refs/heads/main\nmark :1\n"]
    out.append(b"committer %s %d +0000\n" % (WHO, when) + _data("ptrain init"))
    out.append(b"M 100644 inline ptrain.yaml\n" + _data(DEFAULT_CONFIG_YAML)[:-1])
    for rel in ("prompts/.gitkeep", "feedback/.gitkeep", "evals/.gitkeep"):
        out.append(b"M 100644 inline %s\ndata 0\n" % rel.encode())
    mark = 1
    for rev in range(1, versions + 1):
        for i, name in enumerate(names):
            mark += 1
            when += 60
            out.append(b"commit refs/heads/main\nmark :%d\n" % mark)
            out.append(b"committer %s %d +0000\n" % (WHO, when))
            out.append(_data(f"{'Create' if rev == 1 else 'Update'} prompt {name}"))
            out.append(b"from :%d\n" % (mark - 1))
            body = prompt.format(name=name, i=i, rev=rev)
            out.append(b"M 100644 inline prompts/%s.yaml\n" % name.encode() + _data(body)[:-1])
    # training branches: every third prompt, one commit on top of main carrying the trailer
    head = mark
    for i, name in enumerate(names):
        if i % 3 or not trained:
            continue
        mark += 1
        out.append(b"commit refs/heads/ptrain-train/%s\nmark :%d\n" % (name.encode(), mark))
        out.append(b"committer %s %d +0000\n" % (WHO, when + i))
        msg = f"Train {name}: few_shot\n\nPtrain-Trained: {name}\nPtrain-Approach: few_shot\n"
        out.append(_data(msg) + b"from :%d\n" % head)
        body = prompt.format(name=name, i=i, rev="trained")
        out.append(b"M 100644 inline prompts/%s.yaml\n" % name.encode() + _data(body)[:-1])
    marks = root / ".git" / "bench-marks"
    _git(root, "fast-import", "--quiet", f"--export-marks={marks}", data=b"".join(out))
    sha = dict(line.split() for line in marks.read_text().splitlines())
    marks.unlink()

    out = []  # deploy records: staging runs the latest version, production the one before
    for i, name in enumerate(names):
        for seq, (env, rev) in enumerate((("staging", versions), ("production", versions - 1))):
            commit = sha[f":{(rev - 1) * prompts + i + 2}"]
            rec = DeployRecord(
                seq=1, prompt=name, env=env, action="deploy", to_commit=commit, to_version=rev,
                from_commit=None, from_version=None, by=WHO.decode(),
                at="2024-01-01T00:00:00Z", reason="bench", id=f"bench{i}{env}",
            )  # fmt: skip
            out.append(f"tag ptrain-deploy/{name}@{env}/000001\nfrom {commit}\n".encode())
            out.append(b"tagger %s %d +0000\n" % (WHO, when + seq) + _data(record_text(rec)))
    _git(root, "fast-import", "--quiet", data=b"".join(out))
    lines = _git(root, "for-each-ref", "--format=%(objectname) %(refname)", "refs/tags/")
    updates = "".join(
        f"create {ref.replace('ptrain-deploy/', 'ptrain/').rsplit('/', 1)[0]} {obj}\n"
        for obj, ref in (ln.split() for ln in lines.splitlines())
    )
    _git(root, "update-ref", "--stdin", data=updates.encode())
    _git(root, "pack-refs", "--all")
    _git(root, "reset", "-q", "--hard", "main")
    if commit_graph:  # what ptrain's own commits, init and sync maintain
        _git(root, "commit-graph", "write", "--reachable", "--changed-paths")
    if feedback:
        _seed_feedback(root, names[:100])
    return names


def _seed_feedback(root: Path, names: list[str]) -> None:
    """20 records per prompt (half errors, so their triggers fire), written as shard files."""
    from ptrain.feedback import record_many

    recs = []
    for j, name in enumerate(names):
        for k in range(20):
            kind = "error" if (j % 2 == 0 and k % 2 == 0) else "success"
            rec = {"prompt": name, "kind": kind, "ts": f"2026-11-{1 + k % 20:02d}T12:00:00Z"}
            recs.append({**rec, "error_type": "bench"} if kind == "error" else rec)
    record_many(root, recs, writer="bench")


def repo_for(prompts: int, versions: int) -> tuple[Path, list[str], float | None]:
    """The cached repo for these sizes (built when missing); build seconds when built now."""
    root = DATA / f"scale-{prompts}x{versions}-v{BUILD_VERSION}"
    names_file = root.parent / f"{root.name}.names.json"
    if root.exists() and names_file.exists():
        return root, json.loads(names_file.read_text()), None
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    names = build_repo(root, prompts, versions)
    names_file.write_text(json.dumps(names))
    return root, names, time.perf_counter() - t


RECORD_SCRIPT = """
import json, sys, time
from ptrain import PromptRepo
root, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
repo = PromptRepo(root)
p = repo.get(name, env="production")
out = {}
for label, target in (("loaded", p), ("name", name)):
    repo.record_feedback(target, "rating", rating=1.0)  # warm-up: imports, writer, caches
    t = time.perf_counter()
    for _ in range(n):
        repo.record_feedback(target, "rating", rating=1.0)
    out[label] = (time.perf_counter() - t) / n
from ptrain.feedback import FeedbackWriter
w = FeedbackWriter(root)
rec = {"prompt": name, "kind": "rating", "rating": 1.0, "version": p.commit, "env": "production"}
w.write([rec])
t = time.perf_counter()
for _ in range(n):
    w.write([rec])
out["store"] = (time.perf_counter() - t) / n
print(json.dumps(out))
"""


def _env(checkout: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPATH": str(checkout)}


def _drop_caches(root: Path) -> None:
    shutil.rmtree(root / ".git" / "ptrain-cache", ignore_errors=True)
    for f in ("ptrain-versions.json",):
        (root / ".git" / f).unlink(missing_ok=True)


class FeedbackSnapshot:
    """Sizes of every feedback file now; ``restore`` truncates grown files, deletes new ones."""

    def __init__(self, root: Path):
        self.dir = root / "feedback"
        self.sizes = {p: p.stat().st_size for p in self.dir.rglob("*") if p.is_file()}

    def restore(self) -> None:
        for p in sorted(self.dir.rglob("*"), reverse=True):
            if p.is_file() and p not in self.sizes:
                p.unlink()
            elif p.is_file() and p.stat().st_size != self.sizes[p]:
                os.truncate(p, self.sizes[p])
            elif p.is_dir() and not any(p.iterdir()):
                p.rmdir()


CPU: dict[tuple[str, str], list[float]] = {}


def _time_cli(exe: str, checkout: Path, args: list[str], root: Path, cold: bool) -> float:
    """Wall time of one run; its CPU time (user+sys, git children included) goes to CPU."""
    if cold:
        _drop_caches(root)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run([exe, *args], cwd=root, env=_env(checkout), capture_output=True)
    elapsed = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"{checkout}: ptrain {' '.join(args)} failed: {p.stderr.decode()[-500:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    CPU.setdefault((" ".join(args) + (" cold" if cold else ""), str(checkout)), []).append(cpu)
    return elapsed


def _fmt(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s * 1e6:.0f} µs" if s < 1e-3 else f"{s * 1e3:.1f} ms" if s < 10 else f"{s:.1f} s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, required=True, help="The checkout to compare with.")
    ap.add_argument("--after", type=Path, default=AFTER)
    ap.add_argument("--prompts", type=int, default=1000)
    ap.add_argument("--versions", type=int, default=30)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--slow-runs", type=int, default=1, help="Runs of `train status` before.")
    ap.add_argument("--records", type=int, default=200, help="record_feedback calls per round.")
    a = ap.parse_args()

    root, names, built = repo_for(a.prompts, a.versions)
    name = names[len(names) // 2]
    exe = shutil.which("ptrain", path=str(Path(sys.executable).parent)) or "ptrain"
    sides = {"before": a.before.resolve(), "after": a.after.resolve()}
    rows: list[tuple[str, list[str], bool, float | None]] = [
        ("ptrain prompt show NAME (warm)", ["prompt", "show", name], False, 0.200),
        ("ptrain prompt show NAME (cold: no cache)", ["prompt", "show", name], True, 0.200),
        ("ptrain prompt list (warm)", ["prompt", "list"], False, 0.300),
        ("ptrain prompt list (cold: no cache)", ["prompt", "list"], True, None),
        ("ptrain feedback add NAME --rating 1", ["feedback", "add", name, "-r", "1"], False, 0.200),
        ("ptrain train status --json (warm)", ["train", "status", "--json"], False, 2.0),
        ("ptrain train status --json (cold: no cache)", ["train", "status", "--json"], True, 2.0),
    ]
    snap = FeedbackSnapshot(root)
    times: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    try:
        for label, args, cold, _ in rows:  # warm-up: byte code, page cache, the caches
            for side, checkout in sides.items():
                if "train status" in label and side == "before":
                    continue
                _time_cli(exe, checkout, args, root, cold)
        for i in range(a.runs):
            for label, args, cold, _ in rows:  # interleaved: load spikes hit both sides alike
                for side, checkout in sides.items():
                    if "train status" in label and side == "before" and i >= a.slow_runs:
                        continue
                    if "cold" in label and "train status" in label and side == "before":
                        continue  # before keeps no history cache: warm and cold are the same
                    if not cold:  # a cold row before may have deleted the caches
                        _time_cli(exe, checkout, args, root, cold)
                    t = _time_cli(exe, checkout, args, root, cold)
                    times.setdefault((label, side), []).append(t)
                    key = (" ".join(args) + (" cold" if cold else ""), str(checkout))
                    cpu.setdefault((label, side), []).append(CPU[key][-1])
            snap.restore()
        rec: dict[str, dict[str, list[float]]] = {}
        for _ in range(3):
            for side, checkout in sides.items():
                n = a.records if side == "after" else max(5, a.records // 20)
                p = subprocess.run(
                    [sys.executable, "-c", RECORD_SCRIPT, str(root), name, str(n)],
                    env=_env(checkout), capture_output=True, text=True, check=True, cwd=root,
                )  # fmt: skip
                for k, v in json.loads(p.stdout).items():
                    rec.setdefault(side, {}).setdefault(k, []).append(v)
                snap.restore()
        due = _time_cli(exe, sides["after"], ["train", "due", "--names"], root, False)
    finally:
        snap.restore()

    med = {k: statistics.median(v) for k, v in times.items()}
    before_status = med.get(("ptrain train status --json (warm)", "before"))
    med[("ptrain train status --json (cold: no cache)", "before")] = before_status  # type: ignore[assignment]
    if ("ptrain train status --json (warm)", "before") in cpu:
        cpu[("ptrain train status --json (cold: no cache)", "before")] = cpu[
            ("ptrain train status --json (warm)", "before")
        ]
    load = os.getloadavg()
    commits = int(_git(root, "rev-list", "--all", "--count"))
    tags = len(_git(root, "tag").splitlines())
    print(
        f"repo: {a.prompts} prompts x {a.versions} versions ({commits} commits on all refs, "
        f"{tags} tags), {'built in ' + format(built, '.0f') + ' s' if built else 'cached'}"
    )
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, load average "
        f"{load[0]:.1f} at the end; runs={a.runs} (train status before: {a.slow_runs})"
    )
    print()
    print("| what | before wall | after wall | after/before | before CPU | after CPU | target | |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for label, _, _, target in rows:
        b, f = med.get((label, "before")), med[(label, "after")]
        cb = statistics.median(cpu[(label, "before")]) if (label, "before") in cpu else b
        cf = statistics.median(cpu[(label, "after")])
        ratio = f"{f / b:.3f}x" if b else "-"
        ok = "" if target is None else ("ok" if f <= target else "MISSED")
        print(
            f"| `{label}` | {_fmt(b)} | {_fmt(f)} | {ratio} | {_fmt(cb)} | {_fmt(cf)} "
            f"| {_fmt(target)} | {ok} |"
        )
    for key, label in (
        ("loaded", "`record_feedback(LoadedPrompt)` per record"),
        ("name", "`record_feedback(name)` per record (deployed version looked up)"),
        ("store", "floor: the feedback store's append alone (`FeedbackWriter.write`)"),
    ):
        b = statistics.median(rec["before"][key])
        f = statistics.median(rec["after"][key])
        target = 0.001 if key == "loaded" else None
        ok = "" if target is None else ("ok" if f <= target else "MISSED")
        print(f"| {label} | {_fmt(b)} | {_fmt(f)} | {f / b:.3f}x | | | {_fmt(target)} | {ok} |")
    print(f"| `ptrain train due --names` (after only, one run) | - | {_fmt(due)} | | | | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
