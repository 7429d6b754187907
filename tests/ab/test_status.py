"""``ptrain ab status``: per variant the success rate with its Wilson 95% interval, the mean
rating, P(best), and records / outcomes / outcomes still needed — as the README promises."""

from __future__ import annotations

import json

import pytest

from ptrain import PromptRepo, ab
from ptrain.feedback import FeedbackWriter

NAME = "support/triage"


def _records(variant: ab.Variant, successes: int, errors: int, ratings: list[float]) -> list:
    base = {"prompt": NAME, "env": "production", "variant": variant.name, "version": variant.commit}
    return (
        [{**base, "kind": "success"}] * successes
        + [{**base, "kind": "error", "error_type": "bad_label"}] * errors
        + [{**base, "kind": "rating", "rating": r} for r in ratings]
    )


@pytest.fixture
def running(repo: PromptRepo) -> ab.Experiment:
    """A: 8 successes, 2 errors, ratings 0.9 and 0.7; B: 3 successes, 7 errors, rating 0.2."""
    exp = ab.start(repo, NAME, ["A=1", "B=2"], mde=0.2)
    a, b = exp.variants
    FeedbackWriter(repo.root).write(_records(a, 8, 2, [0.9, 0.7]) + _records(b, 3, 7, [0.2]))
    return exp


def test_status_json_has_rates_intervals_rating_and_prob_best(repo, cli, running):
    r = cli.invoke("ab", "status", NAME, "--json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    a, b = data["arms"]
    n = running.sample_size
    assert data["metric"] == "success" and n > 12
    assert (a["variant"], a["records"], a["successes"], a["errors"]) == ("A", 12, 8, 2)
    assert a["success_rate"] == pytest.approx(0.8) and b["success_rate"] == pytest.approx(0.3)
    # Wilson 95% for 8/10 and 3/10 (textbook values), not the normal approximation
    assert a["success_ci"] == pytest.approx([0.4902, 0.9433], abs=1e-4)
    assert b["success_ci"] == pytest.approx([0.1078, 0.6032], abs=1e-4)
    assert (a["ratings"], a["mean_rating"]) == (2, pytest.approx(0.8))
    assert (b["ratings"], b["mean_rating"], b["rating_ci"]) == (1, pytest.approx(0.2), None)
    # outcomes under "success": calls plus ratings (>= 0.5 is a success): A 10/12, B 3/11
    assert (a["outcomes"], b["outcomes"]) == (12, 11)
    assert (a["needed"], b["needed"]) == (n - 12, n - 11)
    assert a["prob_best"] > 0.95 and a["prob_best"] + b["prob_best"] == pytest.approx(1.0)


def test_status_table_shows_what_the_readme_promises(repo, cli, running):
    r = cli.invoke("ab", "status", NAME)
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "A=v1 B=v2 (50/50), running" in lines[0]
    header, rows = lines[1], lines[3:5]
    for col in ("records", "success (95% CI)", "rating", "P(best)", "outcomes", "needed"):
        assert col in header, header
    cells = [[c.strip() for c in row.replace("│", "|").split("|")] for row in rows]
    n = running.sample_size
    assert cells[0][:4] == ["A v1", "12", "80.0% [49.0, 94.3]", "0.800"]
    assert cells[1][:4] == ["B v2", "11", "30.0% [10.8, 60.3]", "0.200"]
    assert float(cells[0][4].rstrip("%")) > 95 and float(cells[1][4].rstrip("%")) < 5
    assert cells[0][5:] == [f"12/{n}", str(n - 12)] and cells[1][5:] == [f"11/{n}", str(n - 11)]
    assert "P(best) is for information" in lines[-1] and f"at {n} outcomes" in lines[-1]


def test_status_before_any_feedback_says_nothing_is_known_yet(repo, cli):
    ab.start(repo, NAME, ["A=1", "B=2"])
    data = json.loads(cli.invoke("ab", "status", NAME, "--json").stdout)
    for arm in data["arms"]:
        assert (arm["records"], arm["success_rate"], arm["success_ci"]) == (0, None, None)
        assert arm["needed"] == data["experiment"]["sample_size"]
        assert arm["prob_best"] == pytest.approx(0.5, abs=0.02)  # two flat posteriors
    text = cli.invoke("ab", "status", NAME).stdout
    assert " - " in text.splitlines()[3]  # no rate is shown as a dash, not as 0%
