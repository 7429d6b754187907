"""``ptrain doctor``: find (and with ``fix``, repair) what crashes and races can leave behind.

Checks, each explained as a :class:`Finding` with the fix:

* ``stale-lock``: git lock files (``index.lock``, ``refs/**.lock``, ``HEAD.lock``,
  ``packed-refs.lock``) older than ``lock_age_s``; a younger one may belong to a running git.
* ``temp-index``: temporary indexes in ``<git dir>/ptrain-tmp/`` whose process is gone.
* ``orphan-record``: deploy records above the live one (see :mod:`ptrain.deploy`); deleted only
  if they still hold the object doctor saw (compare-and-swap).
* ``broken-chain``: a moving tag that names a record whose ref is missing (recreated from the
  tag object), or that points at something that is not a deploy record (reported only).
* ``stale-index``: a ptrain-managed path whose index entry differs from HEAD while the file
  equals HEAD: a ptrain commit was interrupted before it updated the index, and the next
  ``git commit`` would undo it (reset to HEAD).
* ``torn-shard``: a feedback JSONL shard whose last line is incomplete (an append was cut off);
  the torn bytes are moved to ``<git dir>/ptrain-doctor/`` and the shard cut at its last newline.
* ``uncommitted`` (a note, never changed): a prompt file written but not committed, e.g. after
  ``prompt update`` was killed.

Without ``fix`` nothing is changed. With it, repairs run under ptrain's repository lock.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ptrain.deploy import chains
from ptrain.errors import PtrainError
from ptrain.layout import CONFIG_FILE, DEFAULT_PROMPTS_DIR, raw_settings
from ptrain.storage.git import TMP_DIR, Git, RefOp
from ptrain.storage.gitfiles import leaked_temp_indexes, lock_files

DEFAULT_LOCK_AGE_S = 5.0
DOCTOR_DIR = "ptrain-doctor"


@dataclass
class Finding:
    kind: str
    subject: str
    message: str
    hint: str
    problem: bool = True  # False: a note (nothing is broken, nothing to repair)
    fixed: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Report:
    root: str
    fix: bool
    findings: list[Finding] = field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.problem and not f.fixed]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {
            "root": self.root,
            "fix": self.fix,
            "ok": self.ok,
            "findings": [f.to_dict() for f in self.findings],
        }


def doctor(
    path: str | Path = ".", fix: bool = False, lock_age_s: float = DEFAULT_LOCK_AGE_S
) -> Report:
    """Check the repository at ``path``; with ``fix``, repair what can be repaired safely."""
    git = Git.discover(Path(path))
    root = git.work_tree or git.git_dir
    rep = Report(str(root), fix)
    lock = git.lock() if fix else contextlib.nullcontext()
    with lock:
        _locks(git, rep, fix, lock_age_s)
        _temp_indexes(git, rep, fix)
        _deploy_chains(git, rep, fix)
        settings = _settings(git, rep)
        if git.work_tree is not None and settings is not None:
            prompts = str(settings.get("prompts_dir") or DEFAULT_PROMPTS_DIR).strip("/")
            feedback = str(settings.get("feedback_dir") or "feedback").strip("/")
            _index_behind(git, rep, fix, [prompts, feedback])
            _uncommitted(git, rep, prompts)
            _torn_shards(git, rep, fix, feedback, lock_age_s)
    return rep


def _settings(git: Git, rep: Report) -> dict | None:
    if git.work_tree is None:
        return {}
    try:
        return raw_settings(git.work_tree)
    except PtrainError as exc:
        rep.findings.append(Finding("config", CONFIG_FILE, exc.message, exc.hint or "fix it"))
        return None


def _locks(git: Git, rep: Report, fix: bool, age_s: float) -> None:
    for lf in lock_files(git.git_dir, git.common_dir):
        shown = (
            str(lf.path.relative_to(git.common_dir.parent))
            if lf.path.is_relative_to(git.common_dir.parent)
            else str(lf.path)
        )
        if lf.age_s < age_s:
            rep.findings.append(
                Finding(
                    "lock",
                    shown,
                    f"lock file {lf.age_s:.0f} s old: a git command is probably running",
                    "wait for it; run `ptrain doctor` again if it stays",
                    problem=False,
                )
            )
            continue
        f = Finding(
            "stale-lock",
            shown,
            f"lock file left behind {lf.age_s:.0f} s ago (a git command crashed or was killed); "
            "it blocks every change to what it locks",
            "`ptrain doctor --fix` removes it (make sure no git command is still running)",
        )
        if fix:
            lf.path.unlink(missing_ok=True)
            f.fixed = True
        rep.findings.append(f)


def _temp_indexes(git: Git, rep: Report, fix: bool) -> None:
    for p in leaked_temp_indexes(git.common_dir, TMP_DIR):
        f = Finding(
            "temp-index",
            str(p.relative_to(git.common_dir)),
            "temporary index of a ptrain command that did not finish (its process is gone)",
            "`ptrain doctor --fix` deletes it; it holds nothing that is not in the repository",
        )
        if fix:
            p.unlink(missing_ok=True)
            f.fixed = True
        rep.findings.append(f)


def _deploy_chains(git: Git, rep: Report, fix: bool) -> None:
    for (name, env), ch in sorted(chains(git).items()):
        for ref, obj in ch.orphans:
            f = Finding(
                "orphan-record",
                ref.removeprefix("refs/tags/"),
                f"deploy record above the live one of {name}@{env} (record "
                f"{ch.live_seq}): a deploy that never took effect",
                "`ptrain doctor --fix` deletes it (it is not part of the history)",
            )
            if fix:
                f.fixed = git.delete_ref(ref, obj)
            rep.findings.append(f)
        if ch.live_record_missing:
            rep.findings.append(_repair_live(git, name, env, ch.live_obj or "", ch.live_seq, fix))
        for seq, (ref, _, rec) in sorted(ch.records.items()):
            if (ch.live_seq is None or seq <= ch.live_seq) and not git.has_object(rec.to_commit):
                rep.findings.append(
                    Finding(
                        "missing-commit",
                        ref.removeprefix("refs/tags/"),
                        f"the deployed commit {rec.to_commit[:8]} is not in this clone",
                        "fetch it: `git fetch --tags origin` (a shallow clone: `git fetch --unshallow`)",
                    )
                )


def _repair_live(git: Git, name: str, env: str, obj: str, seq: int | None, fix: bool) -> Finding:
    moving = f"ptrain/{name}@{env}"
    tag = git.tag_name_of(obj)
    if seq is None or tag is None or not tag.startswith("ptrain-deploy/"):
        return Finding(
            "broken-chain",
            moving,
            f"{moving} points at {obj[:8]}, which is not a deploy record",
            f"deploy again: `ptrain prompt deploy {name} VERSION --env {env}`",
        )
    ref = f"refs/tags/{tag}"
    taken = git.rev_parse(ref)
    f = Finding(
        "broken-chain",
        moving,
        f"{moving} points at record {tag}, but that record's tag "
        + ("holds another deploy" if taken else "is missing"),
        "`ptrain doctor --fix` recreates the record from the moving tag"
        if not taken
        else f"deploy again: `ptrain prompt deploy {name} VERSION --env {env}`",
    )
    if fix and not taken:
        git.transaction([RefOp("create", ref, obj)], "ptrain doctor")
        f.fixed = True
    return f


def _index_behind(git: Git, rep: Report, fix: bool, dirs: list[str]) -> None:
    assert git.work_tree is not None
    stale = []
    for rel in git.staged_changes(dirs):
        head = git.show_file("HEAD", rel)
        p = git.work_tree / rel
        work = p.read_bytes() if p.is_file() and not p.is_symlink() else None
        if head is not None and work == head:
            stale.append(rel)
    for rel in stale:
        f = Finding(
            "stale-index",
            rel,
            "the git index still holds an older version than HEAD (a ptrain commit was "
            "interrupted); a plain `git commit` now would undo it",
            f"`ptrain doctor --fix` runs `git reset -q HEAD -- {rel}`",
        )
        rep.findings.append(f)
    if fix and stale:
        git.require_index_unlocked()
        git.sync_index(stale)
        for f in rep.findings:
            if f.kind == "stale-index":
                f.fixed = True


def _uncommitted(git: Git, rep: Report, prompts_dir: str) -> None:
    for rel in git.work_changes([prompts_dir]):
        rep.findings.append(
            Finding(
                "uncommitted",
                rel,
                "prompt file differs from its last commit (edited, or a `prompt update` was "
                "interrupted after writing it)",
                f"commit it with `ptrain prompt update NAME` or discard it with `git checkout -- {rel}`",
                problem=False,
            )
        )


def _torn_shards(git: Git, rep: Report, fix: bool, feedback_dir: str, age_s: float) -> None:
    assert git.work_tree is not None
    base = git.work_tree / feedback_dir
    if not base.is_dir() or base.is_symlink():
        return
    now = time.time()
    for shard in sorted(base.rglob("*.jsonl")):
        if shard.is_symlink() or not shard.is_file():
            continue
        size = shard.stat().st_size
        if size == 0:
            continue
        with open(shard, "rb") as fh:
            fh.seek(max(0, size - 1))
            if fh.read(1) == b"\n":
                continue
        rel = str(shard.relative_to(git.work_tree))
        if now - shard.stat().st_mtime < age_s:
            continue  # an append may be in flight
        f = Finding(
            "torn-shard",
            rel,
            "feedback shard ends in an incomplete line (an append was cut off); readers skip it",
            "`ptrain doctor --fix` moves the torn bytes to .git/ptrain-doctor/ and cuts the shard "
            "at its last complete record",
        )
        if fix:
            _cut_torn(git, shard, rel)
            f.fixed = True
        rep.findings.append(f)


def _cut_torn(git: Git, shard: Path, rel: str) -> None:
    data = shard.read_bytes()
    keep = data.rfind(b"\n") + 1
    keep_dir = git.common_dir / DOCTOR_DIR
    keep_dir.mkdir(exist_ok=True)
    saved = keep_dir / f"{rel.replace('/', '__')}.{time.time_ns()}.torn"
    saved.write_bytes(data[keep:])
    with open(shard, "r+b") as fh:
        fh.truncate(keep)
