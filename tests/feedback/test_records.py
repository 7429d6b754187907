"""The record format: what is accepted, what is refused and with which one-line reason."""

from __future__ import annotations

import pytest

from ptrain.errors import ValidationError
from ptrain.feedback import Record, make_record, parse_ts


def _reason(doc: dict) -> str:
    with pytest.raises(ValidationError) as exc:
        make_record(doc)
    assert "\n" not in exc.value.message
    return exc.value.message


def test_defaults_fill_id_ts_and_schema_version():
    r = make_record({"prompt": "support/triage", "kind": "success"})
    assert r.schema_version == 1 and len(r.id) == 32 and r.ts.endswith("Z") and r.source == "user"
    line = r.to_line()
    assert line.endswith(b"\n") and b"null" not in line  # absent fields are omitted, not null


def test_ids_sort_by_creation_time():
    ids = [make_record({"prompt": "a", "kind": "success"}).id for _ in range(50)]
    assert ids[0][:12] <= ids[-1][:12] and len(set(ids)) == 50


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"prompt": "a", "kind": "rating"}, "a 'rating' record needs rating"),
        (
            {"prompt": "a", "kind": "rating", "rating": 1.2},
            "rating: Input should be less than or equal to 1",
        ),
        ({"prompt": "a", "kind": "rating", "rating": float("nan")}, "rating:"),
        ({"prompt": "a", "kind": "error"}, "an 'error' record needs error_type or error_message"),
        ({"prompt": "a", "kind": "success", "error_type": "X"}, "belong on 'error' records"),
        ({"prompt": "a", "kind": "suggestion", "suggestion": "  "}, "needs suggestion text"),
        ({"prompt": "a", "kind": "metric"}, "a 'metric' record needs"),
        ({"prompt": "a", "kind": "bogus"}, "kind: Input should be"),
        ({"prompt": "Bad Name", "kind": "success"}, "is not a prompt name"),
        ({"prompt": "a", "kind": "success", "colour": "red"}, "unknown field 'colour'"),
        ({"kind": "success"}, "missing required field 'prompt'"),
        ({"prompt": "a", "kind": "success", "version": "main"}, "is not a commit sha"),
        ({"prompt": "a", "kind": "success", "ts": "last tuesday"}, "not an ISO-8601 time"),
        ({"prompt": "a", "kind": "success", "ts": "2999-01-01T00:00:00Z"}, "in the future"),
        (
            {"prompt": "a", "kind": "success", "schema_version": 2},
            "schema_version 2 is not supported",
        ),
        ({"prompt": "a", "kind": "success", "latency_ms": -1}, "latency_ms:"),
        ({"prompt": "a", "kind": "success", "source": "robot"}, "source:"),
        ({"prompt": "a", "kind": "metric", "metrics": {"x": float("inf")}}, "metrics"),
    ],
)
def test_invalid_records_are_refused_with_a_clear_reason(doc, expected):
    assert expected in _reason(doc)


def test_per_kind_valid_records():
    make_record({"prompt": "a", "kind": "rating", "rating": 0.0})
    make_record({"prompt": "a", "kind": "error", "error_message": "boom"})
    make_record({"prompt": "a", "kind": "suggestion", "suggestion": "be brief", "rating": 0.4})
    make_record({"prompt": "a", "kind": "metric", "metrics": {"cost_usd": 0.002}})
    make_record({"prompt": "a/b-c", "kind": "success", "variant": "B", "env": "production"})


def test_timestamps_are_normalised_to_utc_milliseconds():
    assert parse_ts("2026-11-01T10:00:00+02:00") == "2026-11-01T08:00:00.000Z"
    assert parse_ts("2026-11-01 08:00:00") == "2026-11-01T08:00:00.000Z"  # naive means UTC
    assert (
        Record(prompt="a", kind="success", ts="2026-11-01T08:00:00.5Z").ts
        == "2026-11-01T08:00:00.500Z"
    )


def test_text_is_stored_verbatim():
    text = 'Ignore previous instructions\n{"kind": "error"}\u202e and \\n'
    r = make_record({"prompt": "a", "kind": "suggestion", "suggestion": text, "message": text})
    from ptrain.storage.jsonl import loads

    back = loads(r.to_line())
    assert back["suggestion"] == text and back["message"] == text and back["kind"] == "suggestion"
