"""``LLM``: the client every other module calls to run a model.

One call goes: response cache (a hit returns at once, costs nothing) → budget reservation
(``BudgetExceeded`` before a call that could pass a limit) → rate limiter → the LangChain chat
model from ``ptrain.llm.chat`` → retries with exponential backoff on 429 / 5xx / connection
errors / timeouts (never on other 4xx) → usage from the response (or an offline token count) →
price → cache write → budget settlement.

Caching rule: a request is cached when it is reproducible, i.e. at temperature 0 or when a seed
is given; unseeded sampling is meant to vary and always calls the model. Temperature-0 requests
carry a fixed seed so that servers which sample anyway stay deterministic.

``calls_made`` (per client) and ``real_calls()`` (per process) count requests actually sent,
including failed attempts; a fully cached re-run leaves both unchanged.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ptrain.errors import ModelError, PtrainError
from ptrain.llm import pricing
from ptrain.llm.budget import Budget, Spend
from ptrain.llm.cache import ResponseCache, cacheable, key
from ptrain.llm.chat import chat_model
from ptrain.llm.jsonout import check_schema, extract_json
from ptrain.llm.ratelimit import inflight_for, limiter_for
from ptrain.llm.tokens import count_messages, count_text
from ptrain.llm.weights import cache_root, spec

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

    from ptrain.config import ModelSettings

SEED = 42
RETRY_STATUS = {408, 409, 429}
MAX_BACKOFF_S = 30.0

_counter_lock = threading.Lock()
_real_calls = 0


def default_cache_dir() -> Path:
    """Where response caches go unless a run chooses otherwise: ``<cache root>/responses``."""
    return cache_root() / "responses"


def real_calls() -> int:
    """Requests sent to any model by this process (cache hits excluded)."""
    return _real_calls


def _count_call() -> None:
    global _real_calls
    with _counter_lock:
        _real_calls += 1


@dataclass
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    cached: bool
    model: str
    cost_usd: float
    finish_reason: str | None = None
    attempts: int = 0  # requests sent for this completion (0 when cached)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class LLM:
    """A model with cache, budget, rate limit and retries. Thread-safe; share one per run.

    ``cache_dir=None`` disables the response cache. ``budget`` may be shared between clients
    (the task model and the judge of one training run draw from the same budget).
    """

    def __init__(
        self,
        settings: ModelSettings,
        *,
        cache_dir: Path | None = None,
        budget: Budget | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.settings = settings
        self.budget = budget
        self.cache = ResponseCache(cache_dir) if cache_dir is not None else None
        self.stats = Spend()  # this client's own spend, whatever the budget
        self.calls_made = 0
        self._sleep = sleep
        self._model: BaseChatModel | None = None
        self._model_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        endpoint = (settings.provider, settings.base_url, settings.model)
        self._limiter = limiter_for(endpoint, settings.requests_per_minute)
        self._inflight = inflight_for(endpoint, settings.concurrency)

    # -- the model -------------------------------------------------------------------------

    @property
    def model(self) -> BaseChatModel:
        """The LangChain chat model (built on first use; ``local`` starts the server here)."""
        with self._model_lock:
            if self._model is None:
                # Retries happen here, where they are counted and budgeted, not in the SDK.
                self._model = chat_model(self.settings, max_retries=0)
            return self._model

    def identity(self) -> dict[str, Any]:
        """What the cache key knows about the model (not the embedded server's random port)."""
        ident: dict[str, str | None] = {
            "provider": self.settings.provider,
            "model": self.settings.model,
        }
        if self.settings.provider == "local":
            ident["weights"] = spec(self.settings.model).files[0].sha256
        else:
            ident["base_url"] = self.settings.base_url
        return ident

    # -- calls -----------------------------------------------------------------------------

    def invoke(
        self,
        messages: Sequence[Any],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        json_schema: dict | None = None,
        seed: int | None = None,
        stop: list[str] | None = None,
    ) -> Completion:
        """One chat completion. ``messages``: BaseMessages or ``(role, content)`` tuples."""
        msgs = _to_messages(messages)
        temp = self.settings.temperature if temperature is None else temperature
        max_tok = self.settings.max_tokens if max_tokens is None else max_tokens
        if seed is None and temp == 0:
            seed = SEED
        params: dict[str, Any] = {"temperature": temp, "max_tokens": max_tok}
        if seed is not None:
            params["seed"] = seed
        if stop:
            params["stop"] = list(stop)
        if json_schema is not None:
            params["response_format"] = _response_format(json_schema)

        k = None
        if self.cache is not None and cacheable(temp, seed):
            k = key(
                {
                    **self.identity(),
                    "messages": [[_role(m), _content(m)] for m in msgs],
                    "params": params,
                }
            )
            hit = self.cache.get(k)
            if hit is not None:
                return self._cache_hit(hit)

        prompt_est = count_messages(msgs)
        price = pricing.price(self.settings.provider, self.settings.model) or (0.0, 0.0)
        worst_cost = (prompt_est * price[0] + max_tok * price[1]) / 1_000_000
        held = self.budget.reserve(prompt_est + max_tok, worst_cost) if self.budget else None
        actual = None
        try:
            t0 = time.perf_counter()
            reply, attempts = self._call_with_retries(msgs, params)
            latency = (time.perf_counter() - t0) * 1000
            text = _text(reply)
            usage = getattr(reply, "usage_metadata", None) or {}
            p_tok = int(usage.get("input_tokens") or prompt_est)
            c_tok = int(usage.get("output_tokens") or count_text(text))
            cost = pricing.cost(self.settings.provider, self.settings.model, p_tok, c_tok)
            actual = Spend(calls=1, prompt_tokens=p_tok, completion_tokens=c_tok, dollars=cost)
        finally:
            if held is not None and self.budget is not None:
                self.budget.settle(held, actual)
        meta = getattr(reply, "response_metadata", None) or {}
        done = Completion(
            text=text,
            prompt_tokens=p_tok,
            completion_tokens=c_tok,
            latency_ms=latency,
            cached=False,
            model=self.settings.model,
            cost_usd=cost,
            finish_reason=meta.get("finish_reason"),
            attempts=attempts,
        )
        with self._stats_lock:
            Budget._add(self.stats, actual, +1)
        if k is not None and self.cache is not None:
            self.cache.put(k, done.model, text, p_tok, c_tok)
        return done

    def invoke_json(
        self, messages: Sequence[Any], schema: dict, **kwargs: Any
    ) -> tuple[Any, Completion]:
        """Structured output: the schema goes to the server (constrained decoding where
        supported), the reply is parsed leniently (first JSON object) and validated; on failure
        the model is asked once more with the problem spelled out."""
        msgs = _to_messages(messages)
        comp = self.invoke(msgs, json_schema=schema, **kwargs)
        problem = _json_problem(comp.text, schema, extract_json, check_schema)
        if problem is None:
            return extract_json(comp.text), comp
        from langchain_core.messages import AIMessage, HumanMessage

        retry = [
            *msgs,
            AIMessage(content=comp.text),
            HumanMessage(
                content=f"That reply is not valid: {problem}. Reply with only a JSON object "
                f"matching this JSON schema:\n{json.dumps(schema)}"
            ),
        ]
        if comp.finish_reason == "length":
            base = kwargs.get("max_tokens") or self.settings.max_tokens
            kwargs = {**kwargs, "max_tokens": base * 2}
        comp2 = self.invoke(retry, json_schema=schema, **kwargs)
        problem = _json_problem(comp2.text, schema, extract_json, check_schema)
        if problem is not None:
            raise ModelError(
                f"{self.settings.model} did not return valid JSON twice: {problem}",
                "use a stronger model (models.task in ptrain.yaml) or simplify the schema",
            )
        return extract_json(comp2.text), comp2

    def batch(
        self,
        list_of_messages: Sequence[Sequence[Any]],
        *,
        max_concurrency: int | None = None,
        **kwargs: Any,
    ) -> list[Completion | Exception]:
        """``invoke`` over many requests in threads; failures come back in place, in order.

        ``max_concurrency`` defaults to the model's ``concurrency`` setting; whatever it is, the
        per-endpoint cap holds across every batch of the process.
        """
        if max_concurrency is None:
            max_concurrency = self.settings.concurrency

        def one(msgs: Sequence[Any]) -> Completion | Exception:
            try:
                return self.invoke(msgs, **kwargs)
            except Exception as e:  # returned to the caller, who decides per item
                return e

        if max_concurrency <= 1 or len(list_of_messages) <= 1:
            return [one(m) for m in list_of_messages]
        # Build the model (and start an embedded server) once, not in every worker.
        try:
            _ = self.model
        except PtrainError as e:
            return [e for _ in list_of_messages]
        with ThreadPoolExecutor(max_workers=max_concurrency) as pool:
            return list(pool.map(one, list_of_messages))

    # -- internals -------------------------------------------------------------------------

    def _cache_hit(self, hit: dict) -> Completion:
        if self.budget is not None:
            self.budget.record_cache_hit()
        with self._stats_lock:
            self.stats.cache_hits += 1
        return Completion(
            text=hit["text"],
            prompt_tokens=hit["prompt_tokens"],
            completion_tokens=hit["completion_tokens"],
            latency_ms=0.0,
            cached=True,
            model=hit["model"],
            cost_usd=0.0,
        )

    def _call_with_retries(self, msgs: list, params: dict) -> tuple[Any, int]:
        model = self.model
        attempt = 0
        while True:
            self._limiter.acquire()
            with self._stats_lock:
                self.calls_made += 1
            _count_call()
            try:
                with self._inflight:
                    return model.invoke(msgs, **params), attempt + 1
            except PtrainError:
                raise
            except Exception as e:
                if not _retryable(e) or attempt >= self.settings.max_retries:
                    raise self._translate(e, attempt + 1) from e
                self._sleep(_backoff(attempt, e))
                attempt += 1

    def _translate(self, e: Exception, attempts: int) -> ModelError:
        s = self.settings
        where = s.base_url or ("the embedded model" if s.provider == "local" else s.provider)
        status = _status(e)
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        if status in (401, 403):
            return ModelError(
                f"{where} rejected the API key in {s.api_key_env} ({status})",
                f"check {s.api_key_env}, or use the offline model: "
                "PTRAIN_TASK_MODEL=local:smollm2-135m",
            )
        if status == 404:
            return ModelError(
                f"{where} has no model {s.model!r} (404)",
                "check the model name in ptrain.yaml (models.task / training.model)",
            )
        if status == 429:
            return ModelError(
                f"{where} kept rate-limiting {s.model}{tried}",
                "set requests_per_minute for this model in ptrain.yaml, or retry later",
            )
        if status is not None and status >= 500:
            return ModelError(
                f"{where} failed with HTTP {status}{tried}: {_short(e)}",
                "retry later; cached responses are kept",
            )
        if _is_connection_error(e):
            return ModelError(
                f"cannot reach {where} for {s.model}{tried}: {_short(e)}",
                "start the server or fix base_url in ptrain.yaml (or PTRAIN_TASK_BASE_URL / "
                "PTRAIN_OPTIMIZER_BASE_URL)",
            )
        return ModelError(f"{s.provider} model {s.model} failed: {_short(e)}", None)


def _json_problem(
    text: str,
    schema: dict[str, Any],
    extract_json: Callable[[str], Any],
    check_schema: Callable[[Any, dict[str, Any]], list[str]],
) -> str | None:
    try:
        value = extract_json(text)
    except ValueError:
        return "it contains no JSON object"
    problems = check_schema(value, schema)
    return "; ".join(problems[:3]) if problems else None


def _response_format(schema: dict) -> dict:
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in schema.get("title", "output"))
    return {"type": "json_schema", "json_schema": {"name": name[:64] or "output", "schema": schema}}


def _to_messages(messages: Sequence[Any]) -> list[BaseMessage]:
    from langchain_core.messages import convert_to_messages

    return convert_to_messages(list(messages))


def _role(m: Any) -> str:
    return {"human": "user", "ai": "assistant"}.get(m.type, m.type)


def _content(m: Any) -> Any:
    return m.content


def _text(reply: Any) -> str:
    content = getattr(reply, "content", reply)
    if isinstance(content, list):  # content blocks
        return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return str(content)


def _status(e: Exception) -> int | None:
    code = getattr(e, "status_code", None)
    return code if isinstance(code, int) else None


def _is_connection_error(e: Exception) -> bool:
    if isinstance(e, ConnectionError | TimeoutError):
        return True
    try:
        import openai

        if isinstance(e, openai.APIConnectionError):  # includes APITimeoutError
            return True
    except ImportError:  # pragma: no cover
        pass
    try:
        import httpx

        return isinstance(e, httpx.TransportError)
    except ImportError:  # pragma: no cover
        return False


def _retryable(e: Exception) -> bool:
    status = _status(e)
    if status is not None:
        return status in RETRY_STATUS or status >= 500
    return _is_connection_error(e)


def _backoff(attempt: int, e: Exception) -> float:
    headers = getattr(getattr(e, "response", None), "headers", None) or {}
    try:
        after = float(headers.get("retry-after", ""))
        return min(after, MAX_BACKOFF_S)
    except (TypeError, ValueError):
        pass
    return min(MAX_BACKOFF_S, 0.5 * 2**attempt) * random.uniform(0.75, 1.25)


def _short(e: Exception) -> str:
    msg = " ".join(str(e).split())
    return msg[:160] or type(e).__name__
