"""The judge model's part of an evaluation: ``llm_rubric`` verdicts and judge metric scores.

Judge metrics (``judge_coherence``, ``judge_relevance``, ``judge_safety``) are asked one metric per
request, with exactly the messages ``ptrain evaluate calibrate`` uses (``quality_messages``), so
the agreement measured on the calibration set is the agreement of the scores in a report. One
request per distinct output: runs replayed at temperature 0 cost nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ptrain.evaluation import assertions as A
from ptrain.evaluation import metrics as M

if TYPE_CHECKING:
    from ptrain.evaluation.results import Progress, RunOutcome
    from ptrain.evaluation.suite import Case
    from ptrain.llm.client import LLM

JUDGE_MAX_TOKENS = 96


def batched(
    llm: LLM,
    requests: list,
    kwargs: dict[str, Any],
    concurrency: int,
    tick: Callable[[int], None],
) -> list:
    """``LLM.batch`` in chunks, so a progress bar moves while the batch runs."""
    chunk = max(1, concurrency) * 4
    out: list = []
    for i in range(0, len(requests), chunk):
        out += llm.batch(requests[i : i + chunk], max_concurrency=concurrency, **kwargs)
        tick(len(out))
    return out


def score_metric(
    judge: LLM, metric: str, items: Sequence[tuple[dict[str, Any], str]], concurrency: int = 2
) -> list[float | None]:
    """The judge's score of ``metric`` (coherence, relevance, safety) for each (inputs,
    output); ``None`` where its reply was unreadable or the call failed."""
    msgs = [M.quality_messages([metric], inputs, output) for inputs, output in items]
    got = batched(
        judge,
        msgs,
        dict(temperature=0.0, max_tokens=JUDGE_MAX_TOKENS, json_schema=M.quality_schema([metric])),
        concurrency,
        lambda n: None,
    )
    return [
        None if isinstance(r, Exception) else M.parse_quality(r.text, [metric]).get(metric)
        for r in got
    ]


def judge_all(
    judge: LLM,
    cases: Sequence[Case],
    outcomes: list[list[RunOutcome]],
    judge_metrics: list[str],
    concurrency: int,
    progress: Progress | None,
) -> None:
    """Rubric verdicts into ``checks``, judge metric scores into ``judge`` of every outcome."""
    requests: dict[str, tuple[str, list, dict]] = {}  # request key -> (kind, messages, schema)
    plan: list[tuple[RunOutcome, str, str]] = []  # outcome, request key, kind
    for case, per_case in zip(cases, outcomes, strict=True):
        rubrics = [a.llm_rubric for a in case.assertions() if a.llm_rubric is not None]
        for o in per_case:
            if o.error is not None:
                o.checks += [A.Check("llm_rubric", False, "model call failed") for _ in rubrics]
                continue
            for rubric in rubrics:
                k = _req_key("rubric", [rubric, case.expected], case.vars, o.output)
                msgs = A.rubric_messages(rubric, case.vars, o.output, case.expected)
                requests.setdefault(k, ("rubric", msgs, A.RUBRIC_SCHEMA))
                plan.append((o, k, "rubric"))
            for metric in judge_metrics:
                k = _req_key("quality", [metric], case.vars, o.output)
                msgs = M.quality_messages([metric], case.vars, o.output)
                requests.setdefault(k, (metric, msgs, M.quality_schema([metric])))
                plan.append((o, k, metric))
    replies: dict[str, Any] = {}
    done = 0
    # Requests with the same schema share a batch (batch kwargs are per call, not per item).
    for kind in ("rubric", *judge_metrics):
        ks = [k for k in requests if requests[k][0] == kind]
        if not ks:
            continue

        def tick(n: int, before: int = done) -> None:
            if progress:
                progress("judge", before + n, len(requests))

        got = batched(
            judge,
            [requests[k][1] for k in ks],
            dict(temperature=0.0, max_tokens=JUDGE_MAX_TOKENS, json_schema=requests[ks[0]][2]),
            concurrency,
            tick,
        )
        replies.update(zip(ks, got, strict=True))
        done += len(ks)
    for o, k, kind in plan:
        reply = replies[k]
        text = None if isinstance(reply, Exception) else reply.text
        if kind == "rubric":
            verdict = A.parse_rubric_verdict(text) if text is not None else None
            if verdict is None:
                why = "judge call failed" if text is None else "judge gave no usable verdict"
                o.checks.append(A.Check("llm_rubric", False, why))
            else:
                o.checks.append(A.Check("llm_rubric", verdict[0], "judge", verdict[1]))
            continue
        score = M.parse_quality(text, [kind]).get(kind) if text is not None else None
        if score is not None:
            o.judge = {**(o.judge or {}), kind: score}


def _req_key(kind: str, what: Any, inputs: dict, output: str) -> str:
    blob = json.dumps([kind, what, inputs, output], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()
