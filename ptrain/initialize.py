"""``ptrain init``: make a git repository (new or existing) a prompt repository. Idempotent."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ptrain.config import CONFIG_FILE, DEFAULT_CONFIG_YAML
from ptrain.errors import GitStateError
from ptrain.storage.git import Git, init_repo
from ptrain.storage.yamlio import atomic_write

GITATTRIBUTES = [
    "# ptrain: feedback shards are append-only JSONL; a local merge keeps both sides' lines.",
    "# (GitHub's merge button ignores this; ptrain shards by writer so PRs never conflict.)",
    "feedback/**/*.jsonl merge=union",
    "prompts/**/*.yaml diff=yaml linguist-language=YAML",
]
GITIGNORE = ["# ptrain local caches (model responses, summaries, indexes)", ".ptrain/"]
KEEP = ("prompts/.gitkeep", "feedback/.gitkeep", "evals/.gitkeep")


@dataclass
class InitResult:
    root: Path
    created_repo: bool
    written: list[str] = field(default_factory=list)
    commit: str | None = None


def _append_missing(path: Path, lines: list[str]) -> bytes | None:
    text = path.read_text() if path.exists() else ""
    have = set(text.splitlines())
    new = [ln for ln in lines if ln not in have and not ln.startswith("#")]
    if not new:
        return None
    add = [ln for ln in lines if ln.startswith("#") and ln not in have] + new
    if text and not text.endswith("\n"):
        text += "\n"
    return (text + "\n".join(add) + "\n").encode()


def init(path: Path) -> InitResult:
    path = Path(path).resolve()
    created = False
    try:
        git = Git.discover(path)
        if git.bare:
            raise GitStateError(
                f"{path} is a bare repository", "run `ptrain init` in a clone with a work tree"
            )
    except GitStateError:
        raise
    except Exception:
        git = init_repo(path)
        created = True
    root = git.work_tree
    assert root is not None  # a bare repository was refused above
    files: dict[str, bytes] = {}
    if not (root / CONFIG_FILE).exists():
        files[CONFIG_FILE] = DEFAULT_CONFIG_YAML.encode()
    for rel, lines in ((".gitattributes", GITATTRIBUTES), (".gitignore", GITIGNORE)):
        data = _append_missing(root / rel, lines)
        if data is not None:
            files[rel] = data
    for rel in KEEP:
        folder = root / rel.split("/")[0]
        if not folder.exists() or not any(folder.iterdir()):
            files[rel] = b""
    result = InitResult(root, created)
    if not files:
        return result
    if git.current_branch() is None and git.head_commit() is not None:
        raise GitStateError("HEAD is detached", "check out a branch first (`git switch main`)")
    with git.lock():
        for rel, data in files.items():
            atomic_write(root / rel, data)
        result.commit = git.commit_files(files, "ptrain init: prompt repository layout")
        git.sync_index(list(files))
        git.write_commit_graph()
    result.written = sorted(files)
    return result
