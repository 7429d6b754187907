"""Imports: a JSONL/CSV export, or a spool directory, moved into the store all or nothing.

A file import is a small transaction on disk:

1. **prescan** the file (limits, SHA-256). The import id is that digest (with the options); if
   ``<shards>/_imports.jsonl`` already lists it, the import is a no-op.
2. **stage**: validate, redact and write every record into ``<shards>/.import-<id>/`` (hidden:
   readers never look there), each file fsynced.
3. **commit point**: write ``.import-<id>/COMMIT`` (atomic rename). Before it, a crash leaves
   nothing visible and the next ptrain command deletes the stage; after it, the next command
   finishes the job.
4. **move** each staged file to ``<prompt>/<day>/<writer>-<id>.jsonl`` (a new name: a rename
   never replaces a shard), append the id to the ledger, delete the stage.

Every reader (summary, list, training reads, commit, prune) first finishes or removes a stage
left by a crashed import (``recover``), holding the import lock, so nobody ever sees half an
import, and a retry of the same input neither duplicates nor loses a record.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ptrain import faults
from ptrain.errors import PtrainError, ValidationError
from ptrain.feedback import sources
from ptrain.feedback.records import Record, make_record, now_ts, parse_ts
from ptrain.feedback.store import (
    Store,
    check_inside,
    open_store,
    redact,
    redactor_for,
    shards,
)
from ptrain.repo import PromptRepo
from ptrain.storage import jsonl

LEDGER = "_imports.jsonl"
STAGE_PREFIX = ".import-"
_FLUSH_BYTES = 1 << 20


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
    import_id: str | None = None
    already_imported: bool = False
    redacted: dict[str, int] = field(default_factory=dict)
    versions_from_deploys: int = 0  # no version given: the one deployed at the record's ts
    versions_from_commits: int = 0  # ... before any deploy: the newest committed by then
    unversioned: int = 0  # ... before the prompt's first version: filed as version unknown

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "import_id": self.import_id,
            "already_imported": self.already_imported,
            "accepted": self.accepted,
            "rejected": [{"line": r.line, "reason": r.reason} for r in self.rejected],
            "written": self.written,
            "duplicates": self.duplicates,
            "dry_run": self.dry_run,
            "shards": self.shards,
            "warnings": self.warnings,
            "redacted": self.redacted,
            "versions_from_deploys": self.versions_from_deploys,
            "versions_from_commits": self.versions_from_commits,
            "unversioned": self.unversioned,
        }


# -- the lock, the ledger and recovery -------------------------------------------------------------


@contextlib.contextmanager
def import_lock(store: Store) -> Iterator[None]:
    path = store.cache.parent / "import.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _ledger_ids(store: Store) -> set[str]:
    try:
        data = jsonl.read_complete(store.shards / LEDGER).data
    except FileNotFoundError:
        return set()
    ids = set()
    for _, raw in jsonl.iter_lines(data):
        with contextlib.suppress(jsonl.JSONDecodeError, AttributeError):
            ids.add(jsonl.loads(raw).get("id"))
    return ids


def _stages(store: Store) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(store.shards) if e.name.startswith(STAGE_PREFIX)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def recover(store: Store) -> None:
    """Finish (after COMMIT) or delete (before it) the stages of crashed imports. Cheap when
    there are none: one directory listing."""
    if not _stages(store):
        return
    with import_lock(store):  # an import still running holds it: wait, never touch its stage
        for stage in _stages(store):
            _finish_or_discard(store, stage)


def _finish_or_discard(store: Store, stage: Path) -> None:
    manifest = stage / "COMMIT"
    if not manifest.is_file():
        shutil.rmtree(stage, ignore_errors=True)
        return
    doc = jsonl.loads(manifest.read_bytes())
    for rel, target in doc["files"].items():
        staged = stage / "data" / rel
        if staged.exists():
            dest = store.shards / target
            check_inside(store, dest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staged, dest)
            jsonl.fsync_dir(dest.parent)
            faults.step("import.moving")
    if doc["id"] not in _ledger_ids(store):
        faults.step("import.moved")
        line = {k: doc[k] for k in ("id", "source", "records", "at")}
        jsonl.append(store.shards / LEDGER, jsonl.dumps(line) + b"\n")
    shutil.rmtree(stage, ignore_errors=True)


# -- version by time -------------------------------------------------------------------------------


class _VersionAt:
    """The version deployed to an env at a time (deploy records); before the env's first
    deploy (or with none), the newest version committed by then, the one rule's "else the
    latest" at that moment. One lookup of history per (prompt, env)."""

    def __init__(self, root: Path):
        self.repo = PromptRepo(root)
        self.timelines: dict[tuple[str, str], list[tuple[str, str, int | None, str]]] = {}

    def _timeline(self, prompt: str, env: str) -> list[tuple[str, str, int | None, str]]:
        key = (prompt, env)
        if key not in self.timelines:
            tl: list[tuple[str, str, int | None, str]] = []
            with contextlib.suppress(PtrainError):
                for r in self.repo.history(prompt, env):
                    tl.append((parse_ts(r.at), r.to_commit, r.to_version, "deploy"))
            first = min((t[0] for t in tl), default=None)
            with contextlib.suppress(PtrainError):
                for v in self.repo.versions(prompt):
                    at = parse_ts(v.date) if v.date else None
                    if at and (first is None or at < first):
                        tl.append((at, v.commit, v.number, "commit"))
            tl.sort()
            self.timelines[key] = tl
        return self.timelines[key]

    def __call__(self, rec: Record) -> tuple[str, int | None, str] | None:
        """(commit, number, "deploy" | "commit") for ``rec``'s time; None before the prompt's
        first version."""
        found = None
        for at, commit, number, how in self._timeline(rec.prompt, rec.env or self.repo.default_env):
            if at > rec.ts:
                break
            found = (commit, number, how)
        return found


# -- file imports ----------------------------------------------------------------------------------


class _Stage:
    """Buffers records per target shard and writes them under the stage directory."""

    def __init__(self, store: Store, import_id: str, writer: str):
        self.store, self.id, self.writer = store, import_id, writer
        self.dir = store.shards / f"{STAGE_PREFIX}{import_id}"
        self.buf: dict[str, list[bytes]] = {}
        self.size = 0
        self.counts: dict[str, int] = {}
        self._checked: set[str] = set()

    def add(self, rec: Record, line: bytes) -> None:
        rel = f"{rec.prompt}/{rec.day}/{self.writer}-{self.id}.jsonl"
        if rel not in self.counts:  # refuse a symlinked prompt dir before anything is staged
            check_inside(self.store, self.store.shards / rel, self._checked)
        self.buf.setdefault(rel, []).append(line)
        self.counts[rel] = self.counts.get(rel, 0) + 1
        self.size += len(line)
        if self.size >= _FLUSH_BYTES:
            self.flush()

    def flush(self, sync: bool = False) -> None:
        for rel, lines in self.buf.items():
            path = self.dir / "data" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "ab") as f:
                f.write(b"".join(lines))
        self.buf, self.size = {}, 0
        if sync:
            for rel in self.counts:
                fd = os.open(self.dir / "data" / rel, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)

    def commit(self, source: str, records: int) -> None:
        doc = {"id": self.id, "source": source, "records": records, "at": now_ts(),
               "files": {rel: rel for rel in self.counts}}  # fmt: skip
        jsonl.atomic_write(self.dir / "COMMIT", jsonl.dumps(doc))


def _salt(fmt: str, defaults: dict[str, Any] | None, writer: str) -> bytes:
    opts = {"fmt": fmt, "defaults": {k: v for k, v in (defaults or {}).items() if v is not None},
            "writer": writer}  # fmt: skip
    return jsonl.dumps(opts)


def import_file(
    root: str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    fmt: Literal["jsonl", "csv"] | None = None,
    defaults: dict[str, Any] | None = None,
    dry_run: bool = False,
    writer: str | None = None,
) -> ImportReport:
    """Import a JSONL or CSV export: every line validated, the valid ones written all or nothing.

    ``defaults`` fill keys a line lacks (``prompt``, ``version``, ``env``, ``source``...). A
    record with no version gets the one deployed to its env at its ``ts`` (from the deploy
    records), else the newest version committed by then. The report lists each rejected line
    with its 1-based line number and the reason; limits and malformed CSV fail the whole file.
    """
    src = Path(path)
    fmt = fmt or ("csv" if src.suffix.lower() == ".csv" else "jsonl")
    if fmt not in ("jsonl", "csv"):
        raise PtrainError(f"unknown import format {fmt!r}", "use --format jsonl or --format csv")
    store = open_store(root)
    limits = store.config.limits
    writer = writer or jsonl.writer_id(store.root)
    scan = sources.prescan(src, limits, _salt(fmt, defaults, writer))
    import_id = scan.digest[:16]
    report = ImportReport(str(src), dry_run=dry_run, import_id=import_id)
    if scan.lines > limits.max_import_records + 1:
        raise PtrainError(
            f"{src} has {scan.lines:,} lines; the import limit is {limits.max_import_records:,} "
            "records (feedback.limits.max_import_records)",
            "split the file, or raise the limit in ptrain.yaml",
        )
    recover(store)
    if report.import_id in _ledger_ids(store):
        report.already_imported = True
        return report
    with import_lock(store):
        if report.import_id in _ledger_ids(store):
            report.already_imported = True
            return report
        stage = _Stage(store, import_id, writer)
        shutil.rmtree(stage.dir, ignore_errors=True)
        try:
            _stage_records(store, src, fmt, defaults, limits, stage, report)
            if report.accepted and not dry_run:
                stage.flush(sync=True)
                faults.step("import.staged")
                stage.commit(src.name, report.accepted)
                faults.step("import.committed")
                _finish_or_discard(store, stage.dir)
                report.written = report.accepted
        except BaseException:
            if not (stage.dir / "COMMIT").exists():
                shutil.rmtree(stage.dir, ignore_errors=True)
            raise
        finally:
            if dry_run or not report.accepted:
                shutil.rmtree(stage.dir, ignore_errors=True)
        report.shards = sorted(stage.counts)
    return report


def _stage_records(
    store: Store,
    src: Path,
    fmt: str,
    defaults: dict[str, Any] | None,
    limits: Any,
    stage: _Stage,
    report: ImportReport,
) -> None:
    redactor = redactor_for(store)
    version_at = _VersionAt(store.root) if store.is_repo else None
    cap = limits.max_record_bytes
    with sources.open_regular(src) as fh:
        rows = sources.csv_rows(fh, limits, src) if fmt == "csv" else sources.jsonl_rows(fh, limits)
        for line, doc in rows:
            if isinstance(doc, str):
                report.rejected.append(Rejected(line, doc))
                continue
            try:
                rec = make_record(doc, defaults)
            except ValidationError as exc:
                reason = exc.message.removeprefix("invalid feedback record: ")
                report.rejected.append(Rejected(line, reason))
                continue
            if rec.version is None and version_at is not None:
                found = version_at(rec)
                if found is None:
                    report.unversioned += 1
                else:
                    rec = rec.model_copy(update={"version": found[0], "version_number": found[1]})
                    if found[2] == "deploy":
                        report.versions_from_deploys += 1
                    else:
                        report.versions_from_commits += 1
            rec = redact(rec, redactor)
            data = rec.to_line()
            if len(data) > cap:
                report.rejected.append(
                    Rejected(line, f"record is {len(data):,} bytes; the limit is {cap:,}")
                )
                continue
            report.accepted += 1
            stage.add(rec, data)
    report.redacted = dict(redactor.counts)


# -- spool imports ---------------------------------------------------------------------------------


def import_spool(
    root: str | os.PathLike[str], spool: str | os.PathLike[str], *, dry_run: bool = False
) -> ImportReport:
    """Move the records of a spool directory into the repository at ``root``.

    Each spool shard is locked, its complete lines validated, redacted and appended to the repo
    shard of the same relative path (the writer id of the app that wrote it), then emptied.
    Records whose id is already in the target shard are skipped, so a job that crashed between
    the append and the emptying loses nothing and duplicates nothing when it runs again.
    """
    repo, sp = open_store(root), open_store(spool)
    if sp.root == repo.root or sp.is_repo:
        raise PtrainError(f"{sp.root} is not a spool directory", "pass the directory apps write to")
    report = ImportReport(str(sp.root), dry_run=dry_run)
    redactor = redactor_for(repo)
    cap = repo.config.limits.max_record_bytes
    recover(repo)
    for shard in shards(sp):
        rel = shard.rel(sp)
        with jsonl.locked_shard(shard.path) as fd:
            chunk = jsonl.read_complete(shard.path)
            report.warnings += chunk.warnings
            target = repo.shards / rel
            check_inside(repo, target)
            seen = set()
            if target.exists():
                for _, raw in jsonl.iter_lines(jsonl.read_complete(target).data):
                    with contextlib.suppress(jsonl.JSONDecodeError, AttributeError):
                        seen.add(jsonl.loads(raw).get("id"))
            lines: list[bytes] = []
            for lineno, raw in jsonl.iter_lines(chunk.data):
                try:
                    if len(raw) > cap:
                        raise ValidationError(f"record is {len(raw):,} bytes; the limit is {cap:,}")
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
                lines.append(redact(rec, redactor).to_line())
            if dry_run:
                continue
            if lines:
                jsonl.append(target, b"".join(lines))
                report.written += len(lines)
                report.shards.append(rel)
            jsonl.truncate_locked(fd, 0)
    report.redacted = dict(redactor.counts)
    if not dry_run:
        for shard in shards(sp):
            if shard.path.stat().st_size == 0:
                jsonl.remove_quietly(shard.path)
    return report
