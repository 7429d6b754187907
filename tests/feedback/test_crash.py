"""kill -9 at every step of `feedback import` and `feedback commit`: 0 records lost or duplicated.

Real processes (the ptrain console script), real files, a real git repo; ptrain.faults pauses
the process at a named step so the SIGKILL lands exactly there.
"""

from __future__ import annotations

import subprocess

import pytest

from ptrain import feedback as fb
from ptrain.storage import jsonl
from tests.conftest import git
from tests.feedback.crash import kill_at
from tests.reliability.conftest import assert_consistent

N = 60_000


def _export(path, n=N):
    lines = []
    for i in range(n):
        day = 1 + i % 28
        lines.append(jsonl.dumps({"prompt": "support/triage", "kind": "rating", "rating": 0.5,
                                  "message": f"r{i}", "ts": f"2026-10-{day:02d}T10:00:00Z"}))  # fmt: skip
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _messages(root) -> list[str]:
    return [r["message"] for r in fb.iter_feedback(root)]


def _run(root, *args):
    from tests.conftest import PTRAIN_BIN

    return subprocess.run([PTRAIN_BIN, *args], cwd=root, capture_output=True, text=True)


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return _export(tmp_path_factory.mktemp("export") / "prod.jsonl")


@pytest.mark.parametrize(
    "step, visible",
    [("import.staged", 0), ("import.committed", N), ("import.moving", N), ("import.moved", N)],
)
def test_kill_during_import_is_all_or_nothing_and_retry_is_a_noop(
    repo, export, tmp_path, step, visible
):
    root = repo.root
    kill_at(step, ["feedback", "import", str(export)], root, tmp_path / "pause")
    # the next reader finishes a committed import or removes an uncommitted stage: never half
    msgs = _messages(root)
    assert len(msgs) == visible and len(set(msgs)) == visible
    assert not list((root / "feedback").glob(".import-*"))

    retry = _run(root, "feedback", "import", str(export))
    assert retry.returncode == 0, retry.stderr
    if visible:
        assert "already imported" in retry.stdout
    msgs = _messages(root)
    assert len(msgs) == N and len(set(msgs)) == N  # none lost, none duplicated

    again = _run(root, "feedback", "import", str(export))
    assert again.returncode == 0 and "already imported" in again.stdout
    assert len(_messages(root)) == N
    assert fb.summarize(root).rows[0]["count"] == N
    assert_consistent(root)  # git fsck, ptrain doctor, the deploy history: all fine


def test_a_stage_is_never_committed_and_commit_finishes_a_crashed_import(repo, tmp_path):
    root = repo.root
    src = _export(tmp_path / "small.jsonl", 500)
    kill_at("import.committed", ["feedback", "import", str(src)], root, tmp_path / "pause")
    assert list((root / "feedback").glob(".import-*"))  # the stage is there, hidden
    res = fb.commit_feedback(root)
    assert res["records"] == 500
    tracked = git(root, "ls-files", "feedback").split()
    assert not any(".import-" in f for f in tracked) and "feedback/_imports.jsonl" in tracked


def _committed_messages(root) -> list[str]:
    out = []
    for path in git(root, "ls-files", "feedback").split():
        if path.endswith(".jsonl") and not path.endswith("_imports.jsonl"):
            for line in git(root, "show", f"HEAD:{path}").splitlines():
                out.append(jsonl.loads(line)["message"])
    return out


@pytest.mark.parametrize(
    "step",
    [
        "feedback-commit.files-read",
        "commit.temp-index",  # Git.commit_files: the tree built in a temporary index
        "commit.staged",  # ... the real index updated, HEAD not yet moved
        "feedback-commit.committed",
    ],
)
def test_kill_during_feedback_commit_loses_and_duplicates_nothing(repo, tmp_path, step):
    root = repo.root
    fb.record_many(root, [{"prompt": "support/triage", "kind": "success", "message": f"m{i}",
                           "ts": f"2026-10-0{1 + i % 5}T10:00:00Z"} for i in range(300)])  # fmt: skip
    kill_at(step, ["feedback", "commit"], root, tmp_path / "pause")
    fb.record(root, {"prompt": "support/triage", "kind": "success", "message": "late"})
    r = _run(root, "feedback", "commit")
    assert r.returncode == 0, r.stderr
    committed = _committed_messages(root)
    assert sorted(committed) == sorted(_messages(root))  # the work tree and HEAD agree
    assert len(committed) == 301 and len(set(committed)) == 301
    assert git(root, "status", "--porcelain", "feedback") == ""
    git(root, "fsck", "--no-progress")
    assert _run(root, "feedback", "commit").stdout.strip() == "No new feedback to commit."
    assert_consistent(root)
