"""Validate a feedback record without pydantic: the fast path of ``feedback add`` and of every
append (``record_feedback``, ``FeedbackWriter``).

``check(doc)`` returns the record as stored: a dict equal to
``Record.model_validate(doc).model_dump(exclude_none=True)``, keys in the model's field order.
It accepts only what it can prove valid with the same rules (``ptrain.feedback.fields``) and
plain JSON types. Anything else (a bad value, or a coercion such as ``"0.5"`` for a number) is
handed to the pydantic model, so a refusal reads exactly as the model words it and lax inputs
are converted as the model converts them; only that slow path imports pydantic.
``tests/feedback/test_check.py`` runs good and bad records through both and compares.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ptrain.errors import ValidationError
from ptrain.feedback import fields as f

_ID_RE = re.compile(f.ID_PATTERN.removeprefix("^").removesuffix("$"))
# Record's fields, in its order (test_check.py compares)
ORDER = ("schema_version", "id", "ts", "prompt", "version", "version_number", "env", "variant",
         "kind", "rating", "error_type", "error_message", "latency_ms", "prompt_tokens",
         "completion_tokens", "metrics", "inputs", "output", "message", "suggestion", "source",
         "run_id", "metadata")  # fmt: skip
NOT_AN_OBJECT = ("a feedback record must be a JSON object", "see docs/feedback-format.md")


class _Unsure(Exception):
    """The fast rules cannot accept this value; the pydantic model decides."""


def check(doc: Any, defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """``doc`` (``defaults`` fill missing keys) as the stored record; ValidationError if invalid."""
    if not isinstance(doc, dict):
        if hasattr(doc, "model_dump"):  # a Record: valid already, defaults applied by the model
            return _by_model(doc, defaults)
        raise ValidationError(*NOT_AN_OBJECT)
    if defaults:
        doc = {**{k: v for k, v in defaults.items() if v is not None}, **doc}
    try:
        return fast(doc)
    except _Unsure:
        return _by_model(doc, None)


def _by_model(doc: Any, defaults: dict[str, Any] | None) -> dict[str, Any]:
    from ptrain.feedback.records import (
        make_record,  # lazy: pydantic, only for what the fast check cannot prove
    )

    return make_record(doc, defaults).model_dump(exclude_none=True)


def _str(v: Any) -> str:
    if type(v) is not str:
        raise _Unsure
    return v


def _number(v: Any) -> float:
    if type(v) is not float and type(v) is not int:
        raise _Unsure
    try:
        x = float(v)
    except OverflowError:  # an int past float's range
        raise _Unsure from None
    if not math.isfinite(x):
        raise _Unsure
    return x


def _count(v: Any, low: int) -> int:
    if type(v) is not int or v < low:
        raise _Unsure
    return v


def _mapping(v: Any) -> dict[str, Any]:
    if type(v) is not dict or any(type(k) is not str for k in v):
        raise _Unsure
    return dict(v)


def _rating(v: Any) -> float:
    x = _number(v)
    if not 0.0 <= x <= 1.0:
        raise _Unsure
    return x


def _metrics(v: Any) -> dict[str, float]:
    return {k: _number(x) for k, x in _mapping(v).items()}


def _limited(n: int) -> Any:
    def check_len(v: Any) -> str:
        if len(_str(v)) > n:
            raise _Unsure
        return v

    return check_len


def _rule(fn: Any) -> Any:
    def apply(v: Any) -> Any:
        try:
            return fn(_str(v))
        except ValueError:
            raise _Unsure from None

    return apply


def _one_of(choices: tuple[str, ...]) -> Any:
    def pick(v: Any) -> str:
        if type(v) is not str or v not in choices:
            raise _Unsure
        return v

    return pick


def _exactly(value: int) -> Any:
    def same(v: Any) -> int:
        if type(v) is not int or v != value:
            raise _Unsure
        return v

    return same


def _id(v: Any) -> str:
    if not _ID_RE.fullmatch(_str(v)):
        raise _Unsure
    return v


def _ts(v: Any) -> str:
    try:
        return f.check_ts_range(f.parse_ts(v))
    except ValueError:
        raise _Unsure from None


def _version(v: Any) -> str | None:
    try:
        return f.normal_version(v)
    except ValueError:
        raise _Unsure from None


def _non_negative(v: Any) -> float:
    x = _number(v)
    if x < 0.0:
        raise _Unsure
    return x


# One check per field, giving the stored value (None: not stored, as the model's exclude_none).
_CHECKS: dict[str, Any] = {
    "schema_version": _exactly(f.SCHEMA_VERSION),
    "id": _id,
    "ts": _ts,
    "prompt": _rule(f.check_prompt),
    "version": _version,
    "version_number": lambda v: _count(v, 1),
    "env": _rule(f.check_tag),
    "variant": _rule(f.check_tag),
    "kind": _one_of(f.KINDS),
    "rating": _rating,
    "error_type": _limited(200),
    "error_message": _str,
    "latency_ms": _non_negative,
    "prompt_tokens": lambda v: _count(v, 0),
    "completion_tokens": lambda v: _count(v, 0),
    "metrics": _metrics,
    "inputs": _mapping,
    "output": _str,
    "message": _str,
    "suggestion": _str,
    "source": _one_of(f.SOURCES),
    "run_id": _limited(128),
    "metadata": _mapping,
}
# Fields the model refuses as null (required, or a default that is not None).
_NOT_NULL = frozenset({"schema_version", "id", "ts", "prompt", "kind", "source"})


def fast(doc: dict[str, Any]) -> dict[str, Any]:
    """The stored record if the fast rules prove ``doc`` valid; else raises ``_Unsure``."""
    vals: dict[str, Any] = {}
    for key, v in doc.items():
        fn = _CHECKS.get(key)
        if fn is None:
            raise _Unsure  # an unknown key: the model names it
        if v is None:
            if key in _NOT_NULL:
                raise _Unsure
            continue
        v = fn(v)
        if v is not None:
            vals[key] = v
    if "prompt" not in vals or "kind" not in vals or f.kind_problem(vals["kind"], vals.get):
        raise _Unsure
    if "schema_version" not in vals:
        vals["schema_version"] = f.SCHEMA_VERSION
    if "id" not in vals:
        vals["id"] = f.new_id()
    if "ts" not in vals:
        vals["ts"] = f.now_ts()
    if "source" not in vals:
        vals["source"] = "user"
    return {k: vals[k] for k in ORDER if k in vals}
