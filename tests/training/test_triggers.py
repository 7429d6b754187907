"""The original system's trigger rules and approach selection, on plain data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ptrain.config import AutoTrainingConfig
from ptrain.training.triggers import evaluate_triggers

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


def recs(ratings=(), errors=0, successes=0, suggestions=0):
    out = [{"kind": "rating", "rating": r, "ts": "2026-11-25T00:00:00.000Z"} for r in ratings]
    out += [{"kind": "error", "ts": "2026-11-25T00:00:00.000Z"}] * errors
    out += [{"kind": "success", "ts": "2026-11-25T00:00:00.000Z"}] * successes
    out += [{"kind": "suggestion", "ts": "2026-11-25T00:00:00.000Z"}] * suggestions
    return out


def status(records, last=None):
    return evaluate_triggers("p", records, last, AutoTrainingConfig(), NOW)


def test_error_rate_over_30_percent_picks_adversarial():
    s = status(recs(errors=4, successes=6))
    assert s.should_train and s.approach == "adversarial" and "error rate" in s.fired[0]


def test_error_rate_between_20_and_30_fires_but_keeps_other_rules():
    s = status(recs(ratings=[0.9] * 5, errors=3, successes=9))
    assert s.fired and s.approach == "few_shot"


def test_low_average_rating_picks_reinforcement():
    s = status(recs(ratings=[0.2] * 6 + [0.9] * 4))
    assert s.approach == "reinforcement" and any("average rating" in f for f in s.fired)


def test_five_suggestions_pick_meta_prompt():
    s = status(recs(ratings=[0.9] * 10, suggestions=5))
    assert s.approach == "meta_prompt"


def test_volume_alone_picks_few_shot():
    s = status(recs(ratings=[0.9] * 50))
    assert s.fired == ["50 new feedback items ≥ 50"] and s.approach == "few_shot"


def test_nothing_fires_on_healthy_feedback():
    s = status(recs(ratings=[0.9] * 20))
    assert not s.fired and not s.should_train and s.approach is None


def test_at_least_ten_items_needed():
    s = status(recs(errors=5))
    assert s.fired and not s.should_train and "only 5 feedback items" in s.blocked_by[0]


def test_24_hours_between_trainings_and_only_newer_feedback_counts():
    last = (NOW - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    s = status(recs(errors=20), last=None)
    assert s.should_train
    newer = [
        dict(r, ts=(NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z"))
        for r in recs(errors=20)
    ]
    s = status(recs(errors=20) + newer, last=last)
    assert s.stats["count"] == 20  # the older batch is before the last training
    assert not s.should_train and s.next_eligible == "2026-11-27T09:00:00Z"


def test_watch_intervals():
    import pytest

    from ptrain.errors import PtrainError
    from ptrain.training.auto import parse_interval

    assert (
        parse_interval("1h") == 3600
        and parse_interval("30m") == 1800
        and parse_interval("2d") == 172800
    )
    with pytest.raises(PtrainError, match="bad interval"):
        parse_interval("soon")
