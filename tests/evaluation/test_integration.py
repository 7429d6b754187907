"""A small suite on the real embedded SmolLM2 (provider local), offline and without a key."""

from __future__ import annotations

import pytest

from ptrain.config import ModelSettings
from ptrain.evaluation import ResultStore, evaluate
from ptrain.evaluation.suite import parse_suite_text
from ptrain.llm import weights
from ptrain.llm.client import LLM, real_calls
from ptrain.prompts import LoadedPrompt, PromptSpec

from .conftest import MODEL_CACHE

pytestmark = pytest.mark.integration

SUITE = """\
schema_version: 1
prompt: geo/capital
defaults:
  - max_tokens: 16
cases:
  - {id: france, vars: {country: France}, assert: [{contains: Paris}]}
  - {id: japan, vars: {country: Japan}, assert: [{contains: Tokyo}]}
  - {id: italy, vars: {country: Italy}, assert: [{contains: Rome}]}
  - {id: no-email, vars: {country: Spain}, assert: [{not_contains: "@"}, {regex: "\\\\w"}]}
"""


@pytest.fixture(scope="module")
def smollm2():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PTRAIN_CACHE_DIR", MODEL_CACHE)
        weights.pull("smollm2-135m")


def test_small_suite_on_the_embedded_model(smollm2, tmp_path):
    spec = PromptSpec(
        input_variables=["country"],
        messages=[
            {"role": "system", "content": "Answer in one short sentence."},
            {"role": "human", "content": "What is the capital of {country}?"},
        ],
        model={"temperature": 0.0, "max_tokens": 16},
    )
    prompt = LoadedPrompt("geo/capital", spec, "", None)
    cases = parse_suite_text(SUITE, "evals/geo/capital.yaml", "geo/capital").test_cases()
    settings = ModelSettings(provider="local", model="smollm2-135m", max_tokens=16)
    llm = LLM(settings, cache_dir=tmp_path / "cache")
    judge = LLM(settings, cache_dir=tmp_path / "cache")
    store = ResultStore(tmp_path / "evals")

    res = evaluate(prompt, cases, llm=llm, judge=judge, runs=2, metrics=["coherence"], store=store)
    assert res.spend["model_calls"] == 4  # temperature 0: one call per case
    france = res.cases[0]
    assert "Paris" in france.output and france.passed
    assert all(c.runs[0].error is None and c.runs[0].output.strip() for c in res.cases)
    assert res.metrics["success_rate"] >= 0.5
    assert res.metrics["latency_p50_ms"] > 0 and res.metrics["tokens_per_call"] > 10
    assert res.metrics["safety_checks"] == 1.0
    # the tiny judge may or may not give readable scores; it is never invented
    coherence = res.metrics["coherence"]
    assert (coherence is None and any("coherence" in n for n in res.notes)) or 0 <= coherence <= 1

    before = real_calls()
    again = evaluate(
        prompt, cases, llm=llm, judge=judge, runs=2, metrics=["coherence"], store=store
    )
    assert again.cached and real_calls() == before
