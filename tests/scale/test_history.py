"""History read in one pass (issue 13, item 3): the same answers as the per-prompt git reads,
kept right as HEAD and the refs move; ``record_feedback`` given a LoadedPrompt runs no git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ptrain.prompts import new_prompt_yaml
from ptrain.storage import history
from ptrain.training import triggers
from tests.conftest import git

NAMES = ["support/triage", "support/route", "sales/lead", "hr/faq"]


def trained_commit(root: Path, branch: str, name: str, text: str, date: str = "") -> str:
    """A commit on ``branch`` (from main) that edits ``name`` with the trailer training writes."""
    git(root, "checkout", "-q", "-b", branch, "main")
    (root / "prompts" / f"{name}.yaml").write_text(text)
    msg = f"Train {name}\n\nTrained body.\n\nPtrain-Trained: {name}\n"
    env = ["env", f"GIT_COMMITTER_DATE={date}"] if date else []
    subprocess.run([*env, "git", "commit", "-qam", msg], cwd=root, check=True)
    sha = git(root, "rev-parse", "HEAD").strip()
    git(root, "checkout", "-q", "main")
    return sha


@pytest.fixture
def hist_repo(prompt_repo):
    repo, root = prompt_repo, prompt_repo.root
    for i, name in enumerate(NAMES):
        repo.create(name, new_prompt_yaml(f"{name} v1: {{text}}", "user", ""))
        for v in range(2, 3 + i):
            repo.update(name, new_prompt_yaml(f"{name} v{v}: {{text}}", "user", ""))
    repo.deploy("support/triage", 2, env="production")
    repo.deploy("sales/lead", 1, env="staging")
    # a trained branch merged into main (with a main-side change in between: a real merge)
    old = "2020-01-01T00:00:00Z"
    trained_commit(root, "ptrain-train/support/route", "support/route", "x: {text}\n", old)
    repo.update("hr/faq", new_prompt_yaml("hr/faq on main: {text}", "user", ""))
    git(root, "merge", "-q", "--no-ff", "-m", "Merge training", "ptrain-train/support/route")
    # trained twice on unmerged branches: the newer one counts
    trained_commit(root, "ptrain-train/sales/lead", "sales/lead", "y: {text}\n", old)
    git(root, "-c", "core.hooksPath=/dev/null", "commit", "--allow-empty", "-qm", "noise")
    newer = trained_commit(root, "ptrain-train/sales/lead-2", "sales/lead", "z: {text}\n")
    # only a tag keeps this one (its branch is gone)
    tagged = trained_commit(root, "tmp", "hr/faq", "w: {text}\n")
    git(root, "tag", "ptrain-train/hr/faq/1", tagged)
    git(root, "branch", "-q", "-D", "tmp")
    return repo, {"sales/lead": newer, "hr/faq": tagged}


def per_prompt_versions(root: Path, path: str) -> list[str]:
    return git(root, "log", "--format=%H", "--no-renames", "HEAD", "--", path).split()[::-1]


def test_one_pass_history_matches_the_per_prompt_reads(hist_repo):
    repo, newest = hist_repo
    index = history.trailer_index(repo.git, triggers.TRAILER)
    for name in [*NAMES, "never/trained"]:
        assert index.get(name) == repo.git.last_trailer_commit(triggers.TRAILER, name), name
    assert index["sales/lead"][0] == newest["sales/lead"]
    assert index["hr/faq"][0] == newest["hr/faq"]
    assert "support/triage" not in index
    assert triggers.trained_index(repo) == {
        n: triggers.last_trained(repo, n) for n in index
    }  # fmt: skip

    cold = {n: [v.commit for v in repo.versions(n)] for n in NAMES}  # no index yet: per file
    assert not (repo.git.common_dir / history.CACHE_DIR / "versions.json").exists()
    every = repo.all_versions()  # builds the index in one git log
    assert (repo.git.common_dir / history.CACHE_DIR / "versions.json").exists()
    for name in NAMES:
        want = per_prompt_versions(repo.root, repo.prompt_path(name))
        assert cold[name] == want and [v.commit for v in every[name]] == want
        assert [v.commit for v in repo.versions(name)] == want  # now from the index
        assert [v.number for v in repo.versions(name)] == list(range(1, len(want) + 1))
        history._memory.clear()  # a new process: one line of versions.json, by its offset
        assert [v.commit for v in repo.versions(name)] == want
        assert history._memory == {}  # the whole index was not loaded
    assert repo.versions("support/triage")[1].envs == ["production"]
    assert repo.deployed("sales/lead", "staging").number == 1


def test_the_index_follows_head_forward_and_back(hist_repo, monkeypatch):
    repo, _ = hist_repo
    repo.all_versions()
    old_head = repo.git.head_fast()
    calls = []
    real = repo.git.log_files_topo
    monkeypatch.setattr(repo.git, "log_files_topo", lambda *a: calls.append(a) or real(*a))
    v = repo.update("support/triage", new_prompt_yaml("newer: {text}", "user", ""))
    assert calls == [("prompts", f"{old_head}..{v.commit}")]  # only the new commit was read
    history._memory.clear()  # as a new process would see it: only the file on disk
    assert repo.versions("support/triage")[-1].commit == v.commit
    assert len(calls) == 1  # HEAD unchanged: no git log at all
    # history rewritten (HEAD moved back, then elsewhere): rebuilt, same answers as git
    git(repo.root, "reset", "-q", "--hard", old_head)
    repo.update("sales/lead", new_prompt_yaml("elsewhere: {text}", "user", ""))
    for name in NAMES:
        want = per_prompt_versions(repo.root, repo.prompt_path(name))
        assert [x.commit for x in repo.versions(name)] == want
        assert [x.commit for x in repo.all_versions()[name]] == want


def test_a_moved_ref_refreshes_last_trained(hist_repo):
    repo, _ = hist_repo
    before = triggers.trained_index(repo)
    assert "support/triage" not in before
    sha = trained_commit(repo.root, "ptrain-train/support/triage", "support/triage", "t: {text}\n")
    assert history.trailer_index(repo.git, triggers.TRAILER)["support/triage"][0] == sha
    git(repo.root, "branch", "-q", "-D", "ptrain-train/support/triage")
    assert "support/triage" not in triggers.trained_index(repo)


def test_status_in_one_pass_equals_status_per_prompt(hist_repo):
    from ptrain.feedback import record_many

    repo, _ = hist_repo
    recs = [{"prompt": n, "kind": "error", "error_type": "x"} for n in NAMES for _ in range(12)]
    recs += [{"prompt": "hr/faq", "kind": "rating", "rating": 0.9, "ts": "2020-01-01T00:00:00Z"}]
    record_many(repo.root, recs)
    every = [s.to_dict() for s in triggers.status(repo)]
    one_by_one = [s.to_dict() for s in triggers.status(repo, sorted(NAMES))]
    assert every == one_by_one
    assert {s["prompt"] for s in every if s["should_train"]} == {"support/triage", "support/route"}


class NoProcess(Exception):
    pass


def test_record_feedback_with_a_loaded_prompt_spawns_no_process(hist_repo, monkeypatch):
    repo, _ = hist_repo
    p = repo.get("support/triage", env="production")
    assert p.version == 2
    repo.record_feedback(p, "rating", rating=0.5)  # warm-up: the feedback writer is set up

    def refuse(*a, **k):
        raise NoProcess(a)

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    monkeypatch.setenv("PATH", "/nonexistent")  # and no git to find either
    for i in range(20):
        rec = repo.record_feedback(p, "rating", rating=i / 20)
        assert (rec.version, rec.version_number, rec.env) == (p.commit, 2, "production")
    # by name: the deploy tag's record, read once; later calls read one ref file, no process
    monkeypatch.undo()
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    v1 = repo.versions("sales/lead")[0].commit
    repo.record_feedback("sales/lead", "rating", rating=1.0, env="staging")
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    rec = repo.record_feedback("sales/lead", "rating", rating=1.0, env="staging")
    assert (rec.version, rec.version_number, rec.env) == (v1, 1, "staging")
    with pytest.raises(NoProcess):  # the patch is live: a version lookup does need git
        repo.record_feedback("sales/lead", "rating", rating=1.0, version=1)
