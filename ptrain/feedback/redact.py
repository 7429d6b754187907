"""Redaction of feedback text before it is written (and so before it is ever committed).

A policy (``feedback.redact`` in ptrain.yaml) names what to remove: secrets (API keys, tokens,
private keys, credentials in ``key=value`` form, long high-entropy strings), card numbers
(Luhn-checked, known issuer prefixes), emails, phone numbers and custom regular expressions.
Each match is replaced by ``[REDACTED:<kind>]``; only the number of replacements per kind is
reported - the removed text is never stored or printed.

Kept on purpose: commit shas and other hex ids (versions), UUIDs, ISO dates and times, version
strings, IP addresses, order numbers with a prefix (``ORD-2026-118842``).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ptrain.feedback.options import RedactPolicy

_SECRETS = [
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----",
    r"\bsk-(?:proj-|ant-|live-)?[A-Za-z0-9_\-]{20,}",
    r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}",
    r"\bgh[pousr]_[A-Za-z0-9]{30,}",
    r"\bgithub_pat_[A-Za-z0-9_]{22,}",
    r"\bglpat-[A-Za-z0-9_\-]{20,}",
    r"\bxox[abprs]-[A-Za-z0-9\-]{10,}",
    r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b",
    r"\bAIza[0-9A-Za-z_\-]{35}",
    r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
    r"\b(?i:bearer)\s+[A-Za-z0-9._~+/\-]{16,}=*",
]
_ASSIGN_RE = re.compile(
    r"(?i)(\b[a-z0-9_\-]*(?:api[_-]?key|secret|token|passwd|password|pwd|credential)[a-z0-9_\-]*"
    r"[\"']?\s*(?:is\s*)?[:=]\s*[\"']?)([^\s\"',;]{6,})"
)
_SECRET_RE = re.compile("|".join(_SECRETS))
# Substrings one of _SECRETS needs: a C-speed `in` test skips the regex for ordinary text.
_SECRET_HINTS = ("sk-", "sk_", "rk_", "pk_", "gh", "github_pat_", "glpat-", "xox", "AKIA", "ASIA",
                 "ABIA", "ACCA", "AIza", "eyJ", "earer", "EARER", "PRIVATE KEY")  # fmt: skip
_ASSIGN_HINTS = ("key", "secret", "token", "pass", "pwd", "credential")
_SECRET_HINT_RE = re.compile("|".join(re.escape(h) for h in _SECRET_HINTS))
_ENTROPY_CANDIDATE = re.compile(r"(?<![A-Za-z0-9+/_\-])[A-Za-z0-9+/_\-]{32,}={0,2}")
_EMAIL_RE = re.compile(r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b")
_PHONE_RE = re.compile(
    r"(?<![\w\-./:])(?:\+\d{1,3}[ .\-]?(?:\(\d{1,4}\)[ .\-]?)?\d{1,4}(?:[ .\-]?\d{2,4}){2,4}"
    r"|\(\d{3}\)[ .\-]?\d{3}[ .\-]\d{4}|\d{3}[ .\-]\d{3}[ .\-]\d{4})(?![\w\-./:])"
)
_CARD_RE = re.compile(r"(?<![\w\-])(?:\d[ \-]?){12,18}\d(?![\w\-])")
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|3[0689]|6(?:011|5|4[4-9]|22))")


def _entropy(s: str) -> float:
    counts = Counter(s)
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _looks_secret(tok: str) -> bool:
    """A long token mixing upper, lower case and digits with high entropy (not hex: shas stay)."""
    core = tok.rstrip("=")
    if re.fullmatch(r"[0-9a-fA-F\-]+", core):  # shas, uuids, hex ids
        return False
    classes = sum(bool(re.search(p, core)) for p in (r"[a-z]", r"[A-Z]", r"\d"))
    return classes == 3 and _entropy(core) >= 4.0


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(m: re.Match[str]) -> bool:
    digits = re.sub(r"[ \-]", "", m.group())
    return 13 <= len(digits) <= 19 and bool(_CARD_PREFIX.match(digits)) and luhn_ok(digits)


class Redactor:
    """Applies one policy; ``counts`` accumulates what was removed (kind -> occurrences)."""

    def __init__(self, policy: RedactPolicy):
        self.policy = policy
        self.counts: Counter[str] = Counter()
        rules: list[tuple[str, re.Pattern[str], Callable[[re.Match[str]], bool] | None]] = []
        self.secrets = policy.secrets
        if policy.cards:
            rules.append(("card", _CARD_RE, _card))
        if policy.emails:
            rules.append(("email", _EMAIL_RE, None))
        if policy.phones:
            rules.append(("phone", _PHONE_RE, None))
        for c in policy.custom:
            rules.append((c.name, re.compile(c.pattern), None))
        self.rules = rules
        self.active = bool(rules) or self.secrets

    def text(self, s: str) -> str:
        if self.secrets and _SECRET_HINT_RE.search(s) and _SECRET_RE.search(s):
            s = self._sub("secret", _SECRET_RE, None, s)
        for kind, rx, check in self.rules:
            if rx.search(s) is not None:  # the common case: one scan, no substitution
                s = self._sub(kind, rx, check, s)
        if self.secrets:
            lower = s.lower()
            if (any(h in lower for h in _ASSIGN_HINTS) and _ASSIGN_RE.search(s)) or (
                len(s) >= 32 and _ENTROPY_CANDIDATE.search(s)
            ):
                s = self._secret_values(s)
        return s

    def _sub(self, kind: str, rx: re.Pattern[str], check: Any, s: str) -> str:
        def sub(m: re.Match[str]) -> str:
            if check is not None and not check(m):
                return m.group()
            self.counts[kind] += 1
            return f"[REDACTED:{kind}]"

        return rx.sub(sub, s)

    def _secret_values(self, s: str) -> str:
        def assign(m: re.Match[str]) -> str:
            if m.group(2).startswith("[REDACTED:"):
                return m.group()
            self.counts["secret"] += 1
            return f"{m.group(1)}[REDACTED:secret]"

        def entropy(m: re.Match[str]) -> str:
            if not _looks_secret(m.group()):
                return m.group()
            self.counts["secret"] += 1
            return "[REDACTED:secret]"

        s = _ASSIGN_RE.sub(assign, s)
        return _ENTROPY_CANDIDATE.sub(entropy, s)

    def value(self, v: Any, depth: int = 0) -> Any:
        """``v`` with every string inside redacted; the same object when nothing changed."""
        if isinstance(v, str):
            return self.text(v)
        if depth > 20:
            return v
        if isinstance(v, dict):
            new = {k: self.value(x, depth + 1) for k, x in v.items()}
            return v if all(new[k] is x for k, x in v.items()) else new
        if isinstance(v, list):
            items = [self.value(x, depth + 1) for x in v]
            return v if all(a is b for a, b in zip(items, v, strict=True)) else items
        return v
