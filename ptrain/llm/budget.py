"""A per-run budget of calls, tokens and dollars, shared by every model call of the run.

Before each real call the client *reserves* its worst case (one call, the estimated prompt
tokens plus ``max_tokens``, and what that would cost); if the reservation would pass a limit,
``BudgetExceeded`` is raised and no call is made. After the call the reservation is settled
with the real usage. Cache hits are free and only counted. Thread-safe, so ``LLM.batch``
workers share one budget.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from ptrain.errors import BudgetExceeded

if TYPE_CHECKING:
    from ptrain.config import BudgetConfig


@dataclass
class Spend:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    dollars: float = 0.0
    cache_hits: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict:
        return {**asdict(self), "tokens": self.tokens}

    def __str__(self) -> str:
        return (
            f"{self.calls} calls, {self.tokens:,} tokens ({self.prompt_tokens:,} prompt + "
            f"{self.completion_tokens:,} completion), ${self.dollars:.4f}, "
            f"{self.cache_hits} cache hits"
        )


class Budget:
    """Limits for one run; ``None`` means unlimited. ``spent`` reports what was used."""

    def __init__(
        self, calls: int | None = None, tokens: int | None = None, dollars: float | None = None
    ):
        self.calls, self.tokens, self.dollars = calls, tokens, dollars
        self._spent = Spend()
        self._held = Spend()  # reservations of calls in flight
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, cfg: BudgetConfig) -> Budget:
        """From a ``ptrain.config.BudgetConfig``."""
        return cls(calls=cfg.calls, tokens=cfg.tokens, dollars=cfg.dollars)

    @property
    def spent(self) -> Spend:
        with self._lock:
            return Spend(**asdict(self._spent))

    def remaining(self) -> dict[str, float | None]:
        s = self.spent
        return {
            "calls": None if self.calls is None else self.calls - s.calls,
            "tokens": None if self.tokens is None else self.tokens - s.tokens,
            "dollars": None if self.dollars is None else self.dollars - s.dollars,
        }

    def reserve(self, tokens: int, dollars: float) -> Spend:
        """Hold one call's worst case, or raise ``BudgetExceeded`` without holding anything."""
        with self._lock:
            s, h = self._spent, self._held
            over = None
            if self.calls is not None and s.calls + h.calls + 1 > self.calls:
                over = f"{self.calls} calls"
            elif self.tokens is not None and s.tokens + h.tokens + tokens > self.tokens:
                over = f"{self.tokens:,} tokens (the next call may use up to {tokens:,})"
            elif self.dollars is not None and s.dollars + h.dollars + dollars > self.dollars:
                over = f"${self.dollars:.2f} (the next call may cost up to ${dollars:.4f})"
            if over:
                raise BudgetExceeded(
                    f"budget reached: {over}; spent {s}",
                    "raise training.budget in ptrain.yaml, or re-run: cached responses are free",
                )
            held = Spend(calls=1, prompt_tokens=tokens, dollars=dollars)
            self._add(h, held, +1)
            return held

    def settle(self, held: Spend, actual: Spend | None) -> None:
        """Replace a reservation with what the call really used (``None``: it made no call)."""
        with self._lock:
            self._add(self._held, held, -1)
            if actual is not None:
                self._add(self._spent, actual, +1)

    def record_cache_hit(self) -> None:
        with self._lock:
            self._spent.cache_hits += 1

    @staticmethod
    def _add(into: Spend, other: Spend, sign: int) -> None:
        into.calls += sign * other.calls
        into.prompt_tokens += sign * other.prompt_tokens
        into.completion_tokens += sign * other.completion_tokens
        into.dollars += sign * other.dollars
        into.cache_hits += sign * other.cache_hits
