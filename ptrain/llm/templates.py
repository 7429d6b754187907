"""Conversion of ptrain prompts to LangChain prompt templates (imports langchain lazily).

It takes anything shaped like a :class:`ptrain.prompts.LoadedPrompt` (a ``spec`` with
``expanded_templates()``) rather than importing ``ptrain.prompts``, which calls this module from
``LoadedPrompt.to_langchain()``: the dependency points one way only, prompts -> llm.

A prompt with ``example_selection`` becomes a ``FewShotChatMessagePromptTemplate`` whose example
selector is ptrain's (``ptrain.llm.select``), so a chain picks the same examples per call as
``LoadedPrompt.format_messages`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from ptrain.llm.select import SelectingSpec, nearest

if TYPE_CHECKING:
    from langchain_core.prompts import ChatPromptTemplate


class _Spec(SelectingSpec, Protocol):
    def chat_messages(self) -> list[tuple[str, str]]: ...

    def expanded_templates(self, examples: Any = None) -> list[tuple[str, str]]: ...


class TemplatedPrompt(Protocol):
    """What the conversion needs of a prompt: its messages as (role, template) pairs."""

    @property
    def spec(self) -> _Spec: ...


def to_chat_prompt_template(prompt: TemplatedPrompt) -> ChatPromptTemplate:
    from langchain_core.prompts import ChatPromptTemplate

    spec = prompt.spec
    if spec.example_selection is None:
        return ChatPromptTemplate.from_messages(
            spec.expanded_templates(), template_format="f-string"
        )
    return _selecting(spec)


def _selecting(spec: _Spec) -> ChatPromptTemplate:
    from langchain_core.example_selectors import BaseExampleSelector
    from langchain_core.prompts import ChatPromptTemplate, FewShotChatMessagePromptTemplate

    msgs = spec.chat_messages()
    human = next((t for r, t in reversed(msgs) if r == "human"), None)
    blanks = {v: "" for v in spec.input_variables}

    def shown(ex: Any) -> dict[str, str]:
        text = human.format_map({**blanks, **ex.inputs}) if human else "\n".join(ex.inputs.values())
        return {"ptrain_example_input": text, "ptrain_example_output": ex.output}

    class Selector(BaseExampleSelector):
        def add_example(self, example: dict[str, str]) -> Any:
            raise NotImplementedError("the pool is the prompt file's `examples`")

        def select_examples(self, input_variables: dict[str, str]) -> list[dict]:
            picked = nearest(
                spec.examples, spec.example_selection, spec.input_variables, input_variables
            )
            return [shown(ex) for ex in picked]

    shots = FewShotChatMessagePromptTemplate(
        example_selector=Selector(),
        input_variables=list(spec.input_variables),
        example_prompt=ChatPromptTemplate.from_messages(
            [("human", "{ptrain_example_input}"), ("ai", "{ptrain_example_output}")]
        ),
    )
    last_human = max((i for i, (r, _) in enumerate(msgs) if r == "human"), default=len(msgs))
    parts: list[Any] = [*msgs[:last_human], shots, *msgs[last_human:]]
    return ChatPromptTemplate.from_messages(parts, template_format="f-string")
