"""Finding the repository (work tree root, subfolder, linked worktree, bare) and the caches
that keep read commands fast stay correct."""

from __future__ import annotations

import json

from ptrain import PromptRepo
from tests.conftest import git
from tests.repo.conftest import triage


def test_opened_from_a_subfolder(triage_repo, cli):
    sub = triage_repo.root / "prompts" / "support"
    assert PromptRepo(sub).root == triage_repo.root
    r = cli.run("prompt", "versions", "support/triage", "--json", cwd=sub)
    assert r.exit_code == 0, r.stderr
    assert len(json.loads(r.stdout)) == 3


def test_linked_worktree_sees_the_shared_deploy_tags(triage_repo, tmp_path):
    triage_repo.deploy("support/triage", 2)
    wt = tmp_path / "wt"
    git(triage_repo.root, "worktree", "add", "-q", "-b", "side", str(wt))
    repo = PromptRepo(wt)
    assert repo.root == wt
    assert repo.get("support/triage").version == 2
    repo.deploy("support/triage", 3)
    assert triage_repo.get("support/triage").version == 3


def test_list_sees_new_commits_and_moved_tags(triage_repo, cli):
    def listing():
        r = cli.invoke("prompt", "list", "--json")
        assert r.exit_code == 0, r.stderr
        return {p["name"]: (p["latest"], p["envs"]["production"]) for p in json.loads(r.stdout)}

    assert listing() == {"support/triage": (3, None)}
    triage_repo.deploy("support/triage", 2)
    assert listing() == {"support/triage": (3, "v2")}
    root = triage_repo.root
    path = root / "prompts/support/triage.yaml"
    path.write_text(triage("hand"))
    git(root, "commit", "-qam", "hand edit")  # not through ptrain: the cache must notice
    (root / "prompts/new.yaml").write_text(triage("new"))
    git(root, "add", "prompts/new.yaml")
    git(root, "commit", "-qm", "add new")
    assert listing() == {"new": (1, None), "support/triage": (4, "v2")}
    git(root, "reset", "-q", "--hard", "HEAD~2")
    assert listing() == {"support/triage": (3, "v2")}


def test_ptrain_commits_keep_a_commit_graph_with_bloom_filters(triage_repo):
    info = triage_repo.git.git_dir / "objects" / "info"
    assert (info / "commit-graph").exists() or (info / "commit-graphs").is_dir()
    out = git(triage_repo.root, "commit-graph", "verify")
    assert "error" not in out.lower()
