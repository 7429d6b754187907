"""Sync after conflicts, remote deletions, hook rejections and missing remotes (issue 12)."""

from __future__ import annotations

import os

from tests.conftest import git


def _remote_tags(bare) -> dict[str, str]:
    out = git(bare, "for-each-ref", "--format=%(refname) %(objectname)", "refs/tags")
    return dict(line.split(" ") for line in out.splitlines())


def test_conflict_pushes_nothing_and_theirs_resolves_it(remote_pair, cli):
    first, bare, second = remote_pair
    first.deploy("support/triage", 2, reason="from first")
    assert cli.run("sync", cwd=first.root).exit_code == 0
    second.deploy("support/triage", 3, reason="from second")
    remote_before = _remote_tags(bare)
    r = cli.run("sync", cwd=second.root)
    assert r.exit_code == 1 and "nothing was pushed" in r.stderr and "--theirs" in r.stderr
    assert _remote_tags(bare) == remote_before  # no orphan record, chain untouched
    # following the hint: the remote's deploys are kept, the clone's diverging one dropped
    r = cli.run("sync", "--theirs", cwd=second.root)
    assert r.exit_code == 0, r.stderr
    assert _remote_tags(bare) == remote_before
    hist = second.history("support/triage", "production")
    assert [(h.seq, h.to_version, h.reason) for h in hist] == [
        (1, 1, "first"),
        (2, 2, "from first"),
    ]
    assert second.get("support/triage").version == 2
    # and deploying again now continues the remote's chain
    second.deploy("support/triage", 3, reason="again")
    assert cli.run("sync", cwd=second.root).exit_code == 0
    assert cli.run("sync", cwd=first.root).exit_code == 0
    assert [h.seq for h in first.history("support/triage", "production")] == [1, 2, 3]
    assert first.get("support/triage").version == 3


def test_tag_deleted_on_the_remote_is_not_pushed_back(remote_pair, cli):
    first, bare, second = remote_pair
    assert cli.run("sync", cwd=second.root).exit_code == 0  # the second clone has seen it
    # someone undeploys on the remote (deletes the moving tag there)
    first_root = first.root
    git(first_root, "push", "-q", "origin", ":refs/tags/ptrain/support/triage@production")
    assert "refs/tags/ptrain/support/triage@production" not in _remote_tags(bare)
    r = cli.run("sync", cwd=second.root)  # the older clone
    assert r.exit_code == 0, r.stderr
    assert "refs/tags/ptrain/support/triage@production" not in _remote_tags(bare)
    assert second.deployed("support/triage", "production") is None
    assert "deleted on origin" in r.stdout
    # a later deploy from that clone is new, and is pushed
    second.deploy("support/triage", 2, reason="redeploy")
    assert cli.run("sync", cwd=second.root).exit_code == 0
    assert "refs/tags/ptrain/support/triage@production" in _remote_tags(bare)


def test_orphan_record_is_never_pushed(remote_pair, cli):
    first, bare, _ = remote_pair
    # an orphan as older ptrain versions could leave it: a record above the live one
    live = git(first.root, "rev-parse", "refs/tags/ptrain/support/triage@production").strip()
    git(first.root, "update-ref", "refs/tags/ptrain-deploy/support/triage@production/000002", live)
    r = cli.run("sync", cwd=first.root)
    assert r.exit_code == 0, r.stderr
    assert "orphan" in r.stdout
    assert "refs/tags/ptrain-deploy/support/triage@production/000002" not in _remote_tags(bare)


def test_hook_rejection_shows_the_hooks_message(remote_pair, cli):
    first, bare, _ = remote_pair
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'deploys are frozen until Monday' >&2\nexit 1\n")
    os.chmod(hook, 0o755)
    first.deploy("support/triage", 2)
    r = cli.run("sync", cwd=first.root)
    assert r.exit_code == 1
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert "deploys are frozen until Monday" in line and "hook" in line


def test_missing_remote_path_is_named(triage_repo, tmp_path, cli):
    gone = tmp_path / "no-such-remote.git"
    git(triage_repo.root, "remote", "add", "origin", str(gone))
    r = cli.run("sync", cwd=triage_repo.root)
    assert r.exit_code == 1
    assert "is not a git repository or does not exist" in r.stderr and str(gone) in r.stderr
    assert "and the repository exists" not in r.stderr
