"""YAML reading and writing with ruamel.yaml.

Two loaders:

* ``load_roundtrip`` keeps comments, key order, quoting and ``|`` literal blocks, and records the
  line of every key, so ptrain can rewrite a prompt file without destroying what a person wrote
  and can report validation errors as ``file:line``.
* ``load_safe`` builds plain dicts/lists with the safe constructor (no arbitrary Python objects),
  for the runtime path where speed matters more than comments.

Writes go to a temporary file in the same directory, are fsynced and renamed into place, so a
crash leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path
from typing import Any

from ptrain.errors import ValidationError

_rt = None
_safe = None


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

    try:
        return _roundtrip_yaml().load(text)
    except YAMLError as exc:
        raise _parse_error(source, exc) from None


def load_safe(text: str | bytes, source: str = "<string>") -> Any:
    from ruamel.yaml.error import YAMLError

    try:
        return _safe_yaml().load(text)
    except YAMLError as exc:
        raise _parse_error(source, exc) from None


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
