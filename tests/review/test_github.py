"""Pull requests for trained prompts against a local bare remote and a local GitHub stand-in:
the requests ptrain sends (auth header, JSON body, labels), one pull request per prompt, clean
errors, the token never written anywhere, and the no-GitHub path."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ptrain.errors import PtrainError
from ptrain.llm.budget import Budget
from ptrain.review.github import (
    GitHub,
    GitHubError,
    open_or_update_pr,
    parse_remote,
    prompt_marker,
    redact,
)
from ptrain.training.run import train
from tests.conftest import git
from tests.review.conftest import SLUG, TOKEN, everything_written


def _retrain(repo, approach="meta_prompt", push=True):
    """A later training run (distinct timestamp, so a distinct branch)."""
    _retrain.n = getattr(_retrain, "n", 0) + 1
    when = datetime(2031, 1, 1, 0, 0, _retrain.n % 60, tzinfo=UTC)
    return train(repo, "support/route", approach, budget=Budget(calls=2000), push=push, now=when)


def _train_and_open(cli):
    r = cli.invoke("train", "auto", "--push", "--open-pr", "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    rows = json.loads(r.stdout)
    assert len(rows) == 1 and rows[0]["outcome"] == "proposed"
    return rows[0], r


def test_train_auto_opens_one_labelled_pr_with_the_report(train_repo, github, cli):
    row, r = _train_and_open(cli)
    creates = github.calls("POST", "/pulls")
    assert len(creates) == 1
    req = creates[0]
    assert req["path"] == f"/repos/{SLUG}/pulls"
    assert req["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert req["headers"]["Accept"] == "application/vnd.github+json"
    assert req["headers"]["Content-Type"] == "application/json"
    body = req["body"]
    assert body["head"] == row["branch"] and body["base"] == "main"
    assert body["title"].startswith("ptrain: train support/route with few_shot (success ")
    assert prompt_marker("support/route") in body["body"]
    report = Path(row["report_path"]).read_text()
    assert report.strip() in body["body"]  # the whole markdown report is the description
    labels = github.calls("POST", "/issues/1/labels")
    assert [x["body"] for x in labels] == [{"labels": ["ptrain", "prompt-training"]}]
    assert row["pr_url"] == f"https://github.example/{SLUG}/pull/1"
    # the branch GitHub opened the PR from is really on the remote, at the training commit
    local = git(train_repo.root, "rev-parse", row["branch"]).strip()
    assert github.tip(row["branch"]) == local
    assert TOKEN not in r.stdout + r.stderr


def test_second_run_updates_its_own_pr_instead_of_a_duplicate(train_repo, github, cli):
    first, _ = _train_and_open(cli)
    pr_branch = first["branch"]
    # a later run for the same prompt (another approach, so another candidate)
    res = _retrain(train_repo)
    assert res.proposed and res.pushed and res.branch != pr_branch
    url = open_or_update_pr(train_repo, res)
    assert url == first["pr_url"]
    assert len(github.calls("POST", "/pulls")) == 1  # no duplicate
    patch = github.calls("PATCH", "/pulls/1")
    assert len(patch) == 1 and patch[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert "meta_prompt" in patch[0]["body"]["title"]
    assert res.report.strip() in patch[0]["body"]["body"]
    assert prompt_marker("support/route") in patch[0]["body"]["body"]
    # the new result was force-pushed onto the PR's branch; the run's own branch is gone remotely
    assert github.tip(pr_branch) == res.commit
    assert github.tip(res.branch) is None
    assert [p["number"] for p in github.pulls.values() if p["state"] == "open"] == [1]
    # the triggers still see the training (trailer on the PR branch)
    log = git(train_repo.root, "log", "-1", "--format=%B", res.commit)
    assert "Ptrain-Trained: support/route" in log


def test_a_pr_someone_pushed_to_is_left_alone(train_repo, github, cli, tmp_path):
    first, _ = _train_and_open(cli)
    # a reviewer pushes a fixup commit onto the PR branch
    clone = tmp_path / "reviewer"
    git(tmp_path, "clone", "-q", "-b", first["branch"], str(github.bare), str(clone))
    (clone / "NOTES.md").write_text("reviewed by hand\n")
    git(clone, "add", "NOTES.md")
    git(clone, "commit", "-qm", "Reviewer fixup")
    git(clone, "push", "-q", "origin", first["branch"])
    hand = github.tip(first["branch"])
    res = _retrain(train_repo)
    url = open_or_update_pr(train_repo, res)
    assert url.endswith("/pull/2")
    assert github.tip(first["branch"]) == hand  # never force-pushed over a person's commit
    assert "#1 has commits ptrain did not make" in github.pulls[2]["body"]
    assert not github.calls("PATCH", "/pulls/1")


def test_pagination_finds_the_open_pr_on_a_later_page(train_repo, github, cli):
    github.page_size = 1
    for n in range(3):  # unrelated open pull requests first
        github.pulls[100 + n] = {
            "number": 100 + n,
            "state": "open",
            "title": "x",
            "body": "",
            "html_url": "u",
            "head": {"ref": "feature", "repo": {"full_name": SLUG}},
            "base": {"ref": "main"},
        }
    first, _ = _train_and_open(cli)
    res = _retrain(train_repo)
    assert open_or_update_pr(train_repo, res) == first["pr_url"]
    lists = github.calls("GET", "/pulls")
    assert any("page=4" in r["query"] for r in lists)
    assert len(github.calls("POST", "/pulls")) == 1


def test_bad_token_is_one_clean_line_without_the_token(train_repo, github, cli, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_WrongTokenWrongTokenWrongToken1234")
    r = cli.invoke("train", "auto", "--push", "--open-pr")
    assert r.exit_code == 1
    # the run goes on (issue 12): the row names the error and the fix, next to the branch
    line = next(ln for ln in r.stdout.splitlines() if "not opened" in ln)
    assert "401: Bad credentials" in line and "GITHUB_TOKEN" in line and "→ ptrain/train/" in line
    assert "WrongToken" not in r.stdout + r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("status", "payload", "expect"),
    [
        (403, {"message": "Resource not accessible by integration"}, "pull-requests: write"),
        (
            403,
            {"message": "GitHub Actions is not permitted to create or approve pull requests."},
            "Workflow permissions",
        ),
        (404, {"message": "Not Found"}, "GITHUB_REPOSITORY"),
        (422, {"message": "Validation Failed", "errors": [{"message": "No commits between"}]}, ""),
    ],
)
def test_api_errors_name_the_fix(train_repo, github, status, payload, expect):
    github.fail[("POST", "/pulls")] = (status, payload)
    res = _retrain(train_repo, "few_shot")
    with pytest.raises(GitHubError) as exc:
        open_or_update_pr(train_repo, res)
    assert f"({status}: {payload['message']}" in exc.value.message
    assert expect in (exc.value.hint or "")
    assert TOKEN not in str(exc.value)


def test_unreachable_api(train_repo, github, monkeypatch):
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    res = _retrain(train_repo, "few_shot")
    with pytest.raises(GitHubError) as exc:
        open_or_update_pr(train_repo, res)
    assert "cannot reach the GitHub API at http://127.0.0.1:9" in exc.value.message
    assert "GITHUB_API_URL" in exc.value.hint


def test_token_never_written_anywhere(train_repo, github, cli, tmp_path):
    first, r = _train_and_open(cli)
    res = _retrain(train_repo)
    open_or_update_pr(train_repo, res)
    assert TOKEN not in r.stdout + r.stderr
    assert TOKEN not in everything_written(train_repo.root, github.bare)
    for pr in github.pulls.values():
        assert TOKEN not in pr["body"] + pr["title"]
    for req in github.requests:  # only ever in the Authorization header
        assert TOKEN not in json.dumps(req["body"]) + req["path"] + req["query"]


def test_without_github_push_and_say_how_to_open_the_review(
    train_repo, bare_remote, no_github, cli
):
    r = cli.invoke("train", "auto", "--push", "--open-pr")
    assert r.exit_code == 0, r.stderr
    branch = next(w for w in r.stdout.split() if w.startswith("ptrain/train/support/route/"))
    assert (
        git(bare_remote, "rev-parse", branch).strip()
        == git(train_repo.root, "rev-parse", branch).strip()
    )
    assert f"pushed {branch} to origin: open a pull/merge request for it into main" in r.stdout
    assert f"ptrain review --base main --head {branch}" in r.stdout
    assert "set GITHUB_TOKEN" in r.stdout
    # ... and that command shows the table locally
    rv = cli.invoke("review", "--base", "main", "--head", branch)
    assert rv.exit_code == 0, rv.stdout + rv.stderr
    assert "| `support/route` |" in rv.stdout and "✅ passes" in rv.stdout


def test_open_or_update_pr_without_token_returns_none(train_repo, bare_remote, no_github):
    res = _retrain(train_repo, "few_shot")
    assert open_or_update_pr(train_repo, res) is None


def test_unproposed_result_is_refused(train_repo, github):
    from ptrain.training.run import TrainResult

    with pytest.raises(PtrainError, match="no candidate was proposed"):
        open_or_update_pr(train_repo, TrainResult("support/route", ["few_shot"], 1, "abc"))


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        ("git@github.com:acme/prompts.git", ("github.com", "acme/prompts")),
        ("https://github.com/acme/prompts", ("github.com", "acme/prompts")),
        ("https://x-access-token:abc@github.com/acme/prompts.git", ("github.com", "acme/prompts")),
        ("ssh://git@ghe.corp.example:2222/team/prompts.git", ("ghe.corp.example", "team/prompts")),
        ("/srv/git/prompts.git", None),
        ("file:///srv/git/prompts.git", None),
        ("../prompts.git", None),
    ],
)
def test_parse_remote(url, parsed):
    assert parse_remote(url) == parsed


def test_enterprise_api_base_from_the_remote(train_repo, bare_remote, monkeypatch):
    from ptrain.review.github import target

    git(train_repo.root, "remote", "set-url", "origin", "git@ghe.corp.example:team/prompts.git")
    t = target(train_repo, "origin", {})
    assert (t.api, t.repository) == ("https://ghe.corp.example/api/v3", "team/prompts")
    t = target(
        train_repo, "origin", {"GITHUB_API_URL": "https://x/api/v3/", "GITHUB_REPOSITORY": "a/b"}
    )
    assert (t.api, t.repository) == ("https://x/api/v3", "a/b")


def test_redirects_are_not_followed_so_the_token_stays_home(github):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen = []

    class Elsewhere(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            seen.append(dict(self.headers))
            self.send_response(200)
            self.end_headers()

    other = ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    threading.Thread(target=other.serve_forever, daemon=True).start()

    class Redirect(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            self.send_response(301)
            self.send_header("Location", f"http://127.0.0.1:{other.server_address[1]}/x")
            self.end_headers()

    mover = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=mover.serve_forever, daemon=True).start()
    try:
        gh = GitHub(f"http://127.0.0.1:{mover.server_address[1]}", SLUG, TOKEN)
        with pytest.raises(GitHubError) as exc:
            gh.open_pulls()
        assert "301" in exc.value.message and "GITHUB_REPOSITORY" in exc.value.hint
        assert seen == []
        assert TOKEN not in repr(gh)
    finally:
        for s in (other, mover):
            s.shutdown()
            s.server_close()


def test_redact():
    assert redact(f"x {TOKEN} y", TOKEN) == "x *** y"
    assert "ghp_" not in redact("token ghp_abcdefghijklmnopqrstuvwxyz012345")
    assert redact("https://user:pw@github.com/a/b") == "https://***@github.com/a/b"
