"""kill -9 at every named step of deploy, rollback, create and update: the repo stays consistent
(git fsck, ptrain doctor, prompt history), and the next command works."""

from __future__ import annotations

import pytest

from tests.conftest import git
from tests.reliability.conftest import Paused, assert_consistent, ptrain, wait_for_git_children
from tests.repo.conftest import triage

DEPLOY_STEPS = ["deploy.record-written", "deploy.prepared", "deploy.done"]


@pytest.mark.parametrize("step", DEPLOY_STEPS)
def test_kill_during_deploy(rel_repo, tmp_path, step):
    root = rel_repo.root
    before = git(root, "for-each-ref", "refs/tags")
    p = Paused(root, tmp_path / "pause", step, "prompt", "deploy", "support/triage", "2")
    p.kill()
    wait_for_git_children(root)
    after = git(root, "for-each-ref", "refs/tags")
    if step == "deploy.done":
        assert after != before and rel_repo.get("support/triage").version == 2
    else:  # record and move are one transaction: neither happened
        assert after == before and rel_repo.get("support/triage").version == 1
    assert_consistent(root)
    # nothing blocks the next deploy, and record numbers keep counting
    r = ptrain(root, "prompt", "deploy", "support/triage", "3")
    assert r.code == 0, r.err
    assert [h.seq for h in rel_repo.history("support/triage", "production")] == (
        [1, 2, 3] if step == "deploy.done" else [1, 2]
    )
    assert_consistent(root)


@pytest.mark.parametrize("step", ["rollback.record-written", "rollback.prepared", "rollback.done"])
def test_kill_during_rollback(rel_repo, tmp_path, step):
    root = rel_repo.root
    rel_repo.deploy("support/triage", 2)
    p = Paused(root, tmp_path / "pause", step, "prompt", "rollback", "support/triage")
    p.kill()
    wait_for_git_children(root)
    assert rel_repo.get("support/triage").version == (1 if step == "rollback.done" else 2)
    assert_consistent(root)
    r = ptrain(root, "prompt", "deploy", "support/triage", "3")
    assert r.code == 0, r.err
    assert_consistent(root)


UPDATE_STEPS = ["update.file-written", "commit.temp-index", "update.staged", "update.committed"]


@pytest.mark.parametrize("step", UPDATE_STEPS)
def test_kill_during_update(rel_repo, tmp_path, step):
    root = rel_repo.root
    new = tmp_path / "v4.yaml"
    new.write_text(triage("v4"))
    head = git(root, "rev-parse", "HEAD").strip()
    p = Paused(
        root, tmp_path / "pause", step, "prompt", "update", "support/triage", "--file", str(new)
    )
    p.kill()
    moved = git(root, "rev-parse", "HEAD").strip() != head
    assert moved == (step == "update.committed")
    if step == "commit.temp-index":  # the crash left a temporary index: doctor names it
        doc = ptrain(root, "doctor")
        assert doc.code == 1 and "temp-index" in doc.out, doc.out
        assert ptrain(root, "doctor", "--fix").code == 0
    # the index never lags HEAD, so a plain `git commit` cannot undo anything
    assert git(root, "diff", "--cached", "--name-only", "HEAD", "--", "prompts") == "" or not moved
    assert_consistent(root)
    other = tmp_path / "v5.yaml"
    other.write_text(triage("v5"))
    r = ptrain(root, "prompt", "update", "support/triage", "--file", str(other))
    if step != "update.committed":
        # the written-but-uncommitted file is named, not overwritten
        assert r.code == 1 and "uncommitted changes" in r.err, r.err
        r = ptrain(root, "prompt", "update", "support/triage")  # commit the interrupted edit
    assert r.code == 0, r.err
    assert_consistent(root)
    assert git(root, "status", "--porcelain", "--", "prompts") == ""


@pytest.mark.parametrize("step", ["create.file-written", "create.staged", "create.committed"])
def test_kill_during_create(rel_repo, tmp_path, step):
    root = rel_repo.root
    src = tmp_path / "new.yaml"
    src.write_text(triage("new"))
    p = Paused(
        root, tmp_path / "pause", step, "prompt", "create", "support/other", "--file", str(src)
    )
    p.kill()
    assert_consistent(root)
    if step == "create.committed":
        assert rel_repo.versions("support/other")[-1].number == 1
    else:  # the file is there but not committed: `git add` + commit, or remove and re-create
        assert (root / "prompts/support/other.yaml").exists()
        git(root, "reset", "-q", "--", "prompts/support/other.yaml")
        (root / "prompts/support/other.yaml").unlink()
        r = ptrain(root, "prompt", "create", "support/other", "--file", str(src))
        assert r.code == 0, r.err
    assert_consistent(root)
