"""A prompt version as data, and what the deploy and authoring verbs need of a repository.

``PromptRepo`` (``ptrain.repo``) is the facade; its verbs live in ``ptrain.deploy`` and
``ptrain.authoring``, which take the repository as ``PromptStore`` (a Protocol ``PromptRepo``
satisfies). So the verbs never import the facade and the facade imports them: no cycle, not even
a type-only one. Nothing heavy is imported here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ptrain.prompts import LoadedPrompt, PromptSpec
    from ptrain.storage.git import Git


@dataclass
class Version:
    name: str
    number: int | None
    commit: str
    date: str = ""
    author: str = ""
    message: str = ""
    envs: list[str] = field(default_factory=list)

    @property
    def short(self) -> str:
        return self.commit[:8]

    def label(self) -> str:
        return f"v{self.number}" if self.number else self.short

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "short": self.short}


class PromptStore(Protocol):
    """The part of ``PromptRepo`` that ``ptrain.deploy`` and ``ptrain.authoring`` use."""

    git: Git
    root: Path

    def check_env(self, env: str) -> str: ...

    def prompt_path(self, name: str) -> str: ...

    def prompt_names(self, rev: str = "HEAD") -> list[str]: ...

    def check_prompt(self, name: str) -> str: ...

    def versions(self, name: str) -> list[Version]: ...

    def resolve(
        self, name: str, version: str | int | None = None, env: str | None = None
    ) -> Version: ...

    def read_text(self, name: str, commit: str) -> str: ...

    def get(
        self,
        name: str,
        env: str | None = None,
        version: str | int | None = None,
        unit_id: str | None = None,
    ) -> LoadedPrompt: ...

    def _version_of_commit(self, name: str, sha: str) -> Version: ...

    def _deployed_commits(self) -> dict[tuple[str, str], str]: ...

    def _check_content(self, name: str, text: str, source: str | None = None) -> PromptSpec: ...

    @property
    def envs(self) -> list[str]: ...

    def _require_history(self) -> None: ...

    def _prompt_commits(self) -> dict[str, list[list[str]]]: ...


def listing(repo: PromptStore) -> list[dict[str, Any]]:
    """Per prompt (sorted): name, latest version number and commit, and the version label
    each env runs -- from the per-HEAD index and one for-each-ref, no Version objects."""
    repo._require_history()
    per = repo._prompt_commits()
    deployed = repo._deployed_commits()
    rows = []
    for name in repo.prompt_names():
        commits = per.get(name, [])
        number = {c[0]: len(commits) - i for i, c in enumerate(commits)}
        where = {}
        for e in repo.envs:
            sha = deployed.get((name, e))
            where[e] = (f"v{number[sha]}" if sha in number else sha[:8]) if sha else None
        rows.append(
            {
                "name": name,
                "latest": len(commits) or None,
                "commit": commits[0][0] if commits else None,
                "envs": where,
            }
        )
    return rows
