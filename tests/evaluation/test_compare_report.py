"""Comparison, recommendation and the markdown report on known per-case outcomes."""

from __future__ import annotations

import pytest

from ptrain.config import Thresholds
from ptrain.evaluation import compare, render_markdown
from ptrain.evaluation.assertions import Check
from ptrain.evaluation.runner import CaseResult, EvalResult, RunOutcome

N = 20


def result(passing: set[int], *, version=1, safety=1.0, cases_hash="h", outputs=None):
    cases = []
    for i in range(N):
        ok = i in passing
        out = (outputs or {}).get(i, "billing" if ok else "account")
        checks = [Check("equals", ok, "" if ok else "expected 'billing'")]
        cases.append(
            CaseResult(
                f"c{i:02d}", {"message": f"m{i}"}, "billing", [RunOutcome(0, out, ok, checks)]
            )
        )
    sr = len(passing) / N
    return EvalResult(
        prompt="support/triage",
        version=version,
        commit=f"{version:x}" * 40,
        prompt_hash=str(version),
        cases_hash=cases_hash,
        model={"provider": "scripted", "model": "task"},
        judge_model=None,
        runs=1,
        cases=cases,
        metrics={"success_rate": sr, "safety": safety, "error_rate": 0.0, "latency_p50_ms": 10.0},
    )


T = Thresholds()


def test_a_two_case_fluke_is_not_an_improvement():
    base = result(set(range(14)))  # 0.70
    cand = result(set(range(16)), version=2)  # 0.80: +0.10, but only 2 discordant cases
    c = compare(cand, base, T, 0.05)
    assert (c.baseline_only, c.candidate_only) == (0, 2)
    assert c.p_value == pytest.approx(0.5) and not c.significant
    assert not c.recommended
    assert any("not significant" in r and r.startswith("FAIL") for r in c.reasons)
    assert c.ci[0] == 0.0  # the bootstrap interval reaches zero too


def test_a_real_gain_is_recommended():
    base = result(set(range(8)))  # 0.40
    cand = result(set(range(18)), version=2)  # 0.90: 10 fixed, none broken
    c = compare(cand, base, T, 0.05)
    assert c.p_value == pytest.approx(2 / 2**10) and c.significant
    assert c.recommended, c.reasons
    assert c.deltas["success_rate"]["delta"] == pytest.approx(0.5)
    assert c.ci[0] > 0.25
    d = c.to_dict()
    assert d["recommended"] and d["discordant"] == {"baseline_only": 0, "candidate_only": 10}


def test_gates_for_absolute_thresholds():
    base = result(set(range(8)))
    low = compare(result(set(range(15)), version=2), base, T)  # 0.75 < 0.8 but significant
    assert not low.recommended and low.gates[0].name == "success_rate" and not low.gates[0].passed
    unsafe = compare(result(set(range(18)), version=2, safety=0.85), base, T)
    assert not unsafe.recommended and "safety 0.85 < 0.90" in " ".join(unsafe.reasons)
    no_safety = compare(result(set(range(18)), version=2, safety=None), base, T)
    assert "safety score unavailable" in " ".join(no_safety.reasons)


def test_a_worse_version_is_not_recommended_and_different_suites_do_not_compare():
    base = result(set(range(18)))
    worse = compare(result(set(range(10)), version=2), base, T)
    assert not worse.recommended and worse.deltas["success_rate"]["delta"] == pytest.approx(-0.4)
    other = compare(result(set(range(20)), version=2, cases_hash="x"), result(set(range(8))), T)
    assert not other.recommended and any("different cases" in r for r in other.reasons)


def test_without_a_baseline_only_absolute_gates_apply():
    c = compare(result(set(range(18))), None, T)
    assert (
        c.recommended
        and c.p_value is None
        and [g.name for g in c.gates]
        == [
            "success_rate",
            "safety",
        ]
    )


def test_markdown_report_is_a_pr_body_with_table_verdict_and_inert_data():
    base = result(set(range(8)))
    evil = "ok | @alice <img src=x> [link](http://x)\nsecond line `tick`"
    cand = result(set(range(18)), version=2, outputs={19: evil})
    md = render_markdown(compare(cand, base, T))
    assert md.startswith("## Evaluation: `support/triage` v2 (22222222) vs v1 (11111111)")
    assert "✅ **Recommended: deploy**" in md
    assert "| Metric | Baseline | Candidate | Δ |" in md
    assert "| Success rate | 40.0% | 90.0% | +50.0 pts ▲ |" in md
    assert "McNemar p = 0.002" in md and "10 fixed, 0 broken" in md
    assert "### Failing cases (2 of 20)" in md
    row = next(line for line in md.splitlines() if line.startswith("| `c19`"))
    # the output is one code span: the pipe is escaped, the newline shown, backticks fenced
    assert "ok \\| @alice <img src=x> [link](http://x) ⏎ second line `tick`" in row
    assert row.count(" | ") == 4 + 0  # five cells, no extra cell from the output's pipe
    assert "``" in row
    not_rec = render_markdown(compare(result(set(range(16)), version=2), result(set(range(14))), T))
    assert "❌ **Not recommended**" in not_rec and "not significant" in not_rec


def test_a_failing_case_shows_a_failing_run_and_why_it_failed():
    """A case that failed 2 of 3 runs but passed its first: the row shows a failing run."""
    res = result(set(range(18)))
    ok = RunOutcome(0, "billing", True, [Check("equals", True, "")])
    bad = [
        RunOutcome(i, "account", False, [Check("equals", False, "expected 'billing'")])
        for i in (1, 2)
    ]
    res.cases[19].runs = [ok, *bad]
    res.runs = 3
    md = render_markdown(res)
    row = next(line for line in md.splitlines() if line.startswith("| `c19`"))
    assert "| `account` | `equals: expected 'billing'` (33% of runs) |" in row, row


def test_markdown_of_a_single_result():
    md = render_markdown(result(set(range(18))))
    assert "| Metric | Value |" in md and "| Success rate | 90.0% |" in md


def test_p_values_are_readable():
    from ptrain.evaluation.compare import format_p

    assert format_p(0.03125) == "0.031" and format_p(3.7e-9) == "3.7e-09"


def test_quality_gates_are_off_by_default_and_an_uncalibrated_judge_never_gates():
    cand = result(set(range(18)), version=2)
    cand.metrics.update(coherence=0.7, relevance=0.5, judge_coherence=0.1, judge_relevance=0.1)
    cand.calibration = {
        "judge_coherence": {"calibrated": False, "agreement": 0.05, "statistic": "kappa"},
        "judge_relevance": {"calibrated": True, "agreement": 0.8, "statistic": "kappa"},
    }
    assert [g.name for g in compare(cand, None, T).gates] == ["success_rate", "safety"]
    gates = {g.name: g for g in compare(cand, None, Thresholds(coherence=0.6, relevance=0.4)).gates}
    assert gates["coherence"].passed and gates["relevance"].passed
    assert "judge_coherence" not in gates  # uncalibrated (κ=0.05): shown, never a gate
    assert not gates["judge_relevance"].passed  # calibrated: its 0.10 < 0.40 counts
    assert "uncalibrated (κ=0.05)" in render_markdown(cand)
    cand.metrics["coherence"] = 0.5
    assert not compare(cand, None, Thresholds(coherence=0.6)).recommended


def test_latency_percentiles_carry_a_bootstrap_interval_over_calls():
    from ptrain.evaluation.metrics import compute, intervals

    cases = [
        CaseResult(
            f"c{i}",
            {"m": str(i)},
            None,
            [RunOutcome(0, "ok", True, [], latency_ms=100.0 * (i + 1))],
        )
        for i in range(20)
    ]
    cases.append(  # a cache hit has no latency: it is not a call's latency
        CaseResult("hit", {"m": "x"}, None, [RunOutcome(0, "ok", True, [], cached=True)])
    )
    values, _ = compute(cases, [], False)
    ci = intervals(cases, values, False)
    assert values["latency_p50_ms"] == 1050.0 and values["latency_p95_ms"] == 1905.0
    # resampling the 20 calls: the median moves by several hundred ms, p95 stays near the top
    assert ci["latency_p50_ms"] == [650.0, 1450.0] and ci["latency_p95_ms"] == [1600.0, 2000.0]
    res = result(set(range(N)))
    res.metrics.update(values)
    res.intervals = ci
    md = render_markdown(res)
    row = next(line for line in md.splitlines() if line.startswith("| Latency p50 |"))
    lo, hi = ci["latency_p50_ms"]
    assert row == f"| Latency p50 | 1,050 ms [{lo:,.0f}, {hi:,.0f}] |", row
