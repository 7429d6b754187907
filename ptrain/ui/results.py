"""What the Evaluations & training page shows: stored eval results as a case × version matrix,
training reports and their branches, and A/B experiments with intervals and verdict.

Sources (read only): ``.ptrain/evals/*.json`` through ``ResultStore.get`` (one
``EvalResult.to_dict()`` per file), ``.ptrain/reports/<name with -- for />-<stamp>.md`` (what
``ptrain train`` writes), the branches ``ptrain/train/<name>/<stamp>`` and attempt tags
``ptrain-train/<name>/<stamp>``, and ``ab.current`` / ``ab.report`` per env.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ptrain import ab
from ptrain.errors import PtrainError
from ptrain.evaluation.store import ResultStore
from ptrain.ui.views import require_prompt

if TYPE_CHECKING:
    from ptrain.repo import PromptRepo

MAX_RESULTS = 200  # stored results read per request (newest first)
MAX_REPORT_CHARS = 200_000
_STAMP_RE = re.compile(r"^(?P<name>.+)-(?P<stamp>\d{8}-\d{6})$")
_METRICS_SHOWN = (
    "success_rate",
    "pass_at_runs",
    "error_rate",
    "safety",
    "latency_p50_ms",
    "tokens_per_call",
)


def eval_matrix(repo: PromptRepo, name: str, cases: str | None = None) -> dict[str, Any]:
    """Stored evaluations of ``name`` on one set of cases (``cases``: a ``cases_hash`` prefix;
    default: the set most results share), one column each, committed versions first; one
    row per case id. A cell is ``None`` where that evaluation did not run the case."""
    require_prompt(repo, name)
    store = ResultStore.for_repo(Path(repo.root))
    files = sorted(store.dir.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    results = []
    for p in files[:MAX_RESULTS]:
        d = store.get(p.stem)
        if d and d.get("prompt") == name and isinstance(d.get("cases"), list):
            results.append({**d, "key": p.stem})
    sets: dict[str, dict[str, Any]] = {}
    for d in results:
        h = str(d.get("cases_hash", ""))
        entry = sets.setdefault(h, {"hash": h[:8], "results": 0, "cases": len(d["cases"])})
        entry["results"] += 1
    if cases is not None:
        chosen = [h for h in sets if h.startswith(cases.lower())]
        if len(chosen) != 1:
            raise PtrainError(
                f"no single set of eval cases matches {cases!r}", "pick one of case_sets"
            )
        pick = chosen[0]
    else:
        # the set most results share; on a tie the larger one (the held-out suite over a
        # training run's confirmation half)
        pick = max(sets, key=lambda h: (sets[h]["results"], sets[h]["cases"]), default="")
    results = _newest_per_prompt([d for d in results if str(d.get("cases_hash", "")) == pick])
    results.sort(
        key=lambda d: (d.get("version") is None, d.get("version") or 0, d.get("created", ""))
    )
    columns, rows, order = [], {}, []
    for col, d in enumerate(results):
        columns.append(_column(d))
        for c in d["cases"]:
            cid = str(c.get("id"))
            if cid not in rows:
                order.append(cid)
                rows[cid] = {
                    "id": cid,
                    "vars": c.get("vars"),
                    "expected": c.get("expected"),
                    "cells": [None] * len(results),
                }
            rows[cid]["cells"][col] = _cell(c)
    return {
        "name": name,
        "case_set": pick[:8],
        "case_sets": sorted(sets.values(), key=lambda e: -e["results"]),
        "columns": columns,
        "rows": [rows[c] for c in order],
    }


def _newest_per_prompt(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One column per prompt text and model: re-runs with other scorer settings (a stored result
    is keyed by those too) show only the newest (``results`` come newest first)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for d in results:
        ident = (str(d.get("prompt_hash", "")), str((d.get("model") or {}).get("model")))
        if ident not in seen:
            seen.add(ident)
            out.append(d)
    return out


def _column(d: dict[str, Any]) -> dict[str, Any]:
    metrics = d.get("metrics") or {}
    version = d.get("version")
    return {
        "key": d["key"][:12],
        "label": f"v{version}"
        if version
        else (str(d.get("commit") or "")[:8] or f"candidate {str(d.get('prompt_hash', ''))[:6]}"),
        "commit": d.get("commit"),
        "created": d.get("created"),
        "runs": d.get("runs"),
        "cases_hash": str(d.get("cases_hash", ""))[:8],
        "model": (d.get("model") or {}).get("model"),
        "metrics": {k: metrics.get(k) for k in _METRICS_SHOWN if k in metrics},
    }


def _cell(c: dict[str, Any]) -> dict[str, Any]:
    runs = c.get("runs") or []
    first = runs[0] if runs else {}
    failed = [ch for ch in first.get("checks", []) if not ch.get("passed")]
    return {
        "passed": bool(c.get("passed")),
        "pass_fraction": c.get("pass_fraction"),
        "output": first.get("output", ""),
        "error": first.get("error"),
        "failed_checks": [
            f"{ch.get('kind', '')}: {ch.get('detail', '')}".rstrip(": ") for ch in failed
        ][:5],
    }


def training(repo: PromptRepo, name: str | None = None) -> dict[str, Any]:
    """Training reports (newest first) with the branch or attempt tag of the same run."""
    if name is not None:
        require_prompt(repo, name)
    refs = _train_refs(repo)
    reports = []
    folder = Path(repo.root) / ".ptrain" / "reports"
    for p in sorted(folder.glob("*.md"), reverse=True) if folder.is_dir() else []:
        m = _STAMP_RE.match(p.stem)
        if not m:
            continue
        prompt = m.group("name").replace("--", "/")
        if name is not None and prompt != name:
            continue
        text = p.read_text(errors="replace")[:MAX_REPORT_CHARS]
        verdict = next((ln for ln in text.splitlines() if ln.startswith(("✅", "❌"))), "")
        stamp = m.group("stamp")
        reports.append(
            {
                "prompt": prompt,
                "stamp": stamp,
                "file": p.relative_to(repo.root).as_posix(),
                "proposed": verdict.startswith("✅"),
                "verdict": verdict.replace("**", "").lstrip("✅❌ "),
                "ref": refs.pop((prompt, stamp), None),
                "markdown": text,
            }
        )
    others = [r for (p, _), r in sorted(refs.items(), reverse=True) if name in (None, p)]
    return {"reports": reports, "refs_without_report": others}


def _train_refs(repo: PromptRepo) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    fmt = "%(refname)%00%(objectname)%00%(creatordate:iso-strict)%00%(subject)"
    for prefix, kind in (
        ("refs/heads/ptrain/train/", "branch"),
        ("refs/tags/ptrain-train/", "attempt"),
    ):
        for line in repo.git.for_each_ref(prefix, fmt):
            ref, sha, date, subject = (line.split("\x00") + ["", "", ""])[:4]
            prompt, _, stamp = ref.removeprefix(prefix).rpartition("/")
            out[(prompt, stamp)] = {
                "kind": kind,
                "ref": ref.removeprefix("refs/heads/").removeprefix("refs/tags/"),
                "commit": sha,
                "date": date,
                "subject": subject,
                "prompt": prompt,
            }
    return out


def experiments(repo: PromptRepo, name: str) -> dict[str, Any]:
    """The A/B experiment of ``name`` in each env (running or stopped) with its report."""
    require_prompt(repo, name)
    out: list[dict[str, Any]] = []
    for env in repo.envs:
        try:
            exp = ab.current(repo, name, env)
            if exp is None:
                continue
            out.append({"env": env, "report": ab.report(repo, name, env=env).to_dict()})
        except PtrainError as exc:
            out.append({"env": env, "error": exc.message, "hint": exc.hint})
    return {"name": name, "experiments": out}
