"""YAML reading and writing with ruamel.yaml.

Two loaders:

* ``load_roundtrip`` keeps comments, key order, quoting and ``|`` literal blocks, and records the
  line of every key, so ptrain can rewrite a prompt file without destroying what a person wrote
  and can report validation errors as ``file:line``.
* ``load_safe`` builds plain dicts/lists with the safe constructor (no arbitrary Python objects),
  for the runtime path where speed matters more than comments.

Untrusted input is bounded before it is built into objects (a prompt file in a pull request
must not take CI down): size, nesting depth, number of aliases and the number of nodes the
aliases expand to (a 553-byte "billion laughs" file expands to 10^9). Defaults below; override
with ``PTRAIN_YAML_MAX_BYTES``, ``PTRAIN_YAML_MAX_DEPTH``, ``PTRAIN_YAML_MAX_ALIASES`` and
``PTRAIN_YAML_MAX_NODES``. A file over a limit is one ``ValidationError`` naming it.

Writes go to a temporary file in the same directory, are fsynced and renamed into place, so a
crash leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptrain.errors import ValidationError

_rt = None
_safe = None
_scan = None


@dataclass(frozen=True)
class YamlLimits:
    max_bytes: int = 1 << 20
    max_depth: int = 64
    max_aliases: int = 200
    max_nodes: int = 200_000

    @classmethod
    def from_env(cls) -> YamlLimits:
        def num(key: str, default: int) -> int:
            raw = os.environ.get(f"PTRAIN_YAML_{key}", "")
            return int(raw) if raw.isdigit() and int(raw) > 0 else default

        d = cls()
        return cls(
            num("MAX_BYTES", d.max_bytes),
            num("MAX_DEPTH", d.max_depth),
            num("MAX_ALIASES", d.max_aliases),
            num("MAX_NODES", d.max_nodes),
        )


def _too_big(source: str, what: str, limit: int, env: str) -> ValidationError:
    return ValidationError(
        f"{source}: YAML {what} (limit {limit:,})",
        f"simplify the file; if it is genuine, raise PTRAIN_YAML_{env}",
    )


def check_bounds(text: str | bytes, source: str, limits: YamlLimits | None = None) -> None:
    """Refuse YAML over the size, depth, alias or expanded-node limits, reading only its
    events (the parser keeps its own stack, so deep nesting cannot overflow Python's)."""
    lim = limits or YamlLimits.from_env()
    size = len(text.encode() if isinstance(text, str) else text)
    if size > lim.max_bytes:
        raise _too_big(source, f"file is too large: {size:,} bytes", lim.max_bytes, "MAX_BYTES")
    global _scan
    if _scan is None:
        from ruamel.yaml import YAML

        _scan = YAML(typ="safe", pure=False)  # libyaml events when available: ~20x faster
    from ruamel.yaml import events as ev
    from ruamel.yaml.error import YAMLError

    stack: list[tuple[str | None, int]] = []  # (anchor, nodes so far) per open collection
    sizes: dict[str, int] = {}
    aliases = 0
    nodes = 0
    try:
        for e in _scan.parse(text):
            if isinstance(e, ev.CollectionStartEvent):
                stack.append((e.anchor, 1))
                if len(stack) > lim.max_depth:
                    raise _too_big(source, "is nested too deeply", lim.max_depth, "MAX_DEPTH")
                continue
            if isinstance(e, ev.CollectionEndEvent):
                anchor, n = stack.pop()
                if anchor:
                    sizes[anchor] = n
            elif isinstance(e, ev.ScalarEvent):
                n = 1
                if e.anchor:
                    sizes[e.anchor] = 1
            elif isinstance(e, ev.AliasEvent):
                aliases += 1
                if aliases > lim.max_aliases:
                    raise _too_big(source, "has too many aliases", lim.max_aliases, "MAX_ALIASES")
                n = sizes.get(e.anchor, 1)
            else:
                continue
            nodes += n
            if nodes > lim.max_nodes:
                raise _too_big(source, "expands to too many nodes", lim.max_nodes, "MAX_NODES")
            if stack:
                stack[-1] = (stack[-1][0], stack[-1][1] + n)
    except YAMLError:
        return  # a syntax error: the loader that follows reports it in its own words


# Text that cannot nest deeply or alias: no anchors/aliases/flow brackets, no "- -" or "? ?"
# runs, no deep indentation. The runtime path skips the event scan for it.
_MAYBE_DEEP = re.compile(r"[&*\[{]|[-?]\s+[-?]\s|\n {48,}")


def _guard(text: str | bytes, source: str, always: bool) -> None:
    raw = text if isinstance(text, str) else text.decode("utf-8", errors="replace")
    if always or len(raw) > 65536 or _MAYBE_DEEP.search(raw):
        check_bounds(text, source)


def _roundtrip_yaml():
    global _rt
    if _rt is None:
        from ruamel.yaml import YAML

        y = YAML(typ="rt")
        y.preserve_quotes = True
        y.width = 4096
        y.indent(mapping=2, sequence=4, offset=2)
        _rt = y
    return _rt


def _safe_yaml():
    global _safe
    if _safe is None:
        from ruamel.yaml import YAML

        _safe = YAML(typ="safe", pure=False)
    return _safe


def _parse_error(source: str, exc: Exception) -> ValidationError:
    mark = getattr(exc, "problem_mark", None)
    where = f"{source}:{mark.line + 1}" if mark is not None else source
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return ValidationError(f"{where}: invalid YAML: {problem}", "fix the YAML syntax at that line")


def load_roundtrip(text: str, source: str = "<string>") -> Any:
    from ruamel.yaml.error import YAMLError

    _guard(text, source, always=True)
    try:
        return _roundtrip_yaml().load(text)
    except YAMLError as exc:
        raise _parse_error(source, exc) from None
    except RecursionError:  # a backstop: check_bounds refuses deep nesting first
        raise _too_big(
            source, "is nested too deeply", YamlLimits.from_env().max_depth, "MAX_DEPTH"
        ) from None


def load_safe(text: str | bytes, source: str = "<string>") -> Any:
    from ruamel.yaml.error import YAMLError

    _guard(text, source, always=False)
    try:
        return _safe_yaml().load(text)
    except YAMLError as exc:
        raise _parse_error(source, exc) from None
    except RecursionError:
        raise _too_big(
            source, "is nested too deeply", YamlLimits.from_env().max_depth, "MAX_DEPTH"
        ) from None


def dump_roundtrip(data: Any) -> str:
    buf = io.StringIO()
    _roundtrip_yaml().dump(data, buf)
    return buf.getvalue()


def line_of(node: Any, key: str | int | None = None) -> int | None:
    """1-based line of ``key`` inside a round-trip mapping/sequence (or of the node itself)."""
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    try:
        if key is None:
            return lc.line + 1
        return lc.key(key)[0] + 1 if isinstance(key, str) else lc.item(key)[0] + 1
    except (KeyError, IndexError, TypeError, AttributeError):
        return lc.line + 1


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` via temp file + fsync + rename (atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    import tempfile  # only writers need it

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def literal(text: str):
    """A string that dumps as a ``|`` block when it spans lines (plain otherwise)."""
    if "\n" not in text:
        return text
    from ruamel.yaml.scalarstring import LiteralScalarString

    return LiteralScalarString(text)
