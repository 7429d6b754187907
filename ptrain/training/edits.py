"""Edits that training makes to a prompt file, applied to the round-trip YAML.

Comments, key order and ``|`` blocks of the person-written file survive: only the nodes that
change are replaced. Every edited text is re-validated before it becomes a candidate.
"""

from __future__ import annotations

from ptrain.prompts import PromptSpec, parse_prompt
from ptrain.storage.yamlio import dump_roundtrip, literal, load_roundtrip


def instruction_of(spec: PromptSpec) -> str:
    """The text training rewrites: the first system message, else the single template."""
    if spec.messages is not None:
        for m in spec.messages:
            if m.role == "system":
                return m.content
        return spec.messages[0].content
    return spec.template or ""


def with_instruction(text: str, new_instruction: str, source: str = "candidate") -> str:
    doc = load_roundtrip(text, source)
    if doc.get("messages") is not None:
        msgs = doc["messages"]
        idx = next((i for i, m in enumerate(msgs) if m.get("role") == "system"), 0)
        msgs[idx]["content"] = literal(new_instruction)
    else:
        doc["template"] = literal(new_instruction)
    return dump_roundtrip(doc)


def with_examples(text: str, examples: list[dict], source: str = "candidate") -> str:
    """Replace the few-shot examples (list of {inputs: {...}, output: str})."""
    doc = load_roundtrip(text, source)
    items = [
        {"inputs": dict(ex["inputs"]), "output": literal(str(ex["output"]))} for ex in examples
    ]
    if "examples" in doc:
        doc["examples"] = items
    else:
        # keep `model:` last if present: insert examples before it
        keys = list(doc.keys())
        pos = keys.index("model") if "model" in keys else len(keys)
        doc.insert(pos, "examples", items)
    return dump_roundtrip(doc)


def checked(text: str, source: str = "candidate") -> PromptSpec:
    """Parse and validate a candidate's text (raises ValidationError if it is broken)."""
    return parse_prompt(load_roundtrip(text, source), source)
