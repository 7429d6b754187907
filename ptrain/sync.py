"""``ptrain sync``: exchange prompt commits' deploy tags with a remote, moved tags included.

Plain ``git fetch`` does not move a tag that already exists in a clone (it needs
``--tags --force``), and a moved tag needs a forced push. ``sync`` does both safely:

1. fetch the remote's ``ptrain/*``, ``ptrain-deploy/*`` and ``ptrain-ab/*`` tags into a private
   namespace (``refs/ptrain-remote/<remote>/``, which also remembers what the remote had at the
   last sync);
2. copy deploy records the clone does not have (records are immutable; the same record name
   with different content is a conflict: nothing is pushed, and ``--theirs`` keeps the
   remote's records and drops the clone's diverging ones);
3. for each moving tag (deploy and A/B experiment tags), keep the side whose record is newer
   (higher sequence number), and push local moves with ``--force-with-lease`` so a concurrent
   remote move is never lost.

Deletions on the remote win over old clones: a tag this clone saw on the remote at its last
sync, or a moving tag whose record the remote has, that is now gone from the remote was deleted
there on purpose, so sync deletes it here (when unchanged here since) instead of pushing it back.
Never pushed: orphan records (above the live one, see :mod:`ptrain.deploy`) and a moving tag
whose record is missing (``ptrain doctor`` repairs both).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ptrain.ab import AB_TAG_PREFIX
from ptrain.deploy import chains
from ptrain.errors import ConcurrentUpdate
from ptrain.storage.git import DEPLOY_TAG_PREFIX, RECORD_TAG_PREFIX, ZERO, Git, RefOp

_SUBS = (
    ("ptrain/", DEPLOY_TAG_PREFIX),
    ("ptrain-deploy/", RECORD_TAG_PREFIX),
    ("ptrain-ab/", AB_TAG_PREFIX),
)


@dataclass
class SyncResult:
    remote: str
    fetched: list[str] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)  # deleted here because the remote did
    skipped: list[str] = field(default_factory=list)  # not pushed: orphan or broken, see doctor


def _short(ref: str) -> str:
    return ref.removeprefix("refs/tags/")


def _remote_view(git: Git, ns: str) -> dict[str, str]:
    """The remote's tags as last fetched into ``ns``, under their real names."""
    out: dict[str, str] = {}
    for sub, prefix in _SUBS:
        out.update((r.replace(ns + sub, prefix, 1), o) for r, o in git.ref_values(ns + sub).items())
    return out


def _seq_of(git: Git, obj: str | None) -> int:
    """Sequence number of the record a moving tag points to (from the tag object's name)."""
    name = git.tag_name_of(obj) if obj else None
    tail = (name or "").rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def sync(
    git: Git, remote: str = "origin", push: bool = True, theirs_wins: bool = False
) -> SyncResult:
    git.require_remote(remote)
    ns = f"refs/ptrain-remote/{remote}/"
    res = SyncResult(remote)
    with git.lock():
        before = _remote_view(git, ns)
        # prune the private namespace so a tag deleted remotely is not resurrected
        git.fetch(remote, [f"+refs/tags/{sub}*:{ns}{sub}*" for sub, _ in _SUBS], prune=True)
        theirs = _remote_view(git, ns)
        gone = {r: o for r, o in before.items() if r not in theirs}
        _copy_records(git, remote, theirs, res, theirs_wins)
        to_push, leases = _moving_tags(git, remote, theirs, gone, res)
        mine_records = git.ref_values(RECORD_TAG_PREFIX)
        orphans = {ref for ch in chains(git).values() for ref, _ in ch.orphans}
        new_records = []
        for ref, obj in sorted(mine_records.items()):
            if ref in theirs:
                continue
            if gone.get(ref) == obj:  # the remote deleted it: so do we
                if git.delete_ref(ref, obj):
                    res.deleted.append(_short(ref))
            elif ref in orphans:
                res.skipped.append(f"{_short(ref)} (orphan record: run `ptrain doctor --fix`)")
            else:
                new_records.append(ref)
        if push:
            refspecs = [f"{r}:{r}" for r in new_records] + [f"+{r}:{r}" for r in to_push]
            if refspecs:
                git.push(remote, refspecs, atomic=True, leases=leases)
                res.pushed = [_short(r) for r in new_records + to_push]
    git.write_commit_graph()  # fetched commits: keep `prompt versions` fast
    return res


def _copy_records(
    git: Git, remote: str, theirs: dict[str, str], res: SyncResult, theirs_wins: bool
) -> None:
    mine = git.ref_values(RECORD_TAG_PREFIX)
    ops = []
    for ref, obj in sorted(theirs.items()):
        if not ref.startswith(RECORD_TAG_PREFIX):
            continue
        if ref not in mine:
            ops.append(RefOp("create", ref, obj))
            res.fetched.append(_short(ref))
        elif mine[ref] != obj:
            res.conflicts.append(_short(ref))
    if res.conflicts and not theirs_wins:
        raise ConcurrentUpdate(
            f"deploy record {res.conflicts[0]} differs here and on {remote} (two deploys with the "
            "same number); nothing was pushed",
            f"keep {remote}'s deploys with `ptrain sync {remote} --theirs` (this clone's diverging "
            "deploys are dropped), then deploy again",
        )
    if res.conflicts:
        ops += _drop_diverging(git, theirs, mine, res)
    if ops:
        git.transaction(ops, "ptrain sync")


def _drop_diverging(
    git: Git, theirs: dict[str, str], mine: dict[str, str], res: SyncResult
) -> list[RefOp]:
    """--theirs: per conflicting chain, the remote's records and moving tag replace this clone's
    records from the first conflicting number on (one transaction with the copies)."""
    ops: list[RefOp] = []
    first: dict[str, int] = {}
    for short in res.conflicts:
        where, _, seq = short.removeprefix("ptrain-deploy/").rpartition("/")
        first[where] = min(first.get(where, 10**9), int(seq))
    for where, lowest in first.items():
        prefix = f"{RECORD_TAG_PREFIX}{where}/"
        for ref, obj in mine.items():
            if ref.startswith(prefix) and int(ref.rsplit("/", 1)[1]) >= lowest:
                ops.append(
                    RefOp("update", ref, theirs[ref], obj)
                    if ref in theirs
                    else RefOp("delete", ref, old=obj)
                )
        moving = f"{DEPLOY_TAG_PREFIX}{where}"
        here = git.rev_parse(moving)
        if theirs.get(moving) and theirs[moving] != here:
            ops.append(RefOp("update", moving, theirs[moving], here))
        elif moving not in theirs and here:
            ops.append(RefOp("delete", moving, old=here))
    res.conflicts = []
    return ops


def _moving_tags(
    git: Git, remote: str, theirs: dict[str, str], gone: dict[str, str], res: SyncResult
) -> tuple[list[str], list[tuple[str, str | None]]]:
    """Take the newer side of every deploy / A/B moving tag; the local moves to push."""
    mine = {**git.ref_values(DEPLOY_TAG_PREFIX), **git.ref_values(AB_TAG_PREFIX)}
    theirs_moving = {r: o for r, o in theirs.items() if not r.startswith(RECORD_TAG_PREFIX)}
    # two clones that each started/stopped the same experiment reach the same seq: neither
    # is newer, and letting the last sync win would flip runtimes between the two
    for r, their in theirs_moving.items():
        here = mine.get(r)
        if here and here != their and _seq_of(git, their) == _seq_of(git, here):
            tag = _short(r)
            raise ConcurrentUpdate(
                f"{tag} changed both here and on {remote} (same step); nothing was pushed",
                f"keep {remote}'s: `git tag -d {tag}`, run `ptrain sync`, then do it again",
            )
    records_there = {o for r, o in theirs.items() if r.startswith(RECORD_TAG_PREFIX)}
    local_records = set(git.ref_values(RECORD_TAG_PREFIX).values())
    to_push: list[str] = []
    leases: list[tuple[str, str | None]] = []
    for ref in sorted(set(theirs_moving) | set(mine)):
        t, m = theirs_moving.get(ref), mine.get(ref)
        if t == m:
            continue
        if m is None or (t is not None and _seq_of(git, t) > _seq_of(git, m)):
            git.update_ref(ref, t or ZERO, m or ZERO, "ptrain sync")
            res.fetched.append(_short(ref))
        elif t is None and (
            gone.get(ref) == m or (ref.startswith(DEPLOY_TAG_PREFIX) and m in records_there)
        ):
            if git.delete_ref(ref, m):  # deleted on the remote after this clone saw it
                res.deleted.append(_short(ref))
        elif ref.startswith(DEPLOY_TAG_PREFIX) and m not in local_records:
            res.skipped.append(f"{_short(ref)} (its record is missing: run `ptrain doctor`)")
        else:
            to_push.append(ref)
            leases.append((ref, t))
    return to_push, leases
