"""The pydantic-free checks (``check`` for records, ``options`` for the feedback settings) agree
with the pydantic models: the same records and settings pass, the same fail with the same words,
and what passes is stored exactly as the model would store it."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from ptrain.errors import ValidationError
from ptrain.feedback import check as fast
from ptrain.feedback import options, settings
from ptrain.feedback.records import Record, make_record

SHA = "0123456789abcdef0123456789abcdef01234567"
FIXED = {"id": "01a2370bd50606d60e197c6da5eb4382", "ts": "2026-11-01T08:00:00.120Z"}
GOOD = [
    {"prompt": "support/triage", "kind": "success"},
    {"prompt": "a", "kind": "rating", "rating": 1},
    {"prompt": "a", "kind": "rating", "rating": 0.0, "message": ""},
    {"prompt": "a/b-c/d_e", "kind": "error", "error_type": "TimeoutError", "error_message": "x"},
    {"prompt": "a", "kind": "error", "error_message": "boom", "latency_ms": 0},
    {"prompt": "a", "kind": "suggestion", "suggestion": " shorter ", "rating": 0.5},
    {"prompt": "a", "kind": "metric", "metrics": {"cost": 1, "q": 0.5}},
    {"prompt": "a", "kind": "metric", "prompt_tokens": 0},
    {"prompt": "a", "kind": "metric", "completion_tokens": 12, "latency_ms": 1.5},
    {"prompt": "a", "kind": "success", "version": SHA.upper(), "version_number": 3},
    {"prompt": "a", "kind": "success", "version": " abcdef1 ", "env": "prod:eu-1.x"},
    {"prompt": "a", "kind": "success", "version": "", "variant": "B", "run_id": "r" * 128},
    {"prompt": "a", "kind": "success", "ts": "2026-11-01T08:00:00Z"},
    {"prompt": "a", "kind": "success", "ts": "2026-11-01 10:00:00+02:00"},
    {"prompt": "a", "kind": "success", "ts": datetime(2026, 11, 1, tzinfo=UTC)},
    {"prompt": "a", "kind": "success", "schema_version": 1, "source": "automated"},
    {"prompt": "a", "kind": "success", "inputs": {"x": None, "y": [1, {"z": None}]}},
    {"prompt": "a", "kind": "success", "metadata": {"via": "mcp"}, "output": "ok"},
    {"prompt": "a", "kind": "success", "rating": None, "env": None, "inputs": None},
    {"prompt": "a", "kind": "success", "error_type": None, "id": "abcdefgh_-12"},
    {"prompt": "a", "kind": "error", "error_type": "E" * 200},
]
BAD = [
    {"prompt": "a", "kind": "rating"},
    {"prompt": "a", "kind": "rating", "rating": 1.2},
    {"prompt": "a", "kind": "rating", "rating": -0.1},
    {"prompt": "a", "kind": "rating", "rating": float("nan")},
    {"prompt": "a", "kind": "rating", "rating": 10**400},
    {"prompt": "a", "kind": "error"},
    {"prompt": "a", "kind": "error", "error_type": "", "error_message": ""},
    {"prompt": "a", "kind": "error", "error_type": "E" * 201},
    {"prompt": "a", "kind": "success", "error_type": "X"},
    {"prompt": "a", "kind": "success", "error_message": ""},
    {"prompt": "a", "kind": "suggestion", "suggestion": "  "},
    {"prompt": "a", "kind": "suggestion"},
    {"prompt": "a", "kind": "metric"},
    {"prompt": "a", "kind": "metric", "metrics": {}},
    {"prompt": "a", "kind": "metric", "metrics": {"x": float("inf")}},
    {"prompt": "a", "kind": "metric", "metrics": {"x": "high"}},
    {"prompt": "a", "kind": "bogus"},
    {"prompt": "a", "kind": None},
    {"prompt": "Bad Name", "kind": "success"},
    {"prompt": "a" * 201, "kind": "success"},
    {"prompt": "/a", "kind": "success"},
    {"prompt": None, "kind": "success"},
    {"prompt": "a", "kind": "success", "colour": "red"},
    {"kind": "success"},
    {"prompt": "a"},
    {},
    {"prompt": "a", "kind": "success", "version": "main"},
    {"prompt": "a", "kind": "success", "version": "abc"},
    {"prompt": "a", "kind": "success", "version_number": 0},
    {"prompt": "a", "kind": "success", "version_number": -3},
    {"prompt": "a", "kind": "success", "ts": "last tuesday"},
    {"prompt": "a", "kind": "success", "ts": None},
    {"prompt": "a", "kind": "success", "ts": "2999-01-01T00:00:00Z"},
    {"prompt": "a", "kind": "success", "ts": "1970-01-01T00:00:00Z"},
    {"prompt": "a", "kind": "success", "ts": "2026-13-45T00:00:00.000Z"},
    {"prompt": "a", "kind": "success", "schema_version": 2},
    {"prompt": "a", "kind": "success", "schema_version": None},
    {"prompt": "a", "kind": "success", "latency_ms": -1},
    {"prompt": "a", "kind": "success", "latency_ms": float("inf")},
    {"prompt": "a", "kind": "success", "prompt_tokens": -1},
    {"prompt": "a", "kind": "success", "prompt_tokens": 1.5},
    {"prompt": "a", "kind": "success", "source": "robot"},
    {"prompt": "a", "kind": "success", "source": None},
    {"prompt": "a", "kind": "success", "env": "Prod env"},
    {"prompt": "a", "kind": "success", "variant": "-a"},
    {"prompt": "a", "kind": "success", "id": "short"},
    {"prompt": "a", "kind": "success", "id": "abcdefgh\n"},
    {"prompt": "a", "kind": "success", "id": None},
    {"prompt": "a", "kind": "success", "run_id": "r" * 129},
    {"prompt": "a", "kind": "success", "inputs": ["x"]},
    {"prompt": "a", "kind": "success", "inputs": {1: "x"}},
    {"prompt": "a", "kind": "success", "output": 5},
]
# Lax inputs the model converts: ``check`` leaves them to the model, with the model's result.
LAX = [
    {"prompt": "a", "kind": "rating", "rating": "0.5"},
    {"prompt": "a", "kind": "rating", "rating": True},
    {"prompt": "a", "kind": "success", "version_number": "3"},
    {"prompt": "a", "kind": "success", "latency_ms": "12.5", "prompt_tokens": 4.0},
]


def _model(doc):
    """(stored dict, None) or (None, the one-line reason) from the pydantic model."""
    try:
        return make_record(doc).model_dump(exclude_none=True), None
    except ValidationError as exc:
        return None, exc.message


def _fixed(doc: dict) -> dict:
    return {**FIXED, **doc}


@pytest.mark.parametrize("doc", GOOD)
def test_good_records_pass_the_fast_rules_as_the_model_stores_them(doc):
    doc = _fixed(doc) if "id" not in doc else {**doc, "ts": FIXED["ts"]}
    want, why = _model(doc)
    assert why is None, why
    got = fast.fast(dict(doc))  # the fast rules alone: no fallback to the model
    assert got == want and list(got) == list(want)
    assert fast.check(doc) == want


def test_defaults_are_generated_like_the_model_does():
    got = fast.fast({"prompt": "a", "kind": "success"})
    assert list(got) == ["schema_version", "id", "ts", "prompt", "kind", "source"]
    assert Record.model_validate(got).model_dump(exclude_none=True) == got


@pytest.mark.parametrize("doc", BAD)
def test_bad_records_fail_the_fast_rules_and_read_as_the_model_says(doc):
    doc = _fixed(doc)
    want, why = _model(doc)
    assert want is None and why, doc
    with pytest.raises(fast._Unsure):
        fast.fast(dict(doc))
    with pytest.raises(ValidationError) as exc:
        fast.check(doc)
    assert exc.value.message == why


@pytest.mark.parametrize("doc", LAX)
def test_lax_inputs_are_converted_by_the_model(doc):
    doc = _fixed(doc)
    with pytest.raises(fast._Unsure):
        fast.fast(dict(doc))
    assert fast.check(doc) == _model(doc)[0]


def test_defaults_and_non_objects():
    got = fast.check({"kind": "success"}, {"prompt": "a", "env": None, "source": "automated"})
    assert got["prompt"] == "a" and got["source"] == "automated" and "env" not in got
    for doc in (["x"], "x", None, 3):
        with pytest.raises(ValidationError) as exc:
            fast.check(doc)
        with pytest.raises(ValidationError) as ref:
            make_record(doc)
        assert exc.value.message == ref.value.message


def test_random_mutations_never_pass_where_the_model_refuses():
    rng = random.Random(13)
    values = [None, "", " ", "x", "a/b", "Bad", "abcdef1", SHA, 0, 1, 2, -1, 0.5, 1.5, True,
              float("nan"), float("inf"), [], {}, {"k": 1.0}, {"k": "v"}, "2026-11-01T08:00:00Z",
              "A" * 65, "production", "user", "automated", "rating", "error", "metric"]  # fmt: skip
    keys = [*fast.ORDER, "colour"]
    for _ in range(3000):
        doc = dict(_fixed(rng.choice(GOOD)))
        for _ in range(rng.randint(1, 3)):
            doc[rng.choice(keys)] = rng.choice(values)
        try:
            got = fast.fast(dict(doc))
        except fast._Unsure:
            continue
        want, why = _model(doc)
        assert why is None and got == want and list(got) == list(want), (doc, why)


SETTINGS_GOOD = [
    None,
    {},
    {"retention_days": 30, "batch_size": 1},
    {"limits": {"max_record_bytes": 1024, "max_import_bytes": 2048, "max_import_records": 5}},
    {"redact": {"secrets": False, "cards": True, "emails": True, "phones": False}},
    {"redact": {"custom": [{"name": "employee_id", "pattern": r"EMP-\d{6}"}]}},
]
SETTINGS_BAD = [
    {"retention_days": 0},
    {"batch_size": "ten"},
    {"limits": {"max_record_bytes": 1}},
    {"limits": {"max_record_bytes": 1 << 31}},
    {"limits": None},
    {"redact": {"secrets": "yes please"}},
    {"redact": {"custom": [{"name": "Bad", "pattern": "x"}]}},
    {"redact": {"custom": [{"name": "ok", "pattern": "("}]}},
    {"redact": {"custom": [{"name": "ok", "pattern": ""}]}},
    {"redact": {"custom": [{"name": "ok"}]}},
    {"retention": 90},
    ["not", "a", "mapping"],
]


@pytest.mark.parametrize("doc", SETTINGS_GOOD)
def test_good_settings_read_fast_as_the_model_reads_them(doc):
    want = options.of_model(settings.from_raw(doc))
    assert options.read(doc) == want
    if doc is not None:
        assert options._fast(doc) == want


@pytest.mark.parametrize("doc", SETTINGS_BAD)
def test_bad_settings_fail_fast_and_read_as_the_model_says(doc):
    with pytest.raises(ValidationError) as ref:
        settings.from_raw(doc)
    with pytest.raises(options._Unsure):
        options._fast(doc)
    with pytest.raises(ValidationError) as exc:
        options.read(doc)
    assert exc.value.message == ref.value.message


def test_lax_settings_are_converted_by_the_model():
    assert options.read({"retention_days": "30"}).retention_days == 30


def test_checking_a_record_and_reading_settings_do_not_import_pydantic():
    code = (
        "import sys\n"
        "from ptrain.feedback import check, options\n"
        "check.check({'prompt': 'a', 'kind': 'rating', 'rating': 0.5})\n"
        "options.read({'retention_days': 30, 'redact': {'custom': [{'name': 'x', 'pattern': 'y'}]}})\n"
        "print(sorted(m for m in sys.modules if m.startswith('pydantic')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_field_order_is_the_models():
    assert tuple(Record.model_fields) == fast.ORDER


@pytest.mark.parametrize("doc", GOOD)
def test_stored_records_come_back_as_the_model_builds_them(doc):
    from ptrain.feedback.records import from_stored

    stored = fast.check(_fixed(doc) if "id" not in doc else {**doc, "ts": FIXED["ts"]})
    built, ref = from_stored(stored), Record.model_validate(stored)
    assert built == ref and built.model_dump(exclude_none=True) == stored
    assert built.model_fields_set == Record.model_construct(**stored).model_fields_set
    assert built.to_line() == ref.to_line()
