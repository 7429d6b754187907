"""Prices in USD per 1M tokens (input, output), for the spend report and dollar budgets.

List prices of common OpenAI models as published by OpenAI (checked 2025); local and scripted
models cost 0. An unknown remote model costs 0 and is reported as unpriced, so a dollar budget
cannot be trusted for it: ``cost()`` says so through ``is_priced``.
"""

from __future__ import annotations

PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o1": (15.00, 60.00),
    "o1-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "text-embedding-3-small": (0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.0),
}

FREE_PROVIDERS = ("local", "scripted")


def price(provider: str, model: str) -> tuple[float, float] | None:
    if provider in FREE_PROVIDERS:
        return (0.0, 0.0)
    if model in PRICES:
        return PRICES[model]
    # dated snapshots ("gpt-4o-mini-2024-07-18") cost what their family costs
    best = max((k for k in PRICES if model.startswith(k + "-")), key=len, default=None)
    return PRICES[best] if best else None


def is_priced(provider: str, model: str) -> bool:
    return price(provider, model) is not None


def cost(provider: str, model: str, prompt_tokens: int, completion_tokens: int) -> float:
    p = price(provider, model) or (0.0, 0.0)
    return (prompt_tokens * p[0] + completion_tokens * p[1]) / 1_000_000
