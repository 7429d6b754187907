"""Paired significance over per-case outcomes of two versions on the same cases.

* ``mcnemar_exact(b, c)``: the exact (binomial) McNemar test. Only discordant cases carry
  information: ``b`` cases passed on the baseline and failed on the candidate, ``c`` the
  reverse. Under "no difference" each discordant case is a fair coin, so the two-sided p-value
  is ``min(1, 2 * P(Binomial(b + c, 1/2) <= min(b, c)))``. Ten discordant cases all in the
  candidate's favour give p = 2 / 2**10 ≈ 0.002; two give p = 0.5, never significant.
* ``paired_bootstrap_ci(base, cand)``: a percentile bootstrap interval of the mean paired
  difference (candidate - baseline), resampling cases with replacement, seeded so a report is
  reproducible.
* ``bootstrap_ci(values)``: the same percentile bootstrap for one version's per-case values
  (the interval every metric of a report carries; the latency percentiles resample calls).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (1.0 when there are none)."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def discordant(base: Sequence[bool], cand: Sequence[bool]) -> tuple[int, int]:
    """(baseline-only passes, candidate-only passes) over paired outcomes."""
    if len(base) != len(cand):
        raise ValueError("paired outcomes must have the same length")
    b = sum(1 for x, y in zip(base, cand, strict=True) if x and not y)
    c = sum(1 for x, y in zip(base, cand, strict=True) if y and not x)
    return b, c


def paired_bootstrap_ci(
    base: Sequence[float],
    cand: Sequence[float],
    *,
    iterations: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of mean(cand - base) over paired items."""
    if len(base) != len(cand):
        raise ValueError("paired outcomes must have the same length")
    n = len(base)
    if n == 0:
        return (0.0, 0.0)
    diffs = [float(y) - float(x) for x, y in zip(base, cand, strict=True)]
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(diffs, k=n)) / n for _ in range(iterations))
    alpha = (1 - confidence) / 2
    lo = means[int(math.floor(alpha * (iterations - 1)))]
    hi = means[int(math.ceil((1 - alpha) * (iterations - 1)))]
    return (lo, hi)


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def bootstrap_ci(
    values: Sequence[float],
    *,
    iterations: int = 2_000,
    confidence: float = 0.95,
    seed: int = 0,
    statistic: Callable[[Sequence[float]], float] = _mean,
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of ``statistic`` (default the mean) of ``values`` (one value per
    case, or per call for latency), resampling them with replacement; ``None`` for no values.
    Seeded: a report is reproducible."""
    n = len(values)
    if n == 0:
        return None
    xs = [float(v) for v in values]
    if min(xs) == max(xs):
        return (xs[0], xs[0])
    rng = random.Random(seed)
    means = sorted(statistic(rng.choices(xs, k=n)) for _ in range(iterations))
    alpha = (1 - confidence) / 2
    lo = means[int(math.floor(alpha * (iterations - 1)))]
    hi = means[int(math.ceil((1 - alpha) * (iterations - 1)))]
    return (lo, hi)
