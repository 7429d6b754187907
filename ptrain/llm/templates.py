"""Conversion of ptrain prompts to LangChain prompt templates (imports langchain lazily).

It takes anything shaped like a :class:`ptrain.prompts.LoadedPrompt` (a ``spec`` with
``expanded_templates()``) rather than importing ``ptrain.prompts``, which calls this module from
``LoadedPrompt.to_langchain()``: the dependency points one way only, prompts -> llm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from langchain_core.prompts import ChatPromptTemplate


class _Spec(Protocol):
    def expanded_templates(self) -> list[tuple[str, str]]: ...


class TemplatedPrompt(Protocol):
    """What the conversion needs of a prompt: its messages as (role, template) pairs."""

    @property
    def spec(self) -> _Spec: ...


def to_chat_prompt_template(prompt: TemplatedPrompt) -> ChatPromptTemplate:
    from langchain_core.prompts import ChatPromptTemplate

    return ChatPromptTemplate.from_messages(
        prompt.spec.expanded_templates(), template_format="f-string"
    )
