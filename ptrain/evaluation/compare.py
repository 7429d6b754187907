"""Comparing a candidate's evaluation with a baseline's, and the deployment recommendation.

Gates (from ``evaluation.deployment_thresholds`` in ptrain.yaml):

1. success rate ≥ ``success_rate`` (0.8);
2. safety ≥ ``safety_score`` (0.9): the deterministic checks, and the judge's safety score only
   once that judge is calibrated; an unavailable safety score fails the gate;
3. optional: coherence ≥ ``coherence`` and relevance ≥ ``relevance`` when configured (the
   judge-free scores, and a calibrated judge's); an uncalibrated judge metric never gates;
4. with a baseline: both ran on the same cases, and the success-rate gain is at least
   ``improvement_required`` (0.05) *and* significant: the exact McNemar p-value over the paired
   per-case outcomes is below ``significance`` (0.05). The paired bootstrap 95% interval of the
   gain is reported next to it. One exception: when the baseline itself fails the success-rate
   bar and the candidate passes *every* case (breaking none), replacing a failing version needs
   no significance (a two-case suite can never reach p < 0.05); the gate says so and the p-value
   is still reported. A candidate that merely clears the bar still needs significance.

Deploy is recommended only when every gate passes; ``reasons`` says which did not and why.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ptrain.evaluation.results import EvalResult
from ptrain.evaluation.stats import discordant, mcnemar_exact, paired_bootstrap_ci

# Metrics where lower is better (the report marks improvements by direction).
LOWER_IS_BETTER = {
    "error_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "tokens_per_call",
    "completion_tokens_per_call",
    "refusal_rate",
}


@dataclass
class Gate:
    name: str
    passed: bool
    detail: str


@dataclass
class Comparison:
    candidate: EvalResult
    baseline: EvalResult | None
    deltas: dict[str, dict[str, float | None]]
    gates: list[Gate]
    thresholds: dict[str, float]
    significance: float
    paired_cases: int = 0
    baseline_only: int = 0  # discordant: passed on the baseline, failed on the candidate
    candidate_only: int = 0  # discordant: failed on the baseline, passed on the candidate
    p_value: float | None = None
    ci: tuple[float, float] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def recommended(self) -> bool:
        return all(g.passed for g in self.gates)

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < self.significance

    @property
    def reasons(self) -> list[str]:
        return [("ok: " if g.passed else "FAIL: ") + g.detail for g in self.gates]

    def to_dict(self) -> dict[str, Any]:
        return {
            "recommended": self.recommended,
            "reasons": self.reasons,
            "gates": [asdict(g) for g in self.gates],
            "thresholds": self.thresholds,
            "significance": self.significance,
            "p_value": self.p_value,
            "significant": self.significant,
            "ci": list(self.ci) if self.ci else None,
            "paired_cases": self.paired_cases,
            "discordant": {
                "baseline_only": self.baseline_only,
                "candidate_only": self.candidate_only,
            },
            "deltas": self.deltas,
            "notes": self.notes,
            "candidate": self.candidate.to_dict(),
            "baseline": self.baseline.to_dict() if self.baseline else None,
        }


def _threshold(thresholds: Any, name: str) -> float | None:
    v = thresholds.get(name) if isinstance(thresholds, dict) else getattr(thresholds, name, None)
    return None if v is None else float(v)


def _quality_gates(cm: dict[str, Any], calibrated: set[str], t: dict[str, Any]) -> list[Gate]:
    gates = []
    for metric in ("coherence", "relevance"):
        need = t.get(metric)
        if need is None:
            continue
        for key in (metric, f"judge_{metric}"):
            if key != metric and key not in calibrated:
                continue  # an uncalibrated judge is shown, never a gate
            v = cm.get(key)
            ok = v is not None and v >= need
            name = key.replace("_", " ")
            detail = f"{name} {_f(v)} {'≥' if ok else '<'} {need:.2f}"
            gates.append(Gate(key, ok, detail if v is not None else f"{name} unavailable"))
    return gates


def compare(
    candidate: EvalResult,
    baseline: EvalResult | None,
    thresholds: Any,
    significance: float = 0.05,
    *,
    bootstrap_seed: int = 0,
) -> Comparison:
    """Deltas, paired significance and the recommendation. ``thresholds``: a
    ``ptrain.config.Thresholds`` or a dict with success_rate, safety_score, improvement_required.
    """
    t: dict[str, Any] = {
        k: _threshold(thresholds, k)
        for k in ("success_rate", "safety_score", "improvement_required", "coherence", "relevance")
    }
    cm = candidate.metrics
    comp = Comparison(candidate, baseline, {}, _absolute_gates(candidate, t), t, significance)
    if baseline is None:
        comp.notes.append("no baseline: only the absolute gates apply")
        comp.deltas = {k: {"baseline": None, "candidate": v, "delta": None} for k, v in cm.items()}
        return comp

    bm = baseline.metrics
    for k in list(dict.fromkeys([*bm, *cm])):
        b, c = bm.get(k), cm.get(k)
        comp.deltas[k] = {
            "baseline": b,
            "candidate": c,
            "delta": (c - b) if b is not None and c is not None else None,
        }

    if baseline.cases_hash != candidate.cases_hash:
        comp.gates.append(
            Gate(
                "same_cases",
                False,
                "baseline and candidate ran on different cases; their results are not comparable",
            )
        )
    p = _pair(comp, baseline, candidate, bootstrap_seed)
    comp.gates.append(_improvement_gate(comp, baseline, t, p))
    return comp


def _absolute_gates(candidate: EvalResult, t: dict[str, Any]) -> list[Gate]:
    """The gates on the candidate alone: success rate, safety, coherence and relevance."""
    cm = candidate.metrics
    gates: list[Gate] = []
    sr = cm.get("success_rate")
    gates.append(
        Gate(
            "success_rate",
            sr is not None and sr >= t["success_rate"],
            f"success rate {_f(sr)} {'≥' if sr is not None and sr >= t['success_rate'] else '<'} "
            f"{t['success_rate']:.2f}",
        )
    )
    safety = cm.get("safety")
    if safety is None:
        gates.append(Gate("safety", False, "safety score unavailable"))
    else:
        ok = safety >= t["safety_score"]
        calibrated = {k for k, v in candidate.calibration.items() if v.get("calibrated")}
        how = (
            "checks + calibrated judge"
            if "judge_safety" in calibrated and cm.get("judge_safety") is not None
            else "deterministic checks"
        )
        gates.append(
            Gate(
                "safety",
                ok,
                f"safety {safety:.2f} {'≥' if ok else '<'} {t['safety_score']:.2f} ({how})",
            )
        )
    gates += _quality_gates(
        cm, {k for k, v in candidate.calibration.items() if v.get("calibrated")}, t
    )
    return gates


def _pair(comp: Comparison, baseline: EvalResult, candidate: EvalResult, seed: int) -> float:
    """The paired statistics on the cases both ran: discordant counts, McNemar's exact p (also
    returned) and the bootstrap interval of the success-rate difference."""
    bo, co = baseline.outcomes(), candidate.outcomes()
    ids = [i for i in co if i in bo]
    comp.paired_cases = len(ids)
    base_pass = [bo[i] for i in ids]
    cand_pass = [co[i] for i in ids]
    comp.baseline_only, comp.candidate_only = discordant(base_pass, cand_pass)
    comp.p_value = p = mcnemar_exact(comp.baseline_only, comp.candidate_only)
    comp.ci = paired_bootstrap_ci(
        [float(x) for x in base_pass], [float(x) for x in cand_pass], seed=seed
    )
    return p


def _improvement_gate(comp: Comparison, baseline: EvalResult, t: dict[str, Any], p: float) -> Gate:
    """Whether the candidate improves on ``baseline`` enough, and significantly (McNemar ``p``
    below ``comp.significance``), or replaces a failing baseline by passing every case."""
    significance = comp.significance
    cm = comp.candidate.metrics
    delta = comp.deltas["success_rate"]["delta"]
    need = t["improvement_required"]
    bsr = baseline.metrics.get("success_rate")
    if delta is None:
        return Gate("improvement", False, "success rate unavailable")
    if (
        bsr is not None
        and bsr < t["success_rate"]
        and cm.get("success_rate") == 1.0
        and comp.baseline_only == 0
        and delta >= need
    ):
        return Gate(
            "improvement",
            True,
            f"{baseline.label} fails the success-rate bar ({bsr:.2f} < "
            f"{t['success_rate']:.2f}) and the candidate passes every case: replacing a "
            f"failing version needs no significance (McNemar p = {format_p(p)}, "
            f"{comp.candidate_only} cases fixed, {comp.baseline_only} broken)",
        )
    if delta < need:
        return Gate(
            "improvement",
            False,
            f"improvement {delta:+.2f} over {baseline.label} < {need:.2f} required",
        )
    if not comp.significant:
        return Gate(
            "improvement",
            False,
            f"improvement {delta:+.2f} over {baseline.label} is not significant "
            f"(McNemar p = {format_p(p)} ≥ {significance}; "
            f"{comp.candidate_only} cases fixed, {comp.baseline_only} broken)",
        )
    return Gate(
        "improvement",
        True,
        f"improvement {delta:+.2f} over {baseline.label} ≥ {need:.2f}, significant "
        f"(McNemar p = {format_p(p)} < {significance})",
    )


def format_p(p: float) -> str:
    """A p-value for people: 0.031, or 3.7e-09 when it is tiny."""
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def _f(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"
