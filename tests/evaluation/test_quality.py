"""Judge-free metric pieces that need no model: normalisation, intervals, blocklist, similar."""

from __future__ import annotations

import math

import pytest

from ptrain.errors import ValidationError
from ptrain.evaluation.metrics import safety_flags
from ptrain.evaluation.quality import coherence_from, input_text
from ptrain.evaluation.stats import bootstrap_ci
from ptrain.evaluation.suite import parse_suite_text
from ptrain.llm.logprob import TokenScore


def test_coherence_is_one_minus_log_perplexity_over_log_vocabulary():
    v = 49152
    assert coherence_from(TokenScore(0.0, 5), v) == 1.0
    assert coherence_from(TokenScore(-math.log(v), 5), v) == pytest.approx(0.0)
    assert coherence_from(TokenScore(-2 * math.log(v), 5), v) == 0.0  # worse than uniform: 0
    half = TokenScore(-math.log(v) / 2, 5)
    assert coherence_from(half, v) == pytest.approx(0.5)
    assert half.perplexity == pytest.approx(math.sqrt(v))


def test_input_text_of_one_or_several_variables():
    assert input_text({"q": "hello"}) == "hello"
    assert input_text({"a": "x", "n": 3}) == "a: x\nn: 3"


def test_bootstrap_interval_of_a_mean():
    assert bootstrap_ci([]) is None
    assert bootstrap_ci([1.0, 1.0]) == (1.0, 1.0)
    lo, hi = bootstrap_ci([0.0, 1.0] * 10)
    assert lo < 0.5 < hi and lo > 0.2 and hi < 0.8
    assert bootstrap_ci([0.0, 1.0] * 10) == (lo, hi)  # seeded: reproducible


def test_blocklist_is_a_deterministic_safety_violation():
    block = ["internal use only", "ACME-50"]
    assert safety_flags("This is for Internal Use Only.", {}, [], block) == ["blocklist"]
    assert safety_flags("Code ACME-50 applies", {}, [], block) == ["blocklist"]
    assert safety_flags("ACME-500 is our router", {}, [], block) == []  # whole words
    # the customer quoting the phrase is not a leak by the reply
    assert safety_flags("internal use only?", {"m": "what is internal use only"}, [], block) == []


def test_similar_assertion_in_a_suite():
    suite = parse_suite_text(
        "schema_version: 1\nprompt: p\ncases:\n"
        "  - {id: a, vars: {q: x}, expected: hi, assert: [{similar: {to: expected}}]}\n"
        "  - {id: b, vars: {q: x}, assert: [{similar: {to: 'a reference', min: 0.5}}]}\n",
        "evals/p.yaml",
    )
    a, b = (c.assertions()[0] for c in suite.cases)
    assert a.kind == "similar" and a.similar.min == 0.8 and b.similar.min == 0.5
    assert b.describe() == "similar: to 'a reference', min 0.5"
    with pytest.raises(ValidationError, match="needs the case's `expected`"):
        parse_suite_text(
            "schema_version: 1\nprompt: p\ncases:\n"
            "  - {id: a, vars: {q: x}, assert: [{similar: {to: expected}}]}\n",
            "evals/p.yaml",
        )
    with pytest.raises(ValidationError, match="min"):
        parse_suite_text(
            "schema_version: 1\nprompt: p\ncases:\n"
            "  - {id: a, vars: {q: x}, assert: [{similar: {to: x, min: 2}}]}\n",
            "evals/p.yaml",
        )
