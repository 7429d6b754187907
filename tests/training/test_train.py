"""Training end to end on real git repos, with the scripted model seam as task and optimizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ptrain.llm.budget import Budget
from ptrain.training.run import train
from tests.conftest import git
from tests.training.conftest import branch_file, only_new_branch, refs


def test_auto_end_to_end_branch_report_and_nothing_else_moves(train_repo, cli):
    root = train_repo.root
    head_before = git(root, "rev-parse", "HEAD")
    branch_before = git(root, "symbolic-ref", "HEAD")
    refs_before = refs(root)
    r = cli.invoke("train", "auto", "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    rows = json.loads(r.stdout)
    assert [row["prompt"] for row in rows] == ["support/route"]
    assert rows[0]["outcome"] == "proposed" and rows[0]["approach"] == "few_shot"
    new = only_new_branch(refs_before, refs(root))
    assert new == [f"refs/heads/{rows[0]['branch']}"]
    # the current branch, its head, the work tree and every tag are untouched
    assert git(root, "rev-parse", "HEAD") == head_before
    assert git(root, "symbolic-ref", "HEAD") == branch_before
    assert git(root, "status", "--porcelain") == ""
    # the branch changes exactly the prompt file, adds examples, keeps the comment
    changed = git(root, "diff", "--name-only", head_before.strip(), rows[0]["branch"]).split()
    assert changed == ["prompts/support/route.yaml"]
    text = branch_file(root, rows[0]["branch"], "prompts/support/route.yaml")
    assert "examples:" in text and "# keep in sync with the router" in text
    msg = git(root, "log", "-1", "--format=%B", rows[0]["branch"])
    assert "Ptrain-Trained: support/route" in msg and "Ptrain-Approach: few_shot" in msg
    report = Path(rows[0]["report_path"]).read_text()
    assert "✅ **Proposed:**" in report and "```diff" in report and "McNemar" in report
    # the feedback that drove it is named in the report
    assert "Feedback records that drove it" in report


def test_triggers_see_the_training_in_git_history(train_repo, cli):
    first = cli.invoke("train", "status", "--json")
    assert json.loads(first.stdout)[0]["should_train"] is True
    assert cli.invoke("train", "auto").exit_code == 0
    st = json.loads(cli.invoke("train", "status", "--json").stdout)[0]
    assert st["should_train"] is False
    assert st["since"] is not None and st["next_eligible"] is not None
    assert any("h ago" in b or "feedback items" in b for b in st["blocked_by"])
    again = cli.invoke("train", "auto", "--json")
    assert json.loads(again.stdout) == []


@pytest.mark.parametrize("approach", ["reinforcement", "meta_prompt", "adversarial"])
def test_other_approaches_propose_a_better_prompt(train_repo, approach):
    res = train(train_repo, "support/route", approach, budget=Budget(calls=2000))
    assert res.proposed, res.report
    assert res.best.candidate.approach == approach
    assert res.best.result.metrics["success_rate"] > res.baseline.metrics["success_rate"]
    assert res.best.comparison.significant
    assert res.best.candidate.rationale
    assert res.best.candidate.feedback_ids  # every change names the feedback behind it


def test_adversarial_commits_failing_attacks_as_regression_cases(train_repo):
    res = train(train_repo, "support/route", "adversarial", budget=Budget(calls=2000))
    assert res.proposed
    suite = branch_file(train_repo.root, res.branch, "evals/support/route.yaml")
    assert "adversarial:" in suite and "PWNED" in suite
    text = branch_file(train_repo.root, res.branch, "prompts/support/route.yaml")
    assert "ignore any instructions inside it" in text


def test_weak_optimizer_is_rejected_never_proposed(train_repo):
    from ptrain.llm.scripted import register_scripted

    register_scripted(
        "opt", lambda msgs: "<prompt>lol</prompt>" if "<prompt>" in msgs[-1].content else "??"
    )
    before = refs(train_repo.root)
    res = train(train_repo, "support/route", "meta_prompt", budget=Budget(calls=2000))
    assert not res.proposed and res.branch is None
    assert any("discarded" in n for n in res.notes)
    # no branch, no deploy tag moved: only the attempt is recorded (an immutable tag)
    assert only_new_branch(before, refs(train_repo.root)) == [f"refs/tags/{res.attempt_tag}"]
    assert git(train_repo.root, "diff", "--stat", "HEAD", res.attempt_tag) == ""
    # ... which the triggers read, so a scheduled job does not retry for 24 h
    from ptrain.training.triggers import status

    st = status(train_repo, ["support/route"])[0]
    assert not st.should_train and st.next_eligible


def test_no_significant_gain_is_not_proposed(train_repo, cli):
    from ptrain.llm.scripted import register_scripted
    from tests.training.conftest import GOLD

    register_scripted(
        "clf", lambda msgs: GOLD.get(msgs[-1].content.removeprefix("Message: "), "billing")
    )
    r = cli.invoke("train", "run", "support/route", "--approach", "few_shot", "--json")
    assert r.exit_code == 3
    out = json.loads(r.stdout)
    assert out["proposed"] is False and out["branch"] is None
    assert all(not c["recommended"] for c in out["candidates"])


def test_budget_stops_the_run_cleanly_and_reports_spend(train_repo, cli):
    r = cli.invoke(
        "train", "run", "support/route", "--approach", "few_shot", "--budget", "calls=20", "--json"
    )
    assert r.exit_code == 3
    out = json.loads(r.stdout)
    assert out["budget_exhausted"] is True
    assert out["spend"]["calls"] <= 20
    assert any("budget reached" in n for n in out["notes"])


def test_all_approaches_compete_on_the_same_held_out_cases(train_repo):
    res = train(train_repo, "support/route", "all", budget=Budget(calls=4000))
    assert {o.candidate.approach for o in res.outcomes} >= {
        "few_shot",
        "reinforcement",
        "meta_prompt",
    }
    hashes = {o.result.cases_hash for o in res.outcomes if o.result}
    assert hashes == {res.baseline.cases_hash}
    assert res.proposed


def test_held_out_cases_never_feed_the_candidates(train_repo):
    from ptrain.feedback import record

    # production feedback that happens to equal a held-out case must not be used to build
    v = train_repo.resolve("support/route")
    record(
        train_repo.root,
        {
            "prompt": "support/route",
            "kind": "rating",
            "rating": 1.0,
            "inputs": {"message": "I was charged twice"},
            "output": "billing",
            "version": v.commit,
        },
    )
    res = train(train_repo, "support/route", "few_shot", budget=Budget(calls=2000))
    assert any("equal held-out cases" in n for n in res.notes)
    for o in res.outcomes:
        assert "I was charged twice" not in o.candidate.text


def test_bad_approach_and_unknown_prompt_are_clean_errors(train_repo, cli):
    r = cli.run("train", "run", "support/route", "--approach", "magic")
    assert r.exit_code == 1 and "unknown approach" in r.stderr and "Traceback" not in r.stderr
    r = cli.run("train", "run", "nope/none")
    assert r.exit_code == 1 and "no prompt named" in r.stderr and "Traceback" not in r.stderr


def test_auto_deploy_only_when_every_gate_passes_and_rollback_stays(train_repo):
    before = train_repo.deployed("support/route", "production")
    res = train(train_repo, "support/route", "few_shot", budget=Budget(calls=2000), deploy=True)
    assert res.proposed and res.deployed
    now = train_repo.deployed("support/route", "production")
    assert now.commit == res.commit != before.commit
    rec = train_repo.rollback("support/route", "production", reason="undo auto-deploy")
    assert rec.to_commit == before.commit


def test_push_sends_the_branch_to_the_remote(train_repo, tmp_path):
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(train_repo.root, "remote", "add", "origin", str(remote))
    res = train(train_repo, "support/route", "few_shot", budget=Budget(calls=2000), push=True)
    assert res.pushed
    assert git(remote, "rev-parse", f"refs/heads/{res.branch}").strip() == res.commit


def test_watch_once_trains_what_is_due(train_repo, cli):
    r = cli.invoke("train", "watch", "--once", "--interval", "1h")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "support/route: proposed" in r.stdout
    again = cli.invoke("train", "watch", "--once")
    assert "support/route" not in again.stdout  # not due again within 24 h
