"""Statistics for A/B experiments: sample size, two-proportion z-test, intervals, P(best).

Pure functions on counts (no I/O), so they are easy to test and to reason about.
"""

from __future__ import annotations

import math

POWER = 0.8  # the planned power of every experiment


def required_sample_size(baseline: float, mde: float, alpha: float, power: float = POWER) -> int:
    """Outcomes per variant for a two-sided two-proportion z-test to detect ``mde`` (absolute)."""
    from statistics import NormalDist

    p1 = min(max(baseline, 0.01), 0.99)
    p2 = p1 + mde if p1 + mde < 1 else p1 - mde
    p2 = min(max(p2, 0.0), 1.0)
    pbar = (p1 + p2) / 2
    z_a = NormalDist().inv_cdf(1 - alpha / 2)
    z_b = NormalDist().inv_cdf(power)
    n = (
        z_a * math.sqrt(2 * pbar * (1 - pbar)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    ) ** 2 / mde**2
    return max(10, math.ceil(n))


def norm_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def two_proportion_z(s1: int, n1: int, s2: int, n2: int) -> tuple[float, float]:
    """Pooled two-proportion z statistic (2 minus 1) and its two-sided p-value."""
    if n1 == 0 or n2 == 0:
        return 0.0, 1.0
    p = (s1 + s2) / (n1 + n2)
    se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (s2 / n2 - s1 / n1) / se
    return z, min(1.0, 2 * norm_sf(abs(z)))


def wilson(s: int, n: int, z: float = 1.959964) -> tuple[float, float] | None:
    if n == 0:
        return None
    p = s / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, mid - half), min(1.0, mid + half))


def mean_interval(xs: list[float], z: float = 1.959964) -> tuple[float, float] | None:
    n = len(xs)
    if n < 2:
        return None
    m = sum(xs) / n
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    half = z * sd / math.sqrt(n)
    return (max(0.0, m - half), min(1.0, m + half))


def prob_best(counts: list[tuple[int, int]], draws: int = 20_000, seed: int = 0) -> list[float]:
    """P(each arm has the highest rate) under Beta(1 + successes, 1 + failures) posteriors."""
    import random

    rng = random.Random(seed)
    wins = [0] * len(counts)
    params = [(1 + s, 1 + n - s) for s, n in counts]
    for _ in range(draws):
        xs = [rng.betavariate(a, b) for a, b in params]
        wins[xs.index(max(xs))] += 1
    return [w / draws for w in wins]
