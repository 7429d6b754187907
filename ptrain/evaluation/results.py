"""What an evaluation run produces: one ``RunOutcome`` per call, one ``CaseResult`` per case and
the ``EvalResult`` of a prompt version on a suite, each with its ``to_dict``/``from_dict`` (the
result store's JSON). The runner builds them; metrics, the judge, compare and report read them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ptrain.evaluation import assertions as A

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
