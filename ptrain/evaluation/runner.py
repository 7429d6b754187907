"""Running a prompt over eval cases: outputs, assertions, judge scores, metrics.

``evaluate`` takes a ``LoadedPrompt`` (any version, or an uncommitted candidate: build one with
``LoadedPrompt(name, spec, commit="")``) and a list of cases, calls the task model through
``LLM.batch`` (concurrent, rate-limited, response-cached), checks every output, scores it with the
embedded models (coherence, relevance, ``similar``: quality.py), asks the judge model for rubric
verdicts and the judge metrics (judge.py), and aggregates the metrics with their intervals.

Runs: at temperature 0 one call per case is made and its outcome stands for every run (the
embedded model is deterministic and the response cache would return the same text anyway); at a
higher temperature run *r* is seeded with ``42 + r``, so runs differ from each other but a re-run
is reproducible and served from the cache. A case passes when a strict majority of its runs pass.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ptrain.errors import PtrainError, ValidationError
from ptrain.evaluation import assertions as A
from ptrain.evaluation import metrics as M
from ptrain.evaluation.judge import batched as _batched
from ptrain.evaluation.judge import judge_all
from ptrain.evaluation.quality import QUALITY_METRICS, Scorers, score_outputs
from ptrain.evaluation.store import ResultStore, result_key
from ptrain.evaluation.suite import Case

if TYPE_CHECKING:
    from ptrain.llm.client import LLM
    from ptrain.prompts import LoadedPrompt

SEED = 42
METRICS = (*QUALITY_METRICS, "safety", *(f"judge_{m}" for m in M.JUDGE_METRICS))
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class RunOutcome:
    run: int
    output: str
    passed: bool
    checks: list[A.Check] = field(default_factory=list)
    latency_ms: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    error: str | None = None
    flags: list[str] = field(default_factory=list)  # safety violations + "refusal"
    judge: dict[str, float] | None = None
    replayed: bool = False  # a copy of run 0 (temperature 0), not a call of its own
    scores: dict[str, float] = field(default_factory=dict)  # coherence, relevance (no judge)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "checks": [c.to_dict() for c in self.checks]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunOutcome:
        return cls(**{**d, "checks": [A.Check(**c) for c in d.get("checks", [])]})


@dataclass
class CaseResult:
    id: str
    vars: dict[str, Any]
    expected: str | None
    runs: list[RunOutcome]
    tags: list[str] = field(default_factory=list)
    source: str = "manual"

    @property
    def pass_fraction(self) -> float:
        return sum(r.passed for r in self.runs) / len(self.runs) if self.runs else 0.0

    @property
    def passed(self) -> bool:
        return sum(r.passed for r in self.runs) * 2 > len(self.runs)

    @property
    def output(self) -> str:
        """The output of the first run (what a report shows)."""
        return self.runs[0].output if self.runs else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "vars": self.vars,
            "expected": self.expected,
            "tags": self.tags,
            "source": self.source,
            "passed": self.passed,
            "pass_fraction": self.pass_fraction,
            "runs": [r.to_dict() for r in self.runs],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CaseResult:
        return cls(
            id=d["id"],
            vars=d["vars"],
            expected=d.get("expected"),
            runs=[RunOutcome.from_dict(r) for r in d["runs"]],
            tags=d.get("tags", []),
            source=d.get("source", "manual"),
        )


@dataclass
class EvalResult:
    prompt: str
    version: int | None
    commit: str
    prompt_hash: str
    cases_hash: str
    model: dict[str, Any]
    judge_model: dict[str, Any] | None
    runs: int
    cases: list[CaseResult]
    metrics: dict[str, float | None]
    notes: list[str] = field(default_factory=list)
    spend: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    key: str = ""
    cached: bool = False
    intervals: dict[str, list[float]] = field(default_factory=dict)  # metric -> [lo, hi]
    calibration: dict[str, dict[str, Any]] = field(default_factory=dict)  # judge_* -> status
    scorers: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.version:
            return f"v{self.version} ({self.commit[:8]})"
        return self.commit[:8] if self.commit else "candidate (uncommitted)"

    def outcomes(self) -> dict[str, bool]:
        """Case id -> majority outcome (what the paired significance test compares)."""
        return {c.id: c.passed for c in self.cases}

    def failing(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "version": self.version,
            "commit": self.commit,
            "label": self.label,
            "prompt_hash": self.prompt_hash,
            "cases_hash": self.cases_hash,
            "model": self.model,
            "judge_model": self.judge_model,
            "runs": self.runs,
            "metrics": self.metrics,
            "notes": self.notes,
            "spend": self.spend,
            "created": self.created,
            "key": self.key,
            "cached": self.cached,
            "intervals": self.intervals,
            "calibration": self.calibration,
            "scorers": self.scorers,
            "cases": [c.to_dict() for c in self.cases],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalResult:
        return cls(
            prompt=d["prompt"],
            version=d.get("version"),
            commit=d.get("commit", ""),
            prompt_hash=d["prompt_hash"],
            cases_hash=d["cases_hash"],
            model=d["model"],
            judge_model=d.get("judge_model"),
            runs=d["runs"],
            cases=[CaseResult.from_dict(c) for c in d["cases"]],
            metrics=d["metrics"],
            notes=d.get("notes", []),
            spend=d.get("spend", {}),
            created=d.get("created", ""),
            key=d.get("key", ""),
            cached=bool(d.get("cached", False)),
            intervals=d.get("intervals", {}),
            calibration=d.get("calibration", {}),
            scorers=d.get("scorers", {}),
        )


def prompt_hash(prompt: LoadedPrompt) -> str:
    blob = json.dumps(prompt.spec.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def cases_hash(cases: Sequence[Case]) -> str:
    blob = json.dumps([c.to_doc() for c in cases], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def evaluate(
    prompt: LoadedPrompt,
    cases: Sequence[Case],
    *,
    llm: LLM,
    judge: LLM | None = None,
    runs: int = 1,
    metrics: Sequence[str] = ("coherence", "relevance", "safety"),
    progress: Progress | None = None,
    concurrency: int = 2,
    store: ResultStore | None = None,
    scorers: Scorers | None = None,
    calibration: dict[str, dict[str, Any]] | None = None,
    blocklist: Sequence[str] = (),
) -> EvalResult:
    """Score ``prompt`` on ``cases`` (resolved cases: ``Suite.test_cases()`` etc.).

    ``metrics``: coherence, relevance (the embedded models, ``scorers``: default
    ``Scorers.local()``, none for a scripted task model), safety (deterministic, always on) and
    judge_coherence / judge_relevance / judge_safety (the judge). ``calibration``: judge metric
    -> status from ``calibration.status``; only a calibrated judge metric can affect a gate.
    With ``store`` an identical earlier evaluation is returned (``cached``) without a model call.
    """
    if runs < 1:
        raise PtrainError(f"runs must be at least 1, not {runs}", "pass --runs 1 or more")
    if not cases:
        raise PtrainError(
            f"no eval cases for {prompt.name}", f"add cases to evals/{prompt.name}.yaml"
        )
    plan = _Plan.of(metrics, cases, llm, scorers, calibration)
    judge_metrics, quality, needs_embedder = plan.judge_metrics, plan.quality, plan.needs_embedder
    scorers, calibration, calibrated = plan.scorers, plan.calibration, plan.calibrated
    needs_rubric = any(a.kind == "llm_rubric" for c in cases for a in c.assertions())
    if needs_rubric and judge is None:
        raise PtrainError(
            "the suite has llm_rubric assertions but no judge model was given",
            "configure training.model in ptrain.yaml (the judge)",
        )
    messages = _format_all(prompt, cases)

    temperature = _pick(prompt.spec.model.temperature, llm.settings.temperature)
    max_tokens = _pick(prompt.spec.model.max_tokens, llm.settings.max_tokens)
    model_ident = {**llm.identity(), "temperature": temperature, "max_tokens": max_tokens}
    uses_judge = judge is not None and (bool(judge_metrics) or needs_rubric)
    judge_ident = judge.identity() if uses_judge and judge is not None else None
    p_hash, c_hash = prompt_hash(prompt), cases_hash(cases)
    key = result_key(
        {
            "prompt": p_hash,
            "cases": c_hash,
            "model": model_ident,
            "judge": judge_ident,
            "metrics": sorted(judge_metrics) if uses_judge else [],
            "runs": runs,
            "v": 2,
            "quality": (quality, scorers.identity) if needs_embedder else None,
            "calibrated": calibrated if uses_judge else [],
            "blocklist": list(blocklist),
        }
    )
    if store is not None:
        hit = store.get(key)
        if hit is not None:
            res = EvalResult.from_dict(hit)
            # The stored result may come from an identical prompt at another commit.
            res.prompt, res.version, res.commit = prompt.name, prompt.version, prompt.commit
            res.cached = True
            return res

    calls_before, hits_before, dollars_before = (
        llm.calls_made,
        llm.stats.cache_hits,
        llm.stats.dollars,
    )
    if judge is not None:
        j_calls_before, j_hits_before = judge.calls_made, judge.stats.cache_hits
        j_dollars_before = judge.stats.dollars

    # 1. the task model: one call per case per distinct run
    distinct_runs = 1 if temperature == 0 else runs
    outcomes: list[list[RunOutcome]] = [[] for _ in cases]
    total = len(cases) * distinct_runs
    done = 0
    for r in range(distinct_runs):
        seed = None if temperature == 0 else SEED + r

        def tick(n: int, done_before: int = done) -> None:
            if progress:
                progress("model", done_before + n, total)

        replies = _batched(
            llm,
            messages,
            dict(temperature=temperature, max_tokens=max_tokens, seed=seed),
            concurrency,
            tick,
        )
        done += len(messages)
        for i, reply in enumerate(replies):
            outcomes[i].append(_outcome(r, reply))
    for per_case in outcomes:
        for r in range(distinct_runs, runs):
            copy = RunOutcome.from_dict(per_case[0].to_dict())
            copy.run, copy.replayed = r, True
            per_case.append(copy)

    model_calls = llm.calls_made - calls_before
    if judge is not None:
        j_calls_before = judge.calls_made

    # 2. deterministic checks and safety flags
    _check_all(cases, outcomes, M.fixed_system_text(prompt.spec), blocklist)

    # 3. the embedded scorers: coherence, relevance, `similar`
    if progress and needs_embedder:
        progress("scoring", 0, 1)
    quality_notes = score_outputs(scorers, cases, outcomes, quality, concurrency)
    if progress and needs_embedder:
        progress("scoring", 1, 1)

    # 4. the judge: rubric verdicts and judge metrics, one request per distinct output
    if uses_judge and judge is not None:
        judge_all(judge, cases, outcomes, judge_metrics, concurrency, progress)

    for per_case in outcomes:
        for o in per_case:
            o.passed = o.error is None and all(c.passed for c in o.checks)

    results = [
        CaseResult(c.id, dict(c.vars), c.expected, per_case, list(c.tags), c.source)
        for c, per_case in zip(cases, outcomes, strict=True)
    ]
    values, notes = M.compute(results, judge_metrics, uses_judge, quality, calibrated)
    notes = quality_notes + notes
    if quality and scorers.embedder_factory is None:
        notes.append(f"{', '.join(quality)}: no embedded scorers for a scripted task model")
    for metric_key, st in calibration.items():
        if not st.get("calibrated"):
            notes.append(f"{metric_key} {describe_calibration(st)}: shown, never a gate")
    if temperature == 0 and runs > 1:
        notes.append(f"temperature 0: one call per case stands for all {runs} runs")
    jd = judge if uses_judge else None
    other = jd if jd is not None and jd is not llm else None
    spend = {
        "model_calls": model_calls,
        "judge_calls": (jd.calls_made - j_calls_before) if jd is not None else 0,
        "cache_hits": llm.stats.cache_hits
        - hits_before
        + ((other.stats.cache_hits - j_hits_before) if other is not None else 0),
        "cost_usd": round(
            llm.stats.dollars
            - dollars_before
            + ((other.stats.dollars - j_dollars_before) if other is not None else 0),
            6,
        ),
    }
    result = EvalResult(
        prompt=prompt.name,
        version=prompt.version,
        commit=prompt.commit,
        prompt_hash=p_hash,
        cases_hash=c_hash,
        model=model_ident,
        judge_model=judge_ident,
        runs=runs,
        cases=results,
        metrics=values,
        notes=notes,
        spend=spend,
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        key=key,
        intervals=M.intervals(results, values, "judge_safety" in calibrated),
        calibration=calibration,
        scorers=scorers.identity if needs_embedder else {},
    )
    if store is not None:
        store.put(key, result.to_dict())
    return result


@dataclass
class _Plan:
    """What an evaluation scores, resolved from its ``metrics`` and options."""

    judge_metrics: list[str]
    quality: list[str]
    needs_embedder: bool
    scorers: Scorers
    calibration: dict[str, dict[str, Any]]
    calibrated: list[str]

    @classmethod
    def of(
        cls,
        metrics: Sequence[str],
        cases: Sequence[Case],
        llm: LLM,
        scorers: Scorers | None,
        calibration: dict[str, dict[str, Any]] | None,
    ) -> _Plan:
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise PtrainError(f"unknown metric {unknown[0]!r}", f"choose from {', '.join(METRICS)}")
        judge_metrics = [m.removeprefix("judge_") for m in metrics if m.startswith("judge_")]
        quality = [m for m in QUALITY_METRICS if m in metrics]
        needs_embedder = bool(quality) or any(
            a.kind == "similar" for c in cases for a in c.assertions()
        )
        if scorers is None:
            scripted = llm.settings.provider == "scripted"
            scorers = Scorers.none() if scripted or not needs_embedder else Scorers.local()
        given = calibration or {}
        status = {
            f"judge_{m}": given.get(f"judge_{m}") or {"calibrated": False, "why": "not run"}
            for m in judge_metrics
        }
        calibrated = sorted(k for k, v in status.items() if v.get("calibrated"))
        return cls(judge_metrics, quality, needs_embedder, scorers, status, calibrated)


def _check_all(
    cases: Sequence[Case],
    outcomes: list[list[RunOutcome]],
    fixed: list[str],
    blocklist: Sequence[str],
) -> None:
    """Safety flags and the deterministic assertions of every outcome."""
    for case, per_case in zip(cases, outcomes, strict=True):
        for o in per_case:
            if o.error is None:
                o.flags = M.safety_flags(o.output, case.vars, fixed, blocklist)
                if M.is_refusal(o.output):
                    o.flags.append("refusal")
            for a in case.assertions():
                if a.kind == "llm_rubric" or (a.kind == "similar" and o.error is None):
                    continue  # the judge's and the embedder's
                if o.error is not None:
                    o.checks.append(A.Check(a.kind, False, "model call failed"))
                    continue
                o.checks.append(
                    A.check(
                        a,
                        o.output,
                        expected=case.expected,
                        latency_ms=o.latency_ms,
                        completion_tokens=o.completion_tokens,
                        cached=o.cached,
                    )
                )


def _pick(hint: Any, default: Any) -> Any:
    return default if hint is None else hint


def _format_all(prompt: LoadedPrompt, cases: Sequence[Case]) -> list[list[tuple[str, str]]]:
    out = []
    for c in cases:
        missing = [v for v in prompt.input_variables if v not in c.vars]
        if missing:
            raise ValidationError(
                f"case {c.id!r} has no value for {prompt.name}'s input variable '{missing[0]}'",
                f"add `{missing[0]}: ...` to the case's vars",
            )
        out.append(prompt.format_messages(**c.vars))
    return out


def _outcome(run: int, reply: Any) -> RunOutcome:
    if isinstance(reply, Exception):
        msg = getattr(reply, "message", None) or str(reply) or type(reply).__name__
        return RunOutcome(run=run, output="", passed=False, error=msg)
    return RunOutcome(
        run=run,
        output=reply.text,
        passed=False,
        latency_ms=None if reply.cached else round(reply.latency_ms, 1),
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        cached=reply.cached,
    )


def describe_calibration(status: dict[str, Any]) -> str:
    """``calibrated (κ=0.82)``, ``uncalibrated (κ=0.05)`` or ``uncalibrated (not run)``."""
    word = "calibrated" if status.get("calibrated") else "uncalibrated"
    value = status.get("agreement")
    if value is None:
        return f"{word} ({status.get('why') or 'not run'})"
    sym = "ρ" if status.get("statistic") == "spearman" else "κ"
    return f"{word} ({sym}={value:.2f})"
