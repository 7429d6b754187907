"""Reading import files (JSONL, CSV) in bounded memory and time.

A file is read twice, streaming: a *prescan* (regular file only, total size, longest physical
line, SHA-256 - the import id) and the *parse*, which yields ``(line, record dict | reason)``.
Limits come from ``feedback.limits`` in ptrain.yaml; breaking one is an error for the whole
file (nothing is written), as is malformed CSV (an unterminated quote never swallows rows).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ptrain.errors import PtrainError
from ptrain.feedback.options import Limits
from ptrain.storage import jsonl

_CSV_INT = {"version_number", "prompt_tokens", "completion_tokens", "schema_version"}
_CSV_FLOAT = {"rating", "latency_ms"}
_CSV_JSON = {"inputs", "metadata", "metrics"}
_MAX_CSV_COLUMNS = 64
_HINT = "raise it under feedback.limits in ptrain.yaml, or split the file"

Row = tuple[int, dict[str, Any] | str]


@dataclass
class Prescan:
    size: int
    lines: int
    digest: str


def open_regular(src: Path) -> BinaryIO:
    try:
        fh = open(src, "rb")  # noqa: SIM115 - the caller closes it
    except OSError as exc:
        raise PtrainError(f"cannot read {src}: {exc.strerror}", "check the path") from None
    if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
        fh.close()
        raise PtrainError(
            f"{src} is not a regular file (a device, pipe or directory)",
            "export the records to a .jsonl or .csv file and import that",
        )
    return fh


def prescan(src: Path, limits: Limits, salt: bytes) -> Prescan:
    """Check the limits without parsing; the digest (with ``salt``) is the import id."""
    h = hashlib.sha256(salt)
    with open_regular(src) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limits.max_import_bytes:
            raise PtrainError(
                f"{src} is {size:,} bytes; the import limit is {limits.max_import_bytes:,} "
                "(feedback.limits.max_import_bytes)",
                _HINT,
            )
        n = total = 0
        cap = limits.max_record_bytes
        while True:
            raw = fh.readline(cap + 2)
            if not raw:
                break
            n += 1
            total += len(raw)
            if len(raw.rstrip(b"\r\n")) > cap:
                raise PtrainError(
                    f"{src}: line {n} is longer than {cap:,} bytes (feedback.limits.max_record_bytes)",
                    _HINT,
                )
            if total > limits.max_import_bytes:  # the file grew while we read it
                raise PtrainError(f"{src} grew past the import limit while reading", _HINT)
            h.update(raw)
    return Prescan(total, n, h.hexdigest())


def jsonl_rows(fh: BinaryIO, limits: Limits) -> Iterator[Row]:
    for i, raw in enumerate(iter(lambda: fh.readline(limits.max_record_bytes + 2), b""), 1):
        if not raw.strip():
            continue
        try:
            doc = jsonl.loads(raw)
        except jsonl.JSONDecodeError as exc:
            yield i, f"invalid JSON at column {getattr(exc, 'colno', '?')}"
            continue
        yield i, doc if isinstance(doc, dict) else "expected a JSON object"


def _cell(k: str, v: str) -> Any:
    if k in _CSV_INT:
        return int(v)
    if k in _CSV_FLOAT:
        return float(v)
    if k in _CSV_JSON:
        return jsonl.loads(v)
    return v


def csv_rows(fh: BinaryIO, limits: Limits, src: Path) -> Iterator[Row]:
    """Rows as record dicts. Strict CSV: a stray or unterminated quote fails the import."""
    text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
    old = csv.field_size_limit(limits.max_record_bytes)
    reader = csv.reader(text, strict=True)
    start = 1
    try:
        header = [h.strip() for h in next(reader, [])]
        if len(header) > _MAX_CSV_COLUMNS:
            raise PtrainError(
                f"{src}: {len(header)} columns; at most {_MAX_CSV_COLUMNS}", "check the header row"
            )
        start = reader.line_num + 1
        for row in reader:
            line, start = start, reader.line_num + 1
            if not any(c.strip() for c in row):
                continue
            if len(row) > len(header):
                yield line, "more values than header columns"
                continue
            doc: dict[str, Any] = {}
            key = ""
            try:
                for key, v in zip(header, row, strict=False):
                    if v != "":
                        doc[key] = _cell(key, v)
            except (ValueError, jsonl.JSONDecodeError) as exc:
                yield line, f"{key}: {str(exc).splitlines()[0][:80]}"
                continue
            yield line, doc
    except csv.Error as exc:
        what = str(exc)
        if "unexpected end of data" in what:
            what = "a quoted field is never closed (unterminated quote)"
        raise PtrainError(
            f"{src}: malformed CSV in the row starting at line {start}: {what}; nothing imported",
            'fix the quoting (a quote inside a field is written twice: "")',
        ) from None
    except UnicodeDecodeError:
        raise PtrainError(f"{src} is not UTF-8 text", "export the CSV as UTF-8") from None
    finally:
        csv.field_size_limit(old)
        text.detach()
