"""Repository-level evaluation services: what ``ptrain evaluate`` and ``ptrain evals`` call.

They take a ``PromptRepo`` and explicit arguments and return data; they never print.

* ``evaluate_version``: a version (number, sha, env or an uncommitted candidate file) against an
  optional baseline, on the suite's test cases, with the repo's models, judge-free scorers
  (``scorers_for``), the judge's calibration status (``calibration_for``), response cache
  (``<repo>/.ptrain/cache/responses``) and result store (``<repo>/.ptrain/evals``).
* ``cases_from_feedback``: high-rated interactions become positive cases (expected = the rated
  output); errors and low ratings become regression cases. ``add_cases`` appends them to the
  suite file in the work tree (not committed: review the diff, then commit).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ptrain.errors import PtrainError
from ptrain.evaluation.calibration import status
from ptrain.evaluation.compare import Comparison, compare

# models_for and response_cache_dir live in models.py (calibration uses them too); review,
# training and invoke import them from here
from ptrain.evaluation.models import models_for
from ptrain.evaluation.models import response_cache_dir as response_cache_dir
from ptrain.evaluation.quality import Scorers
from ptrain.evaluation.results import EvalResult, Progress
from ptrain.evaluation.runner import evaluate
from ptrain.evaluation.stats import bootstrap_ci
from ptrain.evaluation.store import ResultStore
from ptrain.evaluation.suite import Assertion, Case, Suite, load_suite, parse_suite_text, suite_path
from ptrain.feedback import iter_feedback
from ptrain.prompts import LoadedPrompt, parse_prompt
from ptrain.storage.yamlio import atomic_write, dump_roundtrip, load_roundtrip

if TYPE_CHECKING:
    from ptrain.llm.client import LLM
    from ptrain.repo import PromptRepo

SHORT_OUTPUT = 80  # outputs up to this long (one line) are compared exactly
MAX_OUTPUT = 2000  # longer rated outputs are not turned into cases


def scorers_for(repo: PromptRepo) -> Scorers:
    """The judge-free scorers of ``repo``: its embedder and ``evaluation.coherence_model``
    (none when the task model is scripted: tests fake the chat model, not the metrics)."""
    if repo.config.task().provider == "scripted":
        return Scorers.none()
    return Scorers.local(repo.config.models.embedder, repo.config.evaluation.coherence_model)


def calibration_for(repo: PromptRepo, judge: LLM) -> dict[str, dict[str, Any]]:
    """Calibration status of the configured judge metrics for ``judge``."""
    wanted = [m.removeprefix("judge_") for m in repo.config.evaluation.metrics]
    wanted = [m for m in wanted if f"judge_{m}" in repo.config.evaluation.metrics]
    return status(repo, judge.identity(), wanted) if wanted else {}


def evaluation_options(repo: PromptRepo, judge: LLM) -> dict[str, Any]:
    """The repository-level keyword arguments of ``evaluate``: scorers, the judge's calibration
    and the blocklist, so every caller (evaluate, review, training) gates alike."""
    return {
        "scorers": scorers_for(repo),
        "calibration": calibration_for(repo, judge),
        "blocklist": list(repo.config.evaluation.blocklist),
    }


def load_candidate(repo: PromptRepo, name: str, path: Path) -> LoadedPrompt:
    """An uncommitted prompt file as a ``LoadedPrompt`` (commit ``""``, no version number)."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise PtrainError(
            f"cannot read {path}: {exc.__class__.__name__}", "pass a readable prompt YAML file"
        ) from None
    spec = parse_prompt(load_roundtrip(text, str(path)), str(path))
    return LoadedPrompt(name, spec, "", None, None)


def _ratings(repo: PromptRepo, name: str, commit: str) -> list[float]:
    """The feedback ratings recorded against ``commit``."""
    if not commit:
        return []
    return [
        float(r["rating"])
        for r in iter_feedback(repo.root, name, kinds=["rating"])
        if r.get("rating") is not None
        and r.get("version")
        and commit.startswith(str(r["version"]).lower())
    ]


def add_user_ratings(repo: PromptRepo, name: str, res: EvalResult) -> None:
    """The version's feedback ratings as metrics of ``res``: ``user_rating`` (the mean, with its
    bootstrap interval over ratings) and ``user_ratings`` (how many)."""
    ratings = _ratings(repo, name, res.commit)
    res.metrics["user_rating"] = round(sum(ratings) / len(ratings), 4) if ratings else None
    res.metrics["user_ratings"] = len(ratings)
    ci = bootstrap_ci(ratings)
    if ci is not None:
        res.intervals["user_rating"] = [round(ci[0], 4), round(ci[1], 4)]


@dataclass
class VersionEvaluation:
    comparison: Comparison
    suite_path: str | None

    @property
    def recommended(self) -> bool:
        return self.comparison.recommended

    def to_dict(self) -> dict[str, Any]:
        return {"suite": self.suite_path, **self.comparison.to_dict()}


def evaluate_version(
    repo: PromptRepo,
    name: str,
    version: str | None = None,
    *,
    env: str | None = None,
    candidate_file: Path | None = None,
    baseline: str | None = None,
    baseline_env: str | None = None,
    runs: int | None = None,
    progress: Progress | None = None,
    use_store: bool = True,
    llms: tuple[LLM, LLM] | None = None,
) -> VersionEvaluation:
    """Evaluate a version (or candidate file) and compare it with ``baseline`` if given."""
    suite = load_suite(repo, name)
    cases = suite.test_cases()
    cfg = repo.config.evaluation
    if candidate_file is not None:
        cand_prompt = load_candidate(repo, name, candidate_file)
    else:
        cand_prompt = repo.load(name, version, env)
    base_prompt = (
        repo.load(name, baseline, baseline_env)
        if baseline is not None or baseline_env is not None
        else None
    )
    task, judge = llms or models_for(repo)
    store = ResultStore.for_repo(repo.root) if use_store else None
    options = evaluation_options(repo, judge)

    def run(prompt: LoadedPrompt, who: str) -> EvalResult:
        def tick(stage: str, done: int, total: int) -> None:
            if progress:
                progress(f"{who} {stage}", done, total)

        res = evaluate(
            prompt,
            cases,
            llm=task,
            judge=judge,
            runs=runs or cfg.test_runs,
            metrics=list(cfg.metrics),
            progress=tick,
            concurrency=cfg.concurrency,
            store=store,
            **options,
        )
        add_user_ratings(repo, name, res)
        return res

    base_res = run(base_prompt, "baseline") if base_prompt is not None else None
    cand_res = run(cand_prompt, "candidate")
    comp = compare(cand_res, base_res, cfg.thresholds_for(name), cfg.significance)
    return VersionEvaluation(comp, suite.path)


# -- cases from feedback ------------------------------------------------------------------------


@dataclass
class FromFeedback:
    cases: list[Case]
    skipped: dict[str, int] = field(default_factory=dict)
    path: str | None = None
    written: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "written": self.written,
            "added": [c.to_doc() for c in self.cases],
            "skipped": self.skipped,
        }


def _case_id(prefix: str, record_id: str) -> str:
    return f"{prefix}-{re.sub(r'[^A-Za-z0-9]', '', record_id)[-12:]}"


def cases_from_feedback(
    repo: PromptRepo,
    name: str,
    *,
    min_rating: float = 0.8,
    max_bad_rating: float = 0.3,
    limit: int | None = None,
) -> FromFeedback:
    """Candidate eval cases drawn from the feedback of ``name`` (not yet in its suite).

    * rating ≥ ``min_rating`` with inputs and output → a positive case, ``expected`` = the output
      (short outputs are compared exactly; long ones by a rubric against the expected reply);
    * rating ≤ ``max_bad_rating`` with inputs and output → a regression case: ``not_contains``
      the bad output, plus a rubric from the user's complaint when there is one;
    * an error with inputs → a regression case: the prompt must produce a non-empty answer.

    One case per distinct input (the newest record wins); records already used as a case
    (``source: feedback:<id>``) or whose inputs miss one of the prompt's variables are skipped.
    """
    variables = repo.load(name).input_variables
    try:
        existing = load_suite(repo, name)
    except PtrainError:
        existing = None
    used_sources = {c.source for c in existing.cases} if existing else set()
    used_ids = {c.id for c in existing.cases} if existing else set()
    used_inputs = {_inputs_key(c.vars) for c in existing.cases} if existing else set()

    skipped: dict[str, int] = {}

    def skip(why: str) -> None:
        skipped[why] = skipped.get(why, 0) + 1

    out: list[Case] = []
    seen_inputs: set[str] = set()
    for r in iter_feedback(repo.root, name, kinds=["rating", "error"], newest_first=True):
        rid = str(r.get("id"))
        inputs = r.get("inputs") or {}
        output = r.get("output")
        if f"feedback:{rid}" in used_sources:
            skip("already in the suite")
            continue
        if not inputs or any(v not in inputs for v in variables):
            skip("inputs missing a prompt variable")
            continue
        key = _inputs_key(inputs)
        if key in seen_inputs or key in used_inputs:
            skip("same inputs as another case")
            continue
        case, why = _case_of(r, rid, inputs, output, min_rating, max_bad_rating)
        if case is None:
            skip(why)
            continue
        if case.id in used_ids:
            skip("case id already in the suite")
            continue
        seen_inputs.add(key)
        used_ids.add(case.id)
        out.append(case)
        if limit is not None and len(out) >= limit:
            break
    return FromFeedback(out, skipped)


def _case_of(
    r: dict[str, Any],
    rid: str,
    inputs: dict[str, Any],
    output: str | None,
    min_rating: float,
    max_bad_rating: float,
) -> tuple[Case | None, str]:
    """The case a feedback record makes (positive, regression or error), or None and why not."""
    kind, rating = r.get("kind"), r.get("rating")
    if kind == "rating" and rating is not None and rating >= min_rating:
        return _positive_case(rid, inputs, output), "high rating without a usable output"
    if kind == "rating" and rating is not None and rating <= max_bad_rating:
        case = _regression_case(rid, inputs, output, r.get("message"))
        return case, "low rating without output or complaint"
    if kind == "error":
        case = Case(
            id=_case_id("fb-err", rid),
            vars=inputs,
            assert_=[Assertion(regex=r"\S")],
            source=f"feedback:{rid}",
            tags=["from-feedback", "regression", "error"],
        )
        return case, ""
    return None, "rating between the thresholds"


def _inputs_key(inputs: dict[str, Any]) -> str:
    import json

    return json.dumps(inputs, sort_keys=True, ensure_ascii=False, default=str)


def _positive_case(rid: str, inputs: dict, output: str | None) -> Case | None:
    if not output or not output.strip() or len(output) > MAX_OUTPUT:
        return None
    short = len(output) <= SHORT_OUTPUT and "\n" not in output.strip()
    return Case(
        id=_case_id("fb-pos", rid),
        vars=inputs,
        expected=output.strip() if short else output,
        assert_=[]
        if short
        else [
            Assertion(
                llm_rubric="The reply gives the same answer, in substance, as the expected reply "
                "(a reply users rated highly)."
            )
        ],
        source=f"feedback:{rid}",
        tags=["from-feedback", "positive"],
    )


def _regression_case(
    rid: str, inputs: dict, output: str | None, message: str | None
) -> Case | None:
    checks: list[Assertion] = []
    if output and output.strip() and len(output) <= MAX_OUTPUT:
        checks.append(Assertion(not_contains=output.strip()))
    if message and message.strip():
        checks.append(
            Assertion(llm_rubric=f"The reply avoids the problem a user reported: {message.strip()}")
        )
    if not checks:
        return None
    return Case(
        id=_case_id("fb-neg", rid),
        vars=inputs,
        assert_=checks,
        source=f"feedback:{rid}",
        tags=["from-feedback", "regression"],
    )


def add_cases(repo: PromptRepo, name: str, cases: list[Case]) -> str:
    """Append ``cases`` to the suite file of ``name`` in the work tree (created if missing).

    Comments and formatting of an existing YAML suite are kept; the whole file is validated
    before it is written, and written atomically under the repository lock. Not committed.
    """
    if repo.git.bare:
        raise PtrainError("this is a bare repository", "run the command in a clone")
    path = suite_path(repo, name)
    evals_dir = repo.config.evals_dir.strip("/")
    if path is None:
        path = Path(repo.root) / evals_dir / f"{name}.yaml"
    rel = path.relative_to(repo.root).as_posix()
    with repo.git.lock():
        if rel.endswith(".jsonl"):
            import json

            old = path.read_text()
            if old and not old.endswith("\n"):
                old += "\n"
            text = old + "".join(json.dumps(c.to_doc(), ensure_ascii=False) + "\n" for c in cases)
        else:
            doc = load_roundtrip(path.read_text(), rel) if path.exists() else None
            if doc is None:
                doc = load_roundtrip(f"schema_version: 1\nprompt: {name}\ncases: []\n", rel)
            if doc.get("cases") is None:
                doc["cases"] = []
            for c in cases:
                doc["cases"].append(c.to_doc())
            text = dump_roundtrip(doc)
        parse_suite_text(text, rel, name)  # never write a suite that does not load
        atomic_write(path, text)
    return rel


def suite_summary(suite: Suite) -> list[dict[str, Any]]:
    """One row per case for ``ptrain evals list``."""
    return [
        {
            "id": c.id,
            "split": c.split or "test",
            "source": c.source,
            "vars": c.vars,
            "expected": c.expected,
            "checks": [a.describe() for a in c.assertions(suite.defaults)],
            "tags": c.tags,
        }
        for c in suite.cases
    ]
