"""``ptrain feedback add``'s work, free of typer and click: parse the values, record, render.

The typer command (``ptrain.cli.feedback.add``) and the console script's fast path
(``ptrain.cli.entry``) both call :func:`add`, so the two paths write the same record and print
the same line.
"""

from __future__ import annotations

import re
from typing import Any

from ptrain.cli.output import emit_json, info
from ptrain.cli.state import open_repo
from ptrain.errors import PtrainError

_FIELD_METRICS = {"latency_ms": float, "prompt_tokens": int, "completion_tokens": int}


def parse_error(spec: str) -> tuple[str | None, str]:
    """``TYPE:MSG`` -> (TYPE, MSG) when TYPE looks like an error class name; else (None, spec)."""
    m = re.fullmatch(r"\s*([A-Za-z_][\w.]{0,99})\s*:\s*(.*)", spec, re.S)
    if m and m.group(2).strip():
        return m.group(1), m.group(2)
    if m:
        return m.group(1), m.group(1)
    return None, spec


def parse_metrics(specs: list[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    extra: dict[str, float] = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        key = key.strip()
        if not sep or not key:
            raise PtrainError(
                f"--metric {spec!r} is not NAME=NUMBER", "e.g. --metric latency_ms=123"
            )
        try:
            number = float(value)
        except ValueError:
            raise PtrainError(
                f"--metric {key}: {value!r} is not a number", "e.g. --metric latency_ms=123"
            ) from None
        cast = _FIELD_METRICS.get(key)
        if cast is int and not number.is_integer():
            raise PtrainError(f"--metric {key} must be a whole number", f"e.g. --metric {key}=45")
        if cast is not None:
            fields[key] = cast(number)
        else:
            extra[key] = number
    if extra:
        fields["metrics"] = extra
    return fields


def redacted_note(counts: dict[str, int]) -> str:
    if not counts:
        return ""
    return " (redacted: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + ")"


def add(
    name: str,
    *,
    rating: float | None = None,
    message: str | None = None,
    error: str | None = None,
    suggestion: str | None = None,
    metric: list[str] | None = None,
    kind: str | None = None,
    version: str | None = None,
    env: str | None = None,
    variant: str | None = None,
    run_id: str | None = None,
    source: str = "user",
    json_out: bool = False,
) -> None:
    """Record one piece of feedback for the deployed (or given) version of a prompt."""
    fields: dict[str, Any] = parse_metrics(metric or [])
    if error is not None:
        fields["error_type"], fields["error_message"] = parse_error(error)
    chosen = kind or next(
        (
            k
            for k, given in (("error", error), ("rating", rating), ("suggestion", suggestion))
            if given is not None
        ),
        "metric" if metric else None,
    )
    if chosen is None:
        raise PtrainError("nothing to record", "give --rating, --error, --suggestion or --metric")
    repo = open_repo()
    if env is not None and version is None:
        repo.check_env(env)  # --env names where to look the version up: it must exist
    res = repo.add_feedback(name, chosen, version=version, env=env, rating=rating, message=message,
                            suggestion=suggestion, variant=variant, run_id=run_id, source=source,
                            **fields)  # fmt: skip
    rec = res.record
    if json_out:
        emit_json({**rec, "redacted": res.redacted})
        return
    label = f"v{rec['version_number']} " if rec.get("version_number") else ""
    info(f"Recorded {rec['kind']} for {rec['prompt']} {label}({rec.get('version', '')[:8]}) "
         f"id {rec['id']}" + redacted_note(res.redacted))  # fmt: skip
