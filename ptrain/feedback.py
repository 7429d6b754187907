"""Feedback: records tied to prompt versions, stored as append-only JSONL shards in the repo.

Services here take explicit arguments (a repository root or spool directory, a prompt name, a
version sha...) and return data; they never print. The record format is documented in
``docs/feedback-format.md``; the shard layout and append protocol in ``ptrain.storage.jsonl``.

``root`` is either a prompt repository (it has ``ptrain.yaml``; shards live in its
``feedback_dir``) or a *spool directory* (anything else; shards live directly in it). Production
apps append to a spool; ``import_spool`` (``ptrain feedback import --spool DIR``) moves the
records into the repository and ``commit_feedback`` (``ptrain feedback commit``) commits them.

Summaries are computed from per-shard aggregates cached in ``<root>/.ptrain/cache/feedback/``,
keyed by (path, size, mtime, inode) and checked against a CRC of the bytes they cover: an
unchanged shard is never parsed again, a grown one only from its cached offset. Latency
percentiles come from mergeable log-spaced histograms (bucket ratio 1.04: a reported p50/p95 is
within 2% of the true sample quantile).
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import math
import os
import re
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from ptrain.errors import PtrainError, ValidationError
from ptrain.schema import Strict, first_error
from ptrain.storage import jsonl

SCHEMA_VERSION = 1
KINDS = ("rating", "error", "success", "suggestion", "metric")
Kind = Literal["rating", "error", "success", "suggestion", "metric"]
SUMMARY_BY = ("prompt", "version", "env", "variant")
COMPACTED_FILE = "_compacted.json"

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]*(/[a-z0-9][a-z0-9_\-]*)*$")  # = ptrain.repo names
_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")
_SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")
_LIMIT_DAY = [time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400 - 3600))]  # cheap pre-check
_TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


# -- the record ----------------------------------------------------------------------------------


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
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


_sec_cache: list = [None, ""]


def now_ts() -> str:
    ns = time.time_ns()
    sec, ms = divmod(ns // 1_000_000, 1000)
    if _sec_cache[0] != sec:  # strftime once per second, not once per record
        _sec_cache[0], _sec_cache[1] = sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return f"{_sec_cache[1]}.{ms:03d}Z"


def _future_limit() -> str:
    """Timestamps more than a day ahead are refused (a clock or unit mistake)."""
    return format_ts(datetime.fromtimestamp(time.time() + 86400, UTC))


def parse_ts(value: str | datetime) -> str:
    """Normalise an ISO-8601 time (naive = UTC) to the stored form; ValueError if invalid."""
    if isinstance(value, datetime):
        return format_ts(value)
    if isinstance(value, str) and _TS_RE.match(value):
        datetime.fromisoformat(value)  # still reject 2026-13-45
        return value
    try:
        return format_ts(datetime.fromisoformat(str(value).strip()))
    except ValueError:
        raise ValueError(f"not an ISO-8601 time: {str(value)[:40]!r}") from None


class Record(Strict):
    """One feedback record (one JSONL line). See docs/feedback-format.md."""

    schema_version: Literal[1] = SCHEMA_VERSION
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
        ts = parse_ts(v)
        if ts[:10] >= _LIMIT_DAY[0] and ts > _future_limit():
            raise ValueError(f"{ts} is in the future")
        return ts

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError(
                f"{v!r} is not a prompt name (lowercase a-z0-9_- segments joined by /)"
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


# -- where things live ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Store:
    """Resolved locations for a repo root or a spool directory."""

    root: Path
    shards: Path  # the directory holding <prompt>/<day>/<writer>.jsonl
    cache: Path
    is_repo: bool

    def shard_path(self, prompt: str, day: str, writer: str) -> Path:
        return self.shards / prompt / day / f"{writer}.jsonl"


def open_store(root: str | os.PathLike) -> Store:
    root = Path(root).resolve()
    if (root / "ptrain.yaml").is_file():
        from ptrain.layout import raw_settings

        shards = root / str(raw_settings(root).get("feedback_dir") or "feedback")
        return Store(root, shards, root / ".ptrain" / "cache" / "feedback", True)
    return Store(root, root, root / ".ptrain" / "cache" / "feedback", False)


@dataclass(frozen=True)
class Shard:
    fspath: str  # str, not Path: a summary handles hundreds of shards and pathlib costs
    prompt: str
    day: str
    name: str

    @property
    def path(self) -> Path:
        return Path(self.fspath)

    def rel(self, store: Store | None = None) -> str:
        return f"{self.prompt}/{self.day}/{self.name}"


def shards(store: Store, prompt: str | None = None) -> list[Shard]:
    """Every shard (``<prompt>/<day>/<writer>.jsonl``) of one prompt or of all, oldest day first."""
    out: list[Shard] = []
    if prompt is not None:
        _scan_prompt_dir(store.shards / prompt, prompt, out)
    else:
        _walk(store.shards, "", out)
    out.sort(key=lambda s: (s.day, s.prompt, s.name))
    return out


def _scan_prompt_dir(d: Path, prompt: str, out: list[Shard]) -> None:
    try:
        entries = list(os.scandir(d))
    except (FileNotFoundError, NotADirectoryError):
        return
    for e in entries:
        if e.is_dir() and _DAY_RE.match(e.name):
            for f in os.scandir(e.path):
                if f.name.endswith(".jsonl") and not f.name.startswith("."):
                    out.append(Shard(f.path, prompt, e.name, f.name))


def _walk(d: Path | str, prefix: str, out: list[Shard]) -> None:
    try:
        entries = list(os.scandir(d))
    except (FileNotFoundError, NotADirectoryError):
        return
    for e in entries:
        if not e.is_dir() or e.name.startswith((".", "_")):
            continue
        if _DAY_RE.match(e.name):
            if prefix:
                for f in os.scandir(e.path):
                    if f.name.endswith(".jsonl") and not f.name.startswith("."):
                        out.append(Shard(f.path, prefix, e.name, f.name))
        else:
            _walk(e.path, f"{prefix}/{e.name}" if prefix else e.name, out)


# -- capture -------------------------------------------------------------------------------------


def _payloads(store: Store, records: Iterable[Record], writer: str) -> dict[Path, bytes]:
    parts: dict[tuple[str, str], list[bytes]] = {}
    for rec in records:
        parts.setdefault((rec.prompt, rec.ts[:10]), []).append(rec.to_line())
    return {store.shard_path(p, d, writer): b"".join(lines) for (p, d), lines in parts.items()}


def record(
    root: str | os.PathLike, rec: Record | dict[str, Any], *, writer: str | None = None
) -> Record:
    """Validate and append one record. Returns the stored record (with id and ts)."""
    return record_many(root, [rec], writer=writer)[0]


def record_many(
    root: str | os.PathLike, recs: Iterable[Record | dict[str, Any]], *, writer: str | None = None
) -> list[Record]:
    """Validate all records, then append them in one atomic append (all or none)."""
    return FeedbackWriter(root, writer).write(recs)


class FeedbackWriter:
    """Appends records for one repo or spool; resolves the store and writer id once.

    For long-lived writers (the LangChain callback, an app's request handler): ``write`` costs
    one validation and one locked append, with no config reading per call.
    """

    def __init__(self, root: str | os.PathLike, writer: str | None = None):
        self.store = open_store(root)
        self.writer = writer or jsonl.writer_id(self.store.root)

    def write(self, recs: Iterable[Record | dict[str, Any]]) -> list[Record]:
        checked = [make_record(r) for r in recs]
        if checked:
            jsonl.append_many(_payloads(self.store, checked, self.writer))
        return checked


@dataclass
class Rejected:
    line: int
    reason: str


@dataclass
class ImportReport:
    source: str
    accepted: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    written: int = 0
    dry_run: bool = False
    duplicates: int = 0
    shards: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "accepted": self.accepted,
            "rejected": [{"line": r.line, "reason": r.reason} for r in self.rejected],
            "written": self.written,
            "duplicates": self.duplicates,
            "dry_run": self.dry_run,
            "shards": self.shards,
            "warnings": self.warnings,
        }


_CSV_INT = {"version_number", "prompt_tokens", "completion_tokens", "schema_version"}
_CSV_FLOAT = {"rating", "latency_ms"}
_CSV_JSON = {"inputs", "metadata", "metrics"}


def _csv_rows(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    for row in reader:
        line = reader.line_num
        if None in row:
            yield line, "more values than header columns"
            continue
        doc: dict[str, Any] = {}
        try:
            for k, v in row.items():
                k = (k or "").strip()
                if v is None or v == "":
                    continue
                if k in _CSV_INT:
                    doc[k] = int(v)
                elif k in _CSV_FLOAT:
                    doc[k] = float(v)
                elif k in _CSV_JSON:
                    doc[k] = jsonl.loads(v)
                else:
                    doc[k] = v
        except (ValueError, jsonl.JSONDecodeError) as exc:
            yield line, f"{k}: {str(exc).splitlines()[0][:80]}"
            continue
        yield line, doc


def _jsonl_rows(data: bytes) -> Iterator[tuple[int, dict[str, Any] | str]]:
    for i, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            doc = jsonl.loads(raw)
        except jsonl.JSONDecodeError as exc:
            yield i, f"invalid JSON at column {getattr(exc, 'colno', '?')}"
            continue
        yield i, doc if isinstance(doc, dict) else "expected a JSON object"


def import_file(
    root: str | os.PathLike,
    path: str | os.PathLike,
    *,
    fmt: Literal["jsonl", "csv"] | None = None,
    defaults: dict[str, Any] | None = None,
    dry_run: bool = False,
    writer: str | None = None,
) -> ImportReport:
    """Import a JSONL or CSV export: validate every line, then write all valid ones in one append.

    ``defaults`` fill keys a line lacks (``prompt``, ``version``, ``env``, ``source``...). The
    report lists each rejected line with its 1-based line number and the reason. Lines of a file
    that are whole but a final line without newline is still imported (it is a file, not a shard).
    """
    src = Path(path)
    try:
        data = src.read_bytes()
    except OSError as exc:
        raise PtrainError(f"cannot read {src}: {exc.strerror}", "check the path") from None
    fmt = fmt or ("csv" if src.suffix.lower() == ".csv" else "jsonl")
    if fmt not in ("jsonl", "csv"):
        raise PtrainError(f"unknown import format {fmt!r}", "use --format jsonl or --format csv")
    if fmt == "csv":
        try:
            rows = _csv_rows(data.decode("utf-8-sig"))
        except UnicodeDecodeError:
            raise PtrainError(f"{src} is not UTF-8 text", "export the CSV as UTF-8") from None
    else:
        rows = _jsonl_rows(data)
    report = ImportReport(str(src), dry_run=dry_run)
    good: list[Record] = []
    for line, doc in rows:
        if isinstance(doc, str):
            report.rejected.append(Rejected(line, doc))
            continue
        try:
            good.append(make_record(doc, defaults))
        except ValidationError as exc:
            report.rejected.append(
                Rejected(line, exc.message.removeprefix("invalid feedback record: "))
            )
    report.accepted = len(good)
    return _write_report(root, good, report, writer)


def _write_report(
    root, good: list[Record], report: ImportReport, writer: str | None
) -> ImportReport:
    store = open_store(root)
    payloads = _payloads(store, good, writer or jsonl.writer_id(store.root))
    report.shards = sorted(p.relative_to(store.shards).as_posix() for p in payloads)
    if good and not report.dry_run:
        jsonl.append_many(payloads)
        report.written = len(good)
    return report


def import_spool(
    root: str | os.PathLike, spool: str | os.PathLike, *, dry_run: bool = False
) -> ImportReport:
    """Move the records of a spool directory into the repository at ``root``.

    Each spool shard is locked, its complete lines validated and appended to the repo shard of
    the same relative path (the writer id of the app that wrote it), then emptied. Records whose
    id is already in the target shard are skipped, so a job that crashed between the append and
    the emptying loses nothing and duplicates nothing when it runs again.
    """
    repo, sp = open_store(root), open_store(spool)
    if sp.root == repo.root or sp.is_repo:
        raise PtrainError(f"{sp.root} is not a spool directory", "pass the directory apps write to")
    report = ImportReport(str(sp.root), dry_run=dry_run)
    for shard in shards(sp):
        rel = shard.rel(sp)
        with jsonl.locked_shard(shard.path) as fd:
            chunk = jsonl.read_complete(shard.path)
            report.warnings += chunk.warnings
            target = repo.shards / rel
            seen = set()
            if target.exists():
                for _, raw in jsonl.iter_lines(jsonl.read_complete(target).data):
                    with contextlib.suppress(jsonl.JSONDecodeError, AttributeError):
                        seen.add(jsonl.loads(raw).get("id"))
            lines: list[bytes] = []
            for lineno, raw in jsonl.iter_lines(chunk.data):
                try:
                    rec = make_record(jsonl.loads(raw))
                except (jsonl.JSONDecodeError, ValidationError) as exc:
                    msg = getattr(exc, "message", "invalid JSON")
                    report.rejected.append(Rejected(lineno, f"{rel}: {msg}"))
                    continue
                if rec.prompt != shard.prompt or rec.day != shard.day:
                    report.rejected.append(
                        Rejected(lineno, f"{rel}: record is for {rec.prompt} on {rec.day}")
                    )
                    continue
                report.accepted += 1
                if rec.id in seen:
                    report.duplicates += 1
                    continue
                lines.append(rec.to_line())
            if dry_run:
                continue
            if lines:
                jsonl.append(target, b"".join(lines))
                report.written += len(lines)
                report.shards.append(rel)
            jsonl.truncate_locked(fd, 0)
    if not dry_run:
        for shard in shards(sp):
            if shard.path.stat().st_size == 0:
                jsonl.remove_quietly(shard.path)
    return report


# -- aggregation (the hot path: plain dicts, no pydantic) ----------------------------------------

# One aggregate is a list (cheap to update, compact in JSON):
N, SUCCESS, ERROR, RATING_KIND, SUGGESTION_KIND, METRIC_KIND = range(6)
RATINGS, RATING_SUM, SUGGESTIONS, PT_N, PT_SUM, CT_N, CT_SUM = range(6, 13)
FIRST_TS, LAST_TS, VNUM, HIST = 13, 14, 15, 16
_AGG_LEN = 17
_BUCKET_RATIO = 1.04
_INV_LOG = 1.0 / math.log(_BUCKET_RATIO)
_ZERO_BUCKET = -100000  # latency 0 (a cached response); never a real log bucket
_KIND_SLOT = {"success": SUCCESS, "error": ERROR, "rating": RATING_KIND,
              "suggestion": SUGGESTION_KIND, "metric": METRIC_KIND}  # fmt: skip


def _new_agg() -> list:
    a: list = [0] * _AGG_LEN
    a[RATING_SUM] = a[PT_SUM] = a[CT_SUM] = 0.0
    a[FIRST_TS] = a[LAST_TS] = a[VNUM] = None
    a[HIST] = {}
    return a


def _bucket(ms: float) -> int:
    return int(math.log(ms) * _INV_LOG) if ms > 0 else _ZERO_BUCKET


def _bucket_value(b: int) -> float:
    return 0.0 if b == _ZERO_BUCKET else _BUCKET_RATIO ** (b + 0.5)


def merge_agg(a: list, b: list) -> None:
    for i in range(FIRST_TS):
        a[i] += b[i]
    if b[FIRST_TS] is not None and (a[FIRST_TS] is None or b[FIRST_TS] < a[FIRST_TS]):
        a[FIRST_TS] = b[FIRST_TS]
    if b[LAST_TS] is not None and (a[LAST_TS] is None or b[LAST_TS] > a[LAST_TS]):
        a[LAST_TS] = b[LAST_TS]
    if b[VNUM] is not None:
        a[VNUM] = b[VNUM]
    h = a[HIST]
    for k, c in b[HIST].items():
        h[k] = h.get(k, 0) + c


GroupKey = tuple  # (version, env, variant)


@dataclass
class ShardAgg:
    """What parsing one shard (or its new tail) yields; cached per shard."""

    groups: dict[GroupKey, list] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    lines: int = 0
    end: int = 0
    crc: int = 0


def aggregate_lines(
    data: bytes,
    prompt: str,
    source: str,
    first_line: int = 1,
    since: str | None = None,
    out: ShardAgg | None = None,
) -> ShardAgg:
    """Fold the complete lines in ``data`` into per-(version, env, variant) aggregates."""
    out = out or ShardAgg()
    nlines = data.count(b"\n")
    out.lines += nlines
    if not nlines:
        return out
    gc_was = gc.isenabled()
    gc.disable()  # millions of short-lived dicts: the cyclic GC would only slow this down
    try:
        recs: list | None = None
        try:  # fast path: the whole chunk is one array for a single C call
            recs = jsonl.loads(b"[" + data[:-1].replace(b"\n", b",") + b"]")
            if len(recs) != nlines:
                recs = None
        except jsonl.JSONDecodeError:
            recs = None
        if recs is None:
            numbered = _parse_each(data, source, first_line, out.warnings)
        else:
            numbered = enumerate(recs, first_line)
        groups = out.groups
        warn = out.warnings
        log = math.log
        inv = _INV_LOG
        for lineno, r in numbered:
            if r.__class__ is not dict or r.get("schema_version") != 1:
                warn.append(f"{source}:{lineno}: not a schema_version 1 feedback record; skipped")
                continue
            ts = r.get("ts")
            if ts.__class__ is not str or r.get("prompt") != prompt:
                warn.append(f"{source}:{lineno}: no ts, or not a record of {prompt}; skipped")
                continue
            if since is not None and ts < since:
                continue
            slot = _KIND_SLOT.get(r.get("kind"))
            if slot is None:
                warn.append(f"{source}:{lineno}: unknown kind {r.get('kind')!r}; skipped")
                continue
            rt = r.get("rating")
            lat = r.get("latency_ms")
            pt = r.get("prompt_tokens")
            ct = r.get("completion_tokens")
            try:  # trust but check: a hand-edited value of the wrong type is skipped, not summed
                b = None if lat is None else (int(log(lat) * inv) if lat > 0 else _ZERO_BUCKET)
                if rt is not None:
                    rt = rt + 0.0
                if pt is not None:
                    pt = pt + 0
                if ct is not None:
                    ct = ct + 0
            except (TypeError, ValueError):
                warn.append(f"{source}:{lineno}: a numeric field holds a non-number; skipped")
                continue
            key = (r.get("version"), r.get("env"), r.get("variant"))
            a = groups.get(key)
            if a is None:
                a = groups[key] = _new_agg()
                a[FIRST_TS] = a[LAST_TS] = ts
            a[N] += 1
            a[slot] += 1
            if ts < a[FIRST_TS]:
                a[FIRST_TS] = ts
            elif ts > a[LAST_TS]:
                a[LAST_TS] = ts
            if rt is not None:
                a[RATINGS] += 1
                a[RATING_SUM] += rt
            if "suggestion" in r:
                a[SUGGESTIONS] += 1
            if b is not None:
                h = a[HIST]
                h[b] = h.get(b, 0) + 1
            if pt is not None:
                a[PT_N] += 1
                a[PT_SUM] += pt
            if ct is not None:
                a[CT_N] += 1
                a[CT_SUM] += ct
            x = r.get("version_number")
            if x is not None:
                a[VNUM] = x
        # an unknown-kind record created an empty group; drop those
        for k in [k for k, a in groups.items() if a[N] == 0]:
            del groups[k]
    finally:
        if gc_was:
            gc.enable()
    return out


def _parse_each(
    data: bytes, source: str, first_line: int, warnings: list[str]
) -> Iterator[tuple[int, Any]]:
    for lineno, raw in enumerate(data.split(b"\n")[:-1], first_line):
        if not raw.strip():
            continue
        try:
            yield lineno, jsonl.loads(raw)
        except jsonl.JSONDecodeError:
            warnings.append(
                f"{source}:{lineno}: unparsable line ({len(raw)} bytes) skipped (torn write?)"
            )


# -- per-shard cache -----------------------------------------------------------------------------


class ParseStats:
    """Counts what a summary had to read; tests and the benchmark assert on it."""

    def __init__(self) -> None:
        self.shards = 0
        self.cached = 0
        self.parsed_full = 0
        self.parsed_tail = 0
        self.bytes_parsed = 0

    def to_dict(self) -> dict[str, int]:
        return dict(vars(self))


def _agg_to_json(a: list) -> list:
    out = list(a)
    out[HIST] = [x for kv in a[HIST].items() for x in kv]
    return out


def _agg_from_json(a: list) -> list:
    out = list(a)
    flat = a[HIST]
    out[HIST] = dict(zip(flat[::2], flat[1::2], strict=True))
    return out


def _entry_from(sa: ShardAgg, st: os.stat_result) -> dict:
    return {
        "size": st.st_size, "mtime": st.st_mtime_ns, "ino": st.st_ino, "end": sa.end,
        "crc": sa.crc, "lines": sa.lines, "warnings": sa.warnings[-50:],
        "groups": [[*k, _agg_to_json(a)] for k, a in sa.groups.items()],
    }  # fmt: skip


def _shard_from_entry(e: dict) -> ShardAgg:
    groups = {(g[0], g[1], g[2]): _agg_from_json(g[3]) for g in e["groups"]}
    return ShardAgg(groups, list(e["warnings"]), e["lines"], e["end"], e["crc"])


def _copy_agg(a: list) -> list:
    c = list(a)
    c[HIST] = dict(a[HIST])
    return c


def _merge_groups(into: dict, groups: dict) -> None:
    for k, a in groups.items():
        t = into.get(k)
        if t is None:
            into[k] = _copy_agg(a)
        else:
            merge_agg(t, a)


def _parse_task(task: tuple) -> tuple:
    """Bring one shard's aggregate up to date. Runs in a worker process for cold summaries.

    Returns (rel, aggregate, stat, how, delta, start): ``how`` is full/tail/same/gone; ``delta``
    the aggregate of only the bytes parsed now, which began at offset ``start``.
    """
    rel, path, prompt, entry = task
    try:
        st = os.stat(path)
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return rel, None, None, "gone", None, 0
    cut = raw.rfind(b"\n") + 1
    base: ShardAgg | None = None
    if (
        entry is not None
        and entry["end"] <= cut
        and zlib.crc32(memoryview(raw)[: entry["end"]]) == entry["crc"]
    ):
        base = _shard_from_entry(entry)  # the cached prefix is intact: parse only what follows
    start = base.end if base is not None else 0
    delta = None
    if base is not None and base.end == cut:
        how = "same"
        base.warnings = [w for w in base.warnings if "incomplete last line" not in w]
    else:
        how = "tail" if base is not None else "full"
        new = raw[start:cut]
        delta = aggregate_lines(new, prompt, rel, (base.lines if base else 0) + 1)
        delta.crc, delta.end = zlib.crc32(new, base.crc if base else 0), cut
        if base is None:
            base = ShardAgg(delta.groups, list(delta.warnings), delta.lines, cut, delta.crc)
        else:
            _merge_groups(base.groups, delta.groups)
            base.warnings = [w for w in base.warnings if "incomplete last line" not in w]
            base.warnings += delta.warnings
            base.lines += delta.lines
            base.end, base.crc = cut, delta.crc
    if cut < len(raw):
        base.warnings.append(
            f"{rel}: incomplete last line ({len(raw) - cut} bytes) skipped: a writer was killed "
            "mid-append or is still writing"
        )
    return rel, base, st, how, delta, start


_POOL_MIN_BYTES = 8 << 20


def _run_tasks(tasks: list[tuple], total_bytes: int, workers: int | None):
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if workers > 1 and len(tasks) > 1 and total_bytes >= _POOL_MIN_BYTES:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        # fork: workers inherit the imported modules, so start-up costs milliseconds
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
            yield from pool.map(_parse_task, tasks, chunksize=max(1, len(tasks) // (workers * 8)))
    else:
        yield from map(_parse_task, tasks)


@dataclass
class Fresh:
    """One shard's state after ``ShardCache.aggregates``."""

    shard: Shard
    how: str  # cached | same | tail | full
    entry: dict  # the cache entry (JSON form) covering the shard's complete lines
    delta: ShardAgg | None  # the aggregate of just the bytes parsed this time
    start: int  # where the parsed bytes began


class ShardCache:
    """Two files in ``<cache>``: ``index.json`` (per shard: size, mtime, inode, covered offset,
    CRC, line count, warnings; plus the rollups) is read by every summary; ``aggs.json`` (per
    shard aggregates and histograms) only when a shard changed or totals must be rebuilt."""

    def __init__(self, store: Store, enabled: bool = True):
        self.store = store
        self.enabled = enabled
        self.path = store.cache / "index.json"
        self.aggs_path = store.cache / "aggs.json"
        self.entries: dict[str, dict] = {}
        self.rollups: dict[str, dict] = {}
        self._aggs: dict[str, dict] | None = None
        self.dirty = False
        self.aggs_dirty = False
        if enabled:
            try:
                doc = jsonl.loads(self.path.read_bytes())
                if doc.get("format") == 3 and doc.get("bucket_ratio") == _BUCKET_RATIO:
                    self.entries, self.rollups = doc["shards"], doc["rollups"]
            except (OSError, ValueError, AttributeError, KeyError):
                self.entries, self.rollups = {}, {}

    def _load_aggs(self) -> dict[str, dict]:
        if self._aggs is None:
            self._aggs = {}
            if self.enabled:
                try:
                    doc = jsonl.loads(self.aggs_path.read_bytes())
                    if doc.get("format") == 3:
                        self._aggs = doc["shards"]
                except (OSError, ValueError, AttributeError, KeyError):
                    pass
        return self._aggs

    def full_entry(self, rel: str) -> dict | None:
        """The entry with its aggregates, or None if they are lost (then the shard is re-read)."""
        e = self.entries.get(rel)
        if e is None or "groups" in e:
            return e
        a = self._load_aggs().get(rel)
        if a is None or (a["end"], a["crc"]) != (e["end"], e["crc"]):
            return None
        e["groups"] = a["groups"]
        return e

    def aggregates(
        self, items: list[Shard], stats: ParseStats, workers: int | None = None
    ) -> dict[str, Fresh]:
        """Up-to-date aggregates for ``items``; parses only shards (or tails) that changed.

        Unchanged shards come back as their raw cache entry (converted only if needed).
        """
        out: dict[str, Fresh] = {}
        tasks, total = [], 0
        by_rel = {}
        entries = self.entries
        for sh in items:
            rel = sh.rel(self.store)
            by_rel[rel] = sh
            stats.shards += 1
            e = entries.get(rel)
            try:
                st = os.stat(sh.fspath)
            except FileNotFoundError:
                continue
            if e is not None and (e["size"], e["mtime"], e["ino"]) == (
                st.st_size,
                st.st_mtime_ns,
                st.st_ino,
            ):
                out[rel] = Fresh(sh, "cached", e, None, e["end"])
                stats.cached += 1
                continue
            tasks.append((rel, sh.fspath, sh.prompt, self.full_entry(rel)))
            total += st.st_size - (e["end"] if e else 0)
        for rel, sa, st, how, delta, start in _run_tasks(tasks, total, workers):
            if sa is None:
                entries.pop(rel, None)
                self.dirty = True
                continue
            if how == "full":
                stats.parsed_full += 1
                stats.bytes_parsed += sa.end
            elif how == "tail":
                stats.parsed_tail += 1
                stats.bytes_parsed += sa.end - start
            else:
                stats.cached += 1  # mtime changed (e.g. git checkout) but the bytes did not
            entries[rel] = _entry_from(sa, st)
            out[rel] = Fresh(by_rel[rel], how, entries[rel], delta, start)
            self.dirty = self.aggs_dirty = True
        return out

    def rollup(self, scope: str, fresh: dict[str, Fresh]) -> dict[tuple, list]:
        """Totals per (prompt, version, env, variant) over ``fresh``, kept up to date
        incrementally: a grown shard adds only its new tail's aggregate. Anything else (a shard
        removed or rewritten) rebuilds the totals from the per-shard aggregates."""
        r = self.rollups.get(scope) if self.enabled else None
        groups: dict[tuple, list] | None = None
        if r is not None and all(rel in fresh for rel in r["shards"]):
            groups = {tuple(g[:4]): _agg_from_json(g[4]) for g in r["groups"]}
            seen = r["shards"]
            changed = False
            for rel, f in fresh.items():
                prev = seen.get(rel)
                if f.how in ("cached", "same"):
                    ok = prev == f.entry["end"]
                elif f.how == "tail":
                    ok = prev == f.start
                else:  # full: fine only for a shard the rollup never saw
                    ok = prev is None
                if not ok:
                    groups = None
                    break
                if f.delta is not None:
                    _merge_groups(
                        groups, {(f.shard.prompt, *k): a for k, a in f.delta.groups.items()}
                    )
                    changed = True
            if groups is not None and not changed and len(seen) == len(fresh):
                return groups
        if groups is None:
            groups = {}
            for rel, f in fresh.items():
                e = self.full_entry(rel)
                if e is None:  # aggregates lost: read the shard again
                    _, sa, st, _, _, _ = _parse_task((rel, f.shard.fspath, f.shard.prompt, None))
                    if sa is None:
                        continue
                    e = self.entries[rel] = _entry_from(sa, st)
                    self.aggs_dirty = True
                for g in e["groups"]:
                    k = (f.shard.prompt, g[0], g[1], g[2])
                    a = _agg_from_json(g[3])
                    if k in groups:
                        merge_agg(groups[k], a)
                    else:
                        groups[k] = a
        if self.enabled:
            self.rollups.pop(scope, None)
            while len(self.rollups) >= 16:  # keep the most recently used scopes
                del self.rollups[next(iter(self.rollups))]
            self.rollups[scope] = {
                "shards": {rel: f.entry["end"] for rel, f in fresh.items()},
                "groups": [[*k, _agg_to_json(a)] for k, a in groups.items()],
            }
            self.dirty = True
        return groups

    def forget_missing(self) -> None:
        for rel in [r for r in self.entries if not (self.store.shards / r).exists()]:
            del self.entries[rel]
            self.dirty = self.aggs_dirty = True

    def save(self) -> None:
        if not (self.enabled and self.dirty):
            return
        from ptrain.storage.yamlio import atomic_write

        index = {
            rel: {k: v for k, v in e.items() if k != "groups"} for rel, e in self.entries.items()
        }
        with contextlib.suppress(OSError):  # an unwritable cache only costs speed next time
            if self.aggs_dirty:  # aggregates first: the index never points at missing ones
                aggs = self._load_aggs()
                out = {}
                for rel, e in self.entries.items():
                    if "groups" in e:
                        out[rel] = {"end": e["end"], "crc": e["crc"], "groups": e["groups"]}
                    elif rel in aggs:
                        out[rel] = aggs[rel]
                atomic_write(self.aggs_path, jsonl.dumps({"format": 3, "shards": out}))
            doc = {
                "format": 3,
                "bucket_ratio": _BUCKET_RATIO,
                "shards": index,
                "rollups": self.rollups,
            }
            atomic_write(self.path, jsonl.dumps(doc))
        self.dirty = self.aggs_dirty = False


# -- compaction file -----------------------------------------------------------------------------


def _load_compacted(store: Store) -> dict:
    path = store.shards / COMPACTED_FILE
    try:
        doc = jsonl.loads(path.read_bytes())
    except FileNotFoundError:
        return {"schema_version": SCHEMA_VERSION, "groups": [], "absorbed": {}}
    except ValueError:
        raise ValidationError(
            f"{path} is not valid JSON", "restore it with `git checkout -- feedback/`"
        ) from None
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise ValidationError(f"{path}: unsupported schema_version", "upgrade ptrain")
    return doc


# -- reading -------------------------------------------------------------------------------------


def parse_since(since: str | datetime | None, now: datetime | None = None) -> str | None:
    """``7d``, ``12h``, ``30m``, ``2026-11-01`` or an ISO time -> the stored ts form."""
    if since is None or since == "":
        return None
    if isinstance(since, datetime):
        return format_ts(since)
    s = str(since).strip()
    m = re.fullmatch(r"(\d+)\s*([dhmw])", s)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        delta = {"d": timedelta(days=n), "h": timedelta(hours=n), "m": timedelta(minutes=n),
                 "w": timedelta(weeks=n)}[unit]  # fmt: skip
        return format_ts((now or datetime.now(UTC)) - delta)
    try:
        return parse_ts(s)
    except ValueError:
        raise PtrainError(
            f"cannot read --since {s!r}", "use 7d, 12h, 2w or a date like 2026-11-01"
        ) from None


def _version_match(rec_version: str | None, rec_number: int | None, want: str | int | None) -> bool:
    if want is None:
        return True
    if isinstance(want, int) or (
        isinstance(want, str) and re.fullmatch(r"v?\d{1,6}", want) and len(want) < 7
    ):
        return rec_number == int(str(want).lstrip("v"))
    return bool(rec_version) and rec_version.startswith(str(want).lower())


@dataclass
class FeedbackList:
    records: list[dict[str, Any]]
    warnings: list[str]
    total_matched: int


def iter_feedback(
    root: str | os.PathLike,
    prompt: str | None = None,
    *,
    kinds: Iterable[str] | None = None,
    since: str | datetime | None = None,
    version: str | int | None = None,
    env: str | None = None,
    variant: str | None = None,
    warnings: list[str] | None = None,
    newest_first: bool = False,
) -> Iterator[dict[str, Any]]:
    """Stored records as plain dicts (the on-disk keys; absent = None), shard by shard.

    This is what training and evaluation read. Torn and unparsable lines are skipped and
    described in ``warnings`` (pass a list to collect them).
    """
    store = open_store(root)
    if prompt is not None and not _NAME_RE.match(prompt):
        raise PtrainError(f"{prompt!r} is not a prompt name", "see `ptrain prompt list`")
    since_ts = parse_since(since)
    kindset = set(kinds) if kinds else None
    warn = warnings if warnings is not None else []
    items = shards(store, prompt)
    if since_ts:
        items = [s for s in items if s.day >= since_ts[:10]]
    if newest_first:
        items.reverse()
    for sh in items:
        chunk = jsonl.read_complete(sh.path)
        rel = sh.rel(store)
        warn.extend(w.replace(str(sh.path), rel) for w in chunk.warnings)
        batch = []
        for lineno, r in _parse_each(chunk.data, rel, 1, warn):
            if (
                r.__class__ is not dict
                or r.get("schema_version") != 1
                or r.get("prompt") != sh.prompt
            ):
                warn.append(f"{rel}:{lineno}: not a feedback record for {sh.prompt}; skipped")
                continue
            if kindset is not None and r.get("kind") not in kindset:
                continue
            if since_ts is not None and r.get("ts", "") < since_ts:
                continue
            if env is not None and r.get("env") != env:
                continue
            if variant is not None and r.get("variant") != variant:
                continue
            if not _version_match(r.get("version"), r.get("version_number"), version):
                continue
            batch.append(r)
        if newest_first:
            batch.reverse()
        yield from batch


def list_feedback(
    root: str | os.PathLike, prompt: str, *, limit: int | None = None, **filters: Any
) -> FeedbackList:
    """The newest ``limit`` records of ``prompt`` (newest first) matching ``filters``."""
    warnings: list[str] = []
    recs: list[dict[str, Any]] = []
    for r in iter_feedback(root, prompt, warnings=warnings, newest_first=True, **filters):
        recs.append(r)
    recs.sort(key=lambda r: (r.get("ts", ""), r.get("id", "")), reverse=True)
    return FeedbackList(recs[:limit] if limit else recs, warnings, len(recs))


@dataclass
class Summary:
    by: str
    rows: list[dict[str, Any]]
    warnings: list[str]
    stats: ParseStats

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "rows": self.rows,
            "warnings": self.warnings,
            "stats": self.stats.to_dict(),
        }


def _percentile(hist: dict[int, int], q: float) -> float | None:
    total = sum(hist.values())
    if not total:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for b in sorted(hist):
        seen += hist[b]
        if seen >= rank:
            return round(_bucket_value(b), 1)
    return None  # pragma: no cover


def _row(key: dict[str, Any], a: list) -> dict[str, Any]:
    calls = a[SUCCESS] + a[ERROR]
    lat_n = sum(a[HIST].values())
    return {
        **key,
        "count": a[N],
        "calls": calls,
        "successes": a[SUCCESS],
        "errors": a[ERROR],
        "error_rate": round(a[ERROR] / calls, 4) if calls else None,
        "success_rate": round(a[SUCCESS] / calls, 4) if calls else None,
        "ratings": a[RATINGS],
        "avg_rating": round(a[RATING_SUM] / a[RATINGS], 4) if a[RATINGS] else None,
        "suggestions": a[SUGGESTIONS],
        "metrics": a[METRIC_KIND],
        "latency_samples": lat_n,
        "latency_p50_ms": _percentile(a[HIST], 0.50),
        "latency_p95_ms": _percentile(a[HIST], 0.95),
        "avg_prompt_tokens": round(a[PT_SUM] / a[PT_N], 1) if a[PT_N] else None,
        "avg_completion_tokens": round(a[CT_SUM] / a[CT_N], 1) if a[CT_N] else None,
        "first_ts": a[FIRST_TS],
        "last_ts": a[LAST_TS],
    }


def summarize(
    root: str | os.PathLike,
    prompt: str | None = None,
    *,
    by: str = "prompt",
    since: str | datetime | None = None,
    use_cache: bool = True,
    workers: int | None = None,
) -> Summary:
    """Counts, rates, average rating, suggestions, latency p50/p95 and average tokens.

    One row per prompt (``by="prompt"``) or per prompt and version / env / variant. Includes
    the aggregates that ``prune`` compacted. ``since`` is exact: shards of days before it are
    skipped, the shard of its own day is filtered record by record, later ones come from cache.
    """
    if by not in SUMMARY_BY:
        raise PtrainError(f"cannot summarise by {by!r}", f"use --by {' or '.join(SUMMARY_BY)}")
    if prompt is not None and not _NAME_RE.match(prompt):
        raise PtrainError(f"{prompt!r} is not a prompt name", "see `ptrain prompt list`")
    store = open_store(root)
    since_ts = parse_since(since)
    stats = ParseStats()
    warnings: list[str] = []
    compacted = _load_compacted(store) if store.is_repo else {"groups": [], "absorbed": {}}
    absorbed = compacted.get("absorbed", {})
    items = shards(store, prompt)
    boundary: list[Shard] = []
    if since_ts:
        cut_day = since_ts[:10]
        boundary = [s for s in items if s.day == cut_day and since_ts > f"{cut_day}T00:00:00.000Z"]
        items = [s for s in items if s.day >= cut_day and s not in boundary]
    cache = ShardCache(store, use_cache)
    fresh = {
        rel: f
        for rel, f in cache.aggregates(items, stats, workers).items()
        # compacted by a prune that was interrupted before it deleted the shard
        if not (rel in absorbed and absorbed[rel] == f.entry["crc"])
    }
    groups = cache.rollup(f"{prompt or '*'}|{since_ts[:10] if since_ts else ''}", fresh)
    cache.save()

    totals: dict[tuple, list] = {}
    vnums: dict[tuple[str, str | None], int] = {}

    def add(p: str, version: str | None, env: str | None, variant: str | None, a: list) -> None:
        if a[VNUM] is not None:
            vnums[(p, version)] = a[VNUM]
        k = {"prompt": (p,), "version": (p, version), "env": (p, env), "variant": (p, variant)}[by]
        t = totals.get(k)
        if t is None:
            t = totals[k] = _new_agg()
        merge_agg(t, a)

    for f in fresh.values():
        warnings.extend(f.entry["warnings"])
    for (p, version, env, variant), a in groups.items():
        add(p, version, env, variant, a)
    for sh in boundary:
        chunk = jsonl.read_complete(sh.path)
        stats.parsed_full += 1
        stats.bytes_parsed += chunk.end
        sa = aggregate_lines(chunk.data, sh.prompt, sh.rel(store), since=since_ts)
        warnings.extend(
            sa.warnings + [w.replace(str(sh.path), sh.rel(store)) for w in chunk.warnings]
        )
        for (version, env, variant), a in sa.groups.items():
            add(sh.prompt, version, env, variant, a)
    for g in compacted.get("groups", []):
        p, day, version, env, variant, a = g
        if (prompt is None or p == prompt) and (since_ts is None or day >= since_ts[:10]):
            add(p, version, env, variant, _agg_from_json(a))

    rows = []
    for k in sorted(totals, key=lambda k: tuple("" if x is None else str(x) for x in k)):
        key: dict[str, Any] = {"prompt": k[0]}
        if by == "version":
            key["version"] = k[1]
            key["version_number"] = vnums.get((k[0], k[1]))
        elif by in ("env", "variant"):
            key[by] = k[1]
        rows.append(_row(key, totals[k]))
    return Summary(by, rows, warnings, stats)


# -- retention -----------------------------------------------------------------------------------


@dataclass
class PruneReport:
    cutoff_day: str
    shards_removed: list[str]
    records_removed: int
    dry_run: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def prune(
    root: str | os.PathLike,
    older_than_days: int | None = None,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
) -> PruneReport:
    """Delete shards of days older than the cutoff, folding their aggregates into
    ``feedback/_compacted.json`` first, so summaries keep their totals.

    The compacted file also lists each absorbed shard with its CRC; until the shard is gone,
    summaries skip it, so a prune interrupted between the two steps never counts twice.
    """
    store = open_store(root)
    if not store.is_repo:
        raise PtrainError(f"{store.root} is not a prompt repository", "run prune in the repository")
    if older_than_days is None:
        from ptrain.config import load_config

        older_than_days = load_config(store.root).feedback.retention_days
    if older_than_days < 1:
        raise PtrainError("--older-than-days must be at least 1", "pass a number of days >= 1")
    cutoff = ((now or datetime.now(UTC)) - timedelta(days=older_than_days)).strftime("%Y-%m-%d")
    old = [s for s in shards(store) if s.day < cutoff]
    report = PruneReport(cutoff, [s.rel(store) for s in old], 0, dry_run)
    if not old:
        return report
    with jsonl.locked_shard(store.cache.parent / "feedback-prune.lock"):
        compacted = _load_compacted(store)
        absorbed: dict[str, int] = {
            r: c for r, c in compacted.get("absorbed", {}).items() if (store.shards / r).exists()
        }
        merged: dict[tuple, list] = {}
        for g in compacted.get("groups", []):
            merged[tuple(g[:5])] = _agg_from_json(g[5])
        locks = []
        try:
            for sh in old:  # hold every old shard's lock: nobody appends to what we fold in
                cm = jsonl.locked_shard(sh.path)
                cm.__enter__()
                locks.append(cm)
            cache = ShardCache(store)
            aggs = cache.aggregates(old, ParseStats(), workers=1)
            for rel, f in aggs.items():
                sh, sa = f.shard, _shard_from_entry(cache.full_entry(rel) or f.entry)
                if absorbed.get(rel) == sa.crc:
                    continue  # already folded in by an interrupted prune
                report.records_removed += sum(a[N] for a in sa.groups.values())
                for (version, env, variant), a in sa.groups.items():
                    k = (sh.prompt, sh.day, version, env, variant)
                    if k in merged:
                        merge_agg(merged[k], a)
                    else:
                        merged[k] = a
                absorbed[rel] = sa.crc
            if dry_run:
                return report
            from ptrain.storage.yamlio import atomic_write

            doc = {
                "schema_version": SCHEMA_VERSION,
                "note": "aggregates of pruned feedback shards (ptrain feedback prune); do not edit",
                "bucket_ratio": _BUCKET_RATIO,
                "groups": [
                    [*k, _agg_to_json(a)]
                    for k, a in sorted(merged.items(), key=lambda kv: str(kv[0]))
                ],
                "absorbed": absorbed,
            }
            atomic_write(store.shards / COMPACTED_FILE, jsonl.dumps(doc) + b"\n")
            for sh in old:
                jsonl.remove_quietly(sh.path)
            doc["absorbed"] = {r: c for r, c in absorbed.items() if (store.shards / r).exists()}
            atomic_write(store.shards / COMPACTED_FILE, jsonl.dumps(doc) + b"\n")
            cache.forget_missing()
            cache.save()
        finally:
            for cm in reversed(locks):
                cm.__exit__(None, None, None)
        for sh in old:
            for d in (sh.path.parent, *sh.path.parent.parents):
                if d == store.shards or store.shards not in d.parents:
                    break
                try:
                    d.rmdir()
                except OSError:
                    break
    return report


# -- committing ----------------------------------------------------------------------------------


def commit_feedback(root: str | os.PathLike, message: str | None = None) -> dict[str, Any]:
    """Commit new, grown and pruned feedback files in one commit (only those paths).

    Only complete lines are committed: a shard being written is committed up to its last
    newline. Returns ``{"commit": sha or None, "files": [...], "records": n}``.
    """
    from ptrain.storage.git import Git

    store = open_store(root)
    if not store.is_repo:
        raise PtrainError(f"{store.root} is not a prompt repository", "run `ptrain init` first")
    git = Git.discover(store.root)
    rel_dir = store.shards.relative_to(store.root).as_posix()
    with git.lock():
        out = git.out(
            "status", "--porcelain", "-z", "--untracked-files=all", "--no-renames", "--", rel_dir
        )
        files: dict[str, bytes | None] = {}
        records = 0
        for item in out.split("\0"):
            if len(item) < 4:
                continue
            status, path = item[:2], item[3:]
            full = store.root / path
            if "D" in status or not full.exists():
                files[path] = None
                continue
            data = full.read_bytes()
            if path.endswith(".jsonl"):
                data = data[: data.rfind(b"\n") + 1]
                old = b"" if status == "??" else (git.show_file("HEAD", path) or b"")
                records += data.count(b"\n") - old.count(b"\n")
            files[path] = data
        if not files:
            return {"commit": None, "files": [], "records": 0}
        msg = (
            message
            or f"feedback: {records} new record{'s' if records != 1 else ''} in {len(files)} file(s)"
        )
        sha = git.commit_files(files, msg)
        git.sync_index(list(files))
    return {"commit": sha, "files": sorted(files), "records": records}
