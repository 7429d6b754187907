"""Deploys and rollbacks: records as annotated tags, the live state as a moving tag.

Formats (see :mod:`ptrain.storage.git`): ``refs/tags/ptrain-deploy/<name>@<env>/<seq>`` is an
immutable record; ``refs/tags/ptrain/<name>@<env>`` points at the live record's tag object.

Rules that keep the two consistent, whatever crashes or races:

* A record and the move of the moving tag are ONE ref transaction: both land, or neither.
  Two deploys that raced both read the same live record; the transaction of the second fails
  (its record number is taken or the moving tag moved), and nothing is cleaned up afterwards,
  so nothing anyone else wrote can be deleted.
* Every record message has a unique ``id:`` (ns time, host, pid, random), so no two records are
  byte-identical objects.
* The chain is what the moving tag says: records numbered up to the live one are the history;
  records above it (an *orphan*, left by a crash of an older ptrain or copied by hand) are not
  history, do not block a deploy and are never pushed; the next deploy (in its transaction)
  or ``ptrain doctor --fix`` deletes them.
  New numbers continue after the highest record ever seen, so numbers are never reused.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ptrain import faults
from ptrain.errors import ConcurrentUpdate, PtrainError, VersionNotFound
from ptrain.storage.git import DEPLOY_TAG_PREFIX, RECORD_TAG_PREFIX, Git, RefOp

if TYPE_CHECKING:
    from ptrain.versions import PromptStore, Version


@dataclass
class DeployRecord:
    seq: int
    prompt: str
    env: str
    action: str
    to_commit: str
    to_version: int | None
    from_commit: str | None
    from_version: int | None
    by: str
    at: str
    reason: str
    previous: int | None = None  # deploy: the record beneath this one on the rollback stack
    restores: int | None = None  # rollback: the record whose state this restores
    tag: str = ""
    id: str = ""  # unique per record: two deploys never write byte-identical tag objects

    @property
    def effective(self) -> int:
        return self.restores if self.action == "rollback" and self.restores else self.seq

    def to_dict(self) -> dict:
        return asdict(self)


def deploy_ref(name: str, env: str) -> str:
    return f"{DEPLOY_TAG_PREFIX}{name}@{env}"


def record_prefix(name: str, env: str) -> str:
    return f"{RECORD_TAG_PREFIX}{name}@{env}/"


@dataclass
class Chain:
    """The deploy state of one (prompt, env) as stored: records, the moving tag, orphans."""

    prompt: str
    env: str
    records: dict[int, tuple[str, str, DeployRecord]] = field(default_factory=dict)  # seq ->
    live_obj: str | None = None  # what the moving tag points at
    live_seq: int | None = None  # the record number it names (from the tag object's header)

    @property
    def live(self) -> DeployRecord | None:
        hit = self.records.get(self.live_seq or 0)
        return hit[2] if hit and hit[1] == self.live_obj else None

    @property
    def history(self) -> list[DeployRecord]:
        top = self.live_seq if self.live_obj is not None else None
        return [r for s, (_, _, r) in sorted(self.records.items()) if top is None or s <= top]

    @property
    def orphans(self) -> list[tuple[str, str]]:
        """(ref, object) of records above the live one: never part of the history."""
        if self.live_obj is None or self.live_seq is None:
            return []
        return [
            (ref, obj) for s, (ref, obj, _) in sorted(self.records.items()) if s > self.live_seq
        ]

    @property
    def next_seq(self) -> int:
        return max([*self.records, self.live_seq or 0]) + 1

    @property
    def live_record_missing(self) -> bool:
        """The moving tag names a record whose ref is gone or holds another object."""
        return self.live_obj is not None and self.live is None


def _seq(ref_or_name: str) -> int | None:
    tail = ref_or_name.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


def chains(
    git: Git, name: str | None = None, env: str | None = None
) -> dict[tuple[str, str], Chain]:
    """Every (prompt, env) chain, or those of ``name`` (and ``env``), from one for-each-ref."""
    if name is None:
        patterns = [RECORD_TAG_PREFIX, DEPLOY_TAG_PREFIX]
    elif env is None:
        patterns = [f"{RECORD_TAG_PREFIX}{name}@*/*", f"{DEPLOY_TAG_PREFIX}{name}@*"]
    else:
        patterns = [record_prefix(name, env), deploy_ref(name, env)]
    out: dict[tuple[str, str], Chain] = {}
    for ref, obj, tagname, body in git.tag_refs(*patterns):
        if ref.startswith(DEPLOY_TAG_PREFIX):
            n, _, e = ref[len(DEPLOY_TAG_PREFIX) :].rpartition("@")
            ch = out.setdefault((n, e), Chain(n, e))
            ch.live_obj, ch.live_seq = obj, _seq(tagname) if tagname else None
            continue
        where, _, seq_text = ref[len(RECORD_TAG_PREFIX) :].rpartition("/")
        n, _, e = where.rpartition("@")
        rec = record_from(ref, body)
        if rec is None or not seq_text.isdigit() or rec.prompt != n or rec.env != e:
            continue
        out.setdefault((n, e), Chain(n, e)).records[rec.seq] = (ref, obj, rec)
    if name is not None:
        out = {k: v for k, v in out.items() if k[0] == name and (env is None or k[1] == env)}
    return out


def history(repo: PromptStore, name: str, env: str | None = None) -> list[DeployRecord]:
    """Deploy records (oldest first) of one prompt in one env, or in all envs."""
    out = [r for ch in chains(repo.git, name, env).values() for r in ch.history]
    out.sort(key=lambda r: (r.at, r.seq))
    if env:
        out.sort(key=lambda r: r.seq)
    return out


def deploy(repo: PromptStore, name: str, version: str | int, env: str, reason: str) -> DeployRecord:
    repo.check_env(env)
    target = repo.resolve(name, version)
    repo._check_content(name, repo.read_text(name, target.commit))
    return _move(repo, name, env, target, "deploy", reason)


def rollback(repo: PromptStore, name: str, env: str, reason: str) -> DeployRecord:
    repo.check_env(env)
    ch = chains(repo.git, name, env).get((name, env))
    live = ch.live if ch else None
    if live is None:
        repo.check_prompt(name)  # a typo'd name says "did you mean"
        raise VersionNotFound(
            f"{name} was never deployed to {env}",
            f"run `ptrain prompt deploy {name} VERSION --env {env}`",
        )
    assert ch is not None
    by_seq = {s: r for s, (_, _, r) in ch.records.items()}
    base = by_seq.get(live.effective, live)
    below = by_seq.get(base.previous) if base.previous else None
    if below is None:
        raise PtrainError(
            f"{name} in {env} has no earlier deploy to roll back to",
            f"deploy a version explicitly: `ptrain prompt deploy {name} VERSION --env {env}`",
        )
    target = repo._version_of_commit(name, below.to_commit)
    return _move(repo, name, env, target, "rollback", reason, restores=below.seq)


def _unique_id() -> str:
    return f"{time.time_ns()}-{os.uname().nodename[:32]}-{os.getpid()}-{os.urandom(4).hex()}"


def _move(
    repo: PromptStore,
    name: str,
    env: str,
    target: Version,
    action: str,
    reason: str,
    restores: int | None = None,
) -> DeployRecord:
    ch = chains(repo.git, name, env).get((name, env)) or Chain(name, env)
    if ch.live_record_missing:
        raise PtrainError(
            f"ptrain/{name}@{env} points at a deploy record that does not exist",
            "run `ptrain doctor` to see what happened and `ptrain doctor --fix` to repair it",
        )
    current = ch.live
    if action == "deploy" and current and current.to_commit == target.commit:
        raise PtrainError(f"{name} {target.label()} is already deployed to {env}", "nothing to do")
    from_v = repo._version_of_commit(name, current.to_commit) if current else None
    seq = ch.next_seq
    rec = DeployRecord(
        seq=seq,
        prompt=name,
        env=env,
        action=action,
        to_commit=target.commit,
        to_version=target.number,
        from_commit=from_v.commit if from_v else None,
        from_version=from_v.number if from_v else None,
        by=repo.git.user_identity(),
        at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        reason=reason.replace("\n", " ").strip(),
        previous=(current.effective if current else None) if action == "deploy" else None,
        restores=restores,
        id=_unique_id(),
    )
    rec_ref = f"{record_prefix(name, env)}{seq:06d}"
    rec.tag = rec_ref.removeprefix("refs/tags/")
    with repo.git.lock():
        obj = repo.git.make_tag_object(target.commit, rec.tag, record_text(rec))
        faults.step(f"{action}.record-written")
        ops = [
            RefOp("create", rec_ref, obj),
            RefOp("update", deploy_ref(name, env), obj, ch.live_obj),
            # orphans (never live) go in the same transaction, so they can never turn into
            # history below the new record; each only if it still holds what was read
            *(RefOp("delete", ref, old=o) for ref, o in ch.orphans),
        ]
        try:
            repo.git.transaction(ops, f"ptrain {action}", step=action)
        except ConcurrentUpdate:
            raise ConcurrentUpdate(
                f"another deploy of {name} to {env} happened at the same time; yours was not applied",
                f"check `ptrain prompt history {name} --env {env}` and re-run if still needed",
            ) from None
    faults.step(f"{action}.done")
    return rec


# -- deploy record text ----------------------------------------------------------------------
RECORD_KEYS = (
    "prompt",
    "env",
    "action",
    "from_version",
    "from_commit",
    "to_version",
    "to_commit",
    "previous",
    "restores",
    "by",
    "at",
    "reason",
    "id",
)


def record_text(rec: DeployRecord) -> str:
    arrow = (
        f"{('v' + str(rec.from_version)) if rec.from_version else (rec.from_commit or 'nothing')[:8]} -> "
        f"{('v' + str(rec.to_version)) if rec.to_version else rec.to_commit[:8]}"
    )
    lines = [f"ptrain {rec.action} {rec.prompt} to {rec.env}: {arrow}", ""]
    for key in RECORD_KEYS:
        val = getattr(rec, key)
        lines.append(f"{key}: {'-' if val is None or val == '' else val}")
    return "\n".join(lines) + "\n"


def parse_record_text(text: str) -> dict[str, str]:
    body = text.split("\n\n", 1)[1] if "\n\n" in text else text
    out = {}
    for line in body.splitlines():
        key, sep, val = line.partition(": ")
        if sep and key in RECORD_KEYS:
            out[key] = val
    return out


def record_from(ref: str, body: str) -> DeployRecord | None:
    kv = parse_record_text(body)
    seq = _seq(ref)
    if "to_commit" not in kv or seq is None:
        return None

    def num(k: str) -> int | None:
        v = kv.get(k, "-")
        return int(v) if v.isdigit() else None

    def text(k: str) -> str | None:
        v = kv.get(k, "-")
        return None if v == "-" else v

    return DeployRecord(
        seq=seq,
        prompt=kv.get("prompt", ""),
        env=kv.get("env", ""),
        action=kv.get("action", "deploy"),
        to_commit=kv["to_commit"],
        to_version=num("to_version"),
        from_commit=text("from_commit"),
        from_version=num("from_version"),
        by=kv.get("by", ""),
        at=kv.get("at", ""),
        reason=text("reason") or "",
        previous=num("previous"),
        restores=num("restores"),
        tag=ref.removeprefix("refs/tags/"),
        id=text("id") or "",
    )


def deployed_at(
    git: Git, cache: dict[tuple[str, str], tuple[str, int | None]], name: str, env: str
) -> tuple[str, int | None] | None:
    """(commit, number) deployed to ``env`` from the deploy tag's own record, as ``get()``
    reads it: a ref-file read, plus one ``cat-file`` the first time a tag value is seen."""
    ref = deploy_ref(name, env)
    value = git.read_ref_fast(ref)
    if value is None:
        return None
    hit = cache.get((ref, value))
    if hit is None:
        (obj,) = git.cat_batch([value])
        if obj is None:
            return None
        meta = parse_record_text(obj[2].decode()) if obj[1] == "tag" else {}
        commit = meta.get("to_commit") or (value if obj[1] == "commit" else "")
        num = meta.get("to_version")
        if not commit:
            return None
        hit = cache[(ref, value)] = (
            commit,
            int(num) if num and num.isdigit() else None,
        )
    return hit
