"""The git boundary's typed verbs for services: history queries, tag objects, remotes.

Part of :mod:`ptrain.storage.git` (mixed into :class:`~ptrain.storage.git.Git`, which runs the
processes and maps every failure to a :class:`~ptrain.errors.GitError` with a hint); kept apart
only to keep each module readable. Services call these instead of building git command lines.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ptrain.errors import GitError


class GitVerbs:
    if TYPE_CHECKING:  # provided by ptrain.storage.git.Git
        work_tree: Path | None

        def run(
            self,
            *args: str,
            input: str | bytes | None = None,
            check: bool = True,
            env: dict[str, str] | None = None,
            binary: bool = False,
            remote: str = "",
        ) -> subprocess.CompletedProcess: ...

        def out(self, *args: str, **kw: Any) -> str: ...

        def head_commit(self) -> str | None: ...

    def log_file_commits(self, paths: Sequence[str], rev: str = "HEAD") -> list[dict]:
        """Commits on ``rev`` touching ``paths``, newest first, with the files each touched."""
        sep = "\x1e"
        fmt = sep + "%H%x00%an <%ae>%x00%aI%x00%s"
        p = self.run(
            "log", f"--format={fmt}", "--name-only", "--no-renames", rev, "--", *paths, check=False
        )
        if p.returncode != 0:  # an unborn branch: no history yet
            return []
        commits = []
        for chunk in p.stdout.split(sep)[1:]:
            head, _, files = chunk.partition("\n")
            sha, author, date, subject = head.split("\x00", 3)
            commits.append(
                {
                    "commit": sha,
                    "author": author,
                    "date": date,
                    "message": subject,
                    "files": [f for f in files.splitlines() if f],
                }
            )
        return commits

    def last_trailer_commit(self, key: str, value: str) -> tuple[str, str] | None:
        """Newest commit on any ref (local or remote-tracking) with trailer ``key: value``."""
        line = self.out(
            "log", "--all", "-1", "--format=%H%x00%cI", "--extended-regexp",
            f"--grep=^{key}: {value}$",
        ).strip()  # fmt: skip
        if not line:
            return None
        sha, date = line.split("\x00")
        return sha, date

    def log_files_topo(self, prefix: str, rev: str) -> list[dict]:
        """``log_file_commits([prefix], rev)`` in topological order (children before parents
        even when committer dates are skewed), for the all-prompts index: a training commit
        dated before main's newer commits is still numbered after the versions it built on."""
        sep = "\x1e"
        p = self.run(
            "log", "--topo-order", f"--format={sep}%H%x00%an <%ae>%x00%aI%x00%s", "--name-only",
            "--no-renames", rev, "--", prefix, check=False,
        )  # fmt: skip
        if p.returncode != 0:  # an unborn branch: no history yet
            return []
        commits = []
        for chunk in p.stdout.split(sep)[1:]:
            head, _, files = chunk.partition("\n")
            sha, author, date, subject = head.split("\x00", 3)
            commits.append(
                {"commit": sha, "author": author, "date": date, "message": subject,
                 "files": [f for f in files.splitlines() if f]}
            )  # fmt: skip
        return commits

    def trailer_commits(self, key: str) -> list[tuple[str, str, list[str]]]:
        """Every commit on any ref (local or remote-tracking) with a ``key: value`` line, newest
        first as ``git log --all`` walks: (sha, committer date, the values). One process for
        all values: ``last_trailer_commit(key, v)`` is the first hit with ``v`` in its values."""
        sep, prefix = "\x1e", f"{key}: "
        p = self.run(
            "log", "--all", f"--format={sep}%H%x00%cI%x00%B", "--extended-regexp",
            f"--grep=^{key}: ", check=False,
        )  # fmt: skip
        if p.returncode != 0:  # no commits at all yet
            return []
        out = []
        for chunk in p.stdout.split(sep)[1:]:
            sha, date, body = chunk.split("\x00", 2)
            values = [ln[len(prefix) :] for ln in body.splitlines() if ln.startswith(prefix)]
            out.append((sha, date, values))
        return out

    def refs_digest(self) -> str:
        """A digest of every ref's value and HEAD: equal digests, equal ``--all`` history."""
        import hashlib

        refs = self.out("for-each-ref", "--format=%(objectname) %(refname)")
        head = self.run("rev-parse", "-q", "--verify", "HEAD", check=False).stdout
        return hashlib.sha1(f"{head}\n{refs}".encode()).hexdigest()

    def is_ancestor(self, a: str, b: str) -> bool:
        return self.run("merge-base", "--is-ancestor", a, b, check=False).returncode == 0

    def make_tag_object(self, target: str, tag_name: str, message: str) -> str:
        """Create an annotated tag *object* (no ref yet) pointing at commit ``target``."""
        ident = self.out("var", "GIT_COMMITTER_IDENT").strip()
        body = (
            f"object {target}\ntype commit\ntag {tag_name}\ntagger {ident}\n\n{message.rstrip()}\n"
        )
        return self.out("mktag", input=body).strip()

    def tag_refs(self, *patterns: str) -> list[tuple[str, str, str, str]]:
        """(ref, object id, the tag object's own name, its message) for each ref matching
        ``patterns``; name and message are empty for refs that are not annotated tags."""
        fmt = "%(refname)%00%(objectname)%00%(tag)%00%(contents)%1e"
        out = []
        for chunk in self.out("for-each-ref", f"--format={fmt}", *patterns).split("\x1e"):
            chunk = chunk.lstrip("\n")
            if chunk:
                ref, obj, name, body = chunk.split("\x00", 3)
                out.append((ref, obj, name, body))
        return out

    def tag_name_of(self, obj: str) -> str | None:
        """The ``tag`` header of an annotated tag object (its intended name), or None."""
        p = self.run("cat-file", "tag", obj, check=False)
        for line in p.stdout.splitlines() if p.returncode == 0 else []:
            if line.startswith("tag "):
                return line[4:]
            if not line:
                break
        return None

    def tag_message(self, obj: str) -> str | None:
        p = self.run("cat-file", "tag", obj, check=False)
        return p.stdout.partition("\n\n")[2] if p.returncode == 0 else None

    # -- history queries ------------------------------------------------------------------
    def changed_files(self, a: str, b: str, paths: Sequence[str] = ()) -> list[str]:
        """Paths that differ between revs ``a`` and ``b`` (renames as delete + add)."""
        out = self.out("diff", "--name-only", "--no-renames", a, b, "--", *paths)
        return [p for p in out.splitlines() if p]

    def merge_base(self, a: str, b: str) -> str | None:
        p = self.run("merge-base", a, b, check=False)
        return p.stdout.strip() or None if p.returncode == 0 else None

    def last_commit(self, rev: str, paths: Sequence[str] = ()) -> str | None:
        """The newest commit on ``rev`` touching ``paths`` (any commit when empty)."""
        return self.out("log", "-1", "--format=%H", rev, "--", *paths).strip() or None

    def commit_message(self, rev: str, subject_only: bool = False) -> str | None:
        p = self.run("log", "-1", f"--format={'%s' if subject_only else '%B'}", rev, check=False)
        return p.stdout if p.returncode == 0 else None

    def staged_changes(self, paths: Sequence[str]) -> list[str]:
        """Paths whose index entry differs from HEAD (staged, or an index a crash left behind)."""
        if self.work_tree is None or self.head_commit() is None:
            return []
        out = self.out(
            "diff", "--cached", "--name-only", "--no-renames", "-z", "HEAD", "--", *paths
        )
        return [p for p in out.split("\0") if p]

    def status_entries(self, paths: Sequence[str]) -> list[tuple[str, str]]:
        """(two-letter porcelain status, path) of tracked or untracked changes under ``paths``."""
        if self.work_tree is None:
            return []
        out = self.out(
            "status", "--porcelain", "-z", "--untracked-files=all", "--no-renames", "--", *paths
        )
        return [(item[:2], item[3:]) for item in out.split("\0") if len(item) > 3]

    def work_changes(self, paths: Sequence[str]) -> list[str]:
        """Tracked or untracked paths under ``paths`` that differ from the index or HEAD."""
        return [path for _, path in self.status_entries(paths)]

    def set_symbolic_ref(self, name: str, target: str) -> None:
        """Point ``name`` (e.g. HEAD) at the ref ``target`` (e.g. refs/heads/main)."""
        self.run("symbolic-ref", name, target)

    # -- remotes --------------------------------------------------------------------------
    def remote_url(self, remote: str) -> str | None:
        p = self.run("remote", "get-url", remote, check=False)
        return p.stdout.strip() or None if p.returncode == 0 else None

    def require_remote(self, remote: str) -> str:
        url = self.remote_url(remote)
        if url is None:
            raise GitError(
                f"no git remote named {remote!r}", f"add one with `git remote add {remote} URL`"
            )
        return url

    def fetch(
        self, remote: str, refspecs: Sequence[str], *, prune: bool = False, tags: bool = False
    ) -> None:
        args = (
            ["fetch", "--quiet"] + ([] if tags else ["--no-tags"]) + (["--prune"] if prune else [])
        )
        self.run(*args, remote, *refspecs, remote=remote)

    def push(
        self,
        remote: str,
        refspecs: Sequence[str],
        *,
        atomic: bool = False,
        leases: Sequence[tuple[str, str | None]] = (),
    ) -> None:
        """Push ``refspecs``; ``leases`` are (ref, expected remote value or None = absent) for
        ``--force-with-lease``. A rejection raises a :class:`RemoteError` that quotes the
        remote's hook message when there is one."""
        args = ["push"] + (["--atomic"] if atomic else [])
        args += [f"--force-with-lease={ref}:{old or ''}" for ref, old in leases]
        self.run(*args, remote, *refspecs, remote=remote)
