"""Prompt history read in one pass for every prompt, cached per HEAD and per ref state.

Two indexes, each built by ONE git process for all prompts (never one per prompt), kept in
memory per git dir and on disk under ``<git common dir>/ptrain-cache/`` (local, never committed,
safe to delete: it is rebuilt on the next read):

* ``versions.json``: file path -> the commits on HEAD that touched it, newest first, as
  ``[sha, author, date, subject]`` (``git log --topo-order --name-only -- <prompts dir>``). Keyed by HEAD;
  when HEAD moved forward from the cached one, only the new commits are read
  (``git log OLD..HEAD``, a few ms), so ptrain's own commits keep it warm.
* ``trailers-<Key>.json``: trailer value -> (sha, committer date) of the newest commit on any
  ref carrying the line ``<Key>: <value>`` (``git log --all --grep``). Keyed by a digest of
  every ref's value (one ``for-each-ref``), since training branches and remote-tracking refs
  count too.

This module runs no git itself: it calls the typed verbs of :class:`~ptrain.storage.git.Git`.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

from ptrain.storage.yamlio import atomic_write

if TYPE_CHECKING:
    from ptrain.storage.git import Git

CACHE_DIR = "ptrain-cache"
SCHEMA_VERSION = 1
Entry = list[str]  # [sha, "Name <email>", ISO date, subject]

_memory: dict[tuple[str, str], tuple[str, Any]] = {}


def _loads(data: bytes) -> Any:
    try:
        import orjson

        return orjson.loads(data)
    except ImportError:  # pragma: no cover - orjson is a runtime dependency
        return json.loads(data)


def _load(git: Git, file: str) -> dict | None:
    try:
        doc = _loads((git.common_dir / CACHE_DIR / file).read_bytes())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("schema_version") == SCHEMA_VERSION else None


def _save(git: Git, file: str, doc: dict) -> None:
    with contextlib.suppress(OSError):  # a read-only mirror: no cache, same answers
        (git.common_dir / CACHE_DIR).mkdir(exist_ok=True)
        text = json.dumps({"schema_version": SCHEMA_VERSION, **doc}, separators=(",", ":"))
        atomic_write(git.common_dir / CACHE_DIR / file, text)


def _prepend(per: dict[str, list[Entry]], commits: list[dict]) -> dict[str, list[Entry]]:
    """``per`` with ``commits`` (newest first, from ``log_file_commits``) put in front."""
    new: dict[str, list[Entry]] = {}
    for c in commits:
        entry = [c["commit"], c["author"], c["date"], c["message"]]
        for f in c["files"]:
            new.setdefault(f, []).append(entry)
    for path, entries in new.items():
        per[path] = entries + per.get(path, [])
    return per


def commits_by_path(git: Git, prefix: str, *, build: bool = True) -> dict[str, list[Entry]] | None:
    """File path under ``prefix`` -> commits on HEAD touching it, newest first.

    From memory or ``versions.json`` when HEAD has not moved; from the cached index plus
    ``git log OLD..HEAD`` when HEAD moved forward; else from one full ``git log`` -- or, with
    ``build=False`` (one prompt wanted, no index yet), None: the caller asks git for that one
    file instead, which with the commit-graph's Bloom filters is cheaper than indexing all.
    """
    head = git.head_fast()
    if head is None:
        return {}
    key = f"{head} {prefix}"
    mem = _memory.get((str(git.common_dir), "versions"))
    if mem is not None and mem[0] == key:
        return mem[1]
    doc = _load(git, "versions.json")
    per: dict[str, list[Entry]] | None = None
    if doc is not None and doc.get("prefix") == prefix and isinstance(doc.get("per"), dict):
        old = doc.get("head")
        if old == head:
            per = doc["per"]
        elif isinstance(old, str) and git.is_ancestor(old, head):
            per = _prepend(doc["per"], git.log_files_topo(prefix, f"{old}..{head}"))
            _save_versions(git, head, prefix, per)
    if per is None:
        if not build:
            return None
        per = _prepend({}, git.log_files_topo(prefix, head))
        _save_versions(git, head, prefix, per)
    _memory[(str(git.common_dir), "versions")] = (key, per)
    return per


def _save_versions(git: Git, head: str, prefix: str, per: dict[str, list[Entry]]) -> None:
    """``versions.json`` with one path per line, and ``versions-offsets.json`` (written after
    it, same HEAD) saying where each path's line is: one prompt's read parses one line."""
    header = {"schema_version": SCHEMA_VERSION, "head": head, "prefix": prefix}
    parts = [json.dumps(header)[:-1] + ', "per": {\n']
    pos, offsets, last = len(parts[0]), {}, len(per) - 1
    for i, (path, entries) in enumerate(per.items()):
        line = f"{json.dumps(path)}:{json.dumps(entries, separators=(',', ':'))}"
        line += ",\n" if i < last else "\n"
        offsets[path] = [pos, len(line)]  # ASCII (json.dumps escapes): bytes == characters
        pos += len(line)
        parts.append(line)
    parts.append("}}\n")
    with contextlib.suppress(OSError):
        (git.common_dir / CACHE_DIR).mkdir(exist_ok=True)
        atomic_write(git.common_dir / CACHE_DIR / "versions.json", "".join(parts))
        _save(git, "versions-offsets.json", {"head": head, "prefix": prefix, "offsets": offsets})


def commits_of(git: Git, prefix: str, path: str) -> list[Entry] | None:
    """One path's commits on HEAD, newest first: from memory, else the one line of
    ``versions.json`` that holds it, else as :func:`commits_by_path` with ``build=False``
    (None: no index yet)."""
    head = git.head_fast()
    mem = _memory.get((str(git.common_dir), "versions"))
    if head is not None and mem is not None and mem[0] == f"{head} {prefix}":
        return mem[1].get(path, [])
    idx = _load(git, "versions-offsets.json")
    if idx is not None and idx.get("head") == head and idx.get("prefix") == prefix:
        at = idx.get("offsets", {}).get(path)
        if at is None:
            return []
        try:
            with open(git.common_dir / CACHE_DIR / "versions.json", "rb") as f:
                f.seek(at[0])
                one = _loads(b"{" + f.read(at[1]).rstrip().rstrip(b",") + b"}")
            if isinstance(one, dict) and isinstance(one.get(path), list):
                return one[path]
        except (OSError, ValueError, TypeError):
            pass  # rewritten meanwhile: read it whole below
    per = commits_by_path(git, prefix, build=False)
    return None if per is None else per.get(path, [])


def trailer_index(git: Git, key: str) -> dict[str, tuple[str, str]]:
    """Trailer value -> (sha, committer date) of the newest commit on any ref with the line
    ``key: value``: the same answer as ``git.last_trailer_commit(key, value)`` for every value,
    from one ``git log --all`` (cached per ref state)."""
    digest = git.refs_digest()
    mem = _memory.get((str(git.common_dir), f"trailers {key}"))
    if mem is not None and mem[0] == digest:
        return mem[1]
    file = f"trailers-{key}.json"
    doc = _load(git, file)
    if doc is not None and doc.get("refs") == digest and isinstance(doc.get("index"), dict):
        index = {v: (hit[0], hit[1]) for v, hit in doc["index"].items()}
    else:
        index = {}
        for sha, date, values in git.trailer_commits(key):
            for v in values:
                index.setdefault(v, (sha, date))
        _save(git, file, {"refs": digest, "index": {v: list(hit) for v, hit in index.items()}})
    _memory[(str(git.common_dir), f"trailers {key}")] = (digest, index)
    return index
