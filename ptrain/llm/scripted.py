"""The test seam: a real LangChain chat model that answers from Python instead of a network.

Other modules' tests fake the model ONLY through this seam::

    from ptrain.config import ModelSettings
    from ptrain.llm.client import LLM
    from ptrain.llm.scripted import register_scripted, ScriptedHTTPError

    # 1. a callable: sees the messages, returns the reply text
    register_scripted("echo", lambda msgs: msgs[-1].content.upper())
    # 2. a list of replies, used in order (the last one repeats); exceptions in it are raised,
    #    so ScriptedHTTPError(429) / (503) simulate a flaky endpoint and exercise retries
    register_scripted("flaky", [ScriptedHTTPError(503), '{"label": "billing"}'])
    # 3. a ScriptedChatModel you keep a handle on (``.calls`` records every request)
    judge = ScriptedChatModel(replies=['{"score": 0.9}'])
    register_scripted("judge", judge)

    llm = LLM(ModelSettings(provider="scripted", model="echo"), cache_dir=None)
    llm.invoke([("user", "hi")]).text  # "HI"

Replies are plain text; for structured output return JSON text (``LLM.invoke_json`` and
``with_structured_output`` parse it). Token usage is reported in ``usage_metadata`` from an
offline count of the text, so budgets and spend reports behave as with a real model.
Use ``scripted_models({...})`` as a context manager (or ``clear_scripted()`` in a fixture) to
keep the registry clean between tests.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from pydantic import ConfigDict, Field, PrivateAttr

from ptrain.errors import ModelError
from ptrain.llm.jsonout import extract_json
from ptrain.llm.tokens import count_messages, count_text

Responder = Callable[[list[BaseMessage]], str]


class ScriptedHTTPError(Exception):
    """Raise (or put in ``replies``) to simulate an HTTP failure; 429 and 5xx are retried."""

    def __init__(self, status_code: int, message: str = ""):
        super().__init__(message or f"scripted HTTP {status_code}")
        self.status_code = status_code


class ScriptedChatModel(BaseChatModel):
    """Answers from ``responder(messages)`` or, in order, from ``replies``.

    ``responder`` may also take a second argument, the request's keyword parameters
    (``temperature``, ``max_tokens``, ``response_format``, ``seed``...), to vary its answer.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    responder: Callable[..., str] | None = None
    replies: list[Any] = Field(default_factory=list)
    model_name: str = "scripted"
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    call_kwargs: list[dict[str, Any]] = Field(default_factory=list)
    _index: int = PrivateAttr(default=0)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "ptrain-scripted"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def _next_reply(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        with self._lock:
            self.calls.append(list(messages))
            self.call_kwargs.append(dict(kwargs))
            if self.responder is None:
                if not self.replies:
                    raise ModelError(
                        f"scripted model {self.model_name!r} has no replies",
                        "give ScriptedChatModel a responder or a non-empty replies list",
                    )
                reply = self.replies[min(self._index, len(self.replies) - 1)]
                self._index += 1
        if self.responder is not None:
            reply = (
                self.responder(messages, kwargs)
                if _takes_two(self.responder)
                else self.responder(messages)
            )
        if isinstance(reply, BaseException):
            raise reply
        if not isinstance(reply, str):
            reply = json.dumps(reply)
        return reply

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = self._next_reply(messages, kwargs)
        if stop:
            for s in stop:
                if s in text:
                    text = text[: text.index(s)]
        max_tokens = kwargs.get("max_tokens")
        p, c = count_messages(messages), count_text(text)
        if max_tokens is not None:
            c = min(c, int(max_tokens))
        usage = {"input_tokens": p, "output_tokens": c, "total_tokens": p + c}
        message = AIMessage(
            content=text,
            usage_metadata=usage,
            response_metadata={"model_name": self.model_name, "finish_reason": "stop"},
        )
        return ChatResult(
            generations=[ChatGeneration(message=message)],
            llm_output={"model_name": self.model_name},
        )

    def with_structured_output(
        self, schema: Any, *, include_raw: bool = False, **kwargs: Any
    ) -> Runnable[Any, Any]:
        """Parse the reply text as JSON (a dict, or ``schema`` when it is a pydantic class)."""
        from langchain_core.runnables import RunnableLambda

        def parse(msg: AIMessage) -> Any:
            data = extract_json(str(msg.content))
            if isinstance(schema, type) and hasattr(schema, "model_validate"):
                return schema.model_validate(data)
            return data

        if include_raw:
            return self | RunnableLambda(
                lambda m: {"raw": m, "parsed": parse(m), "parsing_error": None}
            )
        return self | RunnableLambda(parse)


def _takes_two(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in positional)


_registry: dict[str, BaseChatModel] = {}
_registry_lock = threading.Lock()


def as_chat_model(model_or_callable: Any, name: str = "scripted") -> BaseChatModel:
    """A chat model from a BaseChatModel, a callable, a reply string, or a list of replies."""
    if isinstance(model_or_callable, BaseChatModel):
        return model_or_callable
    if callable(model_or_callable):
        return ScriptedChatModel(responder=model_or_callable, model_name=name)
    if isinstance(model_or_callable, str):
        return ScriptedChatModel(replies=[model_or_callable], model_name=name)
    if isinstance(model_or_callable, Sequence):
        return ScriptedChatModel(replies=list(model_or_callable), model_name=name)
    raise TypeError(f"cannot script a model from {type(model_or_callable).__name__}")


def register_scripted(name: str, model_or_callable: Any) -> BaseChatModel:
    """Make ``ModelSettings(provider="scripted", model=name)`` resolve to this model."""
    model = as_chat_model(model_or_callable, name)
    with _registry_lock:
        _registry[name] = model
    return model


def unregister_scripted(name: str) -> None:
    with _registry_lock:
        _registry.pop(name, None)


def clear_scripted() -> None:
    with _registry_lock:
        _registry.clear()


def get_scripted(name: str) -> BaseChatModel:
    with _registry_lock:
        model = _registry.get(name)
    if model is None:
        raise ModelError(
            f"no scripted model named {name!r} is registered",
            f"call ptrain.llm.scripted.register_scripted({name!r}, ...) before using it",
        )
    return model


@contextlib.contextmanager
def scripted_models(models: dict[str, Any]) -> Iterator[dict[str, BaseChatModel]]:
    """Register ``models`` for the duration of a ``with`` block."""
    made = {name: register_scripted(name, m) for name, m in models.items()}
    try:
        yield made
    finally:
        for name in models:
            unregister_scripted(name)
