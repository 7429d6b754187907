"""The feedback record: one JSONL line, a pydantic model with ``extra="forbid"``.

The format is documented in ``docs/feedback-format.md``. Ids sort by creation time; timestamps
are fixed-width UTC ISO-8601 strings (``2026-11-01T08:00:00.120Z``) so they compare as times and
name the day directory of the shard they live in.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from ptrain.errors import ValidationError
from ptrain.feedback.fields import (  # noqa: F401  (re-exported: the names of the record format)
    DAY_RE,
    ID_PATTERN,
    KINDS,
    MIN_TS,
    NAME_RE,
    SCHEMA_VERSION,
    TEXT_FIELDS,
    check_prompt,
    check_tag,
    check_ts_range,
    format_ts,
    future_limit,
    kind_problem,
    new_id,
    normal_version,
    now_ts,
    parse_ts,
)
from ptrain.schema import Strict, first_error
from ptrain.storage import jsonl

Kind = Literal["rating", "error", "success", "suggestion", "metric"]


class Record(Strict):
    """One feedback record (one JSONL line). See docs/feedback-format.md."""

    schema_version: Literal[1] = 1
    id: str = Field(default_factory=new_id, pattern=ID_PATTERN)
    ts: str = Field(default_factory=now_ts)
    prompt: str
    version: str | None = None
    version_number: int | None = Field(None, ge=1)
    env: str | None = None
    variant: str | None = None
    kind: Kind
    rating: float | None = Field(None, ge=0.0, le=1.0, allow_inf_nan=False)
    error_type: str | None = Field(None, max_length=200)
    error_message: str | None = None
    latency_ms: float | None = Field(None, ge=0.0, allow_inf_nan=False)
    prompt_tokens: int | None = Field(None, ge=0)
    completion_tokens: int | None = Field(None, ge=0)
    metrics: dict[str, float] | None = None
    inputs: dict[str, Any] | None = None
    output: str | None = None
    message: str | None = None
    suggestion: str | None = None
    source: Literal["user", "automated"] = "user"
    run_id: str | None = Field(None, max_length=128)
    metadata: dict[str, Any] | None = None

    @field_validator("ts", mode="before")
    @classmethod
    def _ts(cls, v: Any) -> str:
        return check_ts_range(parse_ts(v))

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, v: str) -> str:
        return check_prompt(v)

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, v: Any) -> Any:
        return normal_version(v)

    @field_validator("env", "variant")
    @classmethod
    def _tag(cls, v: str | None) -> str | None:
        return check_tag(v)

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        for k, x in (v or {}).items():
            if not math.isfinite(x):
                raise ValueError(f"metric {k!r} must be a finite number")
        return v

    @model_validator(mode="after")
    def _kind_rules(self) -> Record:
        problem = kind_problem(self.kind, lambda name: getattr(self, name))
        if problem:
            raise ValueError(problem)
        return self

    @property
    def day(self) -> str:
        return self.ts[:10]

    def to_line(self) -> bytes:
        return jsonl.dumps(self.model_dump(exclude_none=True)) + b"\n"


_ALL_NONE = dict.fromkeys(Record.model_fields)


def from_stored(doc: dict[str, Any]) -> Record:
    """A ``Record`` of a dict that ``check`` already validated, without validating it again:
    what ``Record.model_construct(**doc)`` builds, in a tenth of its time (appends return one
    per record)."""
    rec = Record.__new__(Record)
    object.__setattr__(rec, "__dict__", {**_ALL_NONE, **doc})
    object.__setattr__(rec, "__pydantic_fields_set__", set(doc))
    object.__setattr__(rec, "__pydantic_extra__", None)
    object.__setattr__(rec, "__pydantic_private__", None)
    return rec


def reason(exc: PydanticValidationError) -> str:
    """A pydantic error as one line: ``rating: must be <= 1 (+1 more)``."""
    e = exc.errors()[0]
    if e["type"] == "literal_error" and tuple(e["loc"]) == ("schema_version",):
        more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        return f"schema_version {e.get('input')!r} is not supported; this ptrain reads {SCHEMA_VERSION}{more}"
    return first_error(exc, noun="field")


def make_record(data: Record | dict[str, Any], defaults: dict[str, Any] | None = None) -> Record:
    """Validate ``data`` (``defaults`` fill missing keys); ValidationError with a one-line reason."""
    if isinstance(data, Record) and not defaults:
        return data
    doc = data.model_dump(exclude_none=True) if isinstance(data, Record) else data
    if not isinstance(doc, dict):
        raise ValidationError(
            "a feedback record must be a JSON object", "see docs/feedback-format.md"
        )
    if defaults:
        doc = {**{k: v for k, v in defaults.items() if v is not None}, **doc}
    try:
        return Record.model_validate(doc)
    except PydanticValidationError as exc:
        raise ValidationError(
            f"invalid feedback record: {reason(exc)}", "see docs/feedback-format.md"
        ) from None
