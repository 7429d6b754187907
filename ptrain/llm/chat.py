"""The one place that builds chat models from ``ModelSettings``.

==================  =========================================================================
provider            what ``chat_model`` returns
==================  =========================================================================
openai              ``ChatOpenAI`` with the key from the variable named by ``api_key_env``
openai-compatible   ``ChatOpenAI(base_url=...)``; the key is optional (a dummy when unset)
local               the embedded llama.cpp server for ``model`` (weights verified, server
                    started on 127.0.0.1 on first use), reached through ``ChatOpenAI``
scripted            the model registered under ``model`` with ``ptrain.llm.scripted``
==================  =========================================================================

Most code should call ``ptrain.llm.client.LLM`` (cache, retries, budget) rather than this.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from ptrain.errors import ModelError
from ptrain.llm import server

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from ptrain.config import ModelSettings

LOCAL_DUMMY_KEY = "sk-no-key-needed"


def resolve_base_url(settings: ModelSettings) -> str | None:
    """The endpoint a provider talks to (starts the embedded server for ``local``)."""
    if settings.provider == "local":
        return server.base_url(settings.model)
    if settings.provider == "openai-compatible":
        if not settings.base_url:
            raise ModelError(
                f"provider openai-compatible needs a base_url for model {settings.model!r}",
                "set base_url in ptrain.yaml (e.g. http://127.0.0.1:11434/v1) or "
                "PTRAIN_TASK_BASE_URL",
            )
        return settings.base_url
    return settings.base_url


def api_key(settings: ModelSettings) -> str:
    key = os.environ.get(settings.api_key_env, "").strip()
    if settings.provider == "openai" and not key:
        raise ModelError(
            f"{settings.api_key_env} is not set (needed for provider openai, "
            f"model {settings.model})",
            f"export {settings.api_key_env}=sk-..., or use the offline model: "
            "PTRAIN_TASK_MODEL=local:smollm2-135m",
        )
    return key or LOCAL_DUMMY_KEY


def _is_loopback(url: str | None) -> bool:
    host = urlparse(url or "").hostname or ""
    return host in ("127.0.0.1", "localhost", "::1")


def chat_model(
    settings: ModelSettings, *, max_retries: int | None = None, **overrides: Any
) -> BaseChatModel:
    """A LangChain chat model for ``settings``. ``overrides`` go to ``ChatOpenAI`` as-is."""
    if settings.provider == "scripted":
        from ptrain.llm.scripted import get_scripted  # lazy: llm.scripted imports langchain_core

        return get_scripted(settings.model)
    if settings.provider not in ("openai", "openai-compatible", "local"):
        raise ModelError(
            f"unknown model provider {settings.provider!r}",
            "use local, openai, openai-compatible or scripted",
        )
    key = api_key(settings)
    base_url = resolve_base_url(settings)
    from langchain_openai import ChatOpenAI

    kwargs: dict[str, Any] = dict(
        model=settings.model,
        api_key=key,
        base_url=base_url,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        timeout=settings.timeout_s,
        max_retries=settings.max_retries if max_retries is None else max_retries,
    )
    if _is_loopback(base_url):
        import httpx

        # A machine-wide HTTP(S)_PROXY must not capture calls to 127.0.0.1.
        kwargs["http_client"] = httpx.Client(trust_env=False)
    kwargs.update(overrides)
    return ChatOpenAI(**kwargs)
