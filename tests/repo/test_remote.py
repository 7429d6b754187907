"""Deploy tags and their history travel through a local bare remote; moved tags arrive on sync."""

from __future__ import annotations

import pytest

from ptrain import PromptRepo
from ptrain.errors import PtrainError
from tests.conftest import git


def test_second_clone_sees_moved_tag_after_sync(remote_pair, cli):
    first, bare, second = remote_pair
    # a plain clone already carries the deploy tag and its record
    assert second.deployed("support/triage", "production").number == 1
    assert second.get("support/triage").version == 1

    first.deploy("support/triage", 3, reason="ship v3")
    r = cli.run("sync", cwd=first.root)
    assert r.exit_code == 0, r.stderr
    assert "ptrain/support/triage@production" in r.stdout

    # plain `git fetch` would not move an existing tag; ptrain sync does
    r = cli.run("sync", "--json", cwd=second.root)
    assert r.exit_code == 0, r.stderr
    assert second.deployed("support/triage", "production").number == 3
    assert second.get("support/triage").version == 3
    hist = second.history("support/triage", "production")
    assert [(h.from_version, h.to_version, h.reason) for h in hist] == [
        (None, 1, "first"),
        (1, 3, "ship v3"),
    ]

    # and back the other way: a rollback in the second clone reaches the first
    second.rollback("support/triage", reason="regression")
    assert cli.run("sync", cwd=second.root).exit_code == 0
    assert cli.run("sync", cwd=first.root).exit_code == 0
    assert first.deployed("support/triage", "production").number == 1
    assert [h.action for h in first.history("support/triage", "production")] == [
        "deploy",
        "deploy",
        "rollback",
    ]
    # syncing again is a no-op
    r = cli.run("sync", cwd=first.root)
    assert r.exit_code == 0 and "0 fetched, 0 pushed" in r.stdout


def test_get_works_on_the_bare_mirror(remote_pair):
    first, bare, _ = remote_pair
    mirror = PromptRepo(bare)
    p = mirror.get("support/triage", env="production")
    assert (p.version, p.commit) == (1, first.versions("support/triage")[0].commit)
    assert "(v1)" in p.format(message="hi")
    assert mirror.get("support/triage", version=3).version == 3
    # refs packed by gc are read too
    first.deploy("support/triage", 2)
    from ptrain.sync import sync

    sync(first.git, "origin")
    git(bare, "pack-refs", "--all")
    assert not (bare / "refs/tags/ptrain/support/triage@production").exists()
    assert PromptRepo(bare).get("support/triage").version == 2


def test_bare_mirror_refuses_writes(remote_pair):
    _, bare, _ = remote_pair
    with pytest.raises(PtrainError, match="bare repository"):
        PromptRepo(bare).update("support/triage", "x: 1\n")


def test_sync_rejects_a_stale_push(remote_pair, cli):
    """Two clones deploy without syncing: the later sync keeps the newer record, loses nothing."""
    first, _, second = remote_pair
    first.deploy("support/triage", 2, reason="from first")
    assert cli.run("sync", cwd=first.root).exit_code == 0
    second.deploy("support/triage", 3, reason="from second")
    r = cli.run("sync", cwd=second.root)
    # both made record 000002: that is a conflict ptrain reports instead of overwriting
    assert r.exit_code == 1
    assert "differs here and on origin" in r.stderr
    assert "Traceback" not in r.stderr
    assert first.deployed("support/triage", "production").number == 2
