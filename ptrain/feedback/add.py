"""Record one piece of feedback: the service behind ``PromptRepo.record_feedback`` and
``ptrain feedback add``.

The record is checked before the version is looked up (so a bad record never costs a git call),
then tied to the version ``locate`` finds, redacted and appended. Everything here is plain data:
no pydantic, so the CLI's fast path stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ptrain.feedback.check import check
from ptrain.feedback.store import FeedbackWriter
from ptrain.layout import check_name

if TYPE_CHECKING:
    from ptrain.prompts import LoadedPrompt
    from ptrain.versions import Version


class FeedbackRepo(Protocol):
    """The part of ``PromptRepo`` that recording feedback uses."""

    root: Path
    _feedback_writer: FeedbackWriter | None

    @property
    def default_env(self) -> str: ...

    def resolve(
        self, name: str, version: str | int | None = None, env: str | None = None
    ) -> Version: ...

    def _deployed_fast(self, name: str, env: str) -> tuple[str, int | None] | None: ...


@dataclass(frozen=True)
class Recorded:
    """The record as stored (a dict, in the on-disk field order) and what redaction removed
    from it (kind -> occurrences)."""

    record: dict[str, Any]
    redacted: dict[str, int]


def add(
    writer: FeedbackWriter,
    doc: dict[str, Any],
    locate: Callable[[], tuple[str, int | None]] | tuple[str, int | None],
) -> Recorded:
    """Append ``doc`` (record fields without the version) for the (commit, number) that
    ``locate`` gives (a pair, or a function called only once the record is known to be valid)."""
    doc = {k: v for k, v in doc.items() if v is not None}
    if callable(locate):
        check(doc)  # refuse a bad record before touching git or disk
        locate = locate()
    commit, number = locate
    doc = {"version": commit, "version_number": number, **doc}
    before = dict(writer.redacted)
    (rec,) = writer.append([{k: v for k, v in doc.items() if v is not None}])
    after = writer.redacted
    return Recorded(
        rec, {k: n - before.get(k, 0) for k, n in after.items() if n > before.get(k, 0)}
    )


def add_for(
    repo: FeedbackRepo,
    name: str | LoadedPrompt,
    kind: str,
    version: str | int | None,
    env: str | None,
    fields: dict[str, Any],
) -> Recorded:
    """``PromptRepo.add_feedback``: tie the record to a version by the one rule and append it
    through the repo's cached writer."""
    at: tuple[str, int | None] | None = None
    if not isinstance(name, str):  # a LoadedPrompt (not imported: its module loads pydantic)
        loaded, name = name, name.name
        env = loaded.env or env
        if loaded.variant is not None:
            fields.setdefault("variant", loaded.variant)
        if version is None and loaded.commit:
            at = (loaded.commit, loaded.version)  # what get() loaded: no git at all
    prompt: str = name

    # the one rule: no env names the first env of ptrain.yaml, but a version asked for by
    # number or sha claims no env unless one is given (it need not run anywhere)
    where: str | None = (
        env if env is not None else None if version is not None else repo.default_env
    )

    def locate() -> tuple[str, int | None]:
        if version is not None:
            v = repo.resolve(prompt, version)
        else:
            found = repo._deployed_fast(check_name(prompt), env or repo.default_env)
            if found is not None:
                return found
            # an explicit env never falls back to the latest version: resolve says it is not
            # deployed there; no env (the first) falls back like every command
            v = repo.resolve(prompt, None, env)
        return v.commit, v.number

    if repo._feedback_writer is None:  # store and writer id resolved once per repo
        repo._feedback_writer = FeedbackWriter(repo.root)
    doc = {"prompt": prompt, "kind": kind, "env": where, **fields}
    return add(repo._feedback_writer, doc, at or locate)
