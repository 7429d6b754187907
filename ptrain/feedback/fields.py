"""The rules of a feedback record's fields, in plain Python (no pydantic).

Both the pydantic model (``records.Record``) and the fast checker (``check``) call these, so the
two enforce one set of rules. Ids sort by creation time; timestamps are fixed-width UTC ISO-8601
strings (``2026-11-01T08:00:00.120Z``) so they compare as times and name the day directory of the
shard they live in.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

SCHEMA_VERSION = 1
KINDS = ("rating", "error", "success", "suggestion", "metric")
SOURCES = ("user", "automated")
TEXT_FIELDS = ("error_message", "output", "message", "suggestion")

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]*(/[a-z0-9][a-z0-9_\-]*)*$")  # = ptrain.repo names
DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ID_PATTERN = r"^[A-Za-z0-9_\-]{8,64}$"
TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")
SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
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
    if isinstance(value, str) and TS_RE.match(value):
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


def check_prompt(v: str) -> str:
    if not NAME_RE.match(v) or len(v) > 200:
        raise ValueError(
            f"{v[:60]!r} is not a prompt name (lowercase a-z0-9_- segments joined by /)"
        )
    return v


def normal_version(v: Any) -> str | None:
    """A commit sha, lowercased; None for none or empty."""
    if v is None or v == "":
        return None
    s = str(v).strip().lower()
    if not SHA_RE.match(s):
        raise ValueError(f"{str(v)[:50]!r} is not a commit sha (7-40 hex characters)")
    return s


def check_tag(v: str | None) -> str | None:
    if v is not None and not TAG_RE.match(v):
        raise ValueError(f"{v[:50]!r} is not a name (letters, digits, _ . : -; at most 64)")
    return v


def kind_problem(kind: str, get: Callable[[str], Any]) -> str | None:
    """What a record of ``kind`` is missing or carries wrongly (``get`` reads a field), or None."""
    if kind == "rating" and get("rating") is None:
        return "a 'rating' record needs rating (0.0-1.0)"
    if kind == "error":
        if not (get("error_type") or get("error_message")):
            return "an 'error' record needs error_type or error_message"
    elif get("error_type") is not None or get("error_message") is not None:
        return f"error_type/error_message belong on 'error' records, not {kind!r}"
    if kind == "suggestion" and not (get("suggestion") or "").strip():
        return "a 'suggestion' record needs suggestion text"
    if kind == "metric" and not (
        get("metrics")
        or get("latency_ms") is not None
        or get("prompt_tokens") is not None
        or get("completion_tokens") is not None
    ):
        return "a 'metric' record needs latency_ms, prompt/completion tokens or metrics"
    return None
