"""LLM client behaviour on the scripted seam and on a local flaky HTTP server (no model)."""

from __future__ import annotations

import threading

import pytest

from ptrain.config import ModelSettings
from ptrain.errors import BudgetExceeded, ModelError
from ptrain.llm.budget import Budget
from ptrain.llm.client import LLM, real_calls
from ptrain.llm.ratelimit import RateLimiter
from ptrain.llm.scripted import ScriptedChatModel, ScriptedHTTPError, register_scripted


def scripted(name: str, **kw) -> ModelSettings:
    return ModelSettings(provider="scripted", model=name, **kw)


def no_sleep(_s: float) -> None:
    pass


# -- cache ---------------------------------------------------------------------------------


def test_second_run_is_served_from_the_cache_and_makes_no_calls(tmp_path):
    model = register_scripted("echo", lambda msgs: f"echo: {msgs[-1].content}")
    first = LLM(scripted("echo"), cache_dir=tmp_path)
    a = first.invoke([("user", "hello")])
    assert (a.text, a.cached) == ("echo: hello", False)

    before = real_calls()
    second = LLM(scripted("echo"), cache_dir=tmp_path)  # a new run, same cache directory
    b = second.invoke([("user", "hello")])
    assert (b.text, b.cached, b.cost_usd, b.latency_ms) == ("echo: hello", True, 0.0, 0.0)
    assert (b.prompt_tokens, b.completion_tokens) == (a.prompt_tokens, a.completion_tokens)
    assert real_calls() == before and second.calls_made == 0
    assert len(model.calls) == 1
    assert second.stats.cache_hits == 1


@pytest.mark.parametrize(
    "change",
    [
        {"temperature": 0.0, "max_tokens": 99},
        {"temperature": 0.0, "json_schema": {"type": "object"}},
        {"temperature": 0.0, "seed": 7},
        {"temperature": 0.0, "stop": ["\n"]},
    ],
)
def test_any_parameter_change_misses_the_cache(tmp_path, change):
    model = register_scripted("echo", lambda msgs: "x")
    llm = LLM(scripted("echo"), cache_dir=tmp_path)
    llm.invoke([("user", "q")], temperature=0.0)
    llm.invoke([("user", "q")], **change)
    assert len(model.calls) == 2


def test_messages_model_and_provider_are_part_of_the_key(tmp_path):
    a = register_scripted("a", lambda msgs: "from a")
    register_scripted("b", lambda msgs: "from b")
    LLM(scripted("a"), cache_dir=tmp_path).invoke([("user", "q")])
    LLM(scripted("a"), cache_dir=tmp_path).invoke([("system", "s"), ("user", "q")])
    assert len(a.calls) == 2
    assert LLM(scripted("b"), cache_dir=tmp_path).invoke([("user", "q")]).text == "from b"


def test_unseeded_sampling_is_never_cached_but_seeded_sampling_is(tmp_path):
    model = register_scripted("s", lambda msgs: "sample")
    llm = LLM(scripted("s"), cache_dir=tmp_path)
    llm.invoke([("user", "q")], temperature=0.7)
    assert not llm.invoke([("user", "q")], temperature=0.7).cached
    llm.invoke([("user", "q")], temperature=0.7, seed=3)
    assert llm.invoke([("user", "q")], temperature=0.7, seed=3).cached
    assert len(model.calls) == 3


def test_cache_is_shared_by_concurrent_writers(tmp_path):
    register_scripted("echo", lambda msgs: msgs[-1].content)
    llm = LLM(scripted("echo"), cache_dir=tmp_path)
    llm.batch([[("user", f"q{i}")] for i in range(20)], max_concurrency=4)
    again = LLM(scripted("echo"), cache_dir=tmp_path)
    results = again.batch([[("user", f"q{i}")] for i in range(20)], max_concurrency=4)
    assert [r.text for r in results] == [f"q{i}" for i in range(20)]
    assert all(r.cached for r in results) and again.calls_made == 0


# -- retries -------------------------------------------------------------------------------


def test_retries_transient_errors_with_growing_backoff():
    register_scripted(
        "flaky", [ScriptedHTTPError(429), ScriptedHTTPError(503), ConnectionError("reset"), "ok"]
    )
    slept: list[float] = []
    llm = LLM(scripted("flaky", max_retries=3), cache_dir=None, sleep=slept.append)
    done = llm.invoke([("user", "q")])
    assert (done.text, done.attempts, llm.calls_made) == ("ok", 4, 4)
    assert len(slept) == 3 and slept[0] < slept[2]


def test_gives_up_after_max_retries_with_a_clear_error():
    register_scripted("down", [ScriptedHTTPError(503)])
    llm = LLM(scripted("down", max_retries=2), cache_dir=None, sleep=no_sleep)
    with pytest.raises(ModelError, match="HTTP 503 after 3 attempts"):
        llm.invoke([("user", "q")])
    assert llm.calls_made == 3


def test_client_errors_are_not_retried():
    register_scripted("bad", [ScriptedHTTPError(400, "bad request"), "never"])
    llm = LLM(scripted("bad", max_retries=5), cache_dir=None, sleep=no_sleep)
    with pytest.raises(ModelError, match="bad request"):
        llm.invoke([("user", "q")])
    assert llm.calls_made == 1


def test_retries_through_chatopenai_against_a_flaky_local_server(flaky_server):
    flaky_server.statuses = [503, 429]
    flaky_server.reply = "fine"
    settings = ModelSettings(
        provider="openai-compatible", model="m", base_url=flaky_server.url, max_retries=2
    )
    done = LLM(settings, cache_dir=None, sleep=no_sleep).invoke([("user", "q")], max_tokens=5)
    assert (done.text, done.attempts) == ("fine", 3)
    assert (done.prompt_tokens, done.completion_tokens) == (11, 2)  # usage from the response
    assert len(flaky_server.requests) == 3
    assert flaky_server.requests[0]["temperature"] == 0.0


def test_unauthorized_is_not_retried_and_names_the_key_variable(flaky_server):
    flaky_server.statuses = [401]
    settings = ModelSettings(
        provider="openai-compatible", model="m", base_url=flaky_server.url, api_key_env="MY_KEY"
    )
    with pytest.raises(ModelError, match="MY_KEY") as err:
        LLM(settings, cache_dir=None, sleep=no_sleep).invoke([("user", "q")])
    assert len(flaky_server.requests) == 1
    assert err.value.hint


def test_unreachable_base_url_is_a_clear_error():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = ModelSettings(
        provider="openai-compatible",
        model="m",
        base_url=f"http://127.0.0.1:{port}/v1",
        max_retries=1,
        timeout_s=5,
    )
    with pytest.raises(ModelError, match="cannot reach http://127.0.0.1") as err:
        LLM(settings, cache_dir=None, sleep=no_sleep).invoke([("user", "q")])
    assert "base_url" in err.value.hint


def test_missing_openai_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("PTRAIN_TEST_KEY", raising=False)
    llm = LLM(ModelSettings(provider="openai", model="gpt-4o-mini", api_key_env="PTRAIN_TEST_KEY"))
    with pytest.raises(ModelError, match="PTRAIN_TEST_KEY is not set") as err:
        llm.invoke([("user", "q")])
    assert "export PTRAIN_TEST_KEY" in err.value.hint


def test_openai_compatible_without_base_url_is_an_error():
    with pytest.raises(ModelError, match="needs a base_url"):
        LLM(ModelSettings(provider="openai-compatible", model="m")).invoke([("user", "q")])


def test_unregistered_scripted_model_is_an_error():
    with pytest.raises(ModelError, match="register_scripted"):
        LLM(scripted("nobody")).invoke([("user", "q")])


# -- budget --------------------------------------------------------------------------------


def test_call_budget_stops_before_the_call_and_reports_the_spend(tmp_path):
    model = register_scripted("m", lambda msgs: "answer")
    budget = Budget(calls=2)
    llm = LLM(scripted("m"), cache_dir=tmp_path, budget=budget)
    llm.invoke([("user", "1")])
    llm.invoke([("user", "2")])
    llm.invoke([("user", "1")])  # a cache hit is free
    with pytest.raises(BudgetExceeded, match="2 calls") as err:
        llm.invoke([("user", "3")])
    assert len(model.calls) == 2
    assert "budget" in err.value.hint
    spent = budget.spent
    assert (spent.calls, spent.cache_hits) == (2, 1)
    assert spent.tokens == spent.prompt_tokens + spent.completion_tokens > 0
    assert "2 calls" in str(spent)


def test_token_budget_counts_the_worst_case_of_the_next_call():
    register_scripted("m", lambda msgs: "short")
    budget = Budget(tokens=300)
    llm = LLM(scripted("m", max_tokens=100), cache_dir=None, budget=budget)
    llm.invoke([("user", "q")])  # reserves ~110, uses ~12
    llm.invoke([("user", "q")], temperature=0.5)
    with pytest.raises(BudgetExceeded, match="tokens"):
        llm.invoke([("user", "q")], max_tokens=280)
    assert budget.spent.calls == 2


def test_dollar_budget_uses_the_price_table():
    b = Budget(dollars=0.001)
    held = b.reserve(tokens=1000, dollars=0.0006)
    b.settle(held, None)  # the call never happened: nothing spent
    assert b.spent.dollars == 0
    b.reserve(tokens=1000, dollars=0.0006)
    with pytest.raises(BudgetExceeded, match=r"\$0.00"):
        b.reserve(tokens=1000, dollars=0.0006)  # in flight + next would pass the limit


def test_budget_is_never_overrun_by_concurrent_calls():
    admitted = threading.Barrier(3, timeout=5)  # the 3 admitted calls run at the same time

    def slow(msgs):
        admitted.wait()
        return "x"

    model = register_scripted("m", slow)
    budget = Budget(calls=3)
    llm = LLM(scripted("m"), cache_dir=None, budget=budget)
    results = llm.batch([[("user", str(i))] for i in range(8)], max_concurrency=4)
    assert sum(isinstance(r, BudgetExceeded) for r in results) == 5
    assert len(model.calls) == budget.spent.calls == 3


def test_failed_call_releases_its_reservation():
    register_scripted("m", [ScriptedHTTPError(400)])
    budget = Budget(calls=1)
    llm = LLM(scripted("m"), cache_dir=None, budget=budget)
    with pytest.raises(ModelError):
        llm.invoke([("user", "q")])
    assert budget.spent.calls == 0
    budget.reserve(tokens=1, dollars=0)  # the slot is free again


def test_openai_costs_are_priced():
    from ptrain.llm.pricing import cost, is_priced

    assert cost("openai", "gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert cost("openai", "gpt-4o-mini-2024-07-18", 1_000_000, 0) == pytest.approx(0.15)
    assert cost("local", "smollm2-135m", 10**6, 10**6) == 0
    assert not is_priced("openai-compatible", "llama3")


# -- rate limiter --------------------------------------------------------------------------


def test_rate_limiter_spaces_requests_evenly():
    now = [100.0]
    waits: list[float] = []

    def sleep(s):
        waits.append(s)
        now[0] += s

    lim = RateLimiter(120, clock=lambda: now[0], sleep=sleep)  # one every 0.5 s
    for _ in range(4):
        lim.acquire()
    assert waits == pytest.approx([0.5, 0.5, 0.5])
    now[0] += 10  # idle time does not accumulate into a burst
    lim.acquire()
    lim.acquire()
    assert waits[-1] == pytest.approx(0.5)


def test_requests_per_minute_is_applied_to_calls():
    import time

    register_scripted("m", lambda msgs: "x")
    llm = LLM(scripted("m", requests_per_minute=600), cache_dir=None)  # 0.1 s apart
    t0 = time.monotonic()
    for i in range(4):
        llm.invoke([("user", str(i))])
    assert time.monotonic() - t0 >= 0.29


# -- structured output ---------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "enum": ["billing", "tech"]},
        "score": {"type": "number"},
    },
    "required": ["label"],
}


def test_invoke_json_extracts_the_object_from_chatty_output():
    register_scripted("m", ['Sure! Here it is:\n```json\n{"label": "billing", "score": 1}\n```'])
    value, done = LLM(scripted("m")).invoke_json([("user", "q")], SCHEMA)
    assert value == {"label": "billing", "score": 1}
    assert done.attempts == 1


def test_invoke_json_retries_once_with_the_problem_spelled_out():
    model = ScriptedChatModel(replies=['{"label": "sales"}', '{"label": "tech"}'])
    register_scripted("m", model)
    value, _ = LLM(scripted("m")).invoke_json([("user", "q")], SCHEMA)
    assert value == {"label": "tech"}
    assert len(model.calls) == 2
    assert "not one of" in model.calls[1][-1].content
    assert model.call_kwargs[0]["response_format"]["json_schema"]["schema"] == SCHEMA


def test_invoke_json_gives_up_after_one_retry():
    register_scripted("m", ["no json here"])
    with pytest.raises(ModelError, match="did not return valid JSON"):
        LLM(scripted("m")).invoke_json([("user", "q")], SCHEMA)


# -- batch ---------------------------------------------------------------------------------


def test_batch_keeps_order_and_returns_errors_in_place():
    def answer(msgs):
        q = msgs[-1].content
        if q == "boom":
            raise ScriptedHTTPError(400, "no")
        return q.upper()

    register_scripted("m", answer)
    out = LLM(scripted("m"), cache_dir=None).batch(
        [[("user", "a")], [("user", "boom")], [("user", "c")]], max_concurrency=3
    )
    assert out[0].text == "A" and out[2].text == "C"
    assert isinstance(out[1], ModelError)


def test_concurrency_caps_requests_in_flight_across_batches(flaky_server):
    flaky_server.latency_s = 0.2
    settings = ModelSettings(
        provider="openai-compatible", model="m", base_url=flaky_server.url, concurrency=3
    )
    a, b = LLM(settings), LLM(settings)  # two clients of one endpoint share the cap
    out: list = []
    threads = [
        threading.Thread(
            target=lambda c=c: out.extend(
                c.batch([[("user", f"q{i}")] for i in range(9)], max_concurrency=8)
            )
        )
        for c in (a, b)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 18 and all(not isinstance(r, Exception) for r in out)
    assert 2 <= flaky_server.max_in_flight <= 3


def test_batch_defaults_to_the_models_concurrency(flaky_server):
    flaky_server.latency_s = 0.2
    settings = ModelSettings(
        provider="openai-compatible", model="m2", base_url=flaky_server.url, concurrency=5
    )
    LLM(settings).batch([[("user", f"q{i}")] for i in range(10)])
    assert flaky_server.max_in_flight == 5
