"""create -> update -> versions -> deploy -> rollback -> export -> get(), on real git repos."""

from __future__ import annotations

import json

import pytest

from ptrain import PromptRepo
from ptrain.errors import PtrainError, VersionNotFound
from tests.conftest import git
from tests.repo.conftest import triage


def test_full_lifecycle(prompt_repo, tmp_path):
    repo = prompt_repo
    v1 = repo.create("support/triage", triage("v1"), "first triage")
    assert (v1.number, v1.message) == (1, "first triage")
    v2 = repo.update("support/triage", triage("v2"))
    assert v2.number == 2

    versions = repo.versions("support/triage")
    assert [v.number for v in versions] == [1, 2]
    assert versions[0].commit == v1.commit and versions[1].commit == v2.commit
    assert versions[1].author == "Test User <test@example.com>"

    rec = repo.deploy("support/triage", 1, "production", reason="first release")
    assert (rec.from_version, rec.to_version, rec.reason) == (None, 1, "first release")
    repo.deploy("support/triage", "v2", "production")
    repo.deploy("support/triage", 1, "staging")
    assert repo.deployed("support/triage", "production").number == 2
    assert [v.envs for v in repo.versions("support/triage")] == [["staging"], ["production"]]

    rb = repo.rollback("support/triage", "production", reason="bad answers")
    assert (rb.action, rb.from_version, rb.to_version) == ("rollback", 2, 1)
    assert repo.deployed("support/triage", "production").number == 1
    # rollback leaves staging alone
    assert repo.deployed("support/triage", "staging").number == 1

    repo.deploy("support/triage", 2, "production")
    for fmt in ("yaml", "json"):
        out = tmp_path / f"export-{fmt}"
        written = repo.export(out, "production", fmt)
        assert written == [out / f"support/triage.{fmt}"]
        index = json.loads((out / "index.json").read_text())
        assert index["prompts"]["support/triage"] == {
            "version": 2,
            "commit": v2.commit,
            "file": f"support/triage.{fmt}",
        }
    exported = json.loads((tmp_path / "export-json/support/triage.json").read_text())
    assert exported["version"] == 2
    assert "(v2)" in exported["prompt"]["messages"][0]["content"]
    from ptrain.storage.yamlio import load_safe

    as_yaml = load_safe((tmp_path / "export-yaml/support/triage.yaml").read_text())
    assert as_yaml == exported

    fresh = PromptRepo(repo.root)
    p = fresh.get("support/triage", env="production")
    assert (p.version, p.commit, p.env) == (2, v2.commit, "production")
    assert fresh.get("support/triage", env="staging").version == 1
    text = p.format(message="Where is my parcel?")
    assert "support triage assistant (v2)" in text
    assert "Human: My card was charged twice\nAI: billing" in text
    assert text.endswith("Human: Where is my parcel?")
    assert fresh.get("support/triage", env="production") is p  # cached by resolved tag


def test_to_langchain_has_few_shot_examples_in_place(triage_repo):
    from langchain_core.prompts import ChatPromptTemplate

    triage_repo.deploy("support/triage", 3)
    p = triage_repo.get("support/triage")
    tpl = p.to_langchain()
    assert isinstance(tpl, ChatPromptTemplate)
    assert tpl.input_variables == ["message"]
    msgs = tpl.format_messages(message="Cancel my plan {now}")
    assert [m.type for m in msgs] == ["system", "human", "ai", "human"]
    assert "(v3)" in msgs[0].content
    assert (msgs[1].content, msgs[2].content) == ("My card was charged twice", "billing")
    assert msgs[3].content == "Cancel my plan {now}"


def test_get_sees_a_moved_tag_and_works_by_version(triage_repo):
    repo = triage_repo
    repo.deploy("support/triage", 1)
    assert repo.get("support/triage").version == 1
    repo.deploy("support/triage", 3)
    assert repo.get("support/triage").version == 3
    assert repo.get("support/triage", version=2).version == 2
    with pytest.raises(VersionNotFound, match="not deployed to staging"):
        repo.get("support/triage", env="staging")


def test_repeated_rollback_walks_back_the_deploy_stack(triage_repo, cli):
    repo = triage_repo
    for n in (1, 2, 3):
        repo.deploy("support/triage", n)
    assert repo.rollback("support/triage").to_version == 2
    assert repo.rollback("support/triage").to_version == 1
    assert repo.deployed("support/triage", "production").number == 1
    with pytest.raises(PtrainError, match="no earlier deploy to roll back to"):
        repo.rollback("support/triage")
    # a deploy after rollbacks starts a new stack entry on top of what runs now
    repo.deploy("support/triage", 3)
    assert repo.rollback("support/triage").to_version == 1

    hist = repo.history("support/triage", "production")
    assert [(h.action, h.from_version, h.to_version) for h in hist] == [
        ("deploy", None, 1),
        ("deploy", 1, 2),
        ("deploy", 2, 3),
        ("rollback", 3, 2),
        ("rollback", 2, 1),
        ("deploy", 1, 3),
        ("rollback", 3, 1),
    ]
    r = cli.invoke("prompt", "history", "support/triage", "--json")
    assert r.exit_code == 0
    assert [h["seq"] for h in json.loads(r.stdout)] == [1, 2, 3, 4, 5, 6, 7]


def test_deploy_history_is_readable_with_plain_git(triage_repo):
    repo = triage_repo
    repo.deploy("support/triage", 1, reason="first")
    repo.deploy("support/triage", 2, reason="better recall")
    root = repo.root
    listing = git(root, "tag", "-n20", "-l", "ptrain-deploy/*")
    assert "ptrain-deploy/support/triage@production/000002" in listing
    assert "ptrain deploy support/triage to production: v1 -> v2" in listing
    assert "reason: better recall" in listing
    assert "by: Test User <test@example.com>" in listing
    shown = git(root, "show", "--no-patch", "ptrain/support/triage@production")
    assert "to_version: 2" in shown
    v2 = repo.versions("support/triage")[1].commit
    assert git(root, "rev-parse", "ptrain/support/triage@production^{commit}").strip() == v2


def test_hand_edit_committed_with_git_is_a_version(triage_repo):
    root = triage_repo.root
    path = root / "prompts/support/triage.yaml"
    path.write_text(path.read_text().replace("one word", "a single word"))
    git(root, "commit", "-q", "-am", "hand edit")
    vs = triage_repo.versions("support/triage")
    assert [v.number for v in vs] == [1, 2, 3, 4]
    assert vs[-1].message == "hand edit"
    assert "a single word" in triage_repo.load("support/triage").spec.messages[0].content
    triage_repo.deploy("support/triage", 4)
    assert triage_repo.get("support/triage").version == 4


@pytest.mark.parametrize("spec", ["2", "v2", 2, "sha7", "sha40", "rev"])
def test_versions_are_addressable(triage_repo, spec):
    v2 = triage_repo.versions("support/triage")[1]
    spec = {"sha7": v2.commit[:7], "sha40": v2.commit, "rev": "HEAD~1"}.get(spec, spec)
    got = triage_repo.resolve("support/triage", spec)
    assert (got.number, got.commit) == (2, v2.commit)


def test_ptrain_commit_leaves_the_users_staging_area_alone(triage_repo):
    root = triage_repo.root
    (root / "notes.txt").write_text("staged by the user\n")
    (root / "README.md").write_text("draft\n")
    git(root, "add", "notes.txt")
    before_head = git(root, "rev-parse", "HEAD").strip()

    triage_repo.update("support/triage", triage("v4"), "v4")
    head = git(root, "rev-parse", "HEAD").strip()
    assert git(root, "rev-parse", "HEAD~1").strip() == before_head
    changed = git(root, "diff-tree", "--no-commit-id", "--name-only", "-r", head).split()
    assert changed == ["prompts/support/triage.yaml"]
    assert git(root, "status", "--porcelain").splitlines() == ["A  notes.txt", "?? README.md"]
    assert git(root, "diff", "--cached", "--name-only").split() == ["notes.txt"]

    triage_repo.create("support/other", triage("x"))
    changed = git(root, "show", "--name-only", "--format=", "HEAD").split()
    assert changed == ["prompts/support/other.yaml"]
    assert "A  notes.txt" in git(root, "status", "--porcelain")


def test_cli_round_trip_with_json(prompt_repo, cli, tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text(triage("cli"))
    r = cli.invoke("prompt", "create", "support/triage", "--file", str(f), "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["number"] == 1
    r = cli.invoke("prompt", "create", "summarize", "--template", "Summarise: {text}")
    assert r.exit_code == 0, r.stderr
    assert cli.invoke("prompt", "deploy", "summarize", "1", "--env", "staging").exit_code == 0
    listing = json.loads(cli.invoke("prompt", "list", "--json").stdout)
    assert listing == [
        {
            "name": "summarize",
            "latest": 1,
            "commit": listing[0]["commit"],
            "envs": {"staging": "v1", "production": None},
        },
        {
            "name": "support/triage",
            "latest": 1,
            "commit": listing[1]["commit"],
            "envs": {"staging": None, "production": None},
        },
    ]
    shown = json.loads(
        cli.invoke("prompt", "show", "summarize", "--env", "staging", "--json").stdout
    )
    assert shown["prompt"]["template"] == "Summarise: {text}"
    assert shown["number"] == 1
    vs = json.loads(cli.invoke("prompt", "versions", "summarize", "--json").stdout)
    assert [v["envs"] for v in vs] == [["staging"]]
    f.write_text(triage("cli2"))
    assert cli.invoke("prompt", "update", "support/triage", "-f", str(f)).exit_code == 0
    d = cli.invoke("prompt", "diff", "support/triage", "1", "2")
    assert "-      You are a support triage assistant (cli)." in d.stdout
    assert "+      You are a support triage assistant (cli2)." in d.stdout


def test_update_that_changes_nothing_is_refused(triage_repo):
    before = git(triage_repo.root, "rev-parse", "HEAD")
    with pytest.raises(PtrainError, match="identical to its latest version"):
        triage_repo.update("support/triage", triage("v3"))
    assert git(triage_repo.root, "rev-parse", "HEAD") == before


def test_init_is_idempotent_and_writes_the_defaults(tmp_path, cli):
    from ptrain.initialize import init

    first = init(tmp_path / "r")
    assert first.created_repo and "ptrain.yaml" in first.written
    second = init(tmp_path / "r")
    assert second.written == [] and second.commit is None
    cfg = PromptRepo(tmp_path / "r").config
    assert cfg.training.temperature == 0.7
    assert list(cfg.training.approaches) == [
        "few_shot",
        "reinforcement",
        "meta_prompt",
        "adversarial",
    ]
    assert git(tmp_path / "r", "status", "--porcelain") == ""
