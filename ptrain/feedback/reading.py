"""Reading records back as plain dicts: what training, evaluation, A/B and ``list`` use.

No DuckDB here (these run on paths that must stay light); analytics live in ``analytics``.
Torn and unparsable lines are skipped and described in ``warnings``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ptrain.errors import PtrainError
from ptrain.feedback.fields import NAME_RE, format_ts, parse_ts
from ptrain.feedback.importing import recover
from ptrain.feedback.store import open_store, shards
from ptrain.storage import jsonl


def parse_since(since: str | datetime | None, now: datetime | None = None) -> str | None:
    """``7d``, ``12h``, ``30m``, ``2026-11-01`` or an ISO time -> the stored ts form."""
    if since is None or since == "":
        return None
    if isinstance(since, datetime):
        return format_ts(since)
    s = str(since).strip()
    m = re.fullmatch(r"(\d{1,6})\s*([dhmw])", s)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        delta = {"d": timedelta(days=n), "h": timedelta(hours=n), "m": timedelta(minutes=n),
                 "w": timedelta(weeks=n)}[unit]  # fmt: skip
        try:
            return format_ts((now or datetime.now(UTC)) - delta)
        except OverflowError:
            return "0000-01-01T00:00:00.000Z"
    try:
        return parse_ts(s)
    except ValueError:
        raise PtrainError(
            f"cannot read --since {s!r}", "use 7d, 12h, 2w or a date like 2026-11-01"
        ) from None


def check_prompt(prompt: str | None) -> None:
    if prompt is not None and not NAME_RE.match(prompt):
        raise PtrainError(f"{prompt[:60]!r} is not a prompt name", "see `ptrain prompt list`")


def version_match(rec_version: str | None, rec_number: int | None, want: str | int | None) -> bool:
    if want is None:
        return True
    if isinstance(want, int) or (
        isinstance(want, str) and re.fullmatch(r"v?\d{1,6}", want) and len(want) < 7
    ):
        return rec_number == int(str(want).lstrip("v"))
    return bool(rec_version) and str(rec_version).startswith(str(want).lower())


def parse_each(
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


@dataclass
class FeedbackList:
    records: list[dict[str, Any]]
    warnings: list[str]
    total_matched: int


def iter_feedback(
    root: str | os.PathLike[str],
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
    """Stored records as plain dicts (the on-disk keys; absent = None), shard by shard."""

    store = open_store(root)
    check_prompt(prompt)
    recover(store)
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
        for lineno, r in parse_each(chunk.data, rel, 1, warn):
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
            if not version_match(r.get("version"), r.get("version_number"), version):
                continue
            batch.append(r)
        if newest_first:
            batch.reverse()
        yield from batch


def list_feedback(
    root: str | os.PathLike[str], prompt: str, *, limit: int | None = None, **filters: Any
) -> FeedbackList:
    """The newest ``limit`` records of ``prompt`` (newest first) matching ``filters``."""
    warnings: list[str] = []
    recs: list[dict[str, Any]] = list(
        iter_feedback(root, prompt, warnings=warnings, newest_first=True, **filters)
    )
    recs.sort(key=lambda r: (r.get("ts", ""), r.get("id", "")), reverse=True)
    return FeedbackList(recs[:limit] if limit else recs, warnings, len(recs))
