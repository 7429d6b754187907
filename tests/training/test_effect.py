"""`ptrain train effect`: production feedback before vs after a deployed trained version."""

from __future__ import annotations

import json

from ptrain.llm.budget import Budget
from ptrain.training.run import train


def _feedback(repo, commit: str, *, ok: int, errors: int, rating: float, n_ratings: int):
    from ptrain.feedback import record_many

    recs = [
        {"prompt": "support/route", "kind": "success", "version": commit, "env": "production"}
        for _ in range(ok)
    ]
    recs += [
        {
            "prompt": "support/route",
            "kind": "error",
            "error_message": "no label",
            "version": commit,
            "env": "production",
        }
        for _ in range(errors)
    ]
    recs += [
        {
            "prompt": "support/route",
            "kind": "rating",
            "rating": rating if i % 2 else round(min(1.0, rating + 0.1), 2),
            "version": commit,
            "env": "production",
        }
        for i in range(n_ratings)
    ]
    record_many(repo.root, recs)


def test_effect_recommends_rollback_when_the_trained_version_got_worse(train_repo, cli):
    before = train_repo.deployed("support/route", "production")
    res = train(train_repo, "support/route", "few_shot", budget=Budget(calls=2000), deploy=True)
    assert res.deployed
    _feedback(train_repo, before.commit, ok=90, errors=10, rating=0.8, n_ratings=40)
    _feedback(train_repo, res.commit, ok=60, errors=40, rating=0.3, n_ratings=40)
    r = cli.invoke("train", "effect", "support/route", "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    (e,) = json.loads(r.stdout)
    assert e["verdict"] == "worse" and e["rollback"] is True
    # the trained commit lives on its training branch: it has no number on main yet
    assert e["before"]["version"] == "v1" and e["trained"]["version"] == res.commit[:8]
    assert e["before"]["calls"] >= 100 and e["trained"]["error_rate"] > 0.35
    lo, hi = e["deltas"]["error_rate"]["ci"]
    assert 0 < lo < e["deltas"]["error_rate"]["delta"] < hi  # the interval excludes no change
    text = cli.invoke("train", "effect", "support/route")
    assert "ptrain prompt rollback support/route --env production" in text.stdout
    status = cli.invoke("train", "status")
    assert "Deployed trained versions" in status.stdout and "roll back" in status.stdout


def test_effect_is_undecided_with_little_feedback_and_empty_without_a_trained_deploy(
    train_repo, cli
):
    r = cli.invoke("train", "effect", "support/route", "--json")
    assert json.loads(r.stdout) == []  # v1 was deployed by hand, not trained
    before = train_repo.deployed("support/route", "production")
    res = train(train_repo, "support/route", "few_shot", budget=Budget(calls=2000), deploy=True)
    _feedback(train_repo, before.commit, ok=3, errors=1, rating=0.7, n_ratings=3)
    _feedback(train_repo, res.commit, ok=8, errors=0, rating=0.7, n_ratings=3)
    (e,) = json.loads(cli.invoke("train", "effect", "support/route", "--json").stdout)
    assert e["verdict"] == "no clear change" and e["rollback"] is False
    assert "no difference is outside its interval" in e["reasons"][0]
