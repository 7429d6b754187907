"""Statistics for A/B experiments: outcomes, sample size, z-tests, intervals, P(best), verdict.

Pure functions on records and counts (no I/O), so they are easy to test and to reason about.

Outcomes: under the default metric ``success`` a success record is 1, an error record 0, and a
rating record 1 if its rating is >= 0.5 (thumbs up), else 0; ``calls`` counts only success/error
records, ``rating`` only ratings. Each record is one outcome: several records from one user are
treated as independent, which a per-user metric would not need.

Decision rule (fixed horizon, so peeking cannot inflate false positives): at start the sample
size per variant is fixed from the baseline rate, ``mde``, ``alpha`` and 80% power. Until every
variant has that many outcomes the verdict is "keep running". Then the verdict is taken on the
*first* ``sample_size`` outcomes of each variant (in time order) with two-sided two-proportion
z-tests of each challenger against the control (the first variant), Bonferroni-corrected when
there are more than two variants; later outcomes never change it. Probabilities of being best
(Beta posteriors, Monte Carlo with a fixed seed) and interim p-values are shown for information
only.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

from ptrain.ab.model import Variant

POWER = 0.8  # the planned power of every experiment
METRICS = {
    "success": "success and error records, plus ratings (>= 0.5 counts as a success)",
    "calls": "success and error records only",
    "rating": "ratings only (>= 0.5 counts as a success)",
}
MIN_BASELINE_OUTCOMES = 50  # fewer historical outcomes than this: plan for the worst case, 0.5
Z95 = 1.959964


def outcome(rec: dict[str, Any], metric: str) -> int | None:
    """A record as a Bernoulli outcome under ``metric`` (None: the record does not count)."""
    kind = rec.get("kind")
    if kind == "rating" and metric in ("success", "rating"):
        r = rec.get("rating")
        return None if r is None else int(r >= 0.5)
    if metric in ("success", "calls"):
        if kind == "success":
            return 1
        if kind == "error":
            return 0
    return None


def required_sample_size(baseline: float, mde: float, alpha: float, power: float = POWER) -> int:
    """Outcomes per variant for a two-sided two-proportion z-test to detect ``mde`` (absolute)."""
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


def wilson(s: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval of ``s`` successes in ``n`` (95% by default); None when n == 0."""
    if n == 0:
        return None
    p = s / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, mid - half), min(1.0, mid + half))


def mean_interval(xs: list[float], z: float = Z95) -> tuple[float, float] | None:
    """Normal-approximation interval of the mean of ratings in [0, 1]; None below 2 values."""
    n = len(xs)
    if n < 2:
        return None
    m = sum(xs) / n
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    half = z * sd / math.sqrt(n)
    return (max(0.0, m - half), min(1.0, m + half))


def prob_best(counts: list[tuple[int, int]], draws: int = 20_000, seed: int = 0) -> list[float]:
    """P(each arm has the highest rate) under Beta(1 + successes, 1 + failures) posteriors."""
    rng = random.Random(seed)
    wins = [0] * len(counts)
    params = [(1 + s, 1 + n - s) for s, n in counts]
    for _ in range(draws):
        xs = [rng.betavariate(a, b) for a, b in params]
        wins[xs.index(max(xs))] += 1
    return [w / draws for w in wins]


# -- the verdict ---------------------------------------------------------------------------------


@dataclass
class Verdict:
    label: str  # "keep running" | "<name> wins" | "no difference"
    winner: str | None
    horizon: int
    needed: int  # outcomes still needed by the variant furthest behind
    tests: list[dict[str, Any]] = field(default_factory=list)  # challenger vs control at horizon
    rates: dict[str, float] = field(default_factory=dict)  # of the first `horizon` outcomes


def decide(
    outcomes: dict[str, list[int]], sample_size: int, alpha: float, control: str | None = None
) -> Verdict:
    """The pre-registered rule: nothing before every variant has ``sample_size`` outcomes;
    then z-tests on the first ``sample_size`` outcomes of each (Bonferroni over challengers)."""
    names = list(outcomes)
    control = control or names[0]
    needed = max(0, sample_size - min(len(o) for o in outcomes.values()))
    if needed:
        return Verdict("keep running", None, sample_size, needed)
    head = {n: sum(o[:sample_size]) for n, o in outcomes.items()}
    rates = {n: s / sample_size for n, s in head.items()}
    challengers = [n for n in names if n != control]
    alpha_each = alpha / len(challengers)
    tests: list[dict[str, Any]] = []
    better: list[str] = []
    worse: list[str] = []
    for n in challengers:
        z, p = two_proportion_z(head[control], sample_size, head[n], sample_size)
        sig = p < alpha_each
        tests.append(
            {
                "variant": n,
                "vs": control,
                "z": z,
                "p_value": p,
                "alpha": alpha_each,
                "significant": sig,
            }
        )
        if sig:
            (better if z > 0 else worse).append(n)
    if better:
        win = max(better, key=lambda n: head[n])
        return Verdict(f"{win} wins", win, sample_size, 0, tests, rates)
    if len(worse) == len(challengers):
        return Verdict(f"{control} wins", control, sample_size, 0, tests, rates)
    return Verdict("no difference", None, sample_size, 0, tests, rates)


def interim_tests(outcomes: dict[str, list[int]], control: str) -> list[dict[str, Any]]:
    """Each challenger against the control on all outcomes so far: information, not a verdict."""
    ctrl = outcomes[control]
    out = []
    for name, outs in outcomes.items():
        if name == control:
            continue
        z, p = two_proportion_z(sum(ctrl), len(ctrl), sum(outs), len(outs))
        out.append({"variant": name, "vs": control, "z": z, "p_value": p})
    return out


# -- per-variant figures -------------------------------------------------------------------------


@dataclass
class ArmStats:
    name: str
    version: int | None
    commit: str
    weight: int
    records: int
    successes: int
    errors: int
    success_rate: float | None
    error_rate: float | None
    success_ci: tuple[float, float] | None
    ratings: int
    mean_rating: float | None
    rating_ci: tuple[float, float] | None
    outcomes: int
    outcome_rate: float | None
    outcome_ci: tuple[float, float] | None
    prob_best: float | None = None


def arm_stats(v: Variant, recs: list[dict[str, Any]], outs: list[int]) -> ArmStats:
    """One variant's records summarised: success/error rates (Wilson 95%), mean rating with its
    interval, and its outcomes under the metric (P(best) is filled in across arms)."""
    succ = sum(1 for r in recs if r.get("kind") == "success")
    err = sum(1 for r in recs if r.get("kind") == "error")
    calls = succ + err
    ratings = [float(r["rating"]) for r in recs if r.get("rating") is not None]
    return ArmStats(
        name=v.name,
        version=v.version,
        commit=v.commit,
        weight=v.weight,
        records=len(recs),
        successes=succ,
        errors=err,
        success_rate=succ / calls if calls else None,
        error_rate=err / calls if calls else None,
        success_ci=wilson(succ, calls),
        ratings=len(ratings),
        mean_rating=sum(ratings) / len(ratings) if ratings else None,
        rating_ci=mean_interval(ratings),
        outcomes=len(outs),
        outcome_rate=sum(outs) / len(outs) if outs else None,
        outcome_ci=wilson(sum(outs), len(outs)),
    )


def arms_with_prob_best(
    variants: list[Variant], recs: dict[str, list[dict[str, Any]]], outs: dict[str, list[int]]
) -> list[ArmStats]:
    """Every variant's :class:`ArmStats`, with P(best) over the outcomes so far."""
    arms = [arm_stats(v, recs[v.name], outs[v.name]) for v in variants]
    best = prob_best([(sum(outs[a.name]), len(outs[a.name])) for a in arms])
    for a, pb in zip(arms, best, strict=True):
        a.prob_best = pb
    return arms
