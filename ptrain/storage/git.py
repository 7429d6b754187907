"""Git access for ptrain: the only module that talks to git.

On-disk/ref formats ptrain owns inside a prompt repository:

* ``prompts/<name>.yaml`` — one file per prompt; every commit that touches it is a version.
* ``refs/tags/ptrain-deploy/<name>@<env>/<seq>`` — an immutable *annotated* tag per deploy or
  rollback (sequence numbers ``000001``...). Its message holds who/when/from/to/why as
  ``key: value`` lines; it points at the deployed commit. Tags travel with ``git clone`` and
  ``git push --tags``, so the deploy history does too, and ``git tag -n20 'ptrain-deploy/*'``
  reads it with plain git.
* ``refs/tags/ptrain/<name>@<env>`` — the moving tag: a lightweight tag pointing at the current
  deploy record, so ``git show ptrain/support/triage@production`` shows what runs in production
  and why. Moves are compare-and-swap (``git update-ref NEW OLD``).

* A deploy writes its record tag and moves the moving tag in ONE ref transaction
  (``git update-ref --stdin``: start, create, update, prepare, commit), so a crash leaves both
  refs or neither. Record tag messages carry an ``id:`` line (time in ns, host, pid, random), so
  two deploys can never produce byte-identical tag objects.

Everything runs the git CLI: one ``git`` process per call. GitPython is not used (it spawns the
same git processes, adds ~100 ms of imports to fast paths, and its errors would still need this
mapping). Every failure is mapped once, in :mod:`ptrain.storage.git_diagnose`, into a
:class:`GitError` with a hint; services call the typed verbs below and never read return codes.
Commits are built with a temporary index (kept in ``<git dir>/ptrain-tmp/``, named by pid, so
``ptrain doctor`` can clean up after a crash) and land with a compare-and-swap on HEAD, so a
ptrain commit contains only the files it means to and never sweeps up what the user has staged.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from ptrain import faults
from ptrain.errors import (
    ConcurrentUpdate,
    GitError,
    GitLocked,
    GitStateError,
    NotAPromptRepo,
    PtrainError,
)
from ptrain.storage.git_diagnose import RefConflict, diagnose, locked
from ptrain.storage.git_verbs import GitVerbs
from ptrain.storage.gitfiles import ZERO, RefOp, _core_bare, leaked_temp_indexes, packed_refs

DEPLOY_TAG_PREFIX = "refs/tags/ptrain/"
RECORD_TAG_PREFIX = "refs/tags/ptrain-deploy/"
TMP_DIR = "ptrain-tmp"  # inside the common git dir: temporary indexes, named index.<pid>.<rand>

__all__ = ["Git", "GitError", "GitLocked", "RefConflict", "RefOp", "ZERO", "init_repo"]


def _clean_env() -> dict[str, str]:
    # Built per call, not at import: an application (or a test) may set GIT_* / HOME later.
    env = dict(os.environ)
    env.setdefault("GIT_TERMINAL_PROMPT", "0")
    env["LC_ALL"] = "C"
    return env


class Git(GitVerbs):
    """A repository (work tree or bare) driven through the git CLI (queries, tags and
    remotes: :class:`~ptrain.storage.git_verbs.GitVerbs`)."""

    def __init__(self, git_dir: Path, work_tree: Path | None):
        self.git_dir = Path(git_dir)
        self.work_tree = Path(work_tree) if work_tree else None
        # refs and objects are shared from here in a linked worktree (`git worktree add`)
        self.common_dir = self.git_dir
        common = self.git_dir / "commondir"
        if common.is_file():
            self.common_dir = (self.git_dir / common.read_text().strip()).resolve()

    # -- discovery ------------------------------------------------------------------------
    @classmethod
    def discover(cls, path: Path) -> Git:
        path = Path(path).resolve()
        if not path.exists():
            raise NotAPromptRepo(f"{path} does not exist", "pass the path of a prompt repository")
        start = path if path.is_dir() else path.parent
        fast = cls._discover_fast(start)
        if fast is not None:
            return fast
        proc = subprocess.run(
            # --show-toplevel fails in a bare repo, after the first two answers are printed
            ["git", "rev-parse", "--is-bare-repository", "--absolute-git-dir", "--show-toplevel"],
            cwd=start,
            capture_output=True,
            text=True,
            env=_clean_env(),
        )
        lines = proc.stdout.splitlines()
        if len(lines) >= 2 and lines[0] == "true":
            return cls(Path(lines[1]), None)
        if proc.returncode != 0 or len(lines) != 3:
            raise NotAPromptRepo(
                f"{path} is not inside a git repository", "run `ptrain init` there first"
            )
        return cls(Path(lines[1]), Path(lines[2]))

    @classmethod
    def _discover_fast(cls, start: Path) -> Git | None:
        """The common layouts without spawning git: ``start`` is a work tree root with a
        ``.git`` folder, or a bare repository. Anything else (a subfolder, a ``.git`` file of a
        linked worktree, GIT_DIR in the environment) is left to ``git rev-parse``."""
        if any(k in os.environ for k in ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR")):
            return None
        dot = start / ".git"
        if dot.is_dir() and (dot / "HEAD").is_file() and not (dot / "commondir").exists():
            return cls(dot, start) if _core_bare(dot) is False else None
        if (start / "HEAD").is_file() and (start / "objects").is_dir() and _core_bare(start):
            return cls(start, None)
        return None

    @property
    def bare(self) -> bool:
        return self.work_tree is None

    # -- running ----------------------------------------------------------------------------
    def _cmd(self, args: Sequence[str]) -> list[str]:
        cmd = ["git", f"--git-dir={self.git_dir}"]
        if self.work_tree:
            cmd.append(f"--work-tree={self.work_tree}")
        return [*cmd, *args]

    def run(
        self,
        *args: str,
        input: str | bytes | None = None,
        check: bool = True,
        env: dict[str, str] | None = None,
        binary: bool = False,
        remote: str = "",
    ) -> subprocess.CompletedProcess:
        """Run ``git args``. A failure raises the mapped :class:`GitError` (see
        :func:`~ptrain.storage.git_diagnose.diagnose`); ``check=False`` is for the typed verbs
        below that turn an expected non-zero exit (a missing rev) into a value."""
        if isinstance(input, str) and binary:
            input = input.encode()
        proc = subprocess.run(
            self._cmd(args),
            input=input,
            capture_output=True,
            text=not binary,
            env={**_clean_env(), **env} if env else _clean_env(),
            cwd=self.work_tree or self.git_dir,
        )
        if check and proc.returncode != 0:
            err = proc.stderr.decode(errors="replace") if binary else proc.stderr
            raise diagnose(tuple(args), err, proc.returncode, remote)
        return proc

    def out(self, *args: str, **kw) -> str:
        return self.run(*args, **kw).stdout

    def ok(self, *args: str) -> bool:
        """Whether ``git args`` succeeds (for questions such as ``cat-file -e``)."""
        return self.run(*args, check=False).returncode == 0

    # -- reading --------------------------------------------------------------------------
    def rev_parse(self, rev: str) -> str | None:
        p = self.run("rev-parse", "--verify", "--quiet", "--end-of-options", rev, check=False)
        return p.stdout.strip() or None if p.returncode == 0 else None

    def head_commit(self) -> str | None:
        return self.rev_parse("HEAD^{commit}")

    def head_fast(self) -> str | None:
        """HEAD's commit read from the ref files (no process); rev-parse when unsure."""
        try:
            head = (self.git_dir / "HEAD").read_text().strip()
        except OSError:
            return self.head_commit()
        sha = self.read_ref_fast(head[5:]) if head.startswith("ref: ") else head
        return sha if sha and len(sha) == 40 else self.head_commit()

    def current_branch(self) -> str | None:
        p = self.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        return p.stdout.strip() or None if p.returncode == 0 else None

    def is_shallow(self) -> bool:
        return (self.common_dir / "shallow").exists()

    def show_file(self, rev: str, path: str) -> bytes | None:
        p = self.run("cat-file", "blob", f"{rev}:{path}", check=False, binary=True)
        return p.stdout if p.returncode == 0 else None

    def cat_batch(self, specs: Sequence[str]) -> list[tuple[str, str, bytes] | None]:
        """Resolve several ``rev`` / ``rev:path`` specs in one process: (sha, type, content)."""
        p = self.run("cat-file", "--batch", input="\n".join(specs) + "\n", binary=True)
        data, pos = p.stdout, 0
        out: list[tuple[str, str, bytes] | None] = []
        for _ in specs:
            nl = data.index(b"\n", pos)
            header = data[pos:nl].decode()
            pos = nl + 1
            parts = header.split()
            if len(parts) == 2 and parts[1] == "missing" or len(parts) != 3:
                out.append(None)
                continue
            sha, kind, size = parts[0], parts[1], int(parts[2])
            out.append((sha, kind, data[pos : pos + size]))
            pos += size + 1
        return out

    def ls_files(self, rev: str, prefix: str) -> list[str]:
        p = self.run("ls-tree", "-r", "--name-only", "--full-tree", rev, "--", prefix, check=False)
        return p.stdout.splitlines() if p.returncode == 0 else []

    def for_each_ref(self, prefix: str, fmt: str) -> list[str]:
        return self.refs(prefix, fmt=fmt)

    def read_ref_fast(self, ref: str) -> str | None:
        """Value of ``ref`` without spawning git: a loose ref file, else packed-refs."""
        try:
            with open(self.common_dir / ref, "rb") as f:
                return f.read(40).decode()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            pass
        packed = packed_refs(self.common_dir / "packed-refs")
        return packed.get(ref)

    def user_identity(self) -> str:
        p = self.run("var", "GIT_COMMITTER_IDENT", check=False)  # a missing identity is a value
        if p.returncode != 0:
            raise GitStateError(
                "git does not know who you are",
                'run `git config --global user.name "Your Name"` and `git config --global user.email you@example.com`',
            )
        return p.stdout.rsplit(">", 1)[0] + ">"

    # -- writing --------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, name: str = "ptrain.lock") -> Iterator[None]:
        """Serialise ptrain mutations of this repository across processes (flock)."""
        path = self.common_dir / name
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _temp_index(self) -> Path:
        """A fresh temporary index path in ``<git dir>/ptrain-tmp/`` (removed by the caller; one
        a crash leaves behind carries the dead pid, so ``ptrain doctor --fix`` can remove it)."""
        folder = self.common_dir / TMP_DIR
        folder.mkdir(exist_ok=True)
        return folder / f"index.{os.getpid()}.{os.urandom(4).hex()}"

    def tree_with(self, base: str | None, files: Mapping[str, bytes | None]) -> str:
        """The tree of ``base`` with ``files`` replaced (None = removed), built in a temporary
        index so the user's staging area is never touched."""
        for leftover in leaked_temp_indexes(self.common_dir, TMP_DIR):  # a crash's; cheap
            leftover.unlink(missing_ok=True)
        index = self._temp_index()
        env = {"GIT_INDEX_FILE": str(index)}
        try:
            if base:
                self.run("read-tree", base, env=env)
            faults.step("commit.temp-index")
            for path, data in files.items():
                if data is None:
                    self.run("update-index", "--force-remove", "--", path, env=env)
                    continue
                blob = self.out("hash-object", "-w", "--stdin", input=data, binary=True)
                blob = blob.decode().strip() if isinstance(blob, bytes) else blob.strip()
                self.run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
            return self.out("write-tree", env=env).strip()
        finally:
            for leftover in (index, index.with_name(index.name + ".lock")):
                leftover.unlink(missing_ok=True)

    def commit_tree(self, tree: str, parents: Sequence[str], message: str) -> str:
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        return self.out(*args, "-m", message).strip()

    def index_lock(self) -> Path:
        return self.git_dir / "index.lock"

    def require_index_unlocked(self) -> None:
        """Fail (one line, with the lock's age and the fix) while ``index.lock`` exists: a ptrain
        commit made then could not update the index, and the next ``git commit`` would undo it."""
        if self.work_tree is not None and self.index_lock().exists():
            raise locked(self.index_lock(), "the git index")

    def commit_files(
        self,
        files: Mapping[str, bytes | None],
        message: str,
        *,
        expect_head: str | None = None,
        step: str = "commit",
    ) -> str:
        """Commit exactly ``files`` (path -> content, None = delete) on top of HEAD.

        Builds the tree in a temporary index, so the user's staging area is not swept into the
        commit. The real index gets the new entries *before* HEAD moves (compare-and-swap), so
        a crash in between leaves the change written and staged, never an index that a plain
        ``git commit`` would use to undo it. Returns the new commit sha. The caller writes the
        working-tree files. Refused while the index is locked (:meth:`require_index_unlocked`).
        """
        self.require_index_unlocked()
        head = self.head_commit()
        if expect_head is not None and head != expect_head:
            raise ConcurrentUpdate(
                "the branch moved while ptrain was committing", "re-run the command"
            )
        tree = self.tree_with(head, files)
        if head and self.out("rev-parse", f"{head}^{{tree}}").strip() == tree:
            raise PtrainError(
                "nothing to commit: the content is unchanged", "change the prompt first"
            )
        commit = self.commit_tree(tree, [head] if head else [], message)
        paths = list(files)
        if self.work_tree is not None and paths:
            self.run("reset", "-q", commit, "--", *paths)
        faults.step(f"{step}.staged")
        try:
            self.update_ref("HEAD", commit, head or ZERO, f"ptrain: {message.splitlines()[0]}")
        except BaseException:
            if self.work_tree is not None and paths and head:
                with contextlib.suppress(GitError):
                    self.run("reset", "-q", head, "--", *paths)
            raise
        return commit

    def commit_on_branch(
        self, base: str, files: dict[str, bytes | None], message: str, branch: str
    ) -> str:
        """Create ``branch`` (must not exist) with one commit of ``files`` on top of ``base``.
        ``branch`` may also be a full ref name (``refs/tags/...``).

        Nothing is checked out: the current branch, work tree and index are untouched.
        """
        tree = self.tree_with(base, files)
        commit = self.commit_tree(tree, [base], message)
        ref = branch if branch.startswith("refs/") else f"refs/heads/{branch}"
        self.update_ref(ref, commit, ZERO, "ptrain train")
        return commit

    def write_commit_graph(self) -> None:
        """Bring git's commit-graph, with changed-path Bloom filters, up to date.

        Version numbers come from ``git log -- <prompt file>``; with the filters git skips the
        commits that did not touch the file without diffing their trees (in a repo of 4,000
        commits: ~85 ms -> ~15 ms). ``--split`` only appends the new commits, and later
        ``git gc`` keeps the filters. Best effort: a failure only costs speed.
        """
        if not self.is_shallow():
            self.run(
                "commit-graph", "write", "--reachable", "--changed-paths", "--split", check=False
            )

    def sync_index(self, paths: Sequence[str]) -> None:
        """Make the real index agree with HEAD for ``paths`` (after commit_files). A failure is
        raised: an index left behind HEAD makes the next ``git commit`` revert ptrain's."""
        if self.work_tree is not None and paths:
            try:
                self.run("reset", "-q", "HEAD", "--", *paths)
            except GitError as exc:
                raise GitError(
                    f"committed, but the git index could not be updated: {exc.message}",
                    f"run `git reset -q HEAD -- {' '.join(paths)}` once nothing holds the index "
                    "(`ptrain doctor --fix` does it)",
                ) from None

    # -- refs -----------------------------------------------------------------------------
    def update_ref(self, ref: str, new: str, old: str | None, reason: str = "ptrain") -> None:
        """Compare-and-swap ``ref`` from ``old`` (ZERO = must not exist) to ``new``; a lost race
        raises :class:`RefConflict` (a ConcurrentUpdate), a lock in the way :class:`GitLocked`."""
        args = ["update-ref", "-m", reason, ref, new]
        if old is not None:
            args.append(old)
        self.run(*args)

    def delete_ref(self, ref: str, old: str | None = None) -> bool:
        """Delete ``ref`` only if it still points at ``old`` (compare-and-swap); False when it
        moved or is gone, so a clean-up never deletes what someone else wrote."""
        try:
            self.run("update-ref", "-d", ref, *([old] if old else []))
        except RefConflict:
            return False
        except GitError as exc:
            if isinstance(exc, GitLocked):
                raise
            return False
        return True

    def transaction(
        self, ops: Sequence[RefOp], reason: str = "ptrain", step: str | None = None
    ) -> None:
        """Apply ``ops`` atomically: every ref changes, or none does (``update-ref --stdin``
        with start/prepare/commit). Between prepare (all refs locked and checked) and commit,
        ``faults.step(step + ".prepared")`` runs, so tests can crash there: git then sees its
        input end without ``commit`` and aborts, leaving every ref as it was."""
        proc = subprocess.Popen(
            self._cmd(["update-ref", "--stdin", "-m", reason]),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_clean_env(),
            cwd=self.work_tree or self.git_dir,
        )
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        stdin, stderr = proc.stdin, proc.stderr

        def failed() -> GitError:
            with contextlib.suppress(BrokenPipeError):
                stdin.close()
            err = stderr.read()
            return diagnose(("update-ref",), err, proc.wait() or 1)

        try:
            try:
                proc.stdin.write("start\n" + "".join(op.line() + "\n" for op in ops) + "prepare\n")
                proc.stdin.flush()
            except BrokenPipeError:  # git refused a line and exited
                raise failed() from None
            answers = [proc.stdout.readline() for _ in range(2)]
            if answers != ["start: ok\n", "prepare: ok\n"]:
                raise failed()
            if step:
                faults.step(step + ".prepared")
            try:
                proc.stdin.write("commit\n")
                proc.stdin.close()
            except BrokenPipeError:
                raise failed() from None
            out = proc.stdout.read()
            if "commit: ok" not in out:
                raise failed()
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def refs(self, *patterns: str, fmt: str = "%(objectname) %(refname)") -> list[str]:
        """``for-each-ref`` lines for the given patterns (prefixes or globs)."""
        return [
            ln for ln in self.out("for-each-ref", f"--format={fmt}", *patterns).splitlines() if ln
        ]

    def ref_values(self, prefix: str) -> dict[str, str]:
        """ref name -> object id for every ref under ``prefix``."""
        return dict(ln.split(" ", 1)[::-1] for ln in self.refs(prefix))

    def has_object(self, rev: str, kind: str = "commit") -> bool:
        return self.ok("cat-file", "-e", f"{rev}^{{{kind}}}")


def init_repo(path: Path) -> Git:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["git", "init", "-q", str(path)], check=True, env=_clean_env(), capture_output=True
    )
    return Git.discover(path)
