"""``ptrain evaluate version`` and ``ptrain evals ...`` in a real git prompt repository, with the
task model and the judge scripted through ptrain.yaml (provider: scripted)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ptrain.cli import evaluate as evaluate_cli
from ptrain.cli import state
from ptrain.cli.main import _Root
from ptrain.llm.scripted import register_scripted

from .conftest import classifier_yaml

NAME = "support/triage"
BILLING = [
    "charged twice",
    "refund please",
    "card declined",
    "invoice wrong",
    "double fee",
    "price up",
]
ACCOUNT = [
    "reset password",
    "cannot log in",
    "change email",
    "delete account",
    "2fa lost",
    "locked out",
]
GOOD = "Reply with exactly one label: billing or account."
BAD = "Classify the message."
FLUKE = "Classify the message (passwords are account)."


def task(msgs) -> str:
    system, message = msgs[0].content, msgs[-1].content
    if GOOD in system:
        return "billing" if message in BILLING else "account"
    if FLUKE in system and message == "reset password":
        return "account"
    return "billing"  # the bad prompt says billing to everything


def judge(msgs) -> str:
    return '{"coherence": 0.9, "relevance": 0.9, "safety": 1.0}'


def make_cli(root: Path):
    app = typer.Typer(cls=_Root)
    app.add_typer(evaluate_cli.app, name="evaluate")
    app.add_typer(evaluate_cli.evals_app, name="evals")

    def invoke(*args: str):
        state.REPO_PATH = str(root)
        return CliRunner().invoke(app, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def repo(eval_repo):
    eval_repo.create(NAME, classifier_yaml(BAD))  # v1
    eval_repo.update(NAME, classifier_yaml(GOOD))  # v2: a real gain
    eval_repo.update(NAME, classifier_yaml(FLUKE))  # v3: one case better than v1
    cases = [
        {"id": f"b{i}", "vars": {"message": m}, "expected": "billing"}
        for i, m in enumerate(BILLING)
    ] + [
        {"id": f"a{i}", "vars": {"message": m}, "expected": "account"}
        for i, m in enumerate(ACCOUNT)
    ]
    lines = "".join(f"  - {json.dumps(c)}\n" for c in cases)
    suite = Path(eval_repo.root) / "evals" / "support" / "triage.yaml"
    suite.parent.mkdir(parents=True, exist_ok=True)
    suite.write_text(f"schema_version: 1\nprompt: {NAME}\ncases:\n{lines}")
    return eval_repo


def test_better_version_is_recommended_worse_is_not_and_results_are_stored(repo, tmp_path):
    model = register_scripted("task", task)
    register_scripted("judge", judge)
    cli = make_cli(repo.root)

    report = tmp_path / "report.md"
    r = cli("evaluate", "version", NAME, "2", "--baseline", "1", "--report", str(report))
    assert r.exit_code == 0, r.stdout
    assert "deploy recommended" in r.stdout and "McNemar p = 0.031" in r.stdout
    md = report.read_text()
    assert "✅ **Recommended: deploy**" in md
    # every per-case metric carries its bootstrap interval, baseline's next to the candidate's
    row = next(line for line in md.splitlines() if line.startswith("| Success rate |"))
    assert re.match(
        r"\| Success rate \| 50\.0% \[\d+\.\d, \d+\.\d\] \| 100\.0% \[100\.0, 100\.0\] \|", row
    ), row
    table = md.split("| Metric | Baseline | Candidate | Δ |", 1)[1].split("\n\n", 1)[0]
    rows = [line.split(" | ") for line in table.splitlines()[2:]]
    assert {r[0] for r in rows} >= {"| Latency p50", "| Safety", "| Tokens per call"}
    for r in rows:  # every metric, on both sides, with its interval
        assert all(re.search(r"\[[-\d.,]+, [-\d.,]+\]", cell) for cell in r[1:3]), r
    calls = len(model.calls)
    assert calls == 24  # 12 cases x 2 versions, temperature 0

    r = cli("evaluate", "version", NAME, "3", "--baseline", "1", "--json")
    assert r.exit_code == 3
    data = json.loads(r.stdout)
    assert data["recommended"] is False and data["suite"] == "evals/support/triage.yaml"
    assert data["discordant"] == {"baseline_only": 0, "candidate_only": 1}
    assert data["baseline"]["cached"] is True  # v1 was evaluated by the first command
    assert len(model.calls) == calls + 12

    # the same evaluation again: stored, not recomputed, no model calls at all
    r = cli("evaluate", "version", NAME, "2", "--baseline", "1")
    assert r.exit_code == 0 and r.stdout.count("(cached)") == 2
    assert len(model.calls) == calls + 12
    stored = list((Path(repo.root) / ".ptrain" / "evals").glob("*.json"))
    assert len(stored) == 3

    # a worse version against a better baseline
    r = cli("evaluate", "version", NAME, "1", "--baseline", "2")
    assert r.exit_code == 3 and "not recommended" in r.stdout


def test_an_uncommitted_candidate_file_and_stored_results_by_content(repo, tmp_path):
    model = register_scripted("task", task)
    register_scripted("judge", judge)
    cli = make_cli(repo.root)
    assert cli("evaluate", "version", NAME, "2").exit_code == 0
    calls = len(model.calls)
    cand = tmp_path / "candidate.yaml"
    cand.write_text(classifier_yaml(GOOD))  # same content as v2: the stored result applies
    r = cli("evaluate", "version", NAME, str(cand), "--json")
    assert r.exit_code == 0 and len(model.calls) == calls
    data = json.loads(r.stdout)
    assert data["candidate"]["cached"] and data["candidate"]["label"] == "candidate (uncommitted)"
    cand.write_text(classifier_yaml(GOOD + " Lowercase."))
    r = cli("evaluate", "version", NAME, str(cand), "--baseline", "1")
    assert r.exit_code == 0 and len(model.calls) == calls + 24  # new content, and v1


def test_errors_exit_1_with_a_hint(repo):
    register_scripted("task", task)
    register_scripted("judge", judge)
    cli = make_cli(repo.root)
    r = cli("evaluate", "version", NAME, "9")
    assert r.exit_code == 1 and "no version 9" in r.stderr
    r = cli("evaluate", "version", "support/other")
    assert r.exit_code == 1


def test_evals_list(repo):
    cli = make_cli(repo.root)
    r = cli("evals", "list", NAME, "--json")
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert len(data["cases"]) == 12 and data["cases"][0]["checks"] == ["equals: billing"]
    r = cli("evals", "list", NAME)
    assert "evals/support/triage.yaml: 12 cases" in r.stdout


def test_evals_from_feedback(repo):
    from ptrain import feedback

    v2 = repo.resolve(NAME, 2).commit
    common = {"prompt": NAME, "version": v2}
    good = feedback.record(
        repo.root,
        {**common, "kind": "rating", "rating": 0.9, "inputs": {"message": "where is my receipt"},
         "output": "billing"},
    )  # fmt: skip
    feedback.record(
        repo.root,
        {**common, "kind": "rating", "rating": 1.0, "inputs": {"message": "write me a poem"},
         "output": "Roses are red,\nviolets are blue."},
    )  # fmt: skip
    bad = feedback.record(
        repo.root,
        {**common, "kind": "rating", "rating": 0.1, "inputs": {"message": "my card | @bob"},
         "output": "account", "message": "It's a billing question, obviously"},
    )  # fmt: skip
    feedback.record(
        repo.root,
        {**common, "kind": "error", "error_type": "Timeout", "inputs": {"message": "huge text"}},
    )
    feedback.record(
        repo.root, {**common, "kind": "rating", "rating": 0.5, "inputs": {"message": "meh"}}
    )
    feedback.record(
        repo.root,
        {**common, "kind": "rating", "rating": 0.9, "inputs": {"msg": "x"}, "output": "y"},
    )
    cli = make_cli(repo.root)

    r = cli("evals", "from-feedback", NAME, "--dry-run", "--json")
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert not data["written"] and len(data["added"]) == 4
    by_source = {c["source"]: c for c in data["added"]}
    pos = by_source[f"feedback:{good.id}"]
    assert pos["expected"] == "billing" and "assert" not in pos and "positive" in pos["tags"]
    neg = by_source[f"feedback:{bad.id}"]
    assert neg["assert"][0] == {"not_contains": "account"}
    assert "billing question" in neg["assert"][1]["llm_rubric"]
    poem = next(c for c in data["added"] if c["vars"]["message"] == "write me a poem")
    assert "llm_rubric" in poem["assert"][0]  # a long output is judged, not compared exactly
    assert data["skipped"] == {
        "rating between the thresholds": 1,
        "inputs missing a prompt variable": 1,
    }
    suite_file = Path(repo.root) / "evals" / "support" / "triage.yaml"
    before = suite_file.read_text()

    r = cli("evals", "from-feedback", NAME)
    assert r.exit_code == 0 and "Added 4 case(s) to evals/support/triage.yaml" in r.stdout
    text = suite_file.read_text()
    assert text.startswith(before.splitlines()[0]) and f"feedback:{bad.id}" in text
    data = json.loads(cli("evals", "list", NAME, "--json").stdout)
    assert len(data["cases"]) == 16

    # a second run adds nothing: those records are already cases
    r = cli("evals", "from-feedback", NAME, "--json")
    again = json.loads(r.stdout)
    assert again["added"] == [] and again["skipped"]["already in the suite"] == 4


def test_user_ratings_of_the_version_are_a_metric(repo):
    from ptrain import feedback

    register_scripted("task", task)
    register_scripted("judge", judge)
    v2 = repo.resolve(NAME, 2).commit
    for rating in (1.0, 0.5):
        feedback.record(
            repo.root, {"prompt": NAME, "version": v2[:8], "kind": "rating", "rating": rating}
        )
    feedback.record(
        repo.root,
        {"prompt": NAME, "version": repo.resolve(NAME, 1).commit, "kind": "rating", "rating": 0.0},
    )
    r = make_cli(repo.root)("evaluate", "version", NAME, "2", "--json")
    cand = json.loads(r.stdout)["candidate"]
    m = cand["metrics"]
    assert m["user_rating"] == 0.75 and m["user_ratings"] == 2
    assert cand["intervals"]["user_rating"] == [0.5, 1.0]  # bootstrap over the two ratings
