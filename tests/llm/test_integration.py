"""The real embedded SmolLM2, offline and without a key, through ChatOpenAI — in this process
and in a separately started OpenAI-compatible server."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ptrain.config import ModelSettings
from ptrain.llm.client import LLM, real_calls

pytestmark = pytest.mark.integration

LOCAL = ModelSettings(provider="local", model="smollm2-135m", max_tokens=24)
QUESTION = [("system", "Answer in one short sentence."), ("user", "What is the capital of France?")]
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}
PERSON_PROMPT = [("user", "Bob is 30 years old. Return his name and age as JSON.")]


@pytest.fixture(scope="session")
def external_server(smollm2_path):
    """``python -m ptrain.llm.server`` in its own process; yields its /v1 base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ptrain.llm.server", str(smollm2_path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PTRAIN_LOCAL_PARALLEL": "1", "PTRAIN_LOCAL_CTX": "2048"},
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening http://127.0.0.1:"), line
        yield line.split()[1] + "/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_embedded_model_answers_through_chatopenai(smollm2_path):
    from langchain_openai import ChatOpenAI

    llm = LLM(LOCAL, cache_dir=None)
    done = llm.invoke(QUESTION)
    assert isinstance(llm.model, ChatOpenAI)
    assert llm.model.openai_api_base.startswith("http://127.0.0.1:")
    assert "Paris" in done.text
    assert done.prompt_tokens > 10 and 0 < done.completion_tokens <= 24  # usage from the server
    assert done.cost_usd == 0 and not done.cached


def test_embedded_model_is_deterministic_at_temperature_zero(smollm2_path):
    llm = LLM(LOCAL, cache_dir=None)
    prompt = [("user", "Write one sentence about the sea.")]
    assert llm.invoke(prompt).text == llm.invoke(prompt).text


def test_embedded_structured_output_follows_the_schema(smollm2_path):
    value, done = LLM(LOCAL, cache_dir=None).invoke_json(PERSON_PROMPT, PERSON, max_tokens=40)
    assert value == {"name": "Bob", "age": 30}
    assert done.attempts == 1  # constrained decoding: no repair round needed


def test_second_run_makes_zero_calls(smollm2_path, tmp_path):
    first = LLM(LOCAL, cache_dir=tmp_path)
    a = [first.invoke(QUESTION), first.invoke_json(PERSON_PROMPT, PERSON, max_tokens=40)[1]]
    assert first.calls_made == 2
    before = real_calls()
    second = LLM(LOCAL, cache_dir=tmp_path)
    b = [second.invoke(QUESTION), second.invoke_json(PERSON_PROMPT, PERSON, max_tokens=40)[1]]
    assert real_calls() == before and second.calls_made == 0
    assert [c.text for c in b] == [c.text for c in a] and all(c.cached for c in b)


def test_batch_uses_the_parallel_slots(smollm2_path):
    llm = LLM(LOCAL, cache_dir=None)
    prompts = [[("user", f"Say the number {i}.")] for i in range(4)]
    out = llm.batch(prompts, max_concurrency=2, max_tokens=8)
    assert all(not isinstance(c, Exception) and c.text for c in out)


def test_same_path_against_a_separately_started_server(external_server, tmp_path):
    settings = ModelSettings(
        provider="openai-compatible", model="smollm2", base_url=external_server, max_tokens=24
    )
    llm = LLM(settings, cache_dir=tmp_path)
    assert "Paris" in llm.invoke(QUESTION).text
    value, _ = llm.invoke_json(PERSON_PROMPT, PERSON, max_tokens=40)
    assert value == {"name": "Bob", "age": 30}
    before = real_calls()
    assert LLM(settings, cache_dir=tmp_path).invoke(QUESTION).cached
    assert real_calls() == before
