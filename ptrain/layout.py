"""Names and defaults of a prompt repository's layout, for the fast paths (nothing heavy here).

Also the cheap checks of the settings those fast paths read (``schema_version``, ``envs``,
``prompts_dir``, ``feedback_dir``, ``evals_dir``) and of prompt and env names: the same
functions back the full config model, so ``prompt show`` and ``ptrain validate`` agree.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

from ptrain.errors import PtrainError, ValidationError
from ptrain.storage.yamlio import atomic_write, load_safe

CONFIG_FILE = "ptrain.yaml"
CONFIG_SCHEMA_VERSION = 1
DEFAULT_PROMPTS_DIR = "prompts"
DEFAULT_ENVS = ("production", "staging")  # the first is the default env
MAX_NAME_LEN = 128  # a prompt name becomes a file path and three ref names
MAX_ENV_LEN = 48

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]*(/[a-z0-9][a-z0-9_\-]*)*$")
ENV_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
_DIR_KEYS = ("prompts_dir", "feedback_dir", "evals_dir")


def name_problem(name: Any) -> str | None:
    if not isinstance(name, str) or not NAME_RE.match(name):
        return f"invalid prompt name {name!r}"
    if len(name) > MAX_NAME_LEN:
        return f"prompt name too long ({len(name)} characters, at most {MAX_NAME_LEN})"
    return None


def env_problem(env: Any) -> str | None:
    if not isinstance(env, str) or not ENV_RE.match(env):
        return f"invalid env name {env!r}"
    if len(env) > MAX_ENV_LEN:
        return f"env name too long ({len(env)} characters, at most {MAX_ENV_LEN})"
    return None


def envs_problem(value: Any) -> str | None:
    if not isinstance(value, list) or not value:
        shown = f"the {type(value).__name__} {value!r}" if not isinstance(value, list) else "[]"
        return f"envs must be a non-empty list of env names, not {shown[:60]}"
    for env in value:
        bad = env_problem(env)
        if bad:
            return f"envs: {bad}"
    if len(set(value)) != len(value):
        return "envs lists an env twice"
    return None


def dir_problem(key: str, value: Any) -> str | None:
    """A folder setting must be a plain relative path inside the repository, outside .git."""
    if not isinstance(value, str) or not value.strip("/ "):
        return f"{key} must be a folder name such as {key.removesuffix('_dir')!r}, not {value!r}"
    p = PurePosixPath(value)
    if p.is_absolute() or value.startswith("~") or "\\" in value:
        return f"{key} must be a path inside the repository, not {value!r}"
    if ".." in p.parts or any(part.lower() == ".git" for part in p.parts):
        return f"{key} must stay inside the repository and out of .git, not {value!r}"
    return None


def schema_problem(value: Any) -> str | None:
    if value is None or (type(value) is int and value == CONFIG_SCHEMA_VERSION):
        return None
    return f"schema_version {value!r} is not supported; this ptrain reads {CONFIG_SCHEMA_VERSION}"


def check_settings(doc: Any, source: str = CONFIG_FILE) -> dict:
    """The fast-path settings of ``ptrain.yaml`` checked (one ValidationError naming the key)."""
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ValidationError(
            f"{source}: must be a mapping of settings, not a {type(doc).__name__}",
            "`ptrain init` writes the defaults",
        )
    problems = [schema_problem(doc.get("schema_version"))]
    if "envs" in doc:
        problems.append(envs_problem(doc["envs"]))
    problems += [dir_problem(k, doc[k]) for k in _DIR_KEYS if k in doc]
    bad = next((p for p in problems if p), None)
    if bad:
        raise ValidationError(
            f"{source}: {bad}", "fix ptrain.yaml; `ptrain init` writes the defaults"
        )
    return doc


def raw_settings(root: str | Path, data: bytes | None = None) -> dict:
    """Top-level keys of ``ptrain.yaml`` as plain data, without building the config model.

    For fast read paths that need one setting (prompts_dir, feedback_dir, envs); those settings
    are checked here (cheaply); the rest is validated in ``ptrain.config.load_config``.
    """
    if data is None:
        path = Path(root) / CONFIG_FILE
        if path.is_symlink():
            raise ValidationError(
                f"{CONFIG_FILE} is a symbolic link", "replace it with a regular file"
            )
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return {}
    return check_settings(_parsed(Path(root), data) if data else {})


def _parsed(root: Path, data: bytes) -> Any:
    """``ptrain.yaml`` parsed, from a cache keyed by its content's digest, kept as JSON in
    ``.git/ptrain-cache/`` (local, never committed), so a fast path such as ``feedback
    add`` does not import ruamel (~20 ms) for a file it has read before. Only documents that
    JSON gives back unchanged are cached; anything else is parsed every time."""
    import hashlib
    import json

    key = hashlib.sha256(data).hexdigest()[:32]
    cache = root / ".git" / "ptrain-cache" / f"settings-{key}.json"
    try:
        doc = json.loads(cache.read_bytes())
    except (OSError, ValueError):
        doc = load_safe(data, CONFIG_FILE)
        _save_parsed(cache, doc)
    return doc


def _save_parsed(cache: Path, doc: Any) -> None:
    import json

    try:
        text = json.dumps(doc, separators=(",", ":"))
        if (
            json.loads(text) != doc
            or not cache.parent.parent.is_dir()
            or cache.parent.parent.is_symlink()
        ):
            return
        cache.parent.mkdir(exist_ok=True)
        atomic_write(cache, text)
    except (OSError, TypeError, ValueError):
        return  # a cache is an optimisation: never an error


def check_name(name: str) -> str:
    """``name`` if it is a valid prompt name, else a PtrainError saying what names look like."""
    bad = name_problem(name)
    if bad:
        raise PtrainError(
            bad[:200],
            "use lowercase letters, digits, '-' and '_', with '/' for folders (e.g. support/triage)",
        )
    return name
