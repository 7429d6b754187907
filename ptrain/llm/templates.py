"""Conversion of ptrain prompts to LangChain prompt templates (imports langchain lazily)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ptrain.prompts import LoadedPrompt


def to_chat_prompt_template(prompt: LoadedPrompt):
    from langchain_core.prompts import ChatPromptTemplate

    return ChatPromptTemplate.from_messages(
        prompt.spec.expanded_templates(), template_format="f-string"
    )
