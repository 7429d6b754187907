"""Validation of on-disk documents (prompt files, ptrain.yaml) against pydantic models.

Pydantic reports *where* in the data a value is wrong (a path of keys); the round-trip YAML node
knows on which *line* each key sits. ``validate_document`` joins the two so every error reads
``prompts/support/triage.yaml:7: temperature: must be between 0 and 2``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from ptrain.errors import ValidationError
from ptrain.storage.yamlio import line_of
from ptrain.suggest import did_you_mean

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Base for on-disk formats: unknown keys are errors, not silence."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class AtKey(ValueError):
    """A model validator's error that belongs to one key (``loc``) rather than the whole
    document, optionally at the first line of that value containing ``needle``: pydantic would
    place a model-level error on line 1."""

    def __init__(self, message: str, loc: tuple, needle: str | None = None):
        super().__init__(message)
        self.loc, self.needle = loc, needle


def _located_line(doc: Any, err: Mapping[str, Any]) -> int | None:
    exc = (err.get("ctx") or {}).get("error")
    if not isinstance(exc, AtKey):
        return None
    loc = (*err["loc"], *exc.loc)
    line = _line_for(doc, loc)
    value: Any = doc
    for key in loc:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return line
    block = type(value).__name__ in ("LiteralScalarString", "FoldedScalarString")
    if line and block and exc.needle and exc.needle in value:
        return line + 1 + value[: value.index(exc.needle)].count("\n")  # the block starts below
    return line


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


def _model_at(model: Any, loc: tuple) -> Any:
    """The pydantic model class that validates the value at ``loc`` (None when not a model)."""
    for key in loc:
        if isinstance(key, int):
            continue  # a list item: the element type is found with the next key
        field = getattr(model, "model_fields", {}).get(key)
        if field is None:
            return None
        model = _inner_model(field.annotation)
    return model if hasattr(model, "model_fields") else None


def _inner_model(tp: Any) -> Any:
    """The model inside ``X | None``, ``list[X]``, ``dict[str, X]`` (or ``tp`` itself)."""
    if hasattr(tp, "model_fields"):
        return tp
    for arg in get_args(tp):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _known_keys(model: Any, loc: tuple) -> list[str]:
    at = _model_at(model, loc) if model is not None else None
    return list(at.model_fields) if at is not None else []


def describe(
    err: Mapping[str, Any],
    noun: str = "key",
    leaf: bool = False,
    model: type[BaseModel] | None = None,
) -> str:
    """One pydantic error as a phrase: ``unknown key 'x'`` (with "did you mean 'y'?" when
    ``model`` knows a close key), ``missing required key 'x'`` or ``path: message``. ``leaf``
    names only the last key (when a file:line already points there)."""
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        key = str(err["loc"][-1])
        guess = did_you_mean(key, _known_keys(model, tuple(err["loc"][:-1])))
        return f"unknown {noun} '{key if leaf else loc}'" + (f"; {guess}" if guess else "")
    if err["type"] == "missing":
        return f"missing required {noun} '{loc}'"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


def first_error(
    exc: PydanticValidationError, noun: str = "key", model: type[BaseModel] | None = None
) -> str:
    """A validation error as one line: the first problem and how many more there are."""
    errors = exc.errors()
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return describe(errors[0], noun, model=model) + more


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
            line = _located_line(doc, err) or _line_for(
                doc, loc[:-1] if err["type"] == "missing" else loc
            )
            out.append(f"{source}:{line or 1}: {describe(err, leaf=True, model=model)}")
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
