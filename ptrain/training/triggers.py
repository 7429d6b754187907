"""When to train a prompt and with which approach (the original system's rules).

Per prompt, from the feedback recorded since that prompt's last training:

* train when the error rate > ``triggers.error_rate`` (0.20), the average rating <
  ``triggers.avg_rating`` (0.6), at least ``triggers.feedback_count`` (50) new items, or at least
  ``triggers.suggestions`` (3) suggestions;
* choose the approach: error rate > 0.30 → adversarial; average rating < 0.50 → reinforcement;
  ≥ 5 suggestions → meta_prompt; otherwise few_shot;
* but only with at least ``min_feedback`` (10) items and ``min_hours_between`` (24) hours since
  the last training.

"Last training" is derived from git history, so it works in a fresh CI clone: the newest commit
on any ref (training branches, remote-tracking branches, merged history) carrying the trailer
``Ptrain-Trained: <name>``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from ptrain.config import AutoTrainingConfig
from ptrain.errors import PromptNotFound
from ptrain.feedback import iter_feedback
from ptrain.storage.history import trailer_index

TRAILER = "Ptrain-Trained"


@dataclass
class PromptStats:
    count: int = 0
    errors: int = 0
    successes: int = 0
    ratings: int = 0
    rating_sum: float = 0.0
    suggestions: int = 0

    @property
    def calls(self) -> int:
        return self.errors + self.successes

    @property
    def error_rate(self) -> float | None:
        # Errors over observed calls; a repo with only manual feedback counts every item.
        denom = self.calls or self.count
        return self.errors / denom if denom else None

    @property
    def avg_rating(self) -> float | None:
        return self.rating_sum / self.ratings if self.ratings else None

    def add(self, rec: dict) -> None:
        self.count += 1
        kind = rec.get("kind")
        if kind == "error":
            self.errors += 1
        elif kind == "success":
            self.successes += 1
        elif kind == "suggestion":
            self.suggestions += 1
        if rec.get("rating") is not None:
            self.ratings += 1
            self.rating_sum += float(rec["rating"])


@dataclass
class TriggerStatus:
    prompt: str
    since: str | None
    stats: dict
    fired: list[str] = field(default_factory=list)
    approach: str | None = None
    eligible: bool = False
    blocked_by: list[str] = field(default_factory=list)
    next_eligible: str | None = None
    should_train: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def choose_approach(stats: PromptStats) -> str:
    er, ar = stats.error_rate, stats.avg_rating
    if er is not None and er > 0.30:
        return "adversarial"
    if ar is not None and ar < 0.50:
        return "reinforcement"
    if stats.suggestions >= 5:
        return "meta_prompt"
    return "few_shot"


def evaluate_triggers(
    prompt: str,
    records: list[dict],
    last_trained: str | None,
    cfg: AutoTrainingConfig,
    now: datetime | None = None,
) -> TriggerStatus:
    now = now or datetime.now(UTC)
    stats = PromptStats()
    for r in records:
        if last_trained is None or r.get("ts", "") > last_trained:
            stats.add(r)
    t = cfg.triggers
    fired = []
    if stats.error_rate is not None and stats.error_rate > t.error_rate:
        fired.append(f"error rate {stats.error_rate:.0%} > {t.error_rate:.0%}")
    if stats.avg_rating is not None and stats.avg_rating < t.avg_rating:
        fired.append(f"average rating {stats.avg_rating:.2f} < {t.avg_rating:.2f}")
    if stats.count >= t.feedback_count:
        fired.append(f"{stats.count} new feedback items ≥ {t.feedback_count}")
    if stats.suggestions >= t.suggestions:
        fired.append(f"{stats.suggestions} suggestions ≥ {t.suggestions}")
    blocked, next_ok = [], None
    if stats.count < cfg.min_feedback:
        blocked.append(f"only {stats.count} feedback items (< {cfg.min_feedback})")
    if last_trained:
        last = datetime.fromisoformat(last_trained.replace("Z", "+00:00"))
        ready = last + timedelta(hours=cfg.min_hours_between)
        if ready > now:
            blocked.append(
                f"trained {(now - last).total_seconds() / 3600:.1f} h ago (< {cfg.min_hours_between:g} h)"
            )
            next_ok = ready.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if not cfg.enabled:
        blocked.append("auto_training.enabled is false")
    status = TriggerStatus(
        prompt=prompt,
        since=last_trained,
        stats={
            "count": stats.count,
            "errors": stats.errors,
            "calls": stats.calls,
            "error_rate": stats.error_rate,
            "ratings": stats.ratings,
            "avg_rating": stats.avg_rating,
            "suggestions": stats.suggestions,
        },
        fired=fired,
        approach=choose_approach(stats) if fired else None,
        eligible=not blocked,
        blocked_by=blocked,
        next_eligible=next_ok,
    )
    status.should_train = bool(fired) and not blocked
    return status


def trained_index(repo) -> dict[str, str]:
    """Prompt name -> UTC timestamp of its last training, for every prompt, from one
    ``git log --all`` (cached per ref state; see :mod:`ptrain.storage.history`)."""

    return {n: _utc(date) for n, (_, date) in trailer_index(repo.git, TRAILER).items()}


def _utc(iso: str) -> str:
    dt = datetime.fromisoformat(iso)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def last_trained(repo, name: str, index: dict[str, str] | None = None) -> str | None:
    """UTC timestamp of the prompt's last training, from git history (any ref)."""
    return (trained_index(repo) if index is None else index).get(name)


def status(
    repo, names: list[str] | None = None, now: datetime | None = None
) -> list[TriggerStatus]:
    out = []
    index = trained_index(repo)  # one git log for every prompt, not one per prompt
    every = _feedback_since(repo, index) if not names else None
    for name in names or repo.prompt_names():
        since = last_trained(repo, name, index)
        if every is not None:
            recs = every.get(name, [])
        else:
            recs = list(iter_feedback(repo.root, name, since=since))
        out.append(evaluate_triggers(name, recs, since, repo.config.auto_training, now))
    return out


def _feedback_since(repo, index: dict[str, str]) -> dict[str, list[dict]]:
    """Every prompt's records newer than its last training, from one walk over the shards
    (the store is opened once, not once per prompt)."""

    out: dict[str, list[dict]] = {}
    for r in iter_feedback(repo.root):
        name = r.get("prompt")
        since = index.get(name) if isinstance(name, str) else None
        if since is None or r.get("ts", "") >= since:
            out.setdefault(name, []).append(r)
    return out


def due(repo, names: list[str] | None = None, now: datetime | None = None) -> list[dict]:
    """The prompts ``train auto`` would train now (triggers fire, eligible): name, the triggers
    that fire, the approach they choose and the figures, for a CI matrix (``train due``)."""
    missing = sorted(set(names or ()) - set(repo.prompt_names()))
    if missing:
        raise PromptNotFound(f"no prompt named {missing[0]!r}", "see `ptrain prompt list`")
    return [
        {
            "prompt": s.prompt,
            "fired": s.fired,
            "approach": s.approach,
            "since": s.since,
            "stats": s.stats,
        }  # fmt: skip
        for s in status(repo, names, now=now)
        if s.should_train
    ]
