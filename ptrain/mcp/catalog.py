"""What ``ptrain mcp serve`` serves: the prompts deployed to one env, as plain data.

This is the service behind the MCP server (:mod:`ptrain.mcp.server` binds it to the protocol).
It takes explicit arguments, returns dicts and dataclasses, and never imports the ``mcp`` SDK,
so it is tested and reused without it.

* ``prompts()`` lists every prompt whose deploy tag for the env exists, with its description,
  arguments (the prompt's ``input_variables``, all required) and the served version/commit.
* ``render()`` fills a deployed prompt (or a given version, or a unit's sticky A/B variant)
  with arguments; ``PromptRepo.get`` reads the deploy tag on every call, so a moved tag is
  served on the next call.
* ``record_feedback()`` stores a rating, error or suggestion tied to the commit that was served
  (the caller echoes back the ``commit`` and ``variant`` that ``render()`` returned).
  Feedback goes to the repository's feedback store (``PromptRepo.record_feedback``, then
  ``ptrain feedback commit``) or, with a spool directory, to the spool (drained by
  ``ptrain feedback import --spool DIR``).
* ``fingerprint()`` is one ``git for-each-ref`` over the deploy and A/B tags: the server polls
  it and tells clients their lists changed when it does.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ptrain.ab import AB_TAG_PREFIX
from ptrain.errors import GitStateError, PromptNotFound, PtrainError, VersionNotFound
from ptrain.repo import check_name
from ptrain.storage.git import DEPLOY_TAG_PREFIX

if TYPE_CHECKING:
    from ptrain.feedback import FeedbackWriter
    from ptrain.prompts import LoadedPrompt
    from ptrain.repo import PromptRepo, Version

MAX_ARGUMENT_CHARS = 100_000  # one argument's value; bounds what a client can make us build
MAX_TEXT_CHARS = 20_000  # a feedback message, suggestion, error or output
MCP_ROLES = {"system": "user", "human": "user", "ai": "assistant"}  # MCP has no system role


class UnknownPrompt(PtrainError):
    """The name is not a prompt deployed to the served env (MCP: invalid params)."""


class BadArguments(PtrainError):
    """Missing, unknown or oversized prompt arguments (MCP: invalid params)."""


@dataclass
class Rendered:
    """A prompt filled with arguments, and what feedback must echo back to be tied to it."""

    name: str
    description: str
    messages: list[dict[str, str]]  # {"role": "user"|"assistant", "content": text}
    version: int | None
    commit: str
    env: str | None
    variant: str | None

    @property
    def meta(self) -> dict[str, Any]:
        return _meta(self.version, self.commit, self.env, self.variant)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "version": self.version,
            "commit": self.commit,
            "env": self.env,
            "variant": self.variant,
            "messages": self.messages,
        }

    def text(self) -> str:
        """The messages as one text, for hosts that paste a tool result into the chat."""
        return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in self.messages)


def _meta(version: int | None, commit: str, env: str | None, variant: str | None) -> dict:
    meta: dict[str, Any] = {"version": version, "commit": commit, "env": env}
    if variant is not None:
        meta["variant"] = variant
    return meta


class Catalog:
    """The prompts of one repository deployed to one env (the server's default env)."""

    def __init__(
        self,
        repo: PromptRepo,
        env: str | None = None,
        *,
        spool: str | os.PathLike | None = None,
        read_only: bool = False,
    ):
        self.repo = repo
        self.env = repo.check_env(env)
        self.read_only = read_only
        self.spool = Path(spool).resolve() if spool is not None else None
        if not read_only and self.spool is None and repo.git.bare:
            raise GitStateError(
                f"{repo.root} is a bare repository: feedback has no work tree to go to",
                "pass --spool DIR (drain it with `ptrain feedback import --spool DIR`) or --read-only",
            )
        self._writer: FeedbackWriter | None = None

    # -- change detection ---------------------------------------------------------------------
    def fingerprint(self) -> str:
        """Every deploy and A/B tag with its value, from one ``git for-each-ref``."""
        return "\n".join(
            self.repo.git.refs(DEPLOY_TAG_PREFIX, AB_TAG_PREFIX, fmt="%(refname) %(objectname)")
        )

    # -- listing ------------------------------------------------------------------------------
    def deployed_names(self, env: str | None = None) -> list[str]:
        suffix = "@" + (env or self.env)
        names = []
        for line in self.repo.git.for_each_ref(DEPLOY_TAG_PREFIX, "%(refname)"):
            rest = line[len(DEPLOY_TAG_PREFIX) :]
            if rest.endswith(suffix):
                names.append(rest[: -len(suffix)])
        return sorted(names)

    def prompts(self, env: str | None = None) -> list[dict[str, Any]]:
        """Name, description, arguments and served version of each prompt deployed to env."""
        env = self.repo.check_env(env) if env else self.env
        out = []
        for name in self.deployed_names(env):
            try:
                p = self.repo.get(name, env)
            except Exception:  # noqa: BLE001 - a missing object, a file a newer ptrain wrote:
                continue  # that prompt is not servable; the others still are
            out.append(
                {
                    "name": name,
                    "description": p.spec.description,
                    "arguments": [{"name": v, "required": True} for v in p.input_variables],
                    **_meta(p.version, p.commit, env, None),
                }
            )
        return out

    # -- serving ------------------------------------------------------------------------------
    def load(
        self,
        name: str,
        *,
        env: str | None = None,
        version: str | int | None = None,
        unit_id: str | None = None,
    ) -> LoadedPrompt:
        """The prompt a caller asked for: a version, else the unit's variant, else the deploy."""
        if env is not None and version is not None:
            raise BadArguments("give a version or an env, not both", "drop one of them")
        env = self.repo.check_env(env) if env else self.env

        try:
            check_name(name)
            return self.repo.get(
                name, env, version=version, unit_id=str(unit_id) if unit_id else None
            )
        except (PromptNotFound, VersionNotFound) as exc:
            if version is not None:
                raise UnknownPrompt(exc.message, exc.hint) from None
            raise UnknownPrompt(
                f"no prompt named {name!r} is deployed to {env}",
                "call list_prompts (prompts/list) for the names",
            ) from None
        except PtrainError as exc:
            if exc.__class__ is PtrainError:  # check_name: not a prompt name at all
                raise UnknownPrompt(exc.message, exc.hint) from None
            raise

    def render(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        *,
        env: str | None = None,
        version: str | int | None = None,
        unit_id: str | None = None,
    ) -> Rendered:
        p = self.load(name, env=env, version=version, unit_id=unit_id)
        args = check_arguments(p.input_variables, arguments or {}, name)
        messages = [
            {"role": MCP_ROLES[role], "content": text} for role, text in p.format_messages(**args)
        ]
        return Rendered(name, p.spec.description, messages, p.version, p.commit, p.env, p.variant)

    # -- feedback -----------------------------------------------------------------------------
    def record_feedback(
        self,
        name: str,
        commit: str,
        *,
        rating: float | None = None,
        error: str | None = None,
        suggestion: str | None = None,
        message: str | None = None,
        output: str | None = None,
        env: str | None = None,
        variant: str | None = None,
        unit_id: str | None = None,
        client: str | None = None,
    ) -> dict[str, Any]:
        """One feedback record tied to ``commit`` (the one ``render`` served). Returns it.

        ``client`` (the MCP host's name) is kept in ``metadata`` next to ``via: mcp``."""
        if self.read_only:
            raise PtrainError("this server is read-only", "restart it without --read-only")
        kind = "error" if error else "rating" if rating is not None else "suggestion"
        if kind == "suggestion" and not (suggestion or "").strip():
            raise BadArguments(
                "feedback needs a rating (0-1), an error or a suggestion",
                "pass rating=0.0..1.0, error='...' or suggestion='...' (message is a comment)",
            )
        given_env = self.repo.check_env(env) if env else None
        env = given_env or self.env
        served = self._served_version(name, commit)
        if variant is None and unit_id:
            variant = self._variant_of(name, env, str(unit_id), served.commit)
        if given_env is None and variant is None and not self._ever_deployed(name, env, served):
            env = None  # served by version (get_prompt version=...): not the env's traffic
        fields: dict[str, Any] = {
            "rating": rating,
            "error_message": _clip(error),
            "suggestion": _clip(suggestion),
            "message": _clip(message),
            "output": _clip(output),
            "variant": variant,
            "source": "user",
            "metadata": {"via": "mcp", **({"client": client} if client else {})},
        }
        fields = {k: v for k, v in fields.items() if v is not None}
        if self.spool is None:
            rec = self.repo.record_feedback(name, kind, version=served.commit, env=env, **fields)
        else:
            rec = self._spool_writer().write(
                [
                    {
                        "prompt": name,
                        "kind": kind,
                        "version": served.commit,
                        "version_number": served.number,
                        "env": env,
                        **fields,
                    }
                ]
            )[0]
        return rec.model_dump(exclude_none=True)

    def _served_version(self, name: str, commit: str) -> Version:
        if not re.fullmatch(r"[0-9a-fA-F]{7,40}", commit or ""):
            raise BadArguments(
                f"commit {commit[:50]!r} is not a commit sha",
                "pass the `commit` that get_prompt returned",
            )
        try:
            check_name(name)
            return self.repo.resolve(name, commit)
        except PtrainError as exc:
            raise UnknownPrompt(
                f"{name} has no version {commit[:12]!r}",
                "pass the `name` and `commit` that get_prompt returned",
            ) from exc

    def _ever_deployed(self, name: str, env: str, served: Version) -> bool:
        return any(r.to_commit == served.commit for r in self.repo.history(name, env))

    def _variant_of(self, name: str, env: str, unit_id: str, commit: str) -> str | None:
        """The unit's variant, only if it is the served commit (else an experiment moved)."""
        try:
            p = self.repo.get(name, env, unit_id=unit_id)
        except PtrainError:
            return None
        return p.variant if p.variant is not None and p.commit == commit else None

    def _spool_writer(self) -> FeedbackWriter:
        if self._writer is None:
            from ptrain.feedback import FeedbackWriter  # lazy: the store loads on first write

            assert self.spool is not None
            self._writer = FeedbackWriter(self.spool)
        return self._writer

    # -- history ------------------------------------------------------------------------------
    def history(self, name: str, env: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """The latest deploy records of a prompt in env (newest last)."""
        env = self.repo.check_env(env) if env else self.env

        try:
            check_name(name)
        except PtrainError as exc:
            raise UnknownPrompt(exc.message, exc.hint) from None
        limit = max(1, min(int(limit), 500))
        return [r.to_dict() for r in self.repo.history(name, env)[-limit:]]


def check_arguments(declared: list[str], given: dict[str, Any], name: str) -> dict[str, str]:
    """The arguments as strings; BadArguments naming the first missing or unknown one."""
    missing = [v for v in declared if v not in given]
    if missing:
        raise BadArguments(
            f"{name} needs argument '{missing[0]}' (it takes {', '.join(declared)})",
            f"pass {missing[0]}=...",
        )
    unknown = [k for k in given if k not in declared]
    if unknown:
        takes = ", ".join(declared) or "no arguments"
        raise BadArguments(
            f"{name} has no argument '{unknown[0]}' (it takes {takes})", "drop it or fix its name"
        )
    out = {}
    for k, v in given.items():
        text = v if isinstance(v, str) else str(v)
        if len(text) > MAX_ARGUMENT_CHARS:
            raise BadArguments(
                f"argument '{k}' is {len(text)} characters (at most {MAX_ARGUMENT_CHARS})",
                "shorten it",
            )
        out[k] = text
    return out


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    return text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS] + " [truncated]"
