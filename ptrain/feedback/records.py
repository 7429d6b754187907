"""The feedback record: one JSONL line, a pydantic model with ``extra="forbid"``.

The format is documented in ``docs/feedback-format.md``. Ids sort by creation time; timestamps
are fixed-width UTC ISO-8601 strings (``2026-11-01T08:00:00.120Z``) so they compare as times and
name the day directory of the shard they live in.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from ptrain.errors import ValidationError
from ptrain.schema import Strict, first_error
from ptrain.storage import jsonl

SCHEMA_VERSION = 1
KINDS = ("rating", "error", "success", "suggestion", "metric")
Kind = Literal["rating", "error", "success", "suggestion", "metric"]
TEXT_FIELDS = ("error_message", "output", "message", "suggestion")

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]*(/[a-z0-9][a-z0-9_\-]*)*$")  # = ptrain.repo names
DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")
_SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")
_TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
# Feedback about an LLM call older than this is a unit or clock mistake (0001-01-01, epoch 0).
MIN_TS = "2000-01-01T00:00:00.000Z"
_FUTURE_S = 86400  # more than a day ahead: a clock or unit mistake
_LIMIT_DAY = [time.strftime("%Y-%m-%d", time.gmtime(time.time() + _FUTURE_S - 3600))]


_id_lock = threading.Lock()
_id_last = [0, 0]  # (ms, random part) of the last id this process made


def new_id(ms: int | None = None) -> str:
    """32 hex chars: 12 of millisecond time then 20 random, so ids sort by creation time.

    Within one process ids are strictly increasing (the random part counts up inside a
    millisecond, as in monotonic ULIDs), so records written together list in write order.
    """
    if ms is None:
        ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big") >> 1
    with _id_lock:
        if ms <= _id_last[0]:
            ms, rand = _id_last[0], _id_last[1] + 1
        _id_last[0], _id_last[1] = ms, rand
    return f"{ms:012x}{rand:020x}"


def format_ts(dt: datetime) -> str:
    """UTC ISO-8601 with milliseconds and ``Z``: fixed width, so strings compare as times."""
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return f"{dt.year:04d}" + dt.strftime("-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


_sec_cache: list[Any] = [None, ""]


def now_ts() -> str:
    ns = time.time_ns()
    sec, ms = divmod(ns // 1_000_000, 1000)
    if _sec_cache[0] != sec:  # strftime once per second, not once per record
        _sec_cache[0], _sec_cache[1] = sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return f"{_sec_cache[1]}.{ms:03d}Z"


def future_limit() -> str:
    return format_ts(datetime.fromtimestamp(time.time() + _FUTURE_S, UTC))


def parse_ts(value: str | datetime) -> str:
    """Normalise an ISO-8601 time (naive = UTC) to the stored form; ValueError if invalid."""
    if isinstance(value, datetime):
        return format_ts(value)
    if isinstance(value, str) and _TS_RE.match(value):
        datetime.fromisoformat(value)  # still reject 2026-13-45
        return value
    try:
        return format_ts(datetime.fromisoformat(str(value).strip()))
    except (ValueError, OverflowError):
        raise ValueError(f"not an ISO-8601 time: {str(value)[:40]!r}") from None


def check_ts_range(ts: str) -> str:
    """Refuse times before 2000 or more than a day ahead: they land in day directories no
    summary, list or training run would ever look at."""
    if ts < MIN_TS:
        raise ValueError(f"{ts} is before 2000-01-01 (a unit or clock mistake?)")
    if ts[:10] >= _LIMIT_DAY[0] and ts > future_limit():
        raise ValueError(f"{ts} is more than a day in the future")
    return ts


class Record(Strict):
    """One feedback record (one JSONL line). See docs/feedback-format.md."""

    schema_version: Literal[1] = 1
    id: str = Field(default_factory=new_id, pattern=r"^[A-Za-z0-9_\-]{8,64}$")
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
        if not NAME_RE.match(v) or len(v) > 200:
            raise ValueError(
                f"{v[:60]!r} is not a prompt name (lowercase a-z0-9_- segments joined by /)"
            )
        return v

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, v: Any) -> Any:
        if v is None or v == "":
            return None
        s = str(v).strip().lower()
        if not _SHA_RE.match(s):
            raise ValueError(f"{str(v)[:50]!r} is not a commit sha (7-40 hex characters)")
        return s

    @field_validator("env", "variant")
    @classmethod
    def _tag(cls, v: str | None) -> str | None:
        if v is not None and not _TAG_RE.match(v):
            raise ValueError(f"{v[:50]!r} is not a name (letters, digits, _ . : -; at most 64)")
        return v

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        for k, x in (v or {}).items():
            if not math.isfinite(x):
                raise ValueError(f"metric {k!r} must be a finite number")
        return v

    @model_validator(mode="after")
    def _kind_rules(self) -> Record:
        k = self.kind
        if k == "rating" and self.rating is None:
            raise ValueError("a 'rating' record needs rating (0.0-1.0)")
        if k == "error":
            if not (self.error_type or self.error_message):
                raise ValueError("an 'error' record needs error_type or error_message")
        elif self.error_type is not None or self.error_message is not None:
            raise ValueError(f"error_type/error_message belong on 'error' records, not {k!r}")
        if k == "suggestion" and not (self.suggestion or "").strip():
            raise ValueError("a 'suggestion' record needs suggestion text")
        if k == "metric" and not (
            self.metrics
            or self.latency_ms is not None
            or self.prompt_tokens is not None
            or self.completion_tokens is not None
        ):
            raise ValueError(
                "a 'metric' record needs latency_ms, prompt/completion tokens or metrics"
            )
        return self

    @property
    def day(self) -> str:
        return self.ts[:10]

    def to_line(self) -> bytes:
        return jsonl.dumps(self.model_dump(exclude_none=True)) + b"\n"


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
