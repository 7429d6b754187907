"""'Did you mean ...?' for names a person types: commands, prompt names, envs, config keys.

difflib only (stdlib, no heavy import), so every error path can afford it. Suggestions are
offered only when one candidate is clearly close (difflib's ratio >= 0.6, or the only name the
word begins), never a list of guesses.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches


def closest(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The choice closest to ``word`` (case-insensitive), or None when nothing is close."""
    options = [c for c in dict.fromkeys(choices) if c != word]
    if not word or not options:
        return None
    by_lower = {c.lower(): c for c in options}
    prefixed = [c for low, c in by_lower.items() if low.startswith(word.lower())]
    if len(prefixed) == 1:  # 'prod' -> 'production' (too short for difflib's ratio)
        return prefixed[0]
    hits = get_close_matches(word.lower(), list(by_lower), n=1, cutoff=cutoff)
    return by_lower[hits[0]] if hits else None


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """``"did you mean 'list'?"`` when a choice is close to ``word``, else None."""
    hit = closest(word, choices)
    return f"did you mean {hit!r}?" if hit else None


def hint(word: str, choices: Iterable[str], otherwise: str) -> str:
    """A PtrainError hint: the suggestion first when there is one, then ``otherwise``."""
    guess = did_you_mean(word, choices)
    return f"{guess} ({otherwise})" if guess else otherwise
