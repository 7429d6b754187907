"""The console script's fast path for `feedback add` (ptrain.cli.entry): no typer or click, the
same record and output as the full CLI, and everything unusual handed to the full CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ptrain.cli.entry import parse_feedback_add

FULL = "import sys; from ptrain.cli.main import run; sys.argv[0] = 'ptrain'; run()"
FAST = "import sys; from ptrain.cli.entry import run; sys.argv[0] = 'ptrain'; run()"
SHOW_MODULES = "; import sys as s; print('MODS', ' '.join(sorted(s.modules)), file=s.stderr)"


def _ptrain(code: str, args: list[str], cwd) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}  # one line per message
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, env=env
    )


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["feedback", "add", "a/b", "-r", "0.9", "-m", "ok"],
         (None, {"name": "a/b", "rating": 0.9, "message": "ok"})),
        (["-C", "/r", "feedback", "add", "--rating=1", "a/b", "--json"],
         ("/r", {"name": "a/b", "rating": 1.0, "json_out": True})),
        (["--repo=/r", "feedback", "add", "a/b", "--metric", "x=1", "--metric", "y=2"],
         ("/r", {"name": "a/b", "metric": ["x=1", "y=2"]})),
        (["feedback", "add", "a/b", "-r", "-0.5"], (None, {"name": "a/b", "rating": -0.5})),
        (["feedback", "add", "a/b", "-e", "Timeout: slow", "--env", "prod", "-v", "3"],
         (None, {"name": "a/b", "error": "Timeout: slow", "env": "prod", "version": "3"})),
    ],
)  # fmt: skip
def test_plain_command_lines_take_the_fast_path(argv, expected):
    assert parse_feedback_add(argv) == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["feedback", "add", "--help"],
        ["feedback", "add", "a/b", "--ratin", "1"],  # a typo: click's "No such option"
        ["feedback", "add", "a/b", "-r0.9"],  # attached short values: click's rules
        ["feedback", "add", "a/b", "-r", "1", "-r", "0"],  # repeated
        ["feedback", "add", "a/b", "-r", "good"],  # not a number: click's message
        ["feedback", "add", "a/b", "c/d", "-r", "1"],  # two names
        ["feedback", "add", "-r", "1"],  # no name
        ["feedback", "add", "a/b", "-m"],  # no value
        ["feedback", "add", "a/b", "-m", "--json"],  # an option where the value goes
        ["feedback", "add", "a/b", "--", "-r"],
        ["feedback", "add", "a/b", "--json=yes"],
        ["feedback", "list", "a/b"],
        ["-C", "feedback", "add", "a/b"][:1],
        ["prompt", "show", "a/b"],
        [],
    ],
)
def test_anything_unusual_goes_to_the_full_cli(argv):
    assert parse_feedback_add(argv) is None


def _record(out: str) -> dict:
    rec = json.loads(out)
    for volatile in ("id", "ts"):
        rec.pop(volatile)
    return rec


def test_both_paths_write_the_same_record_and_the_fast_one_loads_no_typer(repo):
    args = ["feedback", "add", "support/triage", "-r", "0.25", "-m", "mail me at a@b.example",
            "--metric", "latency_ms=12", "--metric", "score=0.5", "-e", "Timeout: slow", "--json"]  # fmt: skip
    fast = _ptrain(FAST + SHOW_MODULES, args, repo.root)
    full = _ptrain(FULL, args, repo.root)
    assert fast.returncode == full.returncode == 0, (fast.stderr, full.stderr)
    assert _record(fast.stdout) == _record(full.stdout)
    assert _record(fast.stdout)["error_type"] == "Timeout"
    mods = set(fast.stderr.split("MODS", 1)[1].split())
    assert not {"typer", "click", "rich", "pydantic"} & mods
    assert "ptrain.cli.main" not in mods
    # the human line too (ids differ)
    plain = ["feedback", "add", "support/triage", "-r", "1", "-v", "2"]
    lines = [_ptrain(c, plain, repo.root).stdout.rsplit(" id ", 1)[0] for c in (FAST, FULL)]
    assert (
        lines[0]
        == lines[1]
        == "Recorded rating for support/triage v2 ("
        + (repo.resolve("support/triage", "2").commit[:8] + ")")
    )
    recs = repo.root.glob("feedback/**/*.jsonl")
    assert sum(len(p.read_text().splitlines()) for p in recs) == 4  # nothing twice


def test_errors_read_the_same_on_both_paths(repo, tmp_path):
    for args in (
        ["feedback", "add", "support/triag", "-r", "1"],  # did you mean
        ["feedback", "add", "support/triage"],  # nothing to record
        ["feedback", "add", "support/triage", "-r", "1", "--env", "nowhere"],
        ["-C", str(tmp_path / "none"), "feedback", "add", "support/triage", "-r", "1"],
    ):
        fast, full = (_ptrain(c, args, repo.root) for c in (FAST, FULL))
        assert fast.returncode == full.returncode != 0, args
        assert fast.stderr == full.stderr and fast.stderr.count("\n") == 1, args
        assert "Traceback" not in fast.stderr
    assert not list(repo.root.glob("feedback/**/*.jsonl"))


def test_the_repo_comes_from_the_environment_as_with_the_full_cli(repo, tmp_path, monkeypatch):
    monkeypatch.setenv("PTRAIN_REPO", str(repo.root))
    p = _ptrain(FAST, ["feedback", "add", "support/triage", "-r", "1"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert len(list(repo.root.glob("feedback/**/*.jsonl"))) == 1
