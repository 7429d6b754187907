"""Automatic feedback collection, the LangChain way: a callback handler.

Attach :class:`PtrainFeedbackCallback` to any runnable (a chain built from a loaded prompt, or a
chat model) and every *top-level* run it sees becomes one feedback record:

* ``success`` with ``latency_ms`` (wall time of the run) and the token usage summed over the
  model calls inside it (``usage_metadata`` on messages, else ``llm_output["token_usage"]``);
* ``error`` with the exception's type and message, and the latency until it failed.

Records carry ``run_id`` (LangChain's run id of the top-level run), so an app can attach the
user's verdict later: ``handler.rate(run_id, 0.9, message="helpful")``.

``root`` is a prompt repository or a spool directory (see ``ptrain.feedback``). In production,
point it at a spool directory that a job drains with ``ptrain feedback import --spool DIR``
followed by ``ptrain feedback commit``. Each record is one locked append of one line; a failure
to write feedback is reported through ``on_write_error`` and never breaks the app's call.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from ptrain.feedback import FeedbackWriter, Record, make_record


def _jsonable(value: Any, depth: int = 0) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if depth < 4 and isinstance(value, dict):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if depth < 4 and isinstance(value, list | tuple):
        return [_jsonable(v, depth + 1) for v in value]
    content = getattr(value, "content", None)  # a message
    return content if isinstance(content, str) else str(value)


def _usage(response: Any) -> tuple[int | None, int | None]:
    """(prompt, completion) tokens of an ``LLMResult``; message usage_metadata first."""
    pt = ct = None
    for gens in getattr(response, "generations", None) or []:
        for g in gens:
            um = getattr(getattr(g, "message", None), "usage_metadata", None)
            if um:
                pt = (pt or 0) + int(um.get("input_tokens") or 0)
                ct = (ct or 0) + int(um.get("output_tokens") or 0)
    if pt is None and ct is None:
        tu = (getattr(response, "llm_output", None) or {}).get("token_usage") or {}
        if tu:
            pt = tu.get("prompt_tokens")
            ct = tu.get("completion_tokens")
    return pt, ct


def _output_text(outputs: Any) -> str | None:
    if outputs is None:
        return None
    if isinstance(outputs, str):
        return outputs
    gens = getattr(outputs, "generations", None)
    if gens:
        return gens[0][0].text if gens[0] else None
    content = getattr(outputs, "content", None)
    if isinstance(content, str):
        return content
    if isinstance(outputs, dict) and len(outputs) == 1:
        return _output_text(next(iter(outputs.values())))
    return str(_jsonable(outputs))


class _Run:
    __slots__ = ("start", "root", "inputs", "pt", "ct")

    def __init__(self, root: UUID, inputs: dict | None):
        self.start = time.perf_counter()
        self.root = root
        self.inputs = inputs
        self.pt: int | None = None
        self.ct: int | None = None


class PtrainFeedbackCallback(BaseCallbackHandler):
    """Record success/error, latency and tokens of each top-level run; ``rate`` it later."""

    raise_error = False  # feedback must never break the app

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        prompt: str,
        version: str | None = None,
        version_number: int | None = None,
        env: str | None = None,
        variant: str | None = None,
        capture_inputs: bool = True,
        capture_output: bool = True,
        metadata: dict[str, Any] | None = None,
        on_write_error: Callable[[Exception], None] | None = None,
    ):
        self.writer = FeedbackWriter(root)
        self.base: dict[str, Any] = {
            "prompt": prompt,
            "version": version,
            "version_number": version_number,
            "env": env,
            "variant": variant,
            "metadata": metadata,
        }
        # fail at construction (ValidationError), not silently on every call later
        make_record({k: v for k, v in {**self.base, "kind": "success"}.items() if v is not None})
        self.capture_inputs = capture_inputs
        self.capture_output = capture_output
        self.on_write_error = on_write_error
        self.write_errors: list[Exception] = []
        self._runs: dict[UUID, _Run] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_prompt(cls, root: str | os.PathLike, loaded: Any, **kw: Any) -> PtrainFeedbackCallback:
        """Handler for a ``LoadedPrompt`` (from ``PromptRepo.get``): its name, commit, number, env."""
        kw.setdefault("env", getattr(loaded, "env", None))
        kw.setdefault("variant", getattr(loaded, "variant", None))
        return cls(
            root, prompt=loaded.name, version=loaded.commit, version_number=loaded.version, **kw
        )

    # -- run bookkeeping ----------------------------------------------------------------------

    def _start(self, run_id: UUID, parent_run_id: UUID | None, inputs: Any) -> None:
        with self._lock:
            parent = self._runs.get(parent_run_id) if parent_run_id else None
            root = parent.root if parent else run_id
            keep = (
                _jsonable(inputs)
                if (self.capture_inputs and parent is None and isinstance(inputs, dict))
                else None
            )
            self._runs[run_id] = _Run(root, keep)

    def _finish(self, run_id: UUID) -> _Run | None:
        """Pop a run; returns it only when it is a top-level run (the one to record)."""
        with self._lock:
            run = self._runs.pop(run_id, None)
            return run if run is not None and run.root == run_id else None

    def _write(self, fields: dict[str, Any]) -> None:
        rec = {k: v for k, v in {**self.base, **fields}.items() if v is not None}
        try:
            self.writer.write([rec])
        except Exception as exc:  # noqa: BLE001 - reported, never raised into the app
            self.write_errors.append(exc)
            if self.on_write_error is not None:
                self.on_write_error(exc)

    # -- LangChain hooks ------------------------------------------------------------------------

    def on_chain_start(
        self,
        serialized: Any,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kw: Any,
    ) -> None:
        self._start(run_id, parent_run_id, inputs)

    def on_llm_start(
        self,
        serialized: Any,
        prompts: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kw: Any,
    ) -> None:
        self._start(run_id, parent_run_id, None)

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kw: Any,
    ) -> None:
        self._start(run_id, parent_run_id, None)

    def on_llm_end(
        self, response: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any
    ) -> None:
        pt, ct = _usage(response)
        with self._lock:
            run = self._runs.get(run_id)
            root = self._runs.get(run.root) if run else None
            if root is not None and (pt is not None or ct is not None):
                root.pt = (root.pt or 0) + (pt or 0)
                root.ct = (root.ct or 0) + (ct or 0)
        self._end(run_id, response)

    def on_chain_end(
        self, outputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any
    ) -> None:
        self._end(run_id, outputs)

    def _end(self, run_id: UUID, outputs: Any) -> None:
        run = self._finish(run_id)
        if run is None:
            return
        self._write(
            {
                "kind": "success",
                "source": "automated",
                "run_id": str(run_id),
                "latency_ms": round((time.perf_counter() - run.start) * 1000, 3),
                "prompt_tokens": run.pt,
                "completion_tokens": run.ct,
                "inputs": run.inputs,
                "output": _output_text(outputs) if self.capture_output else None,
            }
        )

    def on_llm_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any
    ) -> None:
        self._error(run_id, error)

    def on_chain_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kw: Any
    ) -> None:
        self._error(run_id, error)

    def _error(self, run_id: UUID, error: BaseException) -> None:
        run = self._finish(run_id)
        if run is None:
            return
        self._write(
            {
                "kind": "error",
                "source": "automated",
                "run_id": str(run_id),
                "latency_ms": round((time.perf_counter() - run.start) * 1000, 3),
                "error_type": type(error).__name__,
                "error_message": str(error) or type(error).__name__,
                "prompt_tokens": run.pt,
                "completion_tokens": run.ct,
                "inputs": run.inputs,
            }
        )

    # -- the app's verdict, later ------------------------------------------------------------------

    def rate(
        self,
        run_id: UUID | str,
        rating: float,
        *,
        message: str | None = None,
        suggestion: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Record:
        """Attach a user rating (0.0-1.0) to an earlier run. Raises ValidationError if invalid."""
        rec = {k: v for k, v in self.base.items() if v is not None}
        rec.update(kind="rating", source="user", run_id=str(run_id), rating=rating)
        for k, v in (("message", message), ("suggestion", suggestion), ("metadata", metadata)):
            if v is not None:
                rec[k] = v
        return self.writer.write([rec])[0]
