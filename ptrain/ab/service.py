"""The A/B service: start, stop, status and report of experiments (data in, data out).

The tag format and the assignment are in :mod:`ptrain.ab.model`, the statistics in
:mod:`ptrain.ab.stats`. Outcomes are the feedback records of the experiment's env whose
``variant`` and ``version`` match a variant, written between start and stop (so an earlier
experiment's "A" never leaks in). The baseline is the control's historical rate under the
metric when it has >= 50 outcomes, else 0.5 (the largest sample size).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ptrain import feedback
from ptrain.ab.model import (
    VARIANT_RE,
    Experiment,
    Variant,
    ab_ref,
    format_message,
    parse_split,
    read_experiment,
)
from ptrain.ab.stats import (
    METRICS,
    MIN_BASELINE_OUTCOMES,
    POWER,
    ArmStats,
    Verdict,
    arms_with_prob_best,
    decide,
    interim_tests,
    outcome,
    required_sample_size,
)
from ptrain.errors import ConcurrentUpdate, PtrainError
from ptrain.prompts import parse_prompt
from ptrain.storage.git import ZERO
from ptrain.storage.yamlio import load_roundtrip

if TYPE_CHECKING:
    from ptrain.repo import DeployRecord, PromptRepo, Version


def current(repo: PromptRepo, name: str, env: str | None = None) -> Experiment | None:
    """The experiment (running or stopped) recorded for ``name`` in ``env`` (default: the first
    env of ptrain.yaml), or None."""
    env = repo.check_env(env)
    return read_experiment(repo.git, name, env)


def _require(repo: PromptRepo, name: str, env: str) -> Experiment:
    exp = current(repo, name, env)
    if exp is None:
        repo.check_prompt(name)  # a typo'd name says "did you mean"
        raise PtrainError(
            f"no A/B experiment for {name} in {env}",
            f"start one with `ptrain ab start {name} --variant A=V1 --variant B=V2 --env {env}`",
        )
    return exp


def _now() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _check_loadable(repo: PromptRepo, name: str, commit: str) -> None:
    """Raise the prompt file's own validation error if the variant at ``commit`` would not load."""
    path = repo.prompt_path(name)
    parse_prompt(load_roundtrip(repo.read_text(name, commit), path), path)


# -- start / stop ---------------------------------------------------------------------------


def _parse_variants(repo: PromptRepo, name: str, specs: list[str]) -> list[tuple[str, Version]]:
    if len(specs) < 2:
        raise PtrainError(
            "an A/B test needs at least two variants", "e.g. --variant A=1 --variant B=3"
        )
    out: list[tuple[str, Version]] = []
    seen: set[str] = set()
    for spec in specs:
        vname, sep, version = spec.partition("=")
        vname, version = vname.strip(), version.strip()
        if not sep or not vname or not version:
            raise PtrainError(f"--variant {spec!r} is not NAME=VERSION", "e.g. --variant B=3")
        if not VARIANT_RE.match(vname):
            raise PtrainError(
                f"variant name {vname!r} is not valid",
                "use letters, digits, '.', '_' or '-' (at most 32), e.g. A, B, control",
            )
        if vname in seen:
            raise PtrainError(f"variant {vname} is given twice", "give each variant once")
        seen.add(vname)
        out.append((vname, repo.resolve(name, version)))
    return out


def _check_plan(metric: str, mde: float, alpha: float) -> None:
    if metric not in METRICS:
        raise PtrainError(f"unknown metric {metric!r}", f"use one of {', '.join(METRICS)}")
    if not 0 < mde < 1:
        raise PtrainError(f"--mde {mde} must be between 0 and 1", "e.g. --mde 0.05 (5 points)")
    if not 0 < alpha < 0.5:
        raise PtrainError(f"--alpha {alpha} must be between 0 and 0.5", "e.g. --alpha 0.05")


def start(
    repo: PromptRepo,
    name: str,
    variants: list[str],
    *,
    split: str | None = None,
    env: str | None = None,
    reason: str = "",
    metric: str = "success",
    mde: float = 0.05,
    alpha: float = 0.05,
) -> Experiment:
    """Record a running experiment for (name, env). Variants are ``NAME=VERSION`` strings; the
    first is the control. Refuses while one is running; nothing is written on any error."""
    env = repo.check_env(env)
    _check_plan(metric, mde, alpha)
    arms = _parse_variants(repo, name, variants)
    weights = parse_split(split, len(arms))
    for _, v in arms:  # a variant that would not load must not reach production
        _check_loadable(repo, name, v.commit)
    old = current(repo, name, env)
    if old is not None and old.status == "running":
        raise PtrainError(
            f"an A/B experiment of {name} in {env} is already running (since {old.started_at})",
            f"stop it first: `ptrain ab stop {name} --env {env}`",
        )
    baseline = _historical_rate(repo, name, env, arms[0][1].commit, metric)
    alpha_each = alpha / (len(arms) - 1)
    exp = Experiment(
        id=os.urandom(6).hex(),
        prompt=name,
        env=env,
        status="running",
        variants=[
            Variant(n, v.commit, v.number, w) for (n, v), w in zip(arms, weights, strict=True)
        ],
        metric=metric,
        alpha=alpha,
        power=POWER,
        mde=mde,
        baseline=round(baseline, 4),
        sample_size=required_sample_size(baseline, mde, alpha_each),
        started_by=repo.git.user_identity(),
        started_at=_now(),
        reason=reason.replace("\n", " ").strip(),
        seq=(old.seq if old else 0) + 1,
    )
    _write(repo, exp, old, "start")
    return exp


def _anchor(repo: PromptRepo, exp: Experiment, old: Experiment | None) -> str:
    """The commit the tag points at: the old anchor while the variants are the same, else a new
    commit with the control's tree and one parent per variant (keeps them all reachable)."""
    if (
        old is not None
        and old.tag
        and [v.commit for v in old.variants] == [v.commit for v in exp.variants]
    ):
        anchor = repo.git.rev_parse(f"{old.tag}^{{commit}}")
        if anchor is not None:
            return anchor
    parents = list(dict.fromkeys(v.commit for v in exp.variants))
    msg = f"ptrain ab anchor {exp.prompt}@{exp.env} {exp.id}\n\nKeeps the A/B variants reachable."
    return repo.git.commit_tree(f"{parents[0]}^{{tree}}", parents, msg)


def _write(repo: PromptRepo, exp: Experiment, old: Experiment | None, action: str) -> None:
    git = repo.git
    ref = ab_ref(exp.prompt, exp.env)
    tag_name = f"{ref.removeprefix('refs/tags/')}/{exp.seq:06d}"
    obj = git.make_tag_object(_anchor(repo, exp, old), tag_name, format_message(exp, action))
    with git.lock("ptrain-ab.lock"):
        try:
            git.update_ref(ref, obj, old.tag if old else ZERO, f"ptrain ab {action}")
        except ConcurrentUpdate:
            raise ConcurrentUpdate(
                f"the A/B experiment of {exp.prompt} in {exp.env} changed meanwhile; nothing was done",
                f"check `ptrain ab status {exp.prompt} --env {exp.env}` and re-run",
            ) from None
    exp.tag = obj


@dataclass
class StopResult:
    experiment: Experiment
    deploy: DeployRecord | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment.to_dict(),
            "deploy": self.deploy.to_dict() if self.deploy else None,
        }


def stop(
    repo: PromptRepo,
    name: str,
    *,
    env: str | None = None,
    winner: str | None = None,
    reason: str = "",
) -> StopResult:
    """End the running experiment; with ``winner``, deploy that variant as a normal deploy (so
    ``prompt rollback`` undoes it). If the deploy fails the experiment is left running."""
    env = repo.check_env(env)
    old = _require(repo, name, env)
    if old.status != "running":
        raise PtrainError(
            f"the A/B experiment of {name} in {env} already stopped at {old.stopped_at}",
            f"see `ptrain ab report {name} --env {env}`",
        )
    win = old.variant(winner) if winner else None
    deployed = repo.deployed(name, env)
    needs_deploy = win is not None and (deployed is None or deployed.commit != win.commit)
    if win is not None and needs_deploy:
        _check_loadable(repo, name, win.commit)
    exp = replace(
        old,
        status="stopped",
        stopped_by=repo.git.user_identity(),
        stopped_at=_now(),
        winner=win.name if win else None,
        seq=old.seq + 1,
    )
    if reason:
        why = reason.replace("\n", " ").strip()
        exp.reason = f"{exp.reason} | stop: {why}" if exp.reason else f"stop: {why}"
    _write(repo, exp, old, "stop")
    rec = None
    if win is not None and needs_deploy:
        why = f"A/B {exp.id}: variant {win.name} won" + (f" ({reason})" if reason else "")
        try:
            rec = repo.deploy(name, win.commit, env, why)
        except BaseException:
            # put the running state back so nothing is half done
            repo.git.update_ref(ab_ref(name, env), old.tag, exp.tag, "ptrain ab stop undone")
            raise
    return StopResult(exp, rec)


# -- outcomes, status and report ------------------------------------------------------------------


def _historical_rate(repo: PromptRepo, name: str, env: str, commit: str, metric: str) -> float:
    wins = n = 0
    try:
        for r in feedback.iter_feedback(repo.root, name, env=env, version=commit):
            o = outcome(r, metric)
            if o is not None:
                wins += o
                n += 1
    except PtrainError:
        return 0.5
    return wins / n if n >= MIN_BASELINE_OUTCOMES else 0.5


def collect(repo: PromptRepo, exp: Experiment) -> dict[str, list[dict[str, Any]]]:
    """The experiment's feedback records per variant, oldest first: same env, variant name and
    commit, between start and stop (an earlier experiment's A and B never leak in)."""
    commits = {v.name: v.commit for v in exp.variants}
    out: dict[str, list[dict[str, Any]]] = {v.name: [] for v in exp.variants}
    for r in feedback.iter_feedback(repo.root, exp.prompt, env=exp.env, since=exp.started_at):
        vname = r.get("variant")
        if vname not in commits or not commits[vname].startswith(str(r.get("version") or "-")):
            continue
        ts = r.get("ts", "")
        if ts < exp.started_at or (exp.stopped_at and ts > exp.stopped_at):
            continue
        out[vname].append(r)
    for recs in out.values():
        recs.sort(key=lambda r: (r.get("ts", ""), r.get("id", "")))
    return out


def _outcomes(recs: dict[str, list[dict[str, Any]]], metric: str) -> dict[str, list[int]]:
    return {
        name: [o for o in (outcome(r, metric) for r in rs) if o is not None]
        for name, rs in recs.items()
    }


@dataclass
class Status:
    """Where an experiment stands: per variant, the figures so far and the outcomes still
    needed before the pre-registered verdict (no verdict here: see :func:`report`)."""

    experiment: Experiment
    arms: list[ArmStats]

    def needed(self, arm: ArmStats) -> int:
        return max(0, self.experiment.sample_size - arm.outcomes)

    def to_dict(self) -> dict[str, Any]:
        n = self.experiment.sample_size
        return {
            "experiment": self.experiment.to_dict(),
            "metric": self.experiment.metric,
            "metric_definition": METRICS[self.experiment.metric],
            "arms": [
                {
                    "variant": a.name,
                    **asdict(a),
                    "needed": self.needed(a),
                    "progress": min(1.0, a.outcomes / n),
                }
                for a in self.arms
            ],
        }


def status(repo: PromptRepo, name: str, *, env: str | None = None) -> Status:
    """Per variant: records, success rate (Wilson 95%), mean rating, P(best) and outcomes so
    far against the planned sample size, under the pre-registered metric."""
    env = repo.check_env(env)
    exp = _require(repo, name, env)
    recs = collect(repo, exp)
    return Status(exp, arms_with_prob_best(exp.variants, recs, _outcomes(recs, exp.metric)))


@dataclass
class Report:
    experiment: Experiment
    metric: str
    arms: list[ArmStats]
    verdict: Verdict
    interim: list[dict[str, Any]]  # z-tests on all data so far: information, not a decision
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment.to_dict(),
            "metric": self.metric,
            "metric_definition": METRICS[self.metric],
            "arms": [asdict(a) for a in self.arms],
            "verdict": asdict(self.verdict),
            "interim": self.interim,
            "notes": self.notes,
        }


def report(
    repo: PromptRepo, name: str, *, env: str | None = None, metric: str | None = None
) -> Report:
    """Per-variant rates with intervals, P(best), interim tests and the pre-registered verdict."""
    env = repo.check_env(env)
    exp = _require(repo, name, env)
    metric = metric or exp.metric
    if metric not in METRICS:
        raise PtrainError(f"unknown metric {metric!r}", f"use one of {', '.join(METRICS)}")
    notes = []
    sample_size = exp.sample_size
    if metric != exp.metric:
        # the plan was for another metric's baseline: replan for the worst case, 0.5
        sample_size = required_sample_size(
            0.5, exp.mde, exp.alpha / (len(exp.variants) - 1), exp.power
        )
        notes.append(
            f"metric {metric} is not the pre-registered {exp.metric}; "
            f"sample size replanned for a 0.5 baseline ({sample_size} per variant)"
        )
    recs = collect(repo, exp)
    outs = _outcomes(recs, metric)
    arms = arms_with_prob_best(exp.variants, recs, outs)
    verdict = decide(outs, sample_size, exp.alpha, exp.control.name)
    if verdict.needed:
        notes.append(
            "interim p-values are for information: the verdict waits for "
            f"{sample_size} outcomes per variant so that peeking cannot inflate false positives"
        )
    else:
        notes.append(
            f"the verdict is taken on the first {sample_size} outcomes of each variant and is "
            "final; rates and P(best) over later outcomes are descriptive"
        )
    notes.append(
        "each feedback record is one outcome; several records from one user are treated as "
        "independent"
    )
    return Report(exp, metric, arms, verdict, interim_tests(outs, exp.control.name), notes)
