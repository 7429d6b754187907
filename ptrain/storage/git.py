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

Fast read paths (runtime loading, ``prompt show``) use the git CLI directly: one ``git``
process per call, and GitPython's import cost stays off the hot path. Commits are built with a
temporary index (``read-tree``/``update-index``/``write-tree``/``commit-tree``) and land with a
compare-and-swap on HEAD, so a ptrain commit contains only the files it means to and never
sweeps up what the user has staged.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from ptrain.errors import ConcurrentUpdate, GitStateError, NotAPromptRepo, PtrainError

ZERO = "0" * 40
DEPLOY_TAG_PREFIX = "refs/tags/ptrain/"
RECORD_TAG_PREFIX = "refs/tags/ptrain-deploy/"


class GitError(PtrainError):
    pass


def _clean_env() -> dict[str, str]:
    # Built per call, not at import: an application (or a test) may set GIT_* / HOME later.
    env = dict(os.environ)
    env.setdefault("GIT_TERMINAL_PROMPT", "0")
    env["LC_ALL"] = "C"
    return env


class Git:
    """A repository (work tree or bare) driven through the git CLI."""

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
    def run(
        self,
        *args: str,
        input: str | bytes | None = None,
        check: bool = True,
        env: dict[str, str] | None = None,
        binary: bool = False,
    ):
        cmd = ["git", f"--git-dir={self.git_dir}"]
        if self.work_tree:
            cmd.append(f"--work-tree={self.work_tree}")
        cmd.extend(args)
        if isinstance(input, str) and binary:
            input = input.encode()
        proc = subprocess.run(
            cmd,
            input=input,
            capture_output=True,
            text=not binary,
            env={**_clean_env(), **env} if env else _clean_env(),
            cwd=self.work_tree or self.git_dir,
        )
        if check and proc.returncode != 0:
            err = proc.stderr.decode(errors="replace") if binary else proc.stderr
            raise GitError(
                f"git {args[0]} failed: {err.strip().splitlines()[-1] if err.strip() else proc.returncode}"
            )
        return proc

    def out(self, *args: str, **kw) -> str:
        return self.run(*args, **kw).stdout

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
        data, pos, out = p.stdout, 0, []
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

    def log_file_commits(self, paths: Sequence[str], rev: str = "HEAD") -> list[dict]:
        """Commits on ``rev`` touching ``paths``, newest first, with the files each touched."""
        sep = "\x1e"
        fmt = sep + "%H%x00%an <%ae>%x00%aI%x00%s"
        p = self.run(
            "log", f"--format={fmt}", "--name-only", "--no-renames", rev, "--", *paths, check=False
        )
        if p.returncode != 0:
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

    def for_each_ref(self, prefix: str, fmt: str) -> list[str]:
        return [ln for ln in self.out("for-each-ref", f"--format={fmt}", prefix).splitlines() if ln]

    def read_ref_fast(self, ref: str) -> str | None:
        """Value of ``ref`` without spawning git: a loose ref file, else packed-refs."""
        try:
            with open(self.common_dir / ref, "rb") as f:
                return f.read(40).decode()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            pass
        packed = _packed_refs(self.common_dir / "packed-refs")
        return packed.get(ref)

    def user_identity(self) -> str:
        p = self.run("var", "GIT_COMMITTER_IDENT", check=False)
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

    def tree_with(self, base: str | None, files: dict[str, bytes | None]) -> str:
        """The tree of ``base`` with ``files`` replaced (None = removed), built in a temporary
        index so the user's staging area is never touched."""
        with tempfile.TemporaryDirectory(prefix="ptrain-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if base:
                self.run("read-tree", base, env=env)
            for path, data in files.items():
                if data is None:
                    self.run("update-index", "--force-remove", "--", path, env=env)
                    continue
                blob = self.out("hash-object", "-w", "--stdin", input=data, binary=True)
                blob = blob.decode().strip() if isinstance(blob, bytes) else blob.strip()
                self.run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
            return self.out("write-tree", env=env).strip()

    def commit_files(
        self, files: dict[str, bytes | None], message: str, *, expect_head: str | None = None
    ) -> str:
        """Commit exactly ``files`` (path -> content, None = delete) on top of HEAD.

        Builds the tree in a temporary index, so the user's staging area is not swept into the
        commit, then moves HEAD with compare-and-swap. Returns the new commit sha. The caller
        writes the working-tree files.
        """
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
        args = ["commit-tree", tree, "-m", message]
        if head:
            args[2:2] = ["-p", head]
        commit = self.out(*args).strip()
        self.update_ref("HEAD", commit, head or ZERO, f"ptrain: {message.splitlines()[0]}")
        return commit

    def commit_on_branch(
        self, base: str, files: dict[str, bytes | None], message: str, branch: str
    ) -> str:
        """Create ``branch`` (must not exist) with one commit of ``files`` on top of ``base``.
        ``branch`` may also be a full ref name (``refs/tags/...``).

        Nothing is checked out: the current branch, work tree and index are untouched.
        """
        tree = self.tree_with(base, files)
        commit = self.out("commit-tree", tree, "-p", base, "-m", message).strip()
        ref = branch if branch.startswith("refs/") else f"refs/heads/{branch}"
        self.update_ref(ref, commit, ZERO, "ptrain train")
        return commit

    def last_trailer_commit(self, key: str, value: str) -> tuple[str, str] | None:
        """Newest commit on any ref (local or remote-tracking) with trailer ``key: value``."""
        p = self.run(
            "log",
            "--all",
            "-1",
            "--format=%H%x00%cI",
            "--extended-regexp",
            f"--grep=^{key}: {value}$",
            check=False,
        )
        line = p.stdout.strip()
        if p.returncode != 0 or not line:
            return None
        sha, date = line.split("\x00")
        return sha, date

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
        """Make the real index agree with HEAD for ``paths`` (after commit_files)."""
        if self.work_tree is not None and paths:
            self.run("reset", "-q", "HEAD", "--", *paths, check=False)

    def update_ref(self, ref: str, new: str, old: str | None, reason: str = "ptrain") -> None:
        """Compare-and-swap ``ref`` from ``old`` (ZERO = must not exist) to ``new``."""
        args = ["update-ref", "-m", reason, ref, new]
        if old is not None:
            args.append(old)
        p = self.run(*args, check=False)
        if p.returncode != 0:
            raise ConcurrentUpdate(
                f"{ref.removeprefix('refs/tags/')} was changed by someone else meanwhile",
                "look at the new state and re-run the command",
            )

    def delete_ref(self, ref: str, old: str | None = None) -> None:
        args = ["update-ref", "-d", ref] + ([old] if old else [])
        self.run(*args, check=False)

    def make_tag_object(self, target: str, tag_name: str, message: str) -> str:
        """Create an annotated tag *object* (no ref yet) pointing at commit ``target``."""
        ident = self.out("var", "GIT_COMMITTER_IDENT").strip()
        body = (
            f"object {target}\ntype commit\ntag {tag_name}\ntagger {ident}\n\n{message.rstrip()}\n"
        )
        return self.out("mktag", input=body).strip()


def _core_bare(git_dir: Path) -> bool | None:
    """``core.bare`` from the repository's own config; None when it does not say or when
    ``core.worktree`` moves the work tree (then git itself must answer)."""
    try:
        text = (git_dir / "config").read_text()
    except OSError:
        return None
    bare = None
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        key = key.strip().lower()
        if sep and key == "worktree":
            return None
        if sep and key == "bare":
            bare = value.strip().lower() == "true"
    return bare


_PACKED: dict[Path, tuple[float, int, dict[str, str]]] = {}


def _packed_refs(path: Path) -> dict[str, str]:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return {}
    cached = _PACKED.get(path)
    if cached and cached[0] == st.st_mtime and cached[1] == st.st_size:
        return cached[2]
    refs: dict[str, str] = {}
    with open(path) as f:
        for line in f:
            if line.startswith(("#", "^")):
                continue
            sha, _, name = line.strip().partition(" ")
            if name:
                refs[name] = sha
    _PACKED[path] = (st.st_mtime, st.st_size, refs)
    return refs


def init_repo(path: Path) -> Git:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["git", "init", "-q", str(path)], check=True, env=_clean_env(), capture_output=True
    )
    return Git.discover(path)
