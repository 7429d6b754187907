"""Edits that training makes to a prompt file.

They go through ``ptrain.prompts.rewrite_prompt_text``, so the comments, key order and ``|``
blocks of the person-written file survive: only the nodes that change are replaced. Every
edited text is re-validated before it becomes a candidate.
"""

from __future__ import annotations

from ptrain.prompts import PromptSpec, parse_prompt, rewrite_prompt_text
from ptrain.storage.yamlio import load_roundtrip


def instruction_of(spec: PromptSpec) -> str:
    """The text training rewrites: the first system message, else the single template."""
    if spec.messages is not None:
        for m in spec.messages:
            if m.role == "system":
                return m.content
        return spec.messages[0].content
    return spec.template or ""


def with_instruction(text: str, new_instruction: str, source: str = "candidate") -> str:
    spec = checked(text, source)
    if not new_instruction.endswith("\n") and "\n" in new_instruction:
        new_instruction += "\n"
    if spec.messages is None:
        return rewrite_prompt_text(text, {"template": new_instruction}, source)
    msgs = [m.model_dump() for m in spec.messages]
    idx = next((i for i, m in enumerate(msgs) if m["role"] == "system"), 0)
    msgs[idx]["content"] = new_instruction
    return rewrite_prompt_text(text, {"messages": msgs}, source)


def with_examples(text: str, examples: list[dict], source: str = "candidate") -> str:
    """Replace the few-shot examples (list of {inputs: {...}, output: str})."""
    items = [{"inputs": dict(ex["inputs"]), "output": str(ex["output"])} for ex in examples]
    return rewrite_prompt_text(text, {"examples": items}, source)


def checked(text: str, source: str = "candidate") -> PromptSpec:
    """Parse and validate a candidate's text (raises ValidationError if it is broken)."""
    return parse_prompt(load_roundtrip(text, source), source)
