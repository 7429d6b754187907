"""Where feedback lives and how it is appended: shards under the repo's ``feedback_dir``.

``root`` is either a prompt repository (it has ``ptrain.yaml``; shards live in its
``feedback_dir``) or a *spool directory* (anything else; shards live directly in it). The
layout is ``<shards>/<prompt>/<YYYY-MM-DD>/<writer>.jsonl``; the append protocol (one locked,
fsynced write per shard) is ``ptrain.storage.jsonl``'s.

Nothing is written outside the store: ``feedback_dir`` must be a relative path inside the
repository (not absolute, no ``..``, not ``.git``), and a prompt directory that is a symlink to
somewhere else is refused, not followed.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ptrain.errors import PtrainError, ValidationError
from ptrain.feedback import options as foptions
from ptrain.feedback.check import check
from ptrain.feedback.fields import DAY_RE
from ptrain.feedback.redact import Redactor
from ptrain.layout import raw_settings
from ptrain.storage import jsonl

if TYPE_CHECKING:
    from ptrain.feedback.records import Record

# Appends validate with ``check`` and keep records as dicts: pydantic (the ``Record`` model) is
# imported only to hand ``Record`` objects back to API callers, or to word a refusal.


@dataclass(frozen=True)
class Store:
    """Resolved locations for a repo root or a spool directory."""

    root: Path
    shards: Path  # the directory holding <prompt>/<day>/<writer>.jsonl
    cache: Path
    is_repo: bool
    config: foptions.FeedbackOptions = field(default_factory=lambda: foptions.DEFAULT)

    def shard_path(self, prompt: str, day: str, writer: str) -> Path:
        return self.shards / prompt / day / f"{writer}.jsonl"

    def rel(self, path: Path | str) -> str:
        return Path(path).relative_to(self.shards).as_posix()


def _shards_dir(root: Path, setting: Any) -> Path:
    value = "feedback" if setting is None else setting
    bad = None
    if not isinstance(value, str) or not value.strip():
        bad = "must be a folder name"
    else:
        p = PurePosixPath(value.replace("\\", "/"))
        if p.is_absolute():
            bad = "is an absolute path"
        elif ".." in p.parts:
            bad = "leaves the repository (..)"
        elif not p.parts or p.parts[0] in (".git", ".ptrain") or p.parts == (".",):
            bad = "must be a folder of its own inside the repository"
    if bad is None:
        full = (root / value).resolve()
        try:
            parts = full.relative_to(root).parts
        except ValueError:
            parts = ()
            bad = "resolves outside the repository (a symlink?)"
        if parts and parts[0] == ".git":
            bad = "resolves into .git"
    if bad is not None:
        raise ValidationError(
            f"ptrain.yaml: feedback_dir {str(value)[:80]!r} {bad}",
            "use a folder inside the repository, e.g. feedback_dir: feedback",
        )
    return root / value


def open_store(root: str | os.PathLike[str]) -> Store:
    root = Path(root).resolve()
    cache = root / ".ptrain" / "cache" / "feedback"
    if (root / "ptrain.yaml").is_file():
        raw = raw_settings(root)
        shards = _shards_dir(root, raw.get("feedback_dir"))
        return Store(root, shards, cache, True, foptions.read(raw.get("feedback")))
    return Store(root, root, cache, False)


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
    """Every shard (``<prompt>/<day>/<writer>.jsonl``) of one prompt or of all, oldest day first.

    Symlinks (to directories or files) are never followed: writes refuse them, reads skip them.
    """
    out: list[Shard] = []
    if prompt is not None:
        d = store.shards
        for part in prompt.split("/"):
            d = d / part
            if d.is_symlink():
                return out
        _walk(d, prompt, out, days_only=True)
    else:
        _walk(store.shards, "", out)
    out.sort(key=lambda s: (s.day, s.prompt, s.name))
    return out


def _walk(d: Path | str, prefix: str, out: list[Shard], days_only: bool = False) -> None:
    try:
        entries = list(os.scandir(d))
    except (FileNotFoundError, NotADirectoryError):
        return
    for e in entries:
        if not e.is_dir(follow_symlinks=False) or e.name.startswith((".", "_")):
            continue
        if DAY_RE.match(e.name):
            if prefix:
                for f in os.scandir(e.path):
                    if (
                        f.name.endswith(".jsonl")
                        and not f.name.startswith(".")
                        and f.is_file(follow_symlinks=False)
                    ):
                        out.append(Shard(f.path, prefix, e.name, f.name))
        elif not days_only:
            _walk(e.path, f"{prefix}/{e.name}" if prefix else e.name, out)


def check_inside(store: Store, path: Path, seen: set[str] | None = None) -> None:
    """Refuse to write ``path`` unless it stays inside the store once symlinks are resolved."""
    parent = str(path.parent)
    if seen is not None and parent in seen:
        return
    real_root = os.path.realpath(store.shards)
    real = os.path.realpath(parent)
    if real != real_root and not real.startswith(real_root + os.sep):
        rel = path.parent.relative_to(store.shards).as_posix()
        raise PtrainError(
            f"{rel} leads outside {store.shards.name}/ (a symlink to {real}); refusing to write",
            "replace the symlink with a real directory",
        )
    if seen is not None:
        seen.add(parent)


def payloads(store: Store, records: Iterable[dict[str, Any]], writer: str) -> dict[Path, bytes]:
    """Stored records (dicts) as the bytes to append to each shard."""
    parts: dict[tuple[str, str], list[bytes]] = {}
    limit = store.config.limits.max_record_bytes
    dumps = jsonl.dumps
    for rec in records:
        line = dumps(rec) + b"\n"
        if len(line) > limit:
            raise ValidationError(
                f"a feedback record of {len(line):,} bytes is over the limit of {limit:,}",
                "shorten its text or raise feedback.limits.max_record_bytes in ptrain.yaml",
            )
        parts.setdefault((rec["prompt"], rec["ts"][:10]), []).append(line)
    return {store.shard_path(p, d, writer): b"".join(lines) for (p, d), lines in parts.items()}


def redactor_for(store: Store) -> Any:
    return Redactor(store.config.redact)


_REDACTED_FIELDS = ("error_message", "output", "message", "suggestion", "inputs", "metadata")


def redact_doc(doc: dict[str, Any], redactor: Any) -> dict[str, Any]:
    """``doc`` with the policy applied to its text, inputs and metadata (a copy if changed)."""
    if not redactor.active:
        return doc
    out = doc
    for name in _REDACTED_FIELDS:
        v = doc.get(name)
        if v is not None:
            new = redactor.value(v)
            if new is not v:
                if out is doc:
                    out = dict(doc)
                out[name] = new
    return out


def redact(rec: Record, redactor: Any) -> Record:
    """``rec`` with the policy applied to its text, inputs and metadata (a copy if changed)."""
    if not redactor.active:
        return rec
    update: dict[str, Any] = {}
    for name in _REDACTED_FIELDS:
        v = getattr(rec, name)
        if v is not None:
            new = redactor.value(v)
            if new is not v:
                update[name] = new
    return rec.model_copy(update=update) if update else rec


def as_record(doc: dict[str, Any]) -> Record:
    """A stored (already valid) record as the pydantic ``Record`` API callers get."""
    from ptrain.feedback.records import from_stored  # lazy: pydantic off feedback add

    return from_stored(doc)


class FeedbackWriter:
    """Appends records for one repo or spool; resolves the store and writer id once.

    For long-lived writers (the LangChain callback, an app's request handler): ``write`` costs
    one validation, the redaction policy and one locked append, with no config reading per call.
    ``redacted`` counts what the policy removed so far (kind -> occurrences).
    """

    def __init__(self, root: str | os.PathLike[str], writer: str | None = None):
        self.store = open_store(root)
        self.writer = writer or jsonl.writer_id(self.store.root)
        self.redactor = redactor_for(self.store)
        self._checked: set[str] = set()

    @property
    def redacted(self) -> Counter[str]:
        return self.redactor.counts

    def append(self, recs: Iterable[Record | dict[str, Any]]) -> list[dict[str, Any]]:
        """Validate, redact and append all records in one append; the stored records as dicts
        (what went into the shard). Pydantic is not imported for valid plain records."""
        checked = [redact_doc(check(r), self.redactor) for r in recs]
        if checked:
            out = payloads(self.store, checked, self.writer)
            for path in out:
                check_inside(self.store, path, self._checked)
            jsonl.append_many(out)
        return checked

    def write(self, recs: Iterable[Record | dict[str, Any]]) -> list[Record]:
        """``append``, returning the stored records as ``Record`` objects."""
        return [as_record(doc) for doc in self.append(recs)]


def record(
    root: str | os.PathLike[str], rec: Record | dict[str, Any], *, writer: str | None = None
) -> Record:
    """Validate, redact and append one record. Returns the stored record (with id and ts)."""
    return record_many(root, [rec], writer=writer)[0]


def record_many(
    root: str | os.PathLike[str],
    recs: Iterable[Record | dict[str, Any]],
    *,
    writer: str | None = None,
) -> list[Record]:
    """Validate and redact all records, then append them in one atomic append (all or none)."""
    return FeedbackWriter(root, writer).write(recs)
