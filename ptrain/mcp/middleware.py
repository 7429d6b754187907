"""``PromptTrainingMiddleware``: every call of a Python MCP server's tool or prompt becomes feedback.

Wrap FastMCP-style functions (``@mcp.tool()``, ``@mcp.prompt()``; sync or async) that use a
ptrain prompt::

    from mcp.server.fastmcp import FastMCP
    from ptrain.mcp import PromptTrainingMiddleware, current_call

    ptm = PromptTrainingMiddleware("path/to/prompt-repo", spool="/var/spool/ptrain")
    mcp = FastMCP("support")

    @mcp.tool()
    @ptm.track("support/triage", unit_id_arg="user_id")
    async def triage(message: str, user_id: str) -> str:
        call = current_call()                       # this call: prompt, run_id, tokens
        reply, usage = await my_llm(call.prompt.format_messages(message=message))
        call.add_tokens(usage.prompt_tokens, usage.completion_tokens)
        return reply

    mcp.tool()(ptm.rating_tool())                   # rate_call(run_id, rating, message)

Before each call the wrapper loads the deployed prompt with ``PromptRepo.get`` (one ref read;
with ``unit_id_arg``, the unit's sticky A/B variant), then runs the function and appends one
record to the feedback spool (or the repo's store when no spool is given):

* ``success`` with ``latency_ms``, the tokens the function reported, its inputs and (for tools)
  its output;
* ``error`` with ``error_type`` (the exception's class name), ``error_message`` and latency;
  the exception is re-raised unchanged, so the MCP server reports it as before.

Every record carries the served commit, version number, env, variant and a ``run_id``;
:meth:`PromptTrainingMiddleware.rate` attaches a user's rating to that call later. The wrapper
keeps the function's signature (``functools.wraps``), so FastMCP builds the same schema and
still injects its ``Context``. Writing feedback never breaks a call: a failed write is kept in
``write_errors`` and passed to ``on_write_error``. This module does not import the ``mcp`` SDK.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ptrain.errors import PtrainError
from ptrain.repo import PromptRepo, check_name

if TYPE_CHECKING:
    from ptrain.feedback import Record
    from ptrain.prompts import LoadedPrompt

F = TypeVar("F", bound=Callable[..., Any])
MAX_OUTPUT_CHARS = 20_000
MAX_RUNS = 10_000  # run ids remembered for rate(); the oldest are forgotten first
_current: contextvars.ContextVar[Call | None] = contextvars.ContextVar(
    "ptrain_mcp_call", default=None
)


class Call:
    """One wrapped call: the prompt it serves, its run id, and the tokens it reports."""

    __slots__ = ("prompt", "run_id", "prompt_tokens", "completion_tokens")

    def __init__(self, prompt: LoadedPrompt, run_id: str):
        self.prompt = prompt
        self.run_id = run_id
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None

    def add_tokens(self, prompt: int | None = None, completion: int | None = None) -> None:
        """Add a model call's token usage to this call's record (summed over calls)."""
        if prompt is not None:
            self.prompt_tokens = (self.prompt_tokens or 0) + int(prompt)
        if completion is not None:
            self.completion_tokens = (self.completion_tokens or 0) + int(completion)

    def messages(self, **variables: Any) -> list[dict[str, Any]]:
        """The prompt's messages as MCP prompt messages (what a FastMCP prompt returns)."""
        role = {"system": "user", "human": "user", "ai": "assistant"}
        return [
            {"role": role[r], "content": {"type": "text", "text": text}}
            for r, text in self.prompt.format_messages(**variables)
        ]


def current_call() -> Call:
    """The wrapped call running now (inside a function wrapped by ``track``)."""
    call = _current.get()
    if call is None:
        raise PtrainError(
            "current_call() is only available inside a function wrapped by "
            "PromptTrainingMiddleware.track",
            "decorate the function with @ptm.track('prompt/name')",
        )
    return call


class PromptTrainingMiddleware:
    """Record success/error, latency and tokens of wrapped MCP functions; ``rate`` them later.

    ``repo`` is a prompt repository (a path or a ``PromptRepo``; bare mirrors work); ``spool``
    the directory feedback goes to (default: the repository's own feedback store). Drain a
    spool with ``ptrain feedback import --spool DIR`` and ``ptrain feedback commit``.
    """

    def __init__(
        self,
        repo: str | os.PathLike | PromptRepo = ".",
        *,
        env: str | None = None,
        spool: str | os.PathLike | None = None,
        capture_inputs: bool = True,
        on_write_error: Callable[[Exception], None] | None = None,
    ):
        from ptrain.feedback import FeedbackWriter  # lazy: the store loads on first write

        self.repo = repo if isinstance(repo, PromptRepo) else PromptRepo(repo)
        self.env = self.repo.check_env(env)
        if spool is None and self.repo.git.bare:
            raise PtrainError(
                f"{self.repo.root} is a bare repository: feedback has no work tree to go to",
                "pass spool=DIR",
            )
        self.writer = FeedbackWriter(spool if spool is not None else self.repo.root)
        self.capture_inputs = capture_inputs
        self.on_write_error = on_write_error
        self.write_errors: list[Exception] = []
        self._runs: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()  # sync tools may run in worker threads

    # -- wrapping -------------------------------------------------------------------------
    def track(
        self, prompt: str, *, unit_id_arg: str | None = None, capture_output: bool = True
    ) -> Callable[[F], F]:
        """Decorator for a FastMCP tool or prompt function that uses ``prompt``.

        ``unit_id_arg`` names the function's argument holding a user/session id: that unit's
        sticky A/B variant is served and recorded. ``capture_output`` (on by default) stores
        the function's result (as text, clipped) on success records.
        """
        check_name(prompt)

        def decorate(fn: F) -> F:
            kind = "prompt" if getattr(fn, "__ptrain_mcp_kind__", None) == "prompt" else "tool"
            meta = {"mcp": {"function": fn.__name__, "kind": kind}}
            sig = inspect.signature(fn)

            def named(args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
                """Arguments by name (FastMCP passes keywords; a direct call may not)."""
                if not args:
                    return kwargs
                try:
                    return dict(sig.bind_partial(*args, **kwargs).arguments)
                except TypeError:
                    return kwargs  # the call itself will fail, and be recorded

            if inspect.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    kw = named(args, kwargs)
                    call, token, start = self._begin(prompt, unit_id_arg, kw, meta)
                    try:
                        result = await fn(*args, **kwargs)
                    except Exception as exc:
                        self._failed(call, exc, start, kw, meta)
                        raise
                    finally:
                        _current.reset(token)
                    self._succeeded(call, result, start, kw, meta, capture_output)
                    return result

                return async_wrapper  # type: ignore[return-value]

            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                kw = named(args, kwargs)
                call, token, start = self._begin(prompt, unit_id_arg, kw, meta)
                try:
                    result = fn(*args, **kwargs)
                except Exception as exc:
                    self._failed(call, exc, start, kw, meta)
                    raise
                finally:
                    _current.reset(token)
                self._succeeded(call, result, start, kw, meta, capture_output)
                return result

            return wrapper  # type: ignore[return-value]

        return decorate

    def tool(self, prompt: str, **kw: Any) -> Callable[[F], F]:
        """``track`` for a tool function (the same; named for readability)."""
        return self.track(prompt, **kw)

    def prompt(self, prompt: str, *, unit_id_arg: str | None = None) -> Callable[[F], F]:
        """``track`` for a FastMCP prompt function: its rendered messages are not stored."""

        def decorate(fn: F) -> F:
            fn.__ptrain_mcp_kind__ = "prompt"  # type: ignore[attr-defined]
            return self.track(prompt, unit_id_arg=unit_id_arg, capture_output=False)(fn)

        return decorate

    # -- the records ----------------------------------------------------------------------
    def _begin(
        self, name: str, unit_arg: str | None, kwargs: dict[str, Any], meta: dict[str, Any]
    ) -> tuple[Call, contextvars.Token, float]:
        start = time.perf_counter()
        unit = kwargs.get(unit_arg) if unit_arg else None
        try:
            with self._lock:
                loaded = self.repo.get(name, self.env, unit_id=str(unit) if unit else None)
        except Exception as exc:  # not deployed, missing object: recorded, then raised
            self._write(
                {"prompt": name, "env": self.env, "run_id": uuid.uuid4().hex, "metadata": meta},
                _error_fields(exc, start),
            )
            raise
        call = Call(loaded, uuid.uuid4().hex)
        return call, _current.set(call), start

    def _base(self, call: Call, meta: dict[str, Any]) -> dict[str, Any]:
        p = call.prompt
        base = {
            "prompt": p.name,
            "version": p.commit,
            "version_number": p.version,
            "env": p.env or self.env,
            "variant": p.variant,
            "run_id": call.run_id,
            "metadata": meta,
        }
        with self._lock:
            self._runs[call.run_id] = base
            while len(self._runs) > MAX_RUNS:
                self._runs.popitem(last=False)
        return base

    def _succeeded(
        self,
        call: Call,
        result: Any,
        start: float,
        kwargs: dict[str, Any],
        meta: dict[str, Any],
        capture_output: bool,
    ) -> None:
        fields = {
            "kind": "success",
            "latency_ms": _ms(start),
            "prompt_tokens": call.prompt_tokens,
            "completion_tokens": call.completion_tokens,
            "inputs": self._inputs(kwargs),
            "output": _output_text(result) if capture_output else None,
        }
        self._write(self._base(call, meta), fields)

    def _failed(
        self, call: Call, exc: Exception, start: float, kwargs: dict[str, Any], meta: dict
    ) -> None:
        fields = {
            **_error_fields(exc, start),
            "prompt_tokens": call.prompt_tokens,
            "completion_tokens": call.completion_tokens,
            "inputs": self._inputs(kwargs),
        }
        self._write(self._base(call, meta), fields)

    def _inputs(self, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        if not self.capture_inputs:
            return None
        plain = {k: v for k, v in kwargs.items() if _is_plain(v)}  # not FastMCP's Context
        return plain or None

    def _write(self, base: dict[str, Any], fields: dict[str, Any]) -> Record | None:
        rec = {k: v for k, v in {**base, "source": "automated", **fields}.items() if v is not None}
        try:
            return self.writer.write([rec])[0]
        except Exception as exc:  # noqa: BLE001 - feedback must never break the call
            self.write_errors.append(exc)
            if self.on_write_error is not None:
                self.on_write_error(exc)
            return None

    # -- the user's verdict, later --------------------------------------------------------
    def rate(
        self,
        run_id: str,
        rating: float,
        *,
        message: str | None = None,
        suggestion: str | None = None,
    ) -> Record:
        """Attach a user's rating (0.0 bad .. 1.0 good) to an earlier call of this process."""
        with self._lock:
            base = self._runs.get(str(run_id))
        if base is None:
            raise PtrainError(
                f"no call with run id {str(run_id)[:64]!r} in this server",
                f"rate one of the last {MAX_RUNS} calls; use current_call().run_id",
            )
        rec = {**base, "kind": "rating", "source": "user", "rating": rating}
        for k, v in (("message", message), ("suggestion", suggestion)):
            if v is not None:
                rec[k] = v
        return self.writer.write([rec])[0]

    def rating_tool(self, name: str = "rate_call") -> Callable[..., str]:
        """A function to register as an MCP tool: ``mcp.tool()(ptm.rating_tool())``."""

        def rate_call(
            run_id: str, rating: float, message: str | None = None, suggestion: str | None = None
        ) -> str:
            """Rate an earlier call (by its run_id): 0.0 bad .. 1.0 good, with a comment."""
            rec = self.rate(run_id, rating, message=message, suggestion=suggestion)
            return f"recorded rating {rec.rating} for run {run_id} ({rec.prompt} {rec.version})"

        rate_call.__name__ = rate_call.__qualname__ = name
        return rate_call


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def _error_fields(exc: BaseException, start: float) -> dict[str, Any]:
    return {
        "kind": "error",
        "error_type": type(exc).__name__,
        "error_message": (str(exc) or type(exc).__name__)[:MAX_OUTPUT_CHARS],
        "latency_ms": _ms(start),
    }


def _is_plain(value: Any, depth: int = 0) -> bool:
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if depth < 4 and isinstance(value, list | tuple):
        return all(_is_plain(v, depth + 1) for v in value)
    if depth < 4 and isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v, depth + 1) for k, v in value.items())
    return False


def _output_text(result: Any) -> str | None:
    if result is None:
        return None
    text = result if isinstance(result, str) else _text_of(result)
    return text if len(text) <= MAX_OUTPUT_CHARS else text[:MAX_OUTPUT_CHARS] + " [truncated]"


def _text_of(result: Any) -> str:
    import json

    if _is_plain(result):
        return json.dumps(result, ensure_ascii=False)
    text = getattr(result, "text", None)
    return text if isinstance(text, str) else str(result)
