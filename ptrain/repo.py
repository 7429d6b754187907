"""PromptRepo: prompts as YAML files, versions as commits, deploys and rollbacks as tags.

This is the service layer for the prompt repository. It takes explicit arguments and returns
data; it never prints. The CLI (``ptrain/cli``) and applications (``from ptrain import
PromptRepo``) both call it. Git formats are described in :mod:`ptrain.storage.git`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ptrain import authoring
from ptrain import deploy as deploys
from ptrain.authoring import validate_paths
from ptrain.deploy import DeployRecord, deploy_ref, parse_record_text, record_prefix
from ptrain.errors import (
    GitStateError,
    NotAPromptRepo,
    PromptNotFound,
    PtrainError,
    VersionNotFound,
)
from ptrain.layout import (
    CONFIG_FILE,
    DEFAULT_ENVS,
    DEFAULT_PROMPTS_DIR,
    check_name,
    env_problem,
    raw_settings,
)
from ptrain.storage import history
from ptrain.storage.git import DEPLOY_TAG_PREFIX, Git, GitError
from ptrain.storage.yamlio import load_roundtrip, load_safe
from ptrain.suggest import hint
from ptrain.versions import Version, listing

if TYPE_CHECKING:
    from ptrain.config import Config
    from ptrain.feedback.add import Recorded
    from ptrain.feedback.store import FeedbackWriter
    from ptrain.prompts import LoadedPrompt, PromptSpec

# ptrain.config, ptrain.prompts and ptrain.ab define pydantic models (~60 ms to build): they are
# imported where used, so `prompt show` and runtime `get()` only pay for what they touch.


class PromptRepo:
    """A prompt repository: a git repo (work tree or bare mirror) with a ``ptrain.yaml``."""

    def __init__(self, path: str | os.PathLike = "."):
        self.git = Git.discover(Path(path))
        self.root = self.git.work_tree or self.git.git_dir
        if self.git.bare:
            if self.git.show_file("HEAD", CONFIG_FILE) is None:
                raise authoring.bare_without_config(self.git, self.root)
        elif not (self.root / CONFIG_FILE).exists():
            raise NotAPromptRepo(
                f"{self.root} is not a prompt repo (no {CONFIG_FILE})",
                f"run `ptrain init {self.root}`",
            )
        self._config: Config | None = None
        self._raw: dict | None = None
        self._runtime_cache: dict[tuple[str, str], LoadedPrompt] = {}
        self._deployed_at: dict[tuple[str, str], tuple[str, int | None]] = {}
        self._feedback_writer: FeedbackWriter | None = None

    # -- configuration ------------------------------------------------------------------------
    @property
    def config(self) -> Config:
        """``ptrain.yaml``, fully validated (errors name file:line)."""
        if self._config is None:
            from ptrain.config import Config, load_config  # lazy: keeps pydantic off prompt show

            if self.git.bare:
                from ptrain.schema import validate_document  # lazy: keeps pydantic off prompt show

                doc = load_roundtrip(
                    (self.git.show_file("HEAD", CONFIG_FILE) or b"").decode(), CONFIG_FILE
                )
                self._config = validate_document(Config, doc or {}, CONFIG_FILE, "fix ptrain.yaml")
            else:
                self._config = load_config(self.root)
        return self._config

    def _setting(self, key: str, default):
        """One top-level setting without building the config model (fast read paths)."""
        if self._config is not None:
            return getattr(self._config, key)
        if self._raw is None:
            data = self.git.show_file("HEAD", CONFIG_FILE) if self.git.bare else None
            self._raw = raw_settings(self.root, data)
        value = self._raw.get(key)
        return value if value is not None else default

    @property
    def prompts_dir(self) -> str:
        return str(self._setting("prompts_dir", DEFAULT_PROMPTS_DIR)).strip("/")

    @property
    def envs(self) -> list[str]:
        return list(self._setting("envs", DEFAULT_ENVS))

    @property
    def default_env(self) -> str:
        """The env a command means when none is given: the first of ``envs`` in ptrain.yaml."""
        return self.envs[0]

    def prompt_path(self, name: str) -> str:
        return f"{self.prompts_dir}/{check_name(name)}.yaml"

    def name_of(self, path: str) -> str | None:
        prefix = self.prompts_dir + "/"
        if path.startswith(prefix) and path.endswith((".yaml", ".yml")):
            return path[len(prefix) :].rsplit(".", 1)[0]
        return None

    def check_env(self, env: str | None) -> str:
        """``env`` checked against ``envs``; None means the default env (the first of them)."""
        if env is None:
            return self.default_env
        bad = env_problem(env)
        if bad:
            raise PtrainError(bad[:200], "use lowercase letters, digits, '-' and '_'")
        if env not in self.envs:
            raise PtrainError(
                f"unknown env {env!r}; this repo has {', '.join(self.envs)}",
                hint(env, self.envs, "use one of those or add it to `envs` in ptrain.yaml"),
            )
        return env

    # -- reading --------------------------------------------------------------------------
    def prompt_names(self, rev: str = "HEAD") -> list[str]:
        names = [self.name_of(p) for p in self.git.ls_files(rev, self.prompts_dir)]
        return sorted(n for n in names if n)

    def check_prompt(self, name: str) -> str:
        """``name`` if a prompt of HEAD has it, else PromptNotFound with a "did you mean" (for a
        command that found nothing for ``name``: call it on that path only, it lists prompts)."""
        names = self.prompt_names()
        if check_name(name) not in names:
            raise PromptNotFound(
                f"no prompt named {name!r}", hint(name, names, "see `ptrain prompt list`")
            )
        return name

    def _require_history(self) -> None:
        if self.git.is_shallow():
            raise GitStateError(
                "this is a shallow clone, so version numbers would be wrong",
                "run `git fetch --unshallow --tags` (in CI: actions/checkout with fetch-depth: 0)",
            )

    def versions(self, name: str) -> list[Version]:
        """Every commit on HEAD that touched the prompt's file, numbered 1..N oldest first."""
        path = self.prompt_path(name)
        self._require_history()
        commits = history.commits_of(self.git, self.prompts_dir, path)
        if commits is None:  # no index yet: this one file's log (Bloom filters) beats indexing all
            commits = [
                [c["commit"], c["author"], c["date"], c["message"]]
                for c in self.git.log_file_commits([path])
            ]
        if not commits:
            raise PromptNotFound(
                f"no prompt named {name!r}",
                hint(name, self.prompt_names(), "see `ptrain prompt list`"),
            )
        deployed = self._deployed_commits(name)
        out = []
        for i, (sha, author, date, message) in enumerate(reversed(commits), start=1):
            envs = sorted(e for (n, e), at in deployed.items() if n == name and at == sha)
            out.append(Version(name, i, sha, date, author, message, envs))
        return out

    def all_versions(self) -> dict[str, list[Version]]:
        """Versions of every prompt from a single ``git log`` (for list/status views)."""
        self._require_history()
        per = self._prompt_commits()
        envs_at: dict[tuple[str, str], list[str]] = {}
        for (n, e), sha in self._deployed_commits().items():
            envs_at.setdefault((n, sha), []).append(e)
        out: dict[str, list[Version]] = {}
        for n, commits in per.items():
            vs = []
            for i, (sha, author, date, message) in enumerate(reversed(commits), start=1):
                at = envs_at.get((n, sha))
                vs.append(Version(n, i, sha, date, author, message, sorted(at) if at else []))
            out[n] = vs
        return out

    def listing(self) -> list[dict]:
        """Per prompt: name, latest version and commit, what each env runs (see versions.listing)."""
        return listing(self)

    def _prompt_commits(self) -> dict[str, list[list[str]]]:
        """Prompt name -> commits touching its file, newest first, as [sha, author, date,
        subject]: one ``git log`` for all prompts, cached per HEAD (:mod:`ptrain.storage.history`:
        in memory and in ``<git dir>/ptrain-cache/``; a HEAD that moved forward costs a
        ``git log OLD..HEAD``)."""
        per = history.commits_by_path(self.git, self.prompts_dir) or {}
        out: dict[str, list[list[str]]] = {}
        for path, commits in per.items():
            n = self.name_of(path)
            if n:
                out[n] = commits
        return out

    def _deployed_commits(self, name: str | None = None) -> dict[tuple[str, str], str]:
        """(prompt, env) -> deployed commit, from one for-each-ref call (one prompt's tags only
        when ``name`` is given)."""
        out = {}
        pattern = f"{DEPLOY_TAG_PREFIX}{name}@*" if name else DEPLOY_TAG_PREFIX
        for line in self.git.for_each_ref(pattern, "%(refname)%00%(*objectname)%00%(objectname)"):
            ref, peeled, obj = line.split("\x00")
            n, _, env = ref[len(DEPLOY_TAG_PREFIX) :].rpartition("@")
            if name is None or n == name:
                out[(n, env)] = peeled or obj
        return out

    def deployed(self, name: str, env: str) -> Version | None:
        sha = self.git.rev_parse(f"{deploy_ref(name, env)}^{{commit}}")
        if sha is None:
            return None
        return self._version_of_commit(name, sha)

    def _version_of_commit(self, name: str, sha: str) -> Version:
        try:
            for v in self.versions(name):
                if v.commit == sha:
                    return v
        except PromptNotFound:
            pass
        return Version(name, None, sha)

    def resolve(
        self, name: str, version: str | int | None = None, env: str | None = None
    ) -> Version:
        """A version by number (3, 'v3'), commit sha (prefix), any git rev, or deployed env.

        Neither given: the version deployed to the default env, else (never deployed there) the
        latest — the one rule for every command. An explicit ``env`` never falls back.
        """
        check_name(name)
        if env is not None and version is not None:
            raise PtrainError("give a version or an env, not both", "drop --env or --version")
        if env is not None:
            self.check_env(env)
            v = self.deployed(name, env)
            if v is None:
                raise VersionNotFound(
                    f"{name} is not deployed to {env}",
                    f"run `ptrain prompt deploy {name} VERSION --env {env}`",
                )
            return v
        versions = self.versions(name)
        if version is None:  # versions() knows where each is deployed: no extra git call
            live = next((v for v in versions if self.default_env in v.envs), None)
            sha = None if live else self._deployed_commits().get((name, self.default_env))
            if live is None and sha:  # deployed from a commit off this branch
                live = Version(name, None, sha, envs=[self.default_env])
            return live or versions[-1]
        if str(version) in ("latest", "HEAD"):
            return versions[-1]
        spec = str(version)
        m = re.fullmatch(r"v?(\d{1,6})", spec)
        if m and len(spec) < 7:
            n = int(m.group(1))
            if 1 <= n <= len(versions):
                return versions[n - 1]
            raise VersionNotFound(
                f"{name} has no version {n} (it has 1..{len(versions)})",
                f"see `ptrain prompt versions {name}`",
            )
        if re.fullmatch(r"[0-9a-f]{4,40}", spec):
            hits = [v for v in versions if v.commit.startswith(spec)]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise VersionNotFound(
                    f"{spec} is ambiguous for {name}", "give more characters of the sha"
                )
        sha = self.git.rev_parse(f"{spec}^{{commit}}")
        if sha is None or self.git.show_file(sha, self.prompt_path(name)) is None:
            raise VersionNotFound(
                f"{name} has no version {spec!r}", f"see `ptrain prompt versions {name}`"
            )
        return next((v for v in versions if v.commit == sha), Version(name, None, sha))

    def read_text(self, name: str, commit: str) -> str:
        data = self.git.show_file(commit, self.prompt_path(name))
        if data is None:
            raise PromptNotFound(
                f"{name} does not exist at {commit[:8]}", "see `ptrain prompt versions`"
            )
        return data.decode()

    def load(
        self, name: str, version: str | int | None = None, env: str | None = None
    ) -> LoadedPrompt:
        from ptrain.prompts import (  # lazy: keeps pydantic off prompt show
            LoadedPrompt,
            parse_prompt,
        )

        v = self.resolve(name, version, env)
        spec = parse_prompt(
            load_roundtrip(self.read_text(name, v.commit), self.prompt_path(name)),
            self.prompt_path(name),
        )
        return LoadedPrompt(name, spec, v.commit, v.number, env)

    def get(
        self,
        name: str,
        env: str | None = None,
        version: str | int | None = None,
        unit_id: str | None = None,
    ) -> LoadedPrompt:
        """Runtime loading: the prompt deployed to ``env`` (or a given version).

        Cached by the deploy tag's value, so a repeated call reads one small ref file and does
        a dictionary lookup; a moved tag is seen on the next call. Works on bare mirrors.
        With ``unit_id`` (a user or session id) and an A/B experiment running for (name, env),
        the unit's sticky variant instead (``.variant`` set; see :mod:`ptrain.ab.model`).
        ``env`` defaults to the first env of ptrain.yaml; there is no fallback to the latest.
        """
        env = self.default_env if env is None else env
        if unit_id is not None and version is None:
            # A/B: the experiment's model module picks the unit's sticky variant (no cycle:
            # ptrain.ab.model depends on nothing above storage and the prompt format)
            from ptrain.ab.model import runtime_variant  # lazy: keeps pydantic off prompt show

            hit = runtime_variant(self.git, name, env, str(unit_id), self.prompt_path)
            if hit is not None:
                return hit
        if version is not None:
            key = ("v", f"{name}@{version}")
            hit = self._runtime_cache.get(key)
            if hit is None:
                hit = self._runtime_cache[key] = self.load(name, version)
            return hit
        ref = f"{DEPLOY_TAG_PREFIX}{name}@{env}"
        value = self.git.read_ref_fast(ref)
        if value is None:
            self.check_env(env)  # a typo in the env says so (error path only: get stays fast)
            raise VersionNotFound(
                f"{name} is not deployed to {env}",
                hint(
                    name,
                    self.prompt_names(),
                    f"run `ptrain prompt deploy {name} VERSION --env {env}`",
                ),
            )
        hit = self._runtime_cache.get((ref, value))
        if hit is not None:
            return hit
        tag, blob = self.git.cat_batch([value, f"{value}^{{commit}}:{self.prompt_path(name)}"])
        if tag is None or blob is None:
            raise VersionNotFound(f"{name}@{env} points at a missing object", "run `ptrain sync`")
        meta = parse_record_text(tag[2].decode()) if tag[1] == "tag" else {}
        commit = meta.get("to_commit") or (value if tag[1] == "commit" else "")
        from ptrain.prompts import LoadedPrompt, PromptSpec  # lazy: keeps pydantic off prompt show

        spec = PromptSpec.model_validate(load_safe(blob[2], self.prompt_path(name)))
        num = meta.get("to_version")
        prompt = LoadedPrompt(name, spec, commit, int(num) if num and num != "-" else None, env)
        self._runtime_cache[(ref, value)] = prompt
        return prompt

    def diff(self, name: str, a: str | int, b: str | int) -> str:
        import difflib  # only diffs need it

        va, vb = self.resolve(name, a), self.resolve(name, b)
        path = self.prompt_path(name)
        old = self.read_text(name, va.commit).splitlines(keepends=True)
        new = self.read_text(name, vb.commit).splitlines(keepends=True)
        return "".join(
            difflib.unified_diff(old, new, f"{path}@{va.label()}", f"{path}@{vb.label()}")
        )

    # -- writing prompt files (ptrain.authoring) ---------------------------------------------
    def _writable(self) -> None:
        authoring.writable(self)

    def _check_content(self, name: str, text: str, source: str | None = None) -> PromptSpec:
        from ptrain.prompts import parse_prompt  # lazy: keeps pydantic off prompt show

        path = source or self.prompt_path(name)
        return parse_prompt(load_roundtrip(text, path), path)

    def create(
        self, name: str, text: str, message: str | None = None, source: str | None = None
    ) -> Version:
        """A new prompt; ``source`` names the file ``text`` came from in error messages."""
        return authoring.create(self, name, text, message, source)

    def update(
        self,
        name: str,
        text: str | None = None,
        message: str | None = None,
        source: str | None = None,
    ) -> Version:
        """A new version: ``text`` replaces the file; None commits the work-tree edit of it."""
        return authoring.update(self, name, text, message, source)

    # -- deploys (ptrain.deploy) ---------------------------------------------------------------
    def history(self, name: str, env: str | None = None) -> list[DeployRecord]:
        """Deploy records (oldest first) of one prompt in one env, or in all envs."""
        check_name(name)
        recs = deploys.history(self, name, env)
        if not recs:
            self.check_prompt(name)  # nothing recorded: a typo'd name says "did you mean"
        return recs

    def deploy(
        self, name: str, version: str | int, env: str | None = None, reason: str = ""
    ) -> DeployRecord:
        env = self.check_env(env)
        return deploys.deploy(self, name, version, env, reason)

    def rollback(self, name: str, env: str | None = None, reason: str = "") -> DeployRecord:
        return deploys.rollback(self, name, self.check_env(env), reason)

    # -- feedback ---------------------------------------------------------------------------
    def record_feedback(
        self,
        name: str | LoadedPrompt,
        kind: str,
        *,
        version: str | int | None = None,
        env: str | None = None,
        **fields: Any,
    ):
        """Append one feedback record (``fields``: docs/feedback-format.md) for the version given,
        else the one deployed to ``env`` (None: the default env), else the latest. ``name`` may be
        the ``LoadedPrompt`` that ``get`` returned: its commit, env and variant are recorded."""
        from ptrain.feedback.store import as_record  # lazy: `get()` and `prompt show` skip it

        return as_record(self.add_feedback(name, kind, version=version, env=env, **fields).record)

    def add_feedback(
        self,
        name: str | LoadedPrompt,
        kind: str,
        *,
        version: str | int | None = None,
        env: str | None = None,
        **fields: Any,
    ) -> Recorded:
        """``record_feedback`` as plain data (the stored dict, what was redacted); no pydantic."""
        from ptrain.feedback import add  # lazy: `prompt show` and `get()` never need it

        return add.add_for(self, name, kind, version, env, fields)

    def _deployed_fast(self, name: str, env: str) -> tuple[str, int | None] | None:
        return deploys.deployed_at(self.git, self._deployed_at, name, env)

    def feedback_summary(
        self, name: str | None = None, *, by: str = "prompt", since: str | None = None
    ):
        from ptrain import feedback  # lazy: keeps ptrain.feedback off PromptRepo.get

        return feedback.summarize(self.root, name, by=by, since=since)

    # -- export and validation (ptrain.authoring) ----------------------------------------------
    def export(self, dest: Path, env: str | None = None, fmt: str = "yaml") -> list[Path]:
        """Write the deployed version of every prompt to ``dest`` (plus an index.json)."""
        return authoring.export(self, dest, self.check_env(env), fmt)

    def validate_files(self, paths: list[Path] | None = None) -> list[str]:
        return validate_paths(
            paths or sorted((self.root / self.prompts_dir).rglob("*.y*ml")), self.root
        )


__all__ = [
    "PromptRepo",
    "Version",
    "DeployRecord",
    "GitError",
    "validate_paths",
    "check_name",
    "deploy_ref",
    "record_prefix",
]
