"""``ptrain sync``: exchange prompt commits' deploy tags with a remote, moved tags included.

Plain ``git fetch`` does not move a tag that already exists in a clone (it needs
``--tags --force``), and a moved tag needs a forced push. ``sync`` does both safely:

1. fetch the remote's ``ptrain/*``, ``ptrain-deploy/*`` and ``ptrain-ab/*`` tags into a private
   namespace;
2. copy deploy records the clone does not have (records are immutable; the same record name
   with different content is a conflict);
3. for each moving tag (deploy and A/B experiment tags), keep the side whose record is newer
   (higher sequence number), and push local moves with ``--force-with-lease`` so a concurrent
   remote move is never lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ptrain.ab import AB_TAG_PREFIX
from ptrain.errors import ConcurrentUpdate, PtrainError
from ptrain.storage.git import DEPLOY_TAG_PREFIX, RECORD_TAG_PREFIX, ZERO, Git


@dataclass
class SyncResult:
    remote: str
    fetched: list[str] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def _tags(git: Git, prefix: str) -> dict[str, str]:
    return dict(
        line.split(" ", 1)[::-1] for line in git.for_each_ref(prefix, "%(objectname) %(refname)")
    )


def _seq_of(git: Git, obj: str) -> int:
    """Sequence number of the deploy record a moving tag points to (from the tag's name)."""
    p = git.run("cat-file", "tag", obj, check=False)
    for line in p.stdout.splitlines():
        if line.startswith("tag "):
            return int(line.rsplit("/", 1)[-1]) if line.rsplit("/", 1)[-1].isdigit() else 0
    return 0


def sync(git: Git, remote: str = "origin", push: bool = True) -> SyncResult:
    if git.run("remote", "get-url", remote, check=False).returncode != 0:
        raise PtrainError(
            f"no git remote named {remote!r}", f"add one with `git remote add {remote} URL`"
        )
    ns = f"refs/ptrain-remote/{remote}/"
    res = SyncResult(remote)
    with git.lock():
        # prune the private namespace so a tag deleted remotely is not resurrected
        git.run(
            "fetch",
            "--no-tags",
            "--prune",
            remote,
            f"+refs/tags/ptrain/*:{ns}ptrain/*",
            f"+refs/tags/ptrain-deploy/*:{ns}ptrain-deploy/*",
            f"+refs/tags/ptrain-ab/*:{ns}ptrain-ab/*",
        )
        theirs_records = {
            r.replace(ns + "ptrain-deploy/", RECORD_TAG_PREFIX): o
            for r, o in _tags(git, ns + "ptrain-deploy/").items()
        }
        mine_records = _tags(git, RECORD_TAG_PREFIX)
        for ref, obj in theirs_records.items():
            if ref not in mine_records:
                git.update_ref(ref, obj, ZERO, "ptrain sync")
                res.fetched.append(ref.removeprefix("refs/tags/"))
            elif mine_records[ref] != obj:
                res.conflicts.append(ref.removeprefix("refs/tags/"))
        if res.conflicts:
            raise ConcurrentUpdate(
                f"deploy record {res.conflicts[0]} differs here and on {remote} (two deploys with the same number)",
                "delete your local record and moving tag (`git tag -d ...`), run `ptrain sync`, then deploy again",
            )
        # moving tags: deploys, and A/B experiments (ptrain.ab), both named .../<seq>
        theirs: dict[str, str] = {}
        mine: dict[str, str] = {}
        for sub, prefix in (("ptrain/", DEPLOY_TAG_PREFIX), ("ptrain-ab/", AB_TAG_PREFIX)):
            theirs.update((r.replace(ns + sub, prefix), o) for r, o in _tags(git, ns + sub).items())
            mine.update(_tags(git, prefix))
        # two clones that each started/stopped the same experiment reach the same seq: neither
        # is newer, and letting the last sync win would flip runtimes between the two
        clash = [
            r
            for r in theirs
            if r.startswith(AB_TAG_PREFIX)
            and mine.get(r, theirs[r]) != theirs[r]
            and _seq_of(git, theirs[r]) == _seq_of(git, mine[r])
        ]
        if clash:
            tag = clash[0].removeprefix("refs/tags/")
            raise ConcurrentUpdate(
                f"A/B experiment {tag} changed both here and on {remote} (same step)",
                f"keep {remote}'s: `git tag -d {tag}`, run `ptrain sync`, then start or stop again",
            )
        to_push: list[str] = []
        leases: list[str] = []
        for ref in sorted(set(theirs) | set(mine)):
            t, m = theirs.get(ref), mine.get(ref)
            if t == m:
                continue
            if m is None or (t is not None and _seq_of(git, t) > _seq_of(git, m)):
                git.update_ref(ref, t, m or ZERO, "ptrain sync")
                res.fetched.append(ref.removeprefix("refs/tags/"))
            else:
                to_push.append(ref)
                leases.append(f"--force-with-lease={ref}:{t or ''}")
        if push:
            new_records = [r for r in mine_records if r not in theirs_records]
            refspecs = [f"{r}:{r}" for r in new_records] + [f"+{r}:{r}" for r in to_push]
            if refspecs:
                p = git.run("push", "--atomic", *leases, remote, *refspecs, check=False)
                if p.returncode != 0:
                    raise ConcurrentUpdate(
                        f"{remote} rejected the push ({(p.stderr.strip().splitlines() or ['?'])[-1]})",
                        "someone deployed meanwhile: run `ptrain sync` again",
                    )
                res.pushed = [r.removeprefix("refs/tags/") for r in new_records + to_push]
    git.write_commit_graph()  # fetched commits: keep `prompt versions` fast
    return res
