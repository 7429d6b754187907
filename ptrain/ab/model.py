"""The A/B experiment as it is stored in git, and the sticky assignment of units to variants.

This module depends on nothing above storage (and the prompt file format, to hand the runtime a
:class:`~ptrain.prompts.LoadedPrompt`), so :meth:`ptrain.repo.PromptRepo.get` can choose a
variant through it without importing the A/B service.

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
      metric: success              # success | calls | rating (see ptrain.ab.stats.METRICS)
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
"""

from __future__ import annotations

import hashlib
import os
import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ptrain.errors import PtrainError, VersionNotFound
from ptrain.prompts import LoadedPrompt, PromptSpec
from ptrain.storage.git import Git
from ptrain.storage.gitfiles import packed_refs
from ptrain.storage.yamlio import load_safe

AB_TAG_PREFIX = "refs/tags/ptrain-ab/"
SCHEMA_VERSION = 1
VARIANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$")  # fits feedback's variant field
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


def format_message(exp: Experiment, action: str) -> str:
    """The tag message recording ``exp`` (``action``: start or stop, for the subject line)."""
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
    header, _, body = text.partition("\n\n")
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


def read_experiment(git: Git, name: str, env: str) -> Experiment | None:
    """The experiment (running or stopped) recorded for ``name`` in ``env``, or None."""
    sha = git.rev_parse(ab_ref(name, env))
    if sha is None:
        return None
    (obj,) = git.cat_batch([sha])
    if obj is None or obj[1] != "tag":
        raise PtrainError(f"{ab_ref(name, env)} is not an A/B experiment tag", "run `ptrain sync`")
    return parse_experiment(obj[2].decode(), sha)


def parse_split(split: str | None, n: int) -> list[int]:
    """Whole percentages per variant from ``"50/50"`` (None: as even as whole numbers allow)."""
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


# Process-wide, keyed by content: (loose ref path, tag object sha) -> the live experiment, or
# None when that tag records a stopped one. A tag object never changes, so an entry never goes
# stale; a start or stop writes a new tag and is seen on the next call. Bounded by _MAX_LIVE.
_LIVE: dict[tuple[str, str], _Live | None] = {}
_MAX_LIVE = 256
_PATHS: dict[tuple[Path, str, str], tuple[str, str]] = {}  # (common dir, name, env) -> files


def runtime_variant(
    git: Git, name: str, env: str, unit_id: str, prompt_path: Callable[[str], str]
) -> LoadedPrompt | None:
    """The unit's variant when an experiment runs for (name, env); None otherwise.

    One ref-file read per call; the parsed experiment and its loaded variants are cached by the
    ref's value, so a start or stop is seen on the next call. ``prompt_path`` maps the prompt
    name to its file (needed only when a new experiment state is loaded).
    """
    key = (git.common_dir, name, env)
    paths = _PATHS.get(key)
    if paths is None:
        common = str(git.common_dir)
        ref = ab_ref(name, env)
        paths = _PATHS[key] = (os.path.join(common, ref), os.path.join(common, "packed-refs"))
    value = read_ref(paths[0], paths[1], AB_TAG_PREFIX + name + "@" + env)
    if value is None:
        return None
    live_key = (paths[0], value)
    try:
        live = _LIVE[live_key]
    except KeyError:
        live = _load_live(git, name, value, prompt_path(name))
        if len(_LIVE) >= _MAX_LIVE:
            _LIVE.clear()
        _LIVE[live_key] = live
    return live.pick(unit_id) if live is not None else None


def _load_live(git: Git, name: str, value: str, path: str) -> _Live | None:
    (tag,) = git.cat_batch([value])
    if tag is None or tag[1] != "tag":
        return None
    exp = parse_experiment(tag[2].decode(), value)
    if exp.status != "running":
        return None
    blobs = git.cat_batch([f"{v.commit}:{path}" for v in exp.variants])
    prompts = []
    for v, blob in zip(exp.variants, blobs, strict=True):
        if blob is None:
            raise VersionNotFound(
                f"A/B variant {v.name} of {name} ({v.commit[:8]}) is missing", "run `ptrain sync`"
            )
        spec = PromptSpec.model_validate(load_safe(blob[2], path))
        prompts.append(LoadedPrompt(name, spec, v.commit, v.version, exp.env, variant=v.name))
    return _Live(exp, prompts)


def read_ref(loose: str, packed: str, ref: str) -> str | None:
    """The value of ``ref`` from its loose file, else from ``packed-refs``, without spawning git.

    ``Git.read_ref_fast`` does the same from a ref name; this takes the two paths joined once,
    and uses no file object: ~3 us instead of ~20 us for the common case on the runtime path, a
    ref that does not exist (no experiment). Measured in benchmarks/ab_bench.py.
    """
    try:
        fd = os.open(loose, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return packed_refs(packed).get(ref)
    try:
        return os.read(fd, 40).decode()
    except IsADirectoryError:
        return packed_refs(packed).get(ref)
    finally:
        os.close(fd)
