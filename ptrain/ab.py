"""A/B tests of prompt versions: a sticky split of live traffic and a pre-registered verdict.

On-disk format (schema_version 1), all in git so it travels with clones, pushes and ``ptrain sync``:

* ``refs/tags/ptrain-ab/<name>@<env>`` — a moving ref to an *annotated tag object* holding the
  current state of the experiment of one prompt in one env. Every state change (start, stop)
  writes a new tag object and moves the ref with compare-and-swap, like a deploy. The tag
  object's name is ``ptrain-ab/<name>@<env>/<seq>`` (``000001``...), so ``ptrain sync`` keeps
  the side with the higher sequence number, exactly as for deploy tags.
* The tag points at an *anchor commit*: the tree of the control variant's commit and one parent
  per distinct variant commit. Fetching the tag therefore fetches every variant, even one that
  lives only on an unmerged review branch; being TREESAME to its first parent, the anchor does
  not show up in ``git log -- prompts/...``.
* The tag message: a subject line, a blank line, then ``key: value`` lines (``-`` = none)::

      ptrain ab start support/triage@production: A=v1 B=v3 (50/50)

      schema_version: 1
      id: 5e0c1f2a9b7d
      prompt: support/triage
      env: production
      status: running              # running | stopped
      variant: A 1 <commit sha> 50 # name, version number (- if none), commit, weight in %
      variant: B 3 <commit sha> 50
      metric: success              # success | calls | rating (see METRICS)
      alpha: 0.05                  # two-sided false-positive rate of the whole verdict
      power: 0.8
      mde: 0.05                    # minimum detectable effect, absolute
      baseline: 0.5                # the control's rate the sample size was planned for
      sample_size: 1565            # outcomes per variant at which the verdict is taken
      started_by: Ann <ann@example.com>
      started_at: 2026-11-02T09:00:00.000Z
      reason: shorter system prompt
      stopped_by: -
      stopped_at: -
      winner: -                    # stop --winner deploys it; that deploy record's reason
                                   # names the experiment id

  ``git tag -n40 -l 'ptrain-ab/*'`` reads it with plain git.

Assignment: a unit (user or session id) goes to the variant whose cumulative weight band holds
``blake2b(id + ":" + unit) / 2**64`` — stable across processes, machines and Python versions,
and reshuffled by each new experiment (a new id).

Outcomes: the feedback records of the experiment's env whose ``variant`` and ``version`` match a
variant, written between start and stop (so an earlier experiment's "A" never leaks in). Under
the default metric ``success`` a success record is 1, an error record 0, and a rating record 1 if
its rating is >= 0.5 (thumbs up), else 0; ``calls`` counts only success/error records, ``rating``
only ratings. Each record is one outcome: several records from one user are treated as
independent, which a per-user metric would not need. The baseline is the control's historical
rate under the metric when it has >= 50 outcomes, else 0.5 (the largest sample size).

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

import hashlib
import os
import re
from bisect import bisect_right
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ptrain.abstats import (
    POWER,
    mean_interval,
    prob_best,
    required_sample_size,
    two_proportion_z,
    wilson,
)
from ptrain.errors import ConcurrentUpdate, PtrainError, VersionNotFound
from ptrain.prompts import LoadedPrompt, PromptSpec
from ptrain.storage.git import ZERO, _packed_refs

if TYPE_CHECKING:
    from ptrain.repo import DeployRecord, PromptRepo

AB_TAG_PREFIX = "refs/tags/ptrain-ab/"
SCHEMA_VERSION = 1
METRICS = {
    "success": "success and error records, plus ratings (>= 0.5 counts as a success)",
    "calls": "success and error records only",
    "rating": "ratings only (>= 0.5 counts as a success)",
}
MIN_BASELINE_OUTCOMES = 50  # fewer historical outcomes than this: plan for the worst case, 0.5
_VARIANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$")  # fits feedback's variant field
_KEYS = (
    "schema_version",
    "id",
    "prompt",
    "env",
    "status",
    "variant",
    "metric",
    "alpha",
    "power",
    "mde",
    "baseline",
    "sample_size",
    "started_by",
    "started_at",
    "reason",
    "stopped_by",
    "stopped_at",
    "winner",
)


def ab_ref(name: str, env: str) -> str:
    return f"{AB_TAG_PREFIX}{name}@{env}"


# -- the experiment --------------------------------------------------------------------------


@dataclass
class Variant:
    name: str
    commit: str
    version: int | None
    weight: int

    def label(self) -> str:
        return f"v{self.version}" if self.version else self.commit[:8]


@dataclass
class Experiment:
    id: str
    prompt: str
    env: str
    status: str
    variants: list[Variant]
    metric: str
    alpha: float
    power: float
    mde: float
    baseline: float
    sample_size: int
    started_by: str
    started_at: str
    reason: str = ""
    stopped_by: str | None = None
    stopped_at: str | None = None
    winner: str | None = None
    seq: int = 0
    tag: str = ""  # the tag object's sha

    @property
    def control(self) -> Variant:
        return self.variants[0]

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise PtrainError(
            f"{self.prompt}@{self.env} has no variant {name!r} (it has {', '.join(self.names)})",
            "pass one of those",
        )

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variants]

    def split(self) -> str:
        return "/".join(str(v.weight) for v in self.variants)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "split": self.split()}


def _text(exp: Experiment, action: str) -> str:
    arms = " ".join(f"{v.name}={v.label()}" for v in exp.variants)
    lines = [f"ptrain ab {action} {exp.prompt}@{exp.env}: {arms} ({exp.split()})", ""]
    for key in _KEYS:
        if key == "variant":
            lines += [
                f"variant: {v.name} {v.version or '-'} {v.commit} {v.weight}" for v in exp.variants
            ]
            continue
        val = SCHEMA_VERSION if key == "schema_version" else getattr(exp, key)
        lines.append(f"{key}: {'-' if val is None or val == '' else val}")
    return "\n".join(lines) + "\n"


def parse_experiment(text: str, tag_sha: str = "") -> Experiment:
    """The experiment in a tag object's message (the tag header, if present, gives the seq)."""
    seq = 0
    header, sep, body = text.partition("\n\n")
    if header.startswith("object "):  # raw tag object: headers, then the message
        for line in header.splitlines():
            if line.startswith("tag ") and line.rsplit("/", 1)[-1].isdigit():
                seq = int(line.rsplit("/", 1)[-1])
        text = body
    body = text.split("\n\n", 1)[1] if "\n\n" in text else text
    kv: dict[str, Any] = {}
    variants = []
    for line in body.splitlines():
        key, sep, val = line.partition(": ")
        if not sep or key not in _KEYS:
            continue
        if key == "variant":
            vname, num, commit, weight = val.split()
            variants.append(
                Variant(vname, commit, int(num) if num.isdigit() else None, int(weight))
            )
        else:
            kv[key] = None if val == "-" else val
    if kv.get("schema_version") != str(SCHEMA_VERSION) or len(variants) < 2:
        raise PtrainError(
            "an A/B experiment tag has an unknown format",
            "upgrade ptrain (`pip install -U ptrain`)",
        )
    return Experiment(
        id=kv["id"],
        prompt=kv["prompt"],
        env=kv["env"],
        status=kv["status"],
        variants=variants,
        metric=kv["metric"],
        alpha=float(kv["alpha"]),
        power=float(kv["power"]),
        mde=float(kv["mde"]),
        baseline=float(kv["baseline"]),
        sample_size=int(kv["sample_size"]),
        started_by=kv.get("started_by") or "",
        started_at=kv["started_at"],
        reason=kv.get("reason") or "",
        stopped_by=kv.get("stopped_by"),
        stopped_at=kv.get("stopped_at"),
        winner=kv.get("winner"),
        seq=seq,
        tag=tag_sha,
    )


def current(repo: PromptRepo, name: str, env: str = "production") -> Experiment | None:
    """The experiment (running or stopped) recorded for ``name`` in ``env``, or None."""
    repo.check_env(env)
    sha = repo.git.rev_parse(ab_ref(name, env))
    if sha is None:
        return None
    p = repo.git.run("cat-file", "tag", sha, check=False)
    if p.returncode != 0:
        raise PtrainError(f"{ab_ref(name, env)} is not an A/B experiment tag", "run `ptrain sync`")
    return parse_experiment(p.stdout, sha)


def _require(repo: PromptRepo, name: str, env: str) -> Experiment:
    exp = current(repo, name, env)
    if exp is None:
        raise PtrainError(
            f"no A/B experiment for {name} in {env}",
            f"start one with `ptrain ab start {name} --variant A=V1 --variant B=V2 --env {env}`",
        )
    return exp


# -- assignment (the runtime hot path) ----------------------------------------------------------


_SCALE = 2**64


def bucket(experiment_id: str, unit_id: str) -> float:
    """The unit's stable position in [0, 1) for this experiment."""
    d = hashlib.blake2b(f"{experiment_id}:{unit_id}".encode(), digest_size=8).digest()
    return int.from_bytes(d, "big") / _SCALE


def _thresholds(weights: list[int]) -> list[int]:
    total, out = 0, []
    for w in weights[:-1]:
        total += w
        out.append(total * _SCALE // 100)
    return out


def assign(experiment_id: str, unit_id: str, weights: list[int]) -> int:
    """Index of the variant a unit gets under ``weights`` (percentages summing to 100)."""
    d = hashlib.blake2b(f"{experiment_id}:{unit_id}".encode(), digest_size=8).digest()
    return bisect_right(_thresholds(weights), int.from_bytes(d, "big"))


class _Live:
    """A running experiment as the runtime needs it: hash salt, bands, loaded variants."""

    __slots__ = ("prefix", "bands", "prompts")

    def __init__(self, exp: Experiment, prompts: list[LoadedPrompt]):
        self.prefix = f"{exp.id}:"
        self.bands = _thresholds([v.weight for v in exp.variants])
        self.prompts = prompts

    def pick(self, unit_id: str) -> LoadedPrompt:
        d = hashlib.blake2b((self.prefix + unit_id).encode(), digest_size=8).digest()
        return self.prompts[bisect_right(self.bands, int.from_bytes(d, "big"))]


def runtime_variant(repo: PromptRepo, name: str, env: str, unit_id: str) -> LoadedPrompt | None:
    """The unit's variant when an experiment runs for (name, env); None otherwise.

    One ref-file read per call; the parsed experiment and its loaded variants are cached by the
    ref's value, so a start or stop is seen on the next call.
    """
    ref = AB_TAG_PREFIX + name + "@" + env
    cache = repo._runtime_cache
    paths = cache.get(ref)
    if paths is None:
        common = repo.git.common_dir
        paths = cache[ref] = (os.path.join(common, ref), common / "packed-refs")
    value = _read_ref(ref, *paths)
    if value is None:
        return None
    live = cache.get((ref, value))
    if live is None:
        live = cache[(ref, value)] = _load_live(repo, name, value)
    return live.pick(str(unit_id)) if live else None


def _read_ref(ref: str, loose: str, packed: Path) -> str | None:
    """``Git.read_ref_fast`` with the path joined once and no file object: ~3 us instead of
    ~20 us for the common case on this path, a ref that does not exist (no experiment)."""
    try:
        fd = os.open(loose, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return _packed_refs(packed).get(ref)
    try:
        return os.read(fd, 40).decode()
    except IsADirectoryError:
        return _packed_refs(packed).get(ref)
    finally:
        os.close(fd)


def _load_live(repo: PromptRepo, name: str, value: str) -> _Live | bool:
    from ptrain.storage.yamlio import load_safe

    (tag,) = repo.git.cat_batch([value])
    if tag is None or tag[1] != "tag":
        return False
    exp = parse_experiment(tag[2].decode(), value)
    if exp.status != "running":
        return False
    path = repo.prompt_path(name)
    blobs = repo.git.cat_batch([f"{v.commit}:{path}" for v in exp.variants])
    prompts = []
    for v, blob in zip(exp.variants, blobs, strict=True):
        if blob is None:
            raise VersionNotFound(
                f"A/B variant {v.name} of {name} ({v.commit[:8]}) is missing", "run `ptrain sync`"
            )
        spec = PromptSpec.model_validate(load_safe(blob[2], path))
        prompts.append(LoadedPrompt(name, spec, v.commit, v.version, exp.env, variant=v.name))
    return _Live(exp, prompts)


# -- start / stop ---------------------------------------------------------------------------


def _now() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def parse_split(split: str | None, n: int) -> list[int]:
    if split is None:
        base = [100 // n] * n
        for i in range(100 - sum(base)):
            base[i] += 1
        return base
    parts = split.replace(":", "/").split("/")
    if len(parts) != n or not all(p.strip().isdigit() for p in parts):
        raise PtrainError(
            f"--split {split!r} must give one whole percentage per variant ({n} here)",
            "e.g. --split 50/50 or --split 90/10",
        )
    weights = [int(p) for p in parts]
    if sum(weights) != 100 or min(weights) <= 0:
        raise PtrainError(
            f"--split {split!r} sums to {sum(weights)}; the percentages must be positive and sum to 100",
            "e.g. --split 50/50",
        )
    return weights


def _parse_variants(repo: PromptRepo, name: str, specs: list[str]) -> list[tuple[str, Any]]:
    if len(specs) < 2:
        raise PtrainError(
            "an A/B test needs at least two variants", "e.g. --variant A=1 --variant B=3"
        )
    out, seen = [], set()
    for spec in specs:
        vname, sep, version = spec.partition("=")
        vname, version = vname.strip(), version.strip()
        if not sep or not vname or not version:
            raise PtrainError(f"--variant {spec!r} is not NAME=VERSION", "e.g. --variant B=3")
        if not _VARIANT_RE.match(vname):
            raise PtrainError(
                f"variant name {vname!r} is not valid",
                "use letters, digits, '.', '_' or '-' (at most 32), e.g. A, B, control",
            )
        if vname in seen:
            raise PtrainError(f"variant {vname} is given twice", "give each variant once")
        seen.add(vname)
        out.append((vname, repo.resolve(name, version)))
    return out


def start(
    repo: PromptRepo,
    name: str,
    variants: list[str],
    *,
    split: str | None = None,
    env: str = "production",
    reason: str = "",
    metric: str = "success",
    mde: float = 0.05,
    alpha: float = 0.05,
) -> Experiment:
    """Record a running experiment for (name, env). Variants are ``NAME=VERSION`` strings; the
    first is the control. Refuses while one is running; nothing is written on any error."""
    repo.check_env(env)
    if metric not in METRICS:
        raise PtrainError(f"unknown metric {metric!r}", f"use one of {', '.join(METRICS)}")
    if not 0 < mde < 1:
        raise PtrainError(f"--mde {mde} must be between 0 and 1", "e.g. --mde 0.05 (5 points)")
    if not 0 < alpha < 0.5:
        raise PtrainError(f"--alpha {alpha} must be between 0 and 0.5", "e.g. --alpha 0.05")
    arms = _parse_variants(repo, name, variants)
    weights = parse_split(split, len(arms))
    for _, v in arms:  # a variant that would not load must not reach production
        repo._check_content(name, repo.read_text(name, v.commit))
    old = current(repo, name, env)
    if old is not None and old.status == "running":
        raise PtrainError(
            f"an A/B experiment of {name} in {env} is already running (since {old.started_at})",
            f"stop it first: `ptrain ab stop {name} --env {env}`",
        )
    k = len(arms)
    control = arms[0][1].commit
    baseline = _historical_rate(repo, name, env, control, metric)
    alpha_each = alpha / (k - 1)
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


def _write(repo: PromptRepo, exp: Experiment, old: Experiment | None, action: str) -> None:
    git = repo.git
    ref = ab_ref(exp.prompt, exp.env)
    if old is not None and old.tag:
        anchor = git.rev_parse(f"{old.tag}^{{commit}}")
        same = [v.commit for v in old.variants] == [v.commit for v in exp.variants]
    else:
        anchor, same = None, False
    if not same:
        parents = list(dict.fromkeys(v.commit for v in exp.variants))
        args = ["commit-tree", f"{parents[0]}^{{tree}}"]
        for p in parents:
            args += ["-p", p]
        msg = (
            f"ptrain ab anchor {exp.prompt}@{exp.env} {exp.id}\n\nKeeps the A/B variants reachable."
        )
        anchor = git.out(*args, "-m", msg).strip()
    tag_name = f"{ref.removeprefix('refs/tags/')}/{exp.seq:06d}"
    obj = git.make_tag_object(anchor, tag_name, _text(exp, action))
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
    env: str = "production",
    winner: str | None = None,
    reason: str = "",
) -> StopResult:
    """End the running experiment; with ``winner``, deploy that variant as a normal deploy (so
    ``prompt rollback`` undoes it). If the deploy fails the experiment is left running."""
    old = _require(repo, name, env)
    if old.status != "running":
        raise PtrainError(
            f"the A/B experiment of {name} in {env} already stopped at {old.stopped_at}",
            f"see `ptrain ab report {name} --env {env}`",
        )
    win = old.variant(winner) if winner else None
    deployed = repo.deployed(name, env)
    needs_deploy = win is not None and (deployed is None or deployed.commit != win.commit)
    if needs_deploy:
        repo._check_content(name, repo.read_text(name, win.commit))
    exp = replace(
        old,
        status="stopped",
        stopped_by=repo.git.user_identity(),
        stopped_at=_now(),
        winner=win.name if win else None,
        seq=old.seq + 1,
    )
    if reason:
        exp.reason = (exp.reason + " | stop: " if exp.reason else "stop: ") + reason.replace(
            "\n", " "
        ).strip()
    _write(repo, exp, old, "stop")
    rec = None
    if needs_deploy:
        why = f"A/B {exp.id}: variant {win.name} won" + (f" ({reason})" if reason else "")
        try:
            rec = repo.deploy(name, win.commit, env, why)
        except BaseException:
            # put the running state back so nothing is half done
            repo.git.update_ref(ab_ref(name, env), old.tag, exp.tag, "ptrain ab stop undone")
            raise
    return StopResult(exp, rec)


# -- outcomes and statistics ----------------------------------------------------------------------


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


def _historical_rate(repo: PromptRepo, name: str, env: str, commit: str, metric: str) -> float:
    from ptrain import feedback

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
    from ptrain import feedback

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
    tests, better, worse = [], [], []
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


def _arm(v: Variant, recs: list[dict[str, Any]], outs: list[int]) -> ArmStats:
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


def report(
    repo: PromptRepo, name: str, *, env: str = "production", metric: str | None = None
) -> Report:
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
    outs = {
        v.name: [o for o in (outcome(r, metric) for r in recs[v.name]) if o is not None]
        for v in exp.variants
    }
    arms = [_arm(v, recs[v.name], outs[v.name]) for v in exp.variants]
    for a, pb in zip(
        arms, prob_best([(sum(outs[a.name]), len(outs[a.name])) for a in arms]), strict=True
    ):
        a.prob_best = pb
    verdict = decide(outs, sample_size, exp.alpha, exp.control.name)
    ctrl = outs[exp.control.name]
    interim = []
    for v in exp.variants[1:]:
        z, p = two_proportion_z(sum(ctrl), len(ctrl), sum(outs[v.name]), len(outs[v.name]))
        interim.append({"variant": v.name, "vs": exp.control.name, "z": z, "p_value": p})
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
    return Report(exp, metric, arms, verdict, interim, notes)


def status(repo: PromptRepo, name: str, *, env: str = "production") -> dict[str, Any]:
    """The experiment and, per variant, records and outcomes so far against the sample size."""
    exp = _require(repo, name, env)
    recs = collect(repo, exp)
    arms = []
    for v in exp.variants:
        n = sum(1 for r in recs[v.name] if outcome(r, exp.metric) is not None)
        arms.append(
            {
                "variant": v.name,
                "version": v.version,
                "commit": v.commit,
                "weight": v.weight,
                "records": len(recs[v.name]),
                "outcomes": n,
                "progress": min(1.0, n / exp.sample_size),
            }
        )
    return {"experiment": exp.to_dict(), "arms": arms}


def render_markdown(rep: Report) -> str:
    exp = rep.experiment

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f}%"

    def ci(c: tuple[float, float] | None) -> str:
        return "-" if c is None else f"[{100 * c[0]:.1f}%, {100 * c[1]:.1f}%]"

    lines = [
        f"# A/B report: {exp.prompt} in {exp.env}",
        "",
        f"Experiment `{exp.id}` ({exp.status}), started {exp.started_at} by {exp.started_by}"
        + (f"; stopped {exp.stopped_at}, winner {exp.winner or 'none'}" if exp.stopped_at else "")
        + ".",
        f"Metric: **{rep.metric}** — {METRICS[rep.metric]}. Plan: {rep.verdict.horizon} outcomes "
        f"per variant (baseline {exp.baseline:.3f}, MDE {exp.mde}, alpha {exp.alpha}, "
        f"power {exp.power:.0%}).",
        "",
        f"**Verdict: {rep.verdict.label}**"
        + (f" ({rep.verdict.needed} more outcomes needed)" if rep.verdict.needed else ""),
        "",
        "| variant | version | split | records | success rate | error rate | mean rating | "
        "outcomes | outcome rate (95% CI) | P(best) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for a in rep.arms:
        rating = "-" if a.mean_rating is None else f"{a.mean_rating:.3f}"
        if a.rating_ci:
            rating += f" [{a.rating_ci[0]:.3f}, {a.rating_ci[1]:.3f}]"
        lines.append(
            f"| {a.name} | {'v' + str(a.version) if a.version else a.commit[:8]} | {a.weight}% | "
            f"{a.records} | {pct(a.success_rate)} | {pct(a.error_rate)} | {rating} | "
            f"{a.outcomes} | {pct(a.outcome_rate)} {ci(a.outcome_ci)} | "
            f"{pct(a.prob_best)} |"
        )
    if rep.verdict.tests:
        rates = ", ".join(f"{n} {100 * r:.1f}%" for n, r in rep.verdict.rates.items())
        lines += [
            "",
            f"At the horizon (first {rep.verdict.horizon} outcomes each): {rates}. "
            "Two-proportion z-tests, two-sided:",
            "",
        ]
        for t in rep.verdict.tests:
            lines.append(
                f"- {t['variant']} vs {t['vs']}: z = {t['z']:.2f}, p = {t['p_value']:.4g} "
                f"(alpha {t['alpha']:.4g}{', significant' if t['significant'] else ''})"
            )
    lines += ["", *[f"- {n}" for n in rep.notes]]
    return "\n".join(lines) + "\n"
