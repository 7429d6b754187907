"""What the Prompts and Feedback pages show, computed from ptrain's public services.

Every function takes a ``PromptRepo`` and explicit arguments and returns plain, JSON-ready data;
nothing here writes. Time series are computed here from ``feedback.iter_feedback`` (the
feedback module summarises per version, not per day): one point per (version, UTC day) with the
record count, mean rating and its 95% interval, error rate, latency p50/p95 and mean tokens.
"""

from __future__ import annotations

import heapq
import math
import os
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ptrain.ab.stats import mean_interval, wilson
from ptrain.errors import PromptNotFound, VersionNotFound
from ptrain.feedback import iter_feedback, open_store, parse_since, shards, summarize
from ptrain.repo import check_name

if TYPE_CHECKING:
    from ptrain.repo import PromptRepo, Version

LIST_LIMIT = 20  # rows in each feedback list (suggestions, worst rated, interactions)


def require_prompt(repo: PromptRepo, name: str) -> str:
    """``name`` if it is a prompt of the repository, else PromptNotFound (a 404 in the API)."""
    check_name(name)
    if name not in repo.prompt_names():
        raise PromptNotFound(f"no prompt named {name!r}", "see `ptrain prompt list`")
    return name


def overview(repo: PromptRepo) -> dict[str, Any]:
    """Every prompt with its version count, latest version and what is deployed where."""
    envs = repo.envs
    rows = []
    for name, versions in sorted(repo.all_versions().items()):
        deployed: dict[str, Any] = {}
        for v in versions:
            for e in v.envs:
                deployed[e] = _version_ref(v)
        latest = versions[-1] if versions else None
        rows.append(
            {
                "name": name,
                "versions": len(versions),
                "latest": _version_ref(latest) if latest else None,
                "deployed": deployed,
            }
        )
    return {"root": str(repo.root), "envs": envs, "prompts": rows}


def _version_ref(v: Version) -> dict[str, Any]:
    return {"number": v.number, "commit": v.commit, "label": v.label()}


def prompt_detail(repo: PromptRepo, name: str) -> dict[str, Any]:
    """Versions (oldest first), the deploy history of every env and what is live now."""
    require_prompt(repo, name)
    versions = repo.versions(name)
    history = [r.to_dict() for r in repo.history(name)]
    deployed = {}
    for env in repo.envs:
        v = repo.deployed(name, env)
        deployed[env] = _version_ref(v) if v else None
    return {
        "name": name,
        "envs": repo.envs,
        "versions": [v.to_dict() for v in versions],
        "history": history,
        "deployed": deployed,
    }


_SPEC_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@/^~\-]{0,99}$")


def check_version_spec(spec: str) -> str:
    """A version as the CLI takes it (3, v3, a sha, a rev) — no spaces, options or controls."""
    if not _SPEC_RE.match(spec):
        raise VersionNotFound(
            f"{spec[:40]!r} is not a version", "give a number (3, v3) or a commit sha"
        )
    return spec


def version_diff(repo: PromptRepo, name: str, a: str, b: str) -> dict[str, Any]:
    require_prompt(repo, name)
    va = repo.resolve(name, check_version_spec(a))
    vb = repo.resolve(name, check_version_spec(b))
    return {
        "name": name,
        "a": _version_ref(va),
        "b": _version_ref(vb),
        "diff": repo.diff(name, va.commit, vb.commit),
    }


# -- feedback over time -----------------------------------------------------------------------


@dataclass
class _Bucket:
    count: int = 0
    ratings: list[float] = field(default_factory=list)
    calls: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    suggestions: int = 0

    def add(self, r: dict[str, Any]) -> None:
        self.count += 1
        kind = r.get("kind")
        if r.get("rating") is not None:
            self.ratings.append(float(r["rating"]))
        if kind in ("success", "error"):
            self.calls += 1
            self.errors += kind == "error"
        if r.get("latency_ms") is not None:
            self.latencies.append(float(r["latency_ms"]))
        pt, ct = r.get("prompt_tokens"), r.get("completion_tokens")
        if pt is not None or ct is not None:
            self.tokens.append(int(pt or 0) + int(ct or 0))
        if kind == "suggestion":
            self.suggestions += 1

    def point(self, day: str) -> dict[str, Any]:
        n = len(self.ratings)
        ci = mean_interval(self.ratings)
        err_ci = wilson(self.errors, self.calls)
        lat = sorted(self.latencies)
        return {
            "day": day,
            "count": self.count,
            "ratings": n,
            "mean_rating": _round(sum(self.ratings) / n) if n else None,
            "rating_ci": [_round(ci[0]), _round(ci[1])] if ci else None,
            "calls": self.calls,
            "errors": self.errors,
            "error_rate": _round(self.errors / self.calls) if self.calls else None,
            "error_ci": [_round(err_ci[0]), _round(err_ci[1])] if err_ci else None,
            "latency_p50": _quantile(lat, 0.50),
            "latency_p95": _quantile(lat, 0.95),
            "mean_tokens": round(sum(self.tokens) / len(self.tokens), 1) if self.tokens else None,
            "suggestions": self.suggestions,
        }


def _round(x: float) -> float:
    return round(x, 4)


def _quantile(sorted_xs: list[float], q: float) -> float | None:
    """Nearest-rank quantile (the definition ``feedback summary`` uses)."""
    if not sorted_xs:
        return None
    return round(sorted_xs[max(1, math.ceil(q * len(sorted_xs))) - 1], 1)


class _VersionIndex:
    """Feedback's version field (a sha, maybe abbreviated) -> the prompt's version."""

    def __init__(self, versions: list[Version]):
        self.versions = versions
        self.by_commit = {v.commit: v for v in versions}
        self.cache: dict[str, Version | None] = {}

    def find(self, sha: str | None) -> Version | None:
        if not sha:
            return None
        if sha not in self.cache:
            v = self.by_commit.get(sha)
            if v is None:
                hits = [x for x in self.versions if x.commit.startswith(sha)]
                v = hits[0] if len(hits) == 1 else None
            self.cache[sha] = v
        return self.cache[sha]


@dataclass
class _Scan:
    """One pass over a prompt's records: daily buckets per version and the three lists."""

    buckets: dict[str, dict[str, _Bucket]] = field(default_factory=dict)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    suggestions: list[tuple] = field(default_factory=list)
    worst: list[tuple] = field(default_factory=list)
    recent: list[tuple] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, i: int, r: dict[str, Any], index: _VersionIndex) -> None:
        v = index.find(r.get("version"))
        key = v.commit if v else (r.get("version") or "unknown")
        if key not in self.labels:
            number = v.number if v else r.get("version_number")
            label = f"v{number}" if number else key[:8]
            self.labels[key] = {"commit": key, "number": number, "label": label}
        day = str(r.get("ts", ""))[:10]
        self.buckets.setdefault(key, {}).setdefault(day, _Bucket()).add(r)
        newest = (r.get("ts", ""), r.get("id", ""), i)
        if (r.get("suggestion") or "").strip():
            _keep(self.suggestions, newest, r, LIST_LIMIT)
        if r.get("rating") is not None:
            # lowest rating first, newest first among equals
            _keep(self.worst, (-float(r["rating"]), *newest), r, LIST_LIMIT)
        if r.get("inputs") or r.get("output"):
            _keep(self.recent, newest, r, LIST_LIMIT)


# The page asks for the series and the lists of the same prompt at once, and again on every
# visit: one scan serves both until a shard or the prompt's history changes (a shard's size
# changes with every append). Bounded; guarded by one lock, so two requests never scan twice.
_SCANS: dict[tuple, tuple[tuple, _Scan]] = {}
_SCAN_LOCK = threading.Lock()
MEMO_ENTRIES = 16


def _fingerprint(repo: PromptRepo, name: str, versions: list[Version]) -> tuple | None:
    try:
        files = tuple(
            (s.fspath, st.st_size, st.st_mtime_ns)
            for s in shards(open_store(repo.root), name)
            for st in (os.stat(s.fspath),)
        )
    except FileNotFoundError:  # a prune removed a shard meanwhile: do not memoise
        return None
    return (tuple(v.commit for v in versions), files)


def _scan(
    repo: PromptRepo, name: str, since: str | None, env: str | None
) -> tuple[_Scan, _VersionIndex]:
    since_ts = parse_since(since)
    versions = repo.versions(name)
    index = _VersionIndex(versions)
    key = (str(repo.root), name, since_ts, env)
    with _SCAN_LOCK:
        fp = _fingerprint(repo, name, versions)
        hit = _SCANS.get(key)
        if fp is not None and hit is not None and hit[0] == fp:
            return hit[1], index
        scan = _Scan()
        records = iter_feedback(repo.root, name, since=since_ts, env=env, warnings=scan.warnings)
        for i, r in enumerate(records):
            scan.add(i, r, index)
        if fp is not None:
            _SCANS.pop(key, None)
            _SCANS[key] = (fp, scan)
            while len(_SCANS) > MEMO_ENTRIES:
                _SCANS.pop(next(iter(_SCANS)))
        return scan, index


def feedback_series(
    repo: PromptRepo, name: str, since: str | None = None, env: str | None = None
) -> dict[str, Any]:
    """Per version, one point per UTC day (of one env, or all); deploy moments; the
    per-version totals of ``feedback.summarize`` over all envs (which also counts records
    ``prune`` compacted away)."""
    require_prompt(repo, name)
    if env is not None:
        repo.check_env(env)
    scan, _ = _scan(repo, name, since, env)
    series = [
        {**scan.labels[k], "points": [b.point(d) for d, b in sorted(days.items())]}
        for k, days in scan.buckets.items()
    ]
    series.sort(key=lambda s: (s["number"] is None, s["number"] or 0, s["commit"]))
    deploys = [
        {
            "at": r.at,
            "env": r.env,
            "action": r.action,
            "to_version": r.to_version,
            "from_version": r.from_version,
            "reason": r.reason,
            "tag": r.tag,
        }
        for r in repo.history(name, env)
    ]
    totals = summarize(repo.root, name, by="version", since=since)
    return {
        "name": name,
        "env": env,
        "series": series,
        "deploys": deploys,
        "totals": totals.rows,
        "warnings": scan.warnings[:20] + totals.warnings[:20],
    }


def feedback_lists(repo: PromptRepo, name: str, since: str | None = None) -> dict[str, Any]:
    """Newest suggestions, the worst-rated interactions, and the newest interactions (records
    with inputs or an output: what can be rated or marked as expected in the page)."""
    require_prompt(repo, name)
    scan, index = _scan(repo, name, since, None)

    def rows(heap: list[tuple]) -> list[dict[str, Any]]:
        return [_interaction(r, index) for *_, r in sorted(heap, key=lambda t: t[0], reverse=True)]

    return {
        "name": name,
        "suggestions": rows(scan.suggestions),
        "worst": rows(scan.worst),
        "recent": rows(scan.recent),
    }


def _keep(heap: list[tuple], key: tuple, r: dict[str, Any], limit: int) -> None:
    """Keep the ``limit`` largest keys (a bounded heap: memory stays flat on big stores)."""
    item = (key, r)
    if len(heap) < limit:
        heapq.heappush(heap, item)
    elif key > heap[0][0]:
        heapq.heapreplace(heap, item)


_SHOWN = ("id", "ts", "kind", "env", "variant", "rating", "inputs", "output", "message",
          "suggestion", "error_type", "error_message", "latency_ms", "source")  # fmt: skip


def _interaction(r: dict[str, Any], index: _VersionIndex) -> dict[str, Any]:
    v = index.find(r.get("version"))
    out = {k: r.get(k) for k in _SHOWN if r.get(k) is not None}
    number = v.number if v else r.get("version_number")
    out["version"] = f"v{number}" if number else (r.get("version") or "")[:8]
    return out
