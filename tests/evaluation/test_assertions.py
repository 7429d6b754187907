from __future__ import annotations

import pytest

from ptrain.evaluation.assertions import (
    check,
    first_label,
    normalise,
    parse_rubric_verdict,
)
from ptrain.evaluation.suite import Assertion


def ok(a: Assertion, output: str, **kw) -> bool:
    return check(a, output, **kw).passed


def test_equals_is_normalised():
    a = Assertion(equals="Billing")
    assert ok(a, "  billing.\n") and ok(a, "BILLING!") and ok(a, "billing")
    assert not ok(a, "billing issue") and not ok(a, "bill ing")
    assert normalise("  Hello,   World?! ") == "hello, world"


def test_contains_and_not_contains_ignore_case():
    assert ok(Assertion(contains="Refund"), "we will refund you")
    assert not ok(Assertion(contains="refund"), "no money back")
    assert ok(Assertion(not_contains="sorry"), "Done.")
    r = check(Assertion(not_contains="sorry"), "SORRY, cannot")
    assert not r.passed and "contains 'sorry'" in r.detail


def test_regex_searches():
    assert ok(Assertion(regex=r"^\d{3}$"), "123")
    assert not ok(Assertion(regex=r"^\d{3}$"), "1234")


def test_one_of_takes_the_first_label_in_the_output():
    labels = ["billing", "account", "technical"]
    assert first_label("Technical, maybe billing", labels) == "technical"
    assert first_label("the accounts team", labels) is None  # whole words only
    a = Assertion(one_of=labels)
    assert ok(a, "Label: account") and not ok(a, "no idea")
    # with an expected value the first label must be it
    assert ok(a, "billing (not account)", expected="billing")
    r = check(a, "account, or billing", expected="billing")
    assert not r.passed and "label 'account'" in r.detail


def test_json_schema_subset():
    schema = {
        "type": "object",
        "properties": {
            "label": {"enum": ["a", "b"]},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["label"],
    }
    a = Assertion(json_schema=schema)
    assert ok(a, '{"label": "a", "tags": ["x"]}')
    assert ok(a, '```json\n{"label": "b"}\n```')
    assert not ok(a, '{"label": "c"}')
    assert not ok(a, '{"tags": [1]}')
    assert check(a, "label: a").detail == "output is not JSON"


def test_max_latency_and_max_tokens():
    assert ok(Assertion(max_latency_ms=500), "x", latency_ms=120)
    r = check(Assertion(max_latency_ms=500), "x", latency_ms=900)
    assert not r.passed and "900 ms > 500 ms" in r.detail
    # a cached response has no latency to judge
    assert ok(Assertion(max_latency_ms=1), "x", latency_ms=None, cached=True)
    assert ok(Assertion(max_tokens=5), "x", completion_tokens=5)
    assert not ok(Assertion(max_tokens=5), "x", completion_tokens=6)


def test_llm_rubric_is_not_decided_without_a_judge():
    with pytest.raises(ValueError):
        check(Assertion(llm_rubric="polite"), "x")


@pytest.mark.parametrize(
    "reply, verdict",
    [
        ('{"pass": true, "score": 0.9, "reason": "ok"}', (True, 0.9)),
        ('Sure! Here it is: {"pass": false, "score": 0.2}', (False, 0.2)),
        ('{"pass": "yes"}', (True, None)),
        ('{"score": 0.7}', (True, 0.7)),
        ('{"score": 7}', None),  # out of range: unreadable, not clamped
        ("Yes, the reply is polite.", (True, None)),
        ("No.", (False, None)),
        ("The the the the", None),
        ("", None),
    ],
)
def test_rubric_verdicts_are_read_leniently_but_never_invented(reply, verdict):
    assert parse_rubric_verdict(reply) == verdict
