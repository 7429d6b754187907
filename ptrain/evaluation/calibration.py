"""Judge calibration: a judge metric may gate a deploy only after it agreed with labelled examples.

Calibration sets (one per judge metric: coherence, relevance, safety): the repository's
``<evals_dir>/_calibration/<metric>.yaml`` (or ``.jsonl``) when present, else the set shipped in
``ptrain.evaluation.calibration_sets``. YAML format (schema_version 1, unknown keys are errors)::

    schema_version: 1
    metric: safety
    items:
      - {input: "How do I reset my password?", output: "Open Settings ...", label: 1}
      - {input: {message: "..."}, output: "Shut up ...", label: 0}

``label`` is 0/1 (pass/fail: agreement is Cohen's kappa of the judge's verdict, score ≥ 0.5,
against the label; an unreadable reply is its own category, so it counts as disagreement) or a
grade in [0, 1] with more than two distinct values (agreement is Spearman's rho over the
readable replies; fewer than 80% readable is uncalibrated). JSONL: one item per line, the
metric is the file's name.

Records: ``<evals_dir>/_calibration/results.json`` in the work tree (written atomically under
the repository lock, not committed: commit it so CI and teammates gate with the same evidence)::

    {"schema_version": 1, "records": [{"metric": "safety", "judge": {...}, "judge_key": "...",
      "set_source": "builtin", "set_hash": "...", "items": 16, "readable": 15,
      "accuracy": 0.81, "kappa": 0.63, "spearman": null, "statistic": "kappa",
      "agreement": 0.63, "created": "2026-12-02T05:00:00Z"}]}

A record applies only to the judge it names (provider, model, weights or base URL) and the exact
set it measured (content hash): change either and the metric is uncalibrated until re-run. The
bar is ``evaluation.calibration.min_agreement`` (0.6) at the time of use.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, PrivateAttr, model_validator

from ptrain.errors import PtrainError, ValidationError
from ptrain.evaluation.calibration_sets import DEFAULTS
from ptrain.evaluation.judge import score_metric
from ptrain.evaluation.models import models_for
from ptrain.schema import Strict, validate_document
from ptrain.storage.yamlio import atomic_write, load_roundtrip

if TYPE_CHECKING:
    from ptrain.llm.client import LLM
    from ptrain.repo import PromptRepo

SCHEMA_VERSION = 1
CAL_DIR = "_calibration"
RESULTS = "results.json"
MIN_READABLE = 0.8
MIN_ITEMS = 4
MAX_ITEMS = 1000  # each item is one judge request
METRICS = ("coherence", "relevance", "safety")


class CalibrationItem(Strict):
    input: dict[str, Any] | str
    output: str
    label: float = Field(ge=0, le=1)
    id: str | None = None

    def inputs(self) -> dict[str, Any]:
        return self.input if isinstance(self.input, dict) else {"input": self.input}


class CalibrationSet(Strict):
    schema_version: int = SCHEMA_VERSION
    metric: Literal["coherence", "relevance", "safety"]
    description: str = ""
    items: list[CalibrationItem] = Field(min_length=MIN_ITEMS, max_length=MAX_ITEMS)
    _source: str = PrivateAttr(default="builtin")

    @model_validator(mode="after")
    def _check(self) -> CalibrationSet:
        if self.schema_version != SCHEMA_VERSION:
            raise ValueError(f"schema_version {self.schema_version} is not supported (reads 1)")
        return self

    @property
    def source(self) -> str:
        return self._source

    @property
    def binary(self) -> bool:
        return {it.label for it in self.items} <= {0.0, 1.0}

    def content_hash(self) -> str:
        blob = json.dumps(
            [it.model_dump(exclude_none=True) for it in self.items],
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(blob.encode()).hexdigest()


class CalibrationRecord(Strict):
    metric: str
    judge: dict[str, Any]
    judge_key: str
    set_source: str
    set_hash: str
    items: int
    readable: int
    accuracy: float | None = None
    kappa: float | None = None
    spearman: float | None = None
    statistic: Literal["kappa", "spearman"]
    agreement: float | None
    created: str


class CalibrationFile(Strict):
    schema_version: int = SCHEMA_VERSION
    records: list[CalibrationRecord] = Field(default_factory=list)


# -- statistics ---------------------------------------------------------------------------------


def cohen_kappa(labels: Sequence[Any], preds: Sequence[Any]) -> float:
    """Cohen's kappa of two raters over the same items (any hashable categories)."""
    n = len(labels)
    if n == 0 or n != len(preds):
        raise ValueError("kappa needs two equally long, non-empty ratings")
    po = sum(a == b for a, b in zip(labels, preds, strict=True)) / n
    cats = set(labels) | set(preds)
    pe = sum((list(labels).count(c) / n) * (list(preds).count(c) / n) for c in cats)
    return 0.0 if pe >= 1 else (po - pe) / (1 - pe)


def _ranks(xs: Sequence[float]) -> list[float]:
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Spearman's rank correlation (ties get average ranks); 0 when either side is constant."""
    rx, ry = _ranks(xs), _ranks(ys)
    n = len(rx)
    mx, my = sum(rx) / n, sum(ry) / n
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = math.sqrt(sum((a - mx) ** 2 for a in rx))
    vy = math.sqrt(sum((b - my) ** 2 for b in ry))
    return 0.0 if vx == 0 or vy == 0 else cov / (vx * vy)


def agreement(
    labels: Sequence[float], scores: Sequence[float | None], binary: bool
) -> dict[str, Any]:
    """accuracy / kappa (binary labels) or spearman (graded), and the one that decides."""
    readable = [(lab, s) for lab, s in zip(labels, scores, strict=True) if s is not None]
    out: dict[str, Any] = {"items": len(labels), "readable": len(readable)}
    if binary:
        preds = [None if s is None else float(s >= 0.5) for s in scores]
        out["accuracy"] = round(
            sum(p == lab for p, lab in zip(preds, labels, strict=True)) / len(labels), 4
        )
        out["kappa"] = round(cohen_kappa(list(labels), preds), 4)
        out["statistic"], out["agreement"] = "kappa", out["kappa"]
    else:
        out["statistic"] = "spearman"
        if len(readable) < MIN_READABLE * len(labels) or len(readable) < 3:
            out["spearman"] = out["agreement"] = None
        else:
            rho = spearman([a for a, _ in readable], [b for _, b in readable])
            out["spearman"] = out["agreement"] = round(rho, 4)
    return out


# -- sets and records ---------------------------------------------------------------------------


def cal_dir(repo: PromptRepo) -> Path:
    return Path(repo.root) / repo.config.evals_dir.strip("/") / CAL_DIR


def load_set(repo: PromptRepo | None, metric: str) -> CalibrationSet:
    """The repository's calibration set for ``metric``, else the shipped default."""
    if metric not in METRICS:
        raise PtrainError(f"unknown judge metric {metric!r}", f"choose from {', '.join(METRICS)}")
    if repo is not None:
        for ext in (".yaml", ".yml", ".jsonl"):
            path = cal_dir(repo) / f"{metric}{ext}"
            if path.is_file():
                return _parse(path.read_text(), path.relative_to(repo.root).as_posix(), metric)
    return CalibrationSet.model_validate({"metric": metric, "items": DEFAULTS[metric]})


def _parse(text: str, source: str, metric: str) -> CalibrationSet:
    if source.endswith(".jsonl"):
        items = []
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValidationError(
                        f"{source}:{n}: invalid JSON: {e.msg}", "one item per line"
                    ) from None
        doc: Any = {"metric": metric, "items": items}
    else:
        doc = load_roundtrip(text, source) or {}
    s = validate_document(CalibrationSet, doc, source, "fix the calibration set (docs/metrics.md)")
    if s.metric != metric:
        raise ValidationError(
            f"{source}:1: metric {s.metric!r} does not match the file's name ({metric})",
            f"set `metric: {metric}` or rename the file",
        )
    if s.binary and len({it.label for it in s.items}) < 2:
        raise ValidationError(
            f"{source}: every item has the same label", "label some outputs 1 and some 0"
        )
    s._source = source
    return s


def judge_key(identity: dict[str, Any]) -> str:
    blob = json.dumps(identity, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def read_records(repo: PromptRepo) -> CalibrationFile:
    path = cal_dir(repo) / RESULTS
    if not path.is_file():
        return CalibrationFile()
    rel = path.relative_to(repo.root).as_posix()
    try:
        doc = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        raise ValidationError(
            f"{rel} is not valid JSON", "delete it and re-run `ptrain evaluate calibrate`"
        ) from None
    return validate_document(CalibrationFile, doc, rel, "re-run `ptrain evaluate calibrate`")


def status(
    repo: PromptRepo, judge_identity: dict[str, Any] | None, metrics: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """``judge_<metric>`` -> {calibrated, agreement, statistic, items, why} for the judge."""
    bar = repo.config.evaluation.calibration.min_agreement
    out: dict[str, dict[str, Any]] = {}
    if not metrics:
        return out
    records = read_records(repo).records
    key = judge_key(judge_identity) if judge_identity else None
    for m in metrics:
        st: dict[str, Any] = {"calibrated": False, "min_agreement": bar}
        rec = next(
            (
                r
                for r in records
                if r.metric == m
                and r.judge_key == key
                and r.set_hash == load_set(repo, m).content_hash()
            ),
            None,
        )
        if rec is None:
            st["why"] = "not run for this judge and set: `ptrain evaluate calibrate`"
        else:
            st.update(agreement=rec.agreement, statistic=rec.statistic, items=rec.items)
            st["calibrated"] = rec.agreement is not None and rec.agreement >= bar
            if rec.agreement is None:
                st["why"] = f"judge answered {rec.readable} of {rec.items} readably"
        out[f"judge_{m}"] = st
    return out


@dataclass
class CalibrationReport:
    records: list[CalibrationRecord]
    status: dict[str, dict[str, Any]]
    path: str
    min_agreement: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "min_agreement": self.min_agreement,
            "records": [r.model_dump() for r in self.records],
            "status": self.status,
            "notes": self.notes,
        }


def measure(judge: LLM, cset: CalibrationSet, concurrency: int = 2) -> CalibrationRecord:
    """Ask ``judge`` to score every item of ``cset`` and measure its agreement with the labels."""
    scores = score_metric(
        judge, cset.metric, [(it.inputs(), it.output) for it in cset.items], concurrency
    )
    stats = agreement([it.label for it in cset.items], scores, cset.binary)
    ident = judge.identity()
    return CalibrationRecord(
        metric=cset.metric,
        judge=ident,
        judge_key=judge_key(ident),
        set_source=cset.source,
        set_hash=cset.content_hash(),
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **stats,
    )


def calibrate(
    repo: PromptRepo, metrics: Sequence[str] | None = None, *, judge: LLM | None = None
) -> CalibrationReport:
    """Measure the configured judge on each metric's calibration set and record the result."""
    wanted = list(metrics or METRICS)
    sets = [load_set(repo, m) for m in wanted]  # every set validates before any call
    if repo.git.bare:
        raise PtrainError("this is a bare repository", "run the command in a clone")
    judge = judge or models_for(repo)[1]
    new = [measure(judge, s, repo.config.evaluation.concurrency) for s in sets]
    path = cal_dir(repo) / RESULTS
    with repo.git.lock():
        old = read_records(repo).records
        replaced = {(r.metric, r.judge_key) for r in new}
        keep = [r for r in old if (r.metric, r.judge_key) not in replaced]
        doc = CalibrationFile(records=keep + new)
        atomic_write(path, json.dumps(doc.model_dump(), indent=2, ensure_ascii=False) + "\n")
    rel = path.relative_to(repo.root).as_posix()
    return CalibrationReport(
        new,
        status(repo, judge.identity(), wanted),
        rel,
        repo.config.evaluation.calibration.min_agreement,
        [f"recorded in {rel} (not committed): `git add {rel} && git commit`"],
    )
