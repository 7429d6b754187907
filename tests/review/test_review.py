"""``ptrain review`` on real pull-request branches (sticky comment on the GitHub stand-in, exit
codes as results) and ``ptrain deploy-merged`` after a real merge."""

from __future__ import annotations

import json

from ptrain.llm.budget import Budget
from ptrain.review.service import REVIEW_MARKER
from ptrain.training.run import train
from tests.conftest import git
from tests.review.conftest import TOKEN


def _branch(root, name: str, edit) -> str:
    """A pull-request branch with one hand-made commit; back on main afterwards."""
    git(root, "checkout", "-q", "-b", name)
    edit(root)
    git(root, "commit", "-qam", f"PR {name}")
    sha = git(root, "rev-parse", "HEAD").strip()
    git(root, "checkout", "-q", "main")
    return sha


def _event(tmp_path, monkeypatch, root, number: int, head: str) -> None:
    event = {
        "pull_request": {
            "number": number,
            "base": {"sha": git(root, "rev-parse", "main").strip(), "ref": "main"},
            "head": {"sha": head},
        }
    }
    path = tmp_path / f"event-{number}.json"
    path.write_text(json.dumps(event))
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(path))
    monkeypatch.setenv("GITHUB_EVENT_NAME", "pull_request")


def test_review_writes_one_sticky_comment_and_passes(
    train_repo, github, cli, tmp_path, monkeypatch
):
    res = train(train_repo, "support/route", "few_shot", budget=Budget(calls=2000))
    assert res.proposed
    _event(tmp_path, monkeypatch, train_repo.root, 7, res.commit)
    r = cli.invoke("review")
    assert r.exit_code == 0, r.stdout + r.stderr
    posts = github.calls("POST", "/issues/7/comments")
    assert len(posts) == 1
    assert posts[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    body = posts[0]["body"]["body"]
    assert body.startswith(REVIEW_MARKER)
    assert "| `support/route` | v1 (" in body and "✅ passes" in body
    assert "| Success rate |" in body and "McNemar" in body  # the eval table itself
    # a new push: the same comment is edited, never a second one
    r2 = cli.invoke("review")
    assert r2.exit_code == 0
    assert len(github.calls("POST", "/issues/7/comments")) == 1
    patches = github.calls("PATCH", "/issues/comments/1000")
    assert len(patches) == 1 and patches[0]["body"]["body"].startswith(REVIEW_MARKER)
    assert [c["issue"] for c in github.comments.values()] == [7]
    assert "review comment updated" in r2.stdout
    assert TOKEN not in r.stdout + r.stderr + r2.stdout + r2.stderr


def test_a_change_without_a_significant_gain_fails_with_3(
    train_repo, github, cli, tmp_path, monkeypatch
):
    def reword(root):
        p = root / "prompts/support/route.yaml"
        p.write_text(p.read_text().replace("Classify the support message.", "Classify it."))

    head = _branch(train_repo.root, "reword", reword)
    _event(tmp_path, monkeypatch, train_repo.root, 8, head)
    r = cli.invoke("review", "--json")
    assert r.exit_code == 3, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["prompts"][0]["status"] == "failed" and out["exit_code"] == 3
    body = github.comments[1000]["body"]
    assert "❌ 1 of 1 changed prompt fail" in body and "gate failed" in body


def test_an_eval_suite_change_reviews_its_prompt(train_repo, no_github, cli):
    def more_cases(root):
        p = root / "evals/support/route.yaml"
        p.write_text(
            p.read_text()
            + '  - id: extra\n    vars: {message: "refund please"}\n    expected: billing\n'
        )

    head = _branch(train_repo.root, "evals-only", more_cases)
    r = cli.invoke("review", "--base", "main", "--head", head, "--json")
    assert r.exit_code == 3
    out = json.loads(r.stdout)
    assert [p["prompt"] for p in out["prompts"]] == ["support/route"]
    assert out["comment_url"] is None  # no token: printed, not posted
    cases = out["prompts"][0]["comparison"]["paired_cases"]
    from tests.training.conftest import HELD, LABELS

    assert cases == HELD * len(LABELS) + 1  # head's suite (held-out + the new case), not the base's


def test_a_new_prompt_without_an_eval_suite_is_an_error(train_repo, no_github, cli):
    def new_prompt(root):
        src = (root / "prompts/support/route.yaml").read_text()
        (root / "prompts/support/other.yaml").write_text(src)
        git(root, "add", "prompts/support/other.yaml")

    head = _branch(train_repo.root, "new-prompt", new_prompt)
    r = cli.invoke("review", "--base", "main", "--head", head)
    assert r.exit_code == 1
    assert "| `support/other` | new |" in r.stdout and "not evaluated" in r.stdout
    assert "has no eval suite" in r.stdout


def test_no_prompt_change_passes_and_posts_nothing(train_repo, github, cli, tmp_path, monkeypatch):
    def readme(root):
        (root / "README.md").write_text("docs\n")
        git(root, "add", "README.md")

    head = _branch(train_repo.root, "docs", readme)
    _event(tmp_path, monkeypatch, train_repo.root, 9, head)
    r = cli.invoke("review")
    assert r.exit_code == 0 and "no prompt or eval suite changed" in r.stdout
    assert not github.calls("POST", "/comments")


def test_a_read_only_token_keeps_the_verdict(train_repo, github, cli, tmp_path, monkeypatch):
    github.fail[("POST", "/comments")] = (
        403,
        {"message": "Resource not accessible by integration"},
    )
    res = train(train_repo, "support/route", "few_shot", budget=Budget(calls=2000))
    _event(tmp_path, monkeypatch, train_repo.root, 10, res.commit)
    r = cli.invoke("review")
    assert r.exit_code == 0
    assert "comment not written" in r.stderr and "403" in r.stderr


def test_comment_flag_without_token_is_a_clean_error(train_repo, no_github, cli):
    r = cli.invoke("review", "--base", "main", "--head", "main", "--pr", "3", "--comment")
    assert r.exit_code == 1 and "--comment needs a GITHUB_TOKEN" in r.stderr


def test_deploy_merged_deploys_the_merged_version_and_rollback_works(
    train_repo, bare_remote, no_github, cli
):
    root = train_repo.root
    res = train(train_repo, "support/route", "few_shot", budget=Budget(calls=2000))
    git(root, "merge", "-q", "--no-ff", "-m", "Merge training", res.branch)
    # training.auto_deploy is off: only listed
    dry = cli.invoke("deploy-merged", "--json")
    assert dry.exit_code == 0
    row = json.loads(dry.stdout)["deploys"][0]
    assert row["status"] == "skipped" and "auto_deploy is off" in row["detail"]
    r = cli.invoke("deploy-merged", "--deploy", "--push", "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    d = out["deploys"][0]
    assert (d["prompt"], d["version"], d["status"]) == ("support/route", 2, "deployed")
    assert d["commit"] == res.commit
    # an ordinary deploy: the moving tag, a record, pushed to the remote
    tag = "refs/tags/ptrain/support/route@production"
    assert git(bare_remote, "rev-parse", f"{tag}^{{commit}}").strip() == res.commit
    assert "reason: merged in" in git(root, "tag", "-n20", "-l", d["tag"])
    again = cli.invoke("deploy-merged", "--deploy", "--json")
    assert json.loads(again.stdout)["deploys"][0]["status"] == "already deployed"
    rb = cli.invoke("prompt", "rollback", "support/route", "--env", "production")
    assert rb.exit_code == 0, rb.stdout + rb.stderr
    assert train_repo.deployed("support/route", "production").number == 1


def test_deploy_merged_uses_the_push_events_before(
    train_repo, no_github, cli, tmp_path, monkeypatch
):
    root = train_repo.root
    before = git(root, "rev-parse", "HEAD").strip()
    res = train(train_repo, "support/route", "few_shot", budget=Budget(calls=2000))
    git(root, "merge", "-q", "--ff-only", res.branch)
    (root / "NOTES.md").write_text("x\n")
    git(root, "add", "NOTES.md")
    git(root, "commit", "-qm", "a later commit in the same push")
    event = tmp_path / "push.json"
    event.write_text(json.dumps({"before": before}))
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    monkeypatch.setenv("GITHUB_EVENT_NAME", "push")
    r = cli.invoke("deploy-merged", "--deploy", "--json")
    out = json.loads(r.stdout)
    assert out["base"] == before and [d["status"] for d in out["deploys"]] == ["deployed"]
