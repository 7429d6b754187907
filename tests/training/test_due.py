"""``ptrain train due``: the prompts whose triggers fire and that are eligible (the CI matrix)."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from ptrain.feedback import record_many
from ptrain.prompts import new_prompt_yaml


@pytest.fixture
def mixed_repo(prompt_repo):
    """due/errors: due; quiet/ok: nothing fires; few/errors: fires with too little feedback;
    fresh/errors: fires but was trained an hour ago (cooldown)."""
    repo = prompt_repo
    for name in ("due/errors", "quiet/ok", "few/errors", "fresh/errors"):
        repo.create(name, new_prompt_yaml(f"{name}: {{text}}", "user", ""))
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    root = repo.root
    subprocess.run(
        ["git", "checkout", "-q", "-b", "ptrain-train/fresh/errors"], cwd=root, check=True
    )
    (root / "prompts/fresh/errors.yaml").write_text(new_prompt_yaml("trained: {text}", "user", ""))
    subprocess.run(
        ["git", "commit", "-qam", "Train fresh/errors\n\nPtrain-Trained: fresh/errors\n"],
        cwd=root, check=True, env={**os.environ, "GIT_COMMITTER_DATE": hour_ago},
    )  # fmt: skip
    subprocess.run(["git", "checkout", "-q", "main"], cwd=root, check=True)
    err = {"kind": "error", "error_type": "wrong_label"}
    recs = [{"prompt": "due/errors", **err} for _ in range(12)]
    recs += [{"prompt": "quiet/ok", "kind": "success"} for _ in range(12)]
    recs += [{"prompt": "few/errors", **err} for _ in range(5)]
    recs += [{"prompt": "fresh/errors", **err} for _ in range(12)]
    record_many(root, recs)
    return repo


def test_train_due_lists_only_the_prompts_due(mixed_repo, cli):
    r = cli.invoke("train", "due", "--json")
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [row["prompt"] for row in rows] == ["due/errors"]
    (row,) = rows
    assert row["fired"] == ["error rate 100% > 20%"] and row["approach"] == "adversarial"
    assert row["stats"]["count"] == 12 and row["stats"]["errors"] == 12
    assert row["since"] is None

    status = json.loads(cli.invoke("train", "status", "--json").stdout)
    by = {s["prompt"]: s for s in status}
    assert by["few/errors"]["fired"] and not by["few/errors"]["should_train"]
    assert by["fresh/errors"]["fired"] and not by["fresh/errors"]["should_train"]
    assert by["fresh/errors"]["since"] is not None

    table = cli.invoke("train", "due")
    assert table.exit_code == 0 and "due/errors" in table.stdout and "100%" in table.stdout
    assert "quiet/ok" not in table.stdout and "fresh/errors" not in table.stdout


def test_train_due_names_for_a_matrix_and_filters(mixed_repo, cli):
    r = cli.run("train", "due", "--names")  # the real console script, as the action runs it
    assert r.exit_code == 0, r.stderr
    assert r.stdout == '["due/errors"]\n'
    r = cli.invoke("train", "due", "--names", "--prompt", "quiet/ok", "--prompt", "few/errors")
    assert r.exit_code == 0 and r.stdout == "[]\n"
    none = cli.invoke("train", "due", "--prompt", "quiet/ok")
    assert none.exit_code == 0 and "no prompt is due" in none.stderr + none.stdout


def test_train_due_refuses_an_unknown_prompt(mixed_repo, cli):
    r = cli.run("train", "due", "--prompt", "no/such")
    assert r.exit_code != 0
    assert r.stderr.strip() == "error: no prompt named 'no/such' — see `ptrain prompt list`"
    assert "Traceback" not in r.stderr
