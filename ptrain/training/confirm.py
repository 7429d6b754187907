"""Confirmation: the search's best candidates scored on cases no selection step saw.

The top ``k`` candidates by selection score (declared before any is confirmed, so the
Bonferroni correction is honest: each is tested at ``significance / k``) run on the confirmation
cases with the configured runs and metrics. Each is compared with the current version on the
same cases (McNemar, paired bootstrap interval, every deployment gate). The first one in
selection order that passes every gate is proposed; its reported gain, p-value and interval are
the confirmation set's, never the selection score it was chosen on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ptrain.evaluation import compare
from ptrain.training.search import Entry

CONFIRM_TOP = 2


def confirm(
    ranked: list[Entry],
    evaluate: Callable[[Entry], Any],
    baseline: Any,
    thresholds: Any,
    significance: float,
    *,
    k: int = CONFIRM_TOP,
    affordable: Callable[[], bool] = lambda: True,
) -> list[tuple[Entry, Any, Any]]:
    """(entry, confirmation EvalResult, Comparison) for each candidate confirmed, in order."""

    todo = ranked[:k]
    alpha = significance / max(1, len(todo))
    out = []
    for e in todo:
        if not affordable():
            e.status = "not confirmed: budget reached"
            break
        result = evaluate(e)
        comp = compare(result, baseline, thresholds, alpha)
        out.append((e, result, comp))
        if comp.recommended:
            break
    return out
