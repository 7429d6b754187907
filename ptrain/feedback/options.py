"""The ``feedback:`` section of ``ptrain.yaml`` as plain frozen dataclasses, read without pydantic.

The format and its rules are the pydantic models in ``ptrain.feedback.settings`` (also part of
the full config model). ``read`` checks the section with those rules in plain Python when it is
absent or made of plain values, which is what the fast paths (``feedback add``,
``record_feedback``) meet; anything it cannot prove valid goes to the model, so a mistake reads
exactly as the model words it. ``tests/feedback/test_check.py`` keeps the two in agreement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Limits:
    max_record_bytes: int = 1 << 20
    max_import_bytes: int = 512 << 20
    max_import_records: int = 2_000_000


@dataclass(frozen=True)
class CustomRule:
    name: str
    pattern: str


@dataclass(frozen=True)
class RedactPolicy:
    secrets: bool = True
    cards: bool = True
    emails: bool = False
    phones: bool = False
    custom: tuple[CustomRule, ...] = ()


@dataclass(frozen=True)
class FeedbackOptions:
    batch_size: int = 10
    retention_days: int = 90
    limits: Limits = field(default_factory=Limits)
    redact: RedactPolicy = field(default_factory=RedactPolicy)


DEFAULT = FeedbackOptions()
# (low, high) per integer setting, as in settings.Limits / settings.FeedbackConfig
_INTS = {"batch_size": (1, None), "retention_days": (1, None),
         "max_record_bytes": (1024, 1 << 30), "max_import_bytes": (1024, None),
         "max_import_records": (1, None)}  # fmt: skip
_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")


class _Unsure(Exception):
    pass


def read(doc: Any) -> FeedbackOptions:
    """The options of the raw ``feedback:`` mapping; a mistake raises the model's one line."""
    if doc is None:
        return DEFAULT
    try:
        return _fast(doc)
    except _Unsure:
        from ptrain.feedback.settings import (
            from_raw,  # lazy: pydantic, only for what the fast reader cannot prove
        )

        return of_model(from_raw(doc))


def of_model(cfg: Any) -> FeedbackOptions:
    """The options of a validated ``settings.FeedbackConfig``."""
    r = cfg.redact
    custom = tuple(CustomRule(c.name, c.pattern) for c in r.custom)
    return FeedbackOptions(
        cfg.batch_size,
        cfg.retention_days,
        Limits(**cfg.limits.model_dump()),
        RedactPolicy(r.secrets, r.cards, r.emails, r.phones, custom),
    )


def _section(doc: Any, known: tuple[str, ...]) -> dict[str, Any]:
    # isinstance: the YAML loader's mappings are dict subclasses
    if not isinstance(doc, dict) or not all(type(k) is str and k in known for k in doc):
        raise _Unsure
    return dict(doc)


def _ints(doc: dict[str, Any]) -> dict[str, int]:
    out = {}
    for key, value in doc.items():
        low, high = _INTS[key]
        if type(value) is not int or value < low or (high is not None and value > high):
            raise _Unsure
        out[key] = value
    return out


def _custom(items: Any) -> tuple[CustomRule, ...]:
    if not isinstance(items, list):
        raise _Unsure
    rules = []
    for item in items:
        rule = _section(item, ("name", "pattern"))
        name, pattern = rule.get("name"), rule.get("pattern")
        if type(name) is not str or not _NAME_RE.fullmatch(name):
            raise _Unsure
        if type(pattern) is not str or not 1 <= len(pattern) <= 1000:
            raise _Unsure
        try:
            re.compile(pattern)
        except re.error:
            raise _Unsure from None
        rules.append(CustomRule(name, pattern))
    return tuple(rules)


def _fast(doc: Any) -> FeedbackOptions:
    top = _section(doc, ("batch_size", "retention_days", "limits", "redact"))
    limits = _ints(_section(top.pop("limits", {}), tuple(Limits.__dataclass_fields__)))
    redact = _section(top.pop("redact", {}), tuple(RedactPolicy.__dataclass_fields__))
    custom = _custom(redact.pop("custom", []))
    if any(type(v) is not bool for v in redact.values()):
        raise _Unsure
    return FeedbackOptions(
        **_ints(top), limits=Limits(**limits), redact=RedactPolicy(**redact, custom=custom)
    )
