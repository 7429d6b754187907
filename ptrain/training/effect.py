"""Post-deploy effect of training: did the trained version do better in production?

For every deploy of a trained version (a commit carrying ``Ptrain-Trained: <name>``) to an env,
the feedback recorded against the version that was live before it is compared with the feedback
recorded against the trained version: average rating, error rate (errors over calls) and the
share of good ratings (≥ 0.8), each with a 95% interval, and the difference with its interval
(Welch's normal approximation for ratings, Newcombe's score interval for rates). The verdict is *worse* when a difference's interval lies entirely on the
bad side — then rolling back is recommended — *better* when one lies on the good side and none
on the bad, otherwise *no clear change* (with how much feedback there is).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ptrain.ab.stats import mean_interval, wilson
from ptrain.feedback import iter_feedback
from ptrain.training.base import POSITIVE
from ptrain.training.triggers import TRAILER

Z = 1.959964
MIN_MEAN = 5  # ratings per side before comparing average ratings (normal approximation)


@dataclass
class Side:
    version: str
    commit: str | None
    items: int = 0
    ratings: list[float] = field(default_factory=list)
    errors: int = 0
    successes: int = 0

    @property
    def calls(self) -> int:
        return self.errors + self.successes

    def metrics(self) -> dict:
        good = sum(1 for r in self.ratings if r >= POSITIVE)
        n = len(self.ratings)
        return {
            "feedback": self.items,
            "avg_rating": sum(self.ratings) / n if n else None,
            "avg_rating_ci": mean_interval(self.ratings),
            "ratings": n,
            "error_rate": self.errors / self.calls if self.calls else None,
            "error_rate_ci": wilson(self.errors, self.calls),
            "calls": self.calls,
            "good_rating_share": good / n if n else None,
            "good_rating_share_ci": wilson(good, n),
        }


@dataclass
class Effect:
    prompt: str
    env: str
    deployed_at: str
    trained: Side
    before: Side
    deltas: dict = field(default_factory=dict)
    verdict: str = "no clear change"
    rollback: bool = False
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["trained"] = {"version": self.trained.version, **self.trained.metrics()}
        d["before"] = {"version": self.before.version, **self.before.metrics()}
        return d


def _diff_mean(a: list[float], b: list[float]) -> tuple[float, tuple[float, float]] | None:
    if len(a) < MIN_MEAN or len(b) < MIN_MEAN:
        return None
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    va = sum((x - ma) ** 2 for x in a) / (len(a) - 1)
    vb = sum((x - mb) ** 2 for x in b) / (len(b) - 1)
    se = math.sqrt(va / len(a) + vb / len(b))
    d = mb - ma
    return d, (d - Z * se, d + Z * se)


def _diff_prop(s1: int, n1: int, s2: int, n2: int) -> tuple[float, tuple[float, float]] | None:
    """p2 − p1 with Newcombe's hybrid score interval (sound for small counts and 0 or 1)."""
    w1, w2 = wilson(s1, n1), wilson(s2, n2)
    if w1 is None or w2 is None:
        return None
    p1, p2 = s1 / n1, s2 / n2
    d = p2 - p1
    lo = d - math.sqrt((p2 - w2[0]) ** 2 + (w1[1] - p1) ** 2)
    hi = d + math.sqrt((w2[1] - p2) ** 2 + (p1 - w1[0]) ** 2)
    return d, (lo, hi)


def _judge(e: Effect) -> None:
    b, t = e.before, e.trained
    good = lambda s: sum(1 for r in s.ratings if r >= POSITIVE)  # noqa: E731
    checks = {
        # name: (difference after − before, +1 if higher is better)
        "avg_rating": (_diff_mean(b.ratings, t.ratings), +1),
        "error_rate": (_diff_prop(b.errors, b.calls, t.errors, t.calls), -1),
        "good_rating_share": (
            _diff_prop(good(b), len(b.ratings), good(t), len(t.ratings)),
            +1,
        ),
    }
    worse, better = [], []
    for name, (res, sign) in checks.items():
        if res is None:
            continue
        d, (lo, hi) = res
        e.deltas[name] = {"delta": d, "ci": (lo, hi)}
        if (sign > 0 and hi < 0) or (sign < 0 and lo > 0):
            worse.append(f"{name.replace('_', ' ')} {d:+.2f} (95% CI {lo:+.2f} … {hi:+.2f})")
        elif (sign > 0 and lo > 0) or (sign < 0 and hi < 0):
            better.append(f"{name.replace('_', ' ')} {d:+.2f} (95% CI {lo:+.2f} … {hi:+.2f})")
    if worse:
        e.verdict, e.rollback, e.reasons = "worse", True, worse
    elif better:
        e.verdict, e.reasons = "better", better
    else:
        e.reasons = [
            f"{t.items} feedback items on the trained version, {b.items} before: "
            "no difference is outside its interval yet"
        ]


def trained_effects(repo, name: str, env: str | None = None) -> list[Effect]:
    """One Effect per deploy of a trained version of ``name`` (oldest first)."""

    deploys = [r for r in repo.history(name, env) if r.action == "deploy" and r.from_commit]
    trained = []
    for r in deploys:
        body = repo.git.commit_message(r.to_commit) or ""
        if any(ln.strip() == f"{TRAILER}: {name}" for ln in body.splitlines()):
            trained.append(r)
    if not trained:
        return []
    records = list(iter_feedback(repo.root, name))
    out = []
    for r in trained:
        e = Effect(
            name,
            r.env,
            r.at,
            Side(_label(r.to_version, r.to_commit), r.to_commit),
            Side(_label(r.from_version, r.from_commit), r.from_commit),
        )
        for rec in records:
            if rec.get("env") not in (None, r.env):
                continue
            v = rec.get("version") or ""
            side = e.trained if v == r.to_commit else e.before if v == r.from_commit else None
            if side is None:
                continue
            side.items += 1
            if rec.get("rating") is not None:
                side.ratings.append(float(rec["rating"]))
            if rec.get("kind") == "error":
                side.errors += 1
            elif rec.get("kind") == "success":
                side.successes += 1
        _judge(e)
        out.append(e)
    return out


def _label(number: int | None, commit: str | None) -> str:
    return f"v{number}" if number else (commit or "?")[:8]
