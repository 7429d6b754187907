"""ptrain doctor: every finding explained, nothing changed without --fix, everything repaired
with it; and the stale-lock and orphan cases the issue found, end to end."""

from __future__ import annotations

import os
import re
import time

from ptrain.storage.git import Git
from tests.conftest import git
from tests.reliability.conftest import assert_consistent, ptrain
from tests.repo.conftest import snapshot, triage

LIVE = "refs/tags/ptrain/support/triage@production"
RECORDS = "refs/tags/ptrain-deploy/support/triage@production/"


def _git_locks(root) -> list[str]:
    """git's lock files (ptrain.lock is ptrain's flock file, not a git lock)."""
    return sorted(p.name for p in (root / ".git").rglob("*.lock") if p.name != "ptrain.lock")


def _age(path, seconds: float = 3600) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def _legacy_orphan(root, version_commit: str, seq: int = 2) -> str:
    """A record above the live one, as a crash of older ptrain versions left it."""
    g = Git.discover(root)
    name = f"ptrain-deploy/support/triage@production/{seq:06d}"
    body = (
        "ptrain deploy support/triage to production: v1 -> v2\n\nprompt: support/triage\n"
        f"env: production\naction: deploy\nto_commit: {version_commit}\nprevious: 1\n"
    )
    obj = g.make_tag_object(version_commit, name, body)
    git(root, "update-ref", f"refs/tags/{name}", obj)
    return f"refs/tags/{name}"


def _break_everything(repo, tmp_path) -> None:
    root = repo.root
    v2 = repo.versions("support/triage")[1].commit
    _legacy_orphan(root, v2)
    for lock in (root / ".git/index.lock", root / ".git/refs/tags/ptrain/support/x@staging.lock"):
        lock.parent.mkdir(parents=True, exist_ok=True)
        lock.write_text("")
        _age(lock)
    tmp = root / ".git/ptrain-tmp"
    tmp.mkdir(exist_ok=True)
    (tmp / "index.999999.dead").write_bytes(b"DIRC")
    shard = root / "feedback/support/triage/2026-01-01/a.jsonl"
    shard.parent.mkdir(parents=True)
    shard.write_text('{"id": "1"}\n{"id": "2", "tor')
    _age(shard)


def test_clean_repo(rel_repo):
    r = ptrain(rel_repo.root, "doctor")
    assert r.code == 0 and "no problems found" in r.out


def test_findings_explained_nothing_changed_without_fix(rel_repo, tmp_path):
    root = rel_repo.root
    _break_everything(rel_repo, tmp_path)
    before = snapshot(root)
    locks = _git_locks(root)
    r = ptrain(root, "doctor")
    assert r.code == 1, r.out + r.err
    for kind in ("orphan-record", "stale-lock", "temp-index", "torn-shard"):
        assert f"problem: {kind}" in r.out, r.out
    assert "fix: " in r.out and "Traceback" not in r.err
    assert snapshot(root) == before
    assert _git_locks(root) == locks
    assert (root / ".git/ptrain-tmp/index.999999.dead").exists()

    r = ptrain(root, "doctor", "--fix")
    assert r.code == 0, r.out + r.err
    assert "no problems left" in r.out
    assert _git_locks(root) == []
    assert git(root, "for-each-ref", RECORDS).count("\n") == 1
    shard = root / "feedback/support/triage/2026-01-01/a.jsonl"
    assert shard.read_text() == '{"id": "1"}\n'
    kept = list((root / ".git/ptrain-doctor").iterdir())
    assert [p.read_text() for p in kept] == ['{"id": "2", "tor']  # the torn bytes are kept
    assert_consistent(root)


def test_stale_ref_lock_is_named_not_called_a_race(rel_repo):
    root = rel_repo.root
    lock = root / ".git/refs/tags/ptrain/support/triage@production.lock"
    lock.write_text("")
    _age(lock, 120)
    r = ptrain(root, "prompt", "deploy", "support/triage", "2")
    assert r.code == 1
    assert "at the same time" not in r.err
    assert (
        "is locked" in r.err
        and re.search(r"created 12\d s ago", r.err)
        and "ptrain doctor --fix" in r.err
    )
    assert ptrain(root, "doctor", "--fix").code == 0
    assert ptrain(root, "prompt", "deploy", "support/triage", "2").code == 0
    assert_consistent(root)


def test_index_lock_fails_update_with_one_line_and_writes_nothing(rel_repo, tmp_path):
    root = rel_repo.root
    (root / ".git/index.lock").write_text("")
    new = tmp_path / "v4.yaml"
    new.write_text(triage("v4"))
    before = snapshot(root)
    r = ptrain(root, "prompt", "update", "support/triage", "--file", str(new))
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1
    assert "the git index is locked" in r.err and "index.lock" in r.err
    assert snapshot(root) == before
    # the storage function `feedback commit` uses refuses too (no commit that git would revert)
    import pytest

    from ptrain.errors import GitLocked

    with pytest.raises(GitLocked):
        rel_repo.git.commit_files({"feedback/x.jsonl": b"{}\n"}, "feedback: 1 new record")
    assert snapshot(root) == before
    (root / ".git/index.lock").unlink()
    assert ptrain(root, "prompt", "update", "support/triage", "--file", str(new)).code == 0
    assert git(root, "status", "--porcelain") == ""


def test_legacy_orphan_does_not_block_and_its_number_is_not_reused(rel_repo):
    root = rel_repo.root
    v2 = rel_repo.versions("support/triage")[1].commit
    orphan = _legacy_orphan(root, v2)
    assert [h.seq for h in rel_repo.history("support/triage", "production")] == [1]
    r = ptrain(root, "prompt", "deploy", "support/triage", "2")
    assert r.code == 0 and "v1 → v2" in r.out, r.err  # not "already deployed"
    hist = rel_repo.history("support/triage", "production")
    assert [h.seq for h in hist] == [1, 3]  # 2 was used by the orphan: never reused
    assert git(root, "for-each-ref", orphan) == ""  # removed in the deploy's transaction
    assert rel_repo.get("support/triage").version == 2
    assert_consistent(root)


def test_broken_chain_is_repaired(rel_repo):
    root = rel_repo.root
    rel_repo.deploy("support/triage", 2)
    git(root, "update-ref", "-d", RECORDS + "000002")  # what the old clean-up race did
    r = ptrain(root, "prompt", "deploy", "support/triage", "3")
    assert r.code == 1 and "ptrain doctor" in r.err
    r = ptrain(root, "doctor")
    assert r.code == 1 and "broken-chain" in r.out
    assert ptrain(root, "doctor", "--fix").code == 0
    assert [h.seq for h in rel_repo.history("support/triage", "production")] == [1, 2]
    assert ptrain(root, "prompt", "deploy", "support/triage", "3").code == 0
    assert_consistent(root)
