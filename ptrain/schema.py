"""Validation of on-disk documents (prompt files, ptrain.yaml) against pydantic models.

Pydantic reports *where* in the data a value is wrong (a path of keys); the round-trip YAML node
knows on which *line* each key sits. ``validate_document`` joins the two so every error reads
``prompts/support/triage.yaml:7: temperature: must be between 0 and 2``.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from ptrain.errors import ValidationError
from ptrain.storage.yamlio import line_of

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Base for on-disk formats: unknown keys are errors, not silence."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _line_for(doc: Any, loc: tuple) -> int | None:
    node, line = doc, line_of(doc)
    for key in loc:
        try:
            found = line_of(node, key)
            node = node[key]
        except (KeyError, IndexError, TypeError):
            break
        line = found or line
    return line


def describe(err: dict, noun: str = "key", leaf: bool = False) -> str:
    """One pydantic error as a phrase: ``unknown key 'x'``, ``missing required key 'x'`` or
    ``path: message``. ``leaf`` names only the last key (when a file:line already points there)."""
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"unknown {noun} '{err['loc'][-1] if leaf else loc}'"
    if err["type"] == "missing":
        return f"missing required {noun} '{loc}'"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


def first_error(exc: PydanticValidationError, noun: str = "key") -> str:
    """A validation error as one line: the first problem and how many more there are."""
    errors = exc.errors()
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return describe(errors[0], noun) + more


def errors_of(model: type[M], doc: Any, source: str) -> list[str]:
    """All problems of ``doc`` as ``source:line: message`` strings (empty when valid)."""
    if not isinstance(doc, dict):
        return [f"{source}:1: expected a mapping of keys at the top level"]
    try:
        model.model_validate(_plain(doc))
        return []
    except PydanticValidationError as exc:
        out = []
        for err in exc.errors():
            loc = err["loc"]
            line = _line_for(doc, loc[:-1] if err["type"] == "missing" else loc)
            out.append(f"{source}:{line or 1}: {describe(err, leaf=True)}")
        return out


def validate_document(model: type[M], doc: Any, source: str, hint: str) -> M:
    problems = errors_of(model, doc, source)
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ValidationError(problems[0] + more, hint)
    return model.model_validate(_plain(doc))


def _plain(node: Any) -> Any:
    """Round-trip containers -> plain dict/list/str so pydantic sees ordinary values."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node
