"""`train auto --open-pr` when GitHub answers with an error: the branch and result are printed,
the run exits 1, and the prompt stays due, so the next run opens the pull request."""

from __future__ import annotations

import json
import time

from ptrain.training.auto import PENDING_FILE


def test_api_error_keeps_branch_and_prompt_due(train_repo, github, cli):
    github.fail[("POST", "/pulls")] = (500, {"message": "GitHub is having a bad day"})
    r = cli.invoke("train", "auto", "--push", "--open-pr", "--json")
    assert r.exit_code == 1, r.stdout + r.stderr
    rows = json.loads(r.stdout)
    assert len(rows) == 1
    row = rows[0]
    assert row["branch"] and row["report_path"] and row["pr_url"] is None
    assert "GitHub is having a bad day" in row["pr_error"]
    assert "pull request was not opened" in row["outcome"]
    assert row["branch"] in row["review"]  # how to open it by hand
    assert github.tip(row["branch"]) is not None  # the branch reached the remote
    pending = json.loads((train_repo.git.common_dir / PENDING_FILE).read_text())
    assert pending["support/route"]["branch"] == row["branch"]

    # plain-text output names the branch too
    github.fail.clear()
    github.fail[("POST", "/pulls")] = (502, {"message": "still down"})
    time.sleep(1.1)  # training branches are named to the second
    r = cli.invoke("train", "auto", "--push", "--open-pr")
    assert r.exit_code == 1 and "support/route: proposed, but the pull request" in r.stdout
    assert "→ ptrain/" in r.stdout or "→ " in r.stdout

    # the next run, inside the cooldown, trains it again and opens the pull request
    github.fail.clear()
    time.sleep(1.1)
    r = cli.invoke("train", "auto", "--push", "--open-pr", "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    rows = json.loads(r.stdout)
    assert len(rows) == 1 and rows[0].get("pr_url"), rows
    assert not (train_repo.git.common_dir / PENDING_FILE).exists()
    # and once it is open, the cooldown applies again
    r = cli.invoke("train", "auto", "--push", "--open-pr", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == []
