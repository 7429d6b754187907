"""Malformed and oversized input: every case exits != 0 with one line naming the problem, no
traceback, nothing written, within 10 s and 1 GiB (enforced: RLIMIT_AS + timeout, real process)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ptrain import feedback as fb
from tests.conftest import git
from tests.feedback.crash import run_limited

GOOD = '{"prompt": "support/triage", "kind": "rating", "rating": 0.9, "ts": "2026-11-01T10:00:00Z"}'


def _snapshot(root: Path) -> dict[str, bytes]:
    out = {}
    for p in root.rglob("*"):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not rel.startswith((".git/", ".ptrain/")):
            out[rel] = p.read_bytes()
    return out


def _set_yaml(root: Path, text: str) -> None:
    """Add ``text`` (indented keys) under the existing ``feedback:`` section."""
    path = root / "ptrain.yaml"
    doc = path.read_text()
    assert "\nfeedback:\n" in doc
    path.write_text(doc.replace("\nfeedback:\n", "\nfeedback:\n" + text, 1))
    git(root, "commit", "-qam", "config")


def _jsonl_20mb(d: Path) -> Path:
    p = d / "huge-record.jsonl"
    p.write_text(
        '{"prompt": "support/triage", "kind": "success", "message": "' + "x" * (20 << 20) + '"}\n'
    )
    return p


CASES = {
    # name: (files to make in tmp -> args, expected words in the one line)
    "dev-zero": (lambda d: ["feedback", "import", "/dev/zero"], "not a regular file"),
    "directory": (lambda d: ["feedback", "import", str(d)], "Is a directory"),
    "missing": (lambda d: ["feedback", "import", str(d / "nope.jsonl")], "cannot read"),
    "20mb-record": (
        lambda d: ["feedback", "import", str(_jsonl_20mb(d))],
        "longer than 1,048,576 bytes",
    ),
    "csv-unterminated-quote": (
        lambda d: _write(
            d,
            "q.csv",
            'prompt,kind,message\nsupport/triage,success,"never closed\nsupport/triage,success,two\n',
        ),
        "unterminated quote",
    ),
    "csv-stray-quote": (
        lambda d: _write(d, "s.csv", 'prompt,kind,message\nsupport/triage,success,"a"b\n'),
        "malformed CSV",
    ),
    "csv-not-utf8": (
        lambda d: _write(d, "l.csv", b"prompt,kind,message\nsupport/triage,success,caf\xe9\n"),
        "not UTF-8",
    ),
    "ts-year-1": (
        lambda d: _write(
            d,
            "old.jsonl",
            '{"prompt": "support/triage", "kind": "success", "ts": "0001-01-01T00:00:00Z"}\n',
        ),
        "before 2000-01-01",
    ),
    "ts-far-future": (
        lambda d: _write(
            d,
            "fut.jsonl",
            '{"prompt": "support/triage", "kind": "success", "ts": "2999-01-01T00:00:00Z"}\n',
        ),
        "in the future",
    ),
    "ts-epoch-zero": (
        lambda d: _write(
            d,
            "epoch.jsonl",
            '{"prompt": "support/triage", "kind": "success", "ts": "1970-01-01T00:00:00Z"}\n',
        ),
        "before 2000-01-01",
    ),
    "binary-garbage": (
        lambda d: _write(d, "bin.jsonl", os.urandom(4000).replace(b"\n", b"") + b"\n"),
        "no valid records",
    ),
    "deep-nesting": (
        lambda d: _write(d, "deep.jsonl", "[" * 100_000 + "]" * 100_000 + "\n"),
        "no valid records",
    ),
    "not-objects": (lambda d: _write(d, "arr.jsonl", "[1, 2]\n3\n"), "expected a JSON object"),
    "unknown-format": (
        lambda d: ["feedback", "import", str(_write_path(d, "x.txt", GOOD)), "--format", "xml"],
        "unknown format",
    ),
    "query-bad-sql": (lambda d: ["feedback", "query", "SELEC kind FROM feedback"], "bad SQL"),
    "query-unknown-column": (
        lambda d: ["feedback", "query", "SELECT nope FROM feedback"],
        "query failed",
    ),
}


def _write_path(d: Path, name: str, data: str | bytes) -> Path:
    p = d / name
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    return p


def _write(d: Path, name: str, data: str | bytes) -> list[str]:
    return ["feedback", "import", str(_write_path(d, name, data))]


def _one_clear_line(p) -> str:
    assert p.returncode != 0, p.stdout
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, p.stderr
    return lines[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_input_is_one_line_nothing_written_bounded(repo, tmp_path, case):
    make, words = CASES[case]
    d = tmp_path / "in"
    d.mkdir()
    args = make(d)
    before = _snapshot(repo.root)
    line = _one_clear_line(run_limited(args, repo.root))
    assert words in line, line
    assert _snapshot(repo.root) == before


def test_limits_from_ptrain_yaml(repo, tmp_path):
    _set_yaml(
        repo.root,
        "  limits:\n    max_import_bytes: 4096\n    max_import_records: 3\n    max_record_bytes: 2048\n",
    )
    before = _snapshot(repo.root)
    big = _write_path(tmp_path, "big.jsonl", (GOOD + "\n") * 60)  # ~5.5 KB
    assert "feedback.limits.max_import_bytes" in _one_clear_line(
        run_limited(["feedback", "import", str(big)], repo.root)
    )
    many = _write_path(tmp_path, "many.jsonl", (GOOD + "\n") * 5)
    assert "max_import_records" in _one_clear_line(
        run_limited(["feedback", "import", str(many)], repo.root)
    )
    long = _write_path(tmp_path, "long.jsonl", GOOD[:-1] + ', "message": "' + "y" * 3000 + '"}\n')
    assert "longer than 2,048 bytes" in _one_clear_line(
        run_limited(["feedback", "import", str(long)], repo.root)
    )
    assert _snapshot(repo.root) == before
    # the API path refuses an over-limit record too
    with pytest.raises(fb.make_record.__globals__["ValidationError"], match="over the limit"):
        fb.record(repo.root, {"prompt": "support/triage", "kind": "success", "message": "z" * 5000})


def test_bad_limits_in_ptrain_yaml_are_one_line(repo):
    _set_yaml(repo.root, "  limits:\n    max_record_bytes: 5\n")
    line = _one_clear_line(
        run_limited(["feedback", "add", "support/triage", "--rating", "1"], repo.root)
    )
    assert "feedback.limits.max_record_bytes" in line


@pytest.mark.parametrize("value", ["/tmp/outside", "../outside", ".git", ".git/feedback"])
def test_feedback_dir_outside_the_repo_is_refused(repo, tmp_path, value):
    text = (
        (repo.root / "ptrain.yaml")
        .read_text()
        .replace("feedback_dir: feedback", f"feedback_dir: {value}")
    )
    (repo.root / "ptrain.yaml").write_text(text)
    before = _snapshot(repo.root)
    for args in (["feedback", "add", "support/triage", "--rating", "1"],
                 ["feedback", "import", str(_write_path(tmp_path, "ok.jsonl", GOOD + "\n"))]):  # fmt: skip
        line = _one_clear_line(run_limited(args, repo.root))
        assert "feedback_dir" in line and "inside the repository" in line, line
    assert _snapshot(repo.root) == before
    assert not (repo.root / ".git" / "feedback").exists() and not (tmp_path / "outside").exists()


def test_symlinked_prompt_dir_is_refused_for_writes_and_skipped_by_reads(repo, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo.root / "feedback" / "support").symlink_to(outside, target_is_directory=True)
    line = _one_clear_line(
        run_limited(["feedback", "add", "support/triage", "--rating", "1"], repo.root)
    )
    assert "symlink" in line and "refusing to write" in line
    src = _write_path(tmp_path, "ok.jsonl", GOOD + "\n")
    assert "symlink" in _one_clear_line(run_limited(["feedback", "import", str(src)], repo.root))
    assert list(outside.rglob("*")) == []
    assert list(fb.iter_feedback(repo.root)) == []


def test_symlinked_shard_file_is_refused(repo, tmp_path):
    target = tmp_path / "victim.txt"
    target.write_text("do not touch\n")
    day = repo.root / "feedback/support/triage/2026-11-01"
    day.mkdir(parents=True)
    (day / "w.jsonl").symlink_to(target)
    with pytest.raises(OSError, match="symlink"):
        fb.record(
            repo.root,
            {"prompt": "support/triage", "kind": "success", "ts": "2026-11-01T10:00:00Z"},
            writer="w",
        )
    assert target.read_text() == "do not touch\n"
