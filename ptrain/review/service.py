"""Pull-request review and deploy-after-merge: what ``ptrain review`` and ``ptrain deploy-merged``
call. They take explicit arguments (plus the GitHub Actions environment for defaults) and return
data; they never print.

* ``review``: the prompts a pull request changes (prompt files, or their eval suites) between the
  merge base of base..head and head; each is evaluated at head (with head's eval suite) against
  the base branch's version, with the repo's models, and judged by the deployment gates. The
  markdown goes into one sticky comment on the pull request (found by ``<!-- ptrain:review -->``
  and edited in place on every push). A failing gate is a result (exit code 3), not an error.
* ``deploy_merged``: the prompts whose files a merge changed, deployed as ordinary deploys (a
  deploy record each, so ``ptrain prompt rollback`` works) when ``training.auto_deploy`` or the
  caller says so; optionally pushed with ``ptrain sync``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptrain.errors import PtrainError
from ptrain.evaluation import compare, evaluate
from ptrain.evaluation.compare import format_p
from ptrain.evaluation.report import code, render_markdown
from ptrain.evaluation.service import add_user_ratings, evaluation_options, models_for
from ptrain.evaluation.store import ResultStore
from ptrain.evaluation.suite import parse_suite_text
from ptrain.prompts import LoadedPrompt, parse_prompt
from ptrain.review.github import GitHub, GitHubError, token_from_env
from ptrain.storage.yamlio import load_roundtrip
from ptrain.sync import sync

REVIEW_MARKER = "<!-- ptrain:review -->"
GATE_FAILED = 3
ZERO = "0" * 40


# -- what changed -------------------------------------------------------------------------------


def _rev(repo, ref: str, what: str) -> str:
    sha = repo.git.rev_parse(f"{ref}^{{commit}}")
    if sha is None:
        raise PtrainError(
            f"{what} {ref!r} is not a commit in this clone",
            "fetch it (`git fetch origin`; in CI: actions/checkout with fetch-depth: 0)",
        )
    return sha


def _changed_paths(repo, a: str, b: str) -> list[str]:
    evals = repo.config.evals_dir.strip("/")
    return repo.git.changed_files(a, b, [repo.prompts_dir, evals])


def _suite_name(repo, path: str) -> str | None:
    prefix = repo.config.evals_dir.strip("/") + "/"
    if path.startswith(prefix) and path.endswith((".yaml", ".yml", ".jsonl")):
        name = path[len(prefix) :].rsplit(".", 1)[0]
        return None if name.startswith("_") else name  # evals/_calibration/ holds no suites
    return None


def changed_prompts(repo, a: str, b: str, *, suites: bool = True) -> list[str]:
    """Prompt names whose file (or, with ``suites``, eval suite) differs between ``a`` and ``b``."""
    names: set[str] = set()
    for p in _changed_paths(repo, a, b):
        n = repo.name_of(p) or (_suite_name(repo, p) if suites else None)
        if n:
            names.add(n)
    return sorted(names)


def _version_at(repo, name: str, rev: str) -> tuple[str, int | None] | None:
    """(commit that last touched the prompt's file up to ``rev``, its version number on HEAD)."""
    path = repo.prompt_path(name)
    if repo.git.show_file(rev, path) is None:
        return None
    commit = repo.git.last_commit(rev, [path]) or rev
    try:
        number = next((v.number for v in repo.versions(name) if v.commit == commit), None)
    except PtrainError:
        number = None
    return commit, number


# -- the review -------------------------------------------------------------------------------


@dataclass
class PromptReview:
    prompt: str
    status: str  # passed | failed | error | deleted
    baseline: str | None = None
    candidate: str | None = None
    comparison: Any = None  # Comparison
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "status": self.status,
            "baseline": self.baseline,
            "candidate": self.candidate,
            "error": self.error,
            "comparison": self.comparison.to_dict() if self.comparison is not None else None,
        }


@dataclass
class ReviewResult:
    base: str
    head: str
    merge_base: str
    base_ref: str
    head_ref: str
    prompts: list[PromptReview] = field(default_factory=list)
    markdown: str = ""
    pr: int | None = None
    comment_url: str | None = None
    comment_created: bool | None = None
    comment_error: str | None = None

    @property
    def exit_code(self) -> int:
        if any(p.status == "error" for p in self.prompts):
            return 1
        if any(p.status == "failed" for p in self.prompts):
            return GATE_FAILED
        return 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "head": self.head,
            "merge_base": self.merge_base,
            "base_ref": self.base_ref,
            "head_ref": self.head_ref,
            "passed": self.exit_code == 0,
            "exit_code": self.exit_code,
            "pr": self.pr,
            "comment_url": self.comment_url,
            "comment_created": self.comment_created,
            "comment_error": self.comment_error,
            "prompts": [p.to_dict() for p in self.prompts],
        }


def pr_context(env: Mapping[str, str]) -> dict[str, Any]:
    """PR number, base and head shas from a GitHub Actions ``pull_request`` event, if any."""
    out: dict[str, Any] = {}
    path = env.get("GITHUB_EVENT_PATH")
    if path and Path(path).is_file():
        try:
            event = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            event = {}
        pr = event.get("pull_request") or {}
        if pr.get("number"):
            out["pr"] = int(pr["number"])
            out["base"] = (pr.get("base") or {}).get("sha")
            out["head"] = (pr.get("head") or {}).get("sha")
    m = re.fullmatch(r"refs/pull/(\d+)/(?:merge|head)", env.get("GITHUB_REF") or "")
    if "pr" not in out and m:
        out["pr"] = int(m.group(1))
    if not out.get("base") and env.get("GITHUB_BASE_REF"):
        out["base"] = f"origin/{env['GITHUB_BASE_REF']}"
    return out


def _suite_at(repo, name: str, rev: str):
    """The eval suite of ``name`` as it is at ``rev`` (the pull request may add cases)."""
    evals = repo.config.evals_dir.strip("/")
    for ext in (".yaml", ".yml", ".jsonl"):
        rel = f"{evals}/{name}{ext}"
        data = repo.git.show_file(rev, rel)
        if data is not None:
            return parse_suite_text(data.decode(), rel, name)
    raise PtrainError(
        f"{name} has no eval suite at {rev[:8]} ({evals}/{name}.yaml)",
        f"add one to the pull request (`ptrain evals from-feedback {name}`)",
    )


def _loaded(repo, name: str, rev: str, version: tuple[str, int | None]):
    path = repo.prompt_path(name)
    text = repo.git.show_file(rev, path).decode()
    return LoadedPrompt(name, parse_prompt(load_roundtrip(text, path), path), *version)


def review_prompt(repo, name: str, base: str, head: str, *, llms=None, progress=None):
    """Evaluate ``name`` at ``head`` against its version at ``base`` (absolute gates when new)."""
    head_v = _version_at(repo, name, head)
    if head_v is None:
        return PromptReview(name, "deleted")
    base_v = _version_at(repo, name, base)
    label = lambda v: f"v{v[1]} ({v[0][:8]})" if v[1] else v[0][:8]  # noqa: E731
    out = PromptReview(name, "error", label(base_v) if base_v else None, label(head_v))
    try:
        suite = _suite_at(repo, name, head)
        cases = suite.test_cases()
        if not cases:
            raise PtrainError(f"the eval suite of {name} has no test cases", "add some")
        cfg = repo.config.evaluation
        task, judge = llms or models_for(repo)
        store = ResultStore.for_repo(repo.root)

        def run(prompt, who: str):
            res = evaluate(
                prompt,
                cases,
                llm=task,
                judge=judge,
                runs=cfg.test_runs,
                metrics=list(cfg.metrics),
                progress=(lambda s, d, t: progress(f"{name} {who} {s}", d, t))
                if progress
                else None,
                concurrency=cfg.concurrency,
                store=store,
                **evaluation_options(repo, judge),
            )
            add_user_ratings(repo, name, res)
            return res

        base_res = run(_loaded(repo, name, base, base_v), "baseline") if base_v else None
        cand_res = run(_loaded(repo, name, head, head_v), "candidate")
        out.comparison = compare(cand_res, base_res, cfg.thresholds_for(name), cfg.significance)
        out.status = "passed" if out.comparison.recommended else "failed"
    except PtrainError as exc:
        out.error = exc.message + (f" ({exc.hint})" if exc.hint else "")
    return out


def _pct(v) -> str:
    return "n/a" if v is None else f"{v * 100:.1f}%"


def render_review(result: ReviewResult) -> str:
    """The sticky comment: a summary table, then each prompt's evaluation report."""
    ps = result.prompts
    bad = [p for p in ps if p.status in ("failed", "error")]
    if not ps:
        verdict = "no prompt or eval suite changed"
    elif bad:
        verdict = f"❌ {len(bad)} of {len(ps)} changed prompt{'s' if len(ps) != 1 else ''} fail"
    else:
        verdict = f"✅ {len(ps)} changed prompt{'s' if len(ps) != 1 else ''}, every gate passes"
    lines = [
        REVIEW_MARKER,
        f"## ptrain review: {verdict}",
        "",
        f"Base {code(result.base_ref, 80)} ({result.base[:8]}) → head {code(result.head_ref, 80)} "
        f"({result.head[:8]}); changes since the merge base {result.merge_base[:8]}.",
        "",
    ]
    if ps:
        lines += [
            "| Prompt | Base | Head | Success rate | McNemar p | Verdict |",
            "|---|---|---|---:|---:|---|",
        ]
        for p in ps:
            c = p.comparison
            if c is not None:
                d = c.deltas.get("success_rate") or {}
                sr = (
                    f"{_pct(d.get('baseline'))} → {_pct(d.get('candidate'))}"
                    if c.baseline is not None
                    else _pct(c.candidate.metrics.get("success_rate"))
                )
                p_txt = format_p(c.p_value) if c.p_value is not None else ""
            else:
                sr = p_txt = ""
            verdict = {
                "passed": "✅ passes",
                "failed": "❌ "
                + "; ".join(g.name for g in (c.gates if c else []) if not g.passed)
                + " gate failed",
                "deleted": "deleted (nothing to evaluate)",
                "error": f"⚠️ not evaluated: {code(p.error or '?', 200)}",
            }[p.status]
            lines.append(
                f"| {code(p.prompt, 80)} | {p.baseline or 'new'} | {p.candidate or '—'} | {sr} "
                f"| {p_txt} | {verdict} |"
            )
        lines.append("")
    for p in ps:
        if p.comparison is not None:
            body = render_markdown(p.comparison)
            lines += [re.sub(r"^(#{2,3}) ", r"#\1 ", body, flags=re.MULTILINE).rstrip(), ""]
    lines.append(
        f"<sub>Written by `ptrain review` for {result.head[:8]}; this comment is updated in "
        "place on every push.</sub>"
    )
    return "\n".join(lines) + "\n"


def review(
    repo,
    *,
    base: str | None = None,
    head: str | None = None,
    pr: int | None = None,
    comment: bool | None = None,
    remote: str = "origin",
    env: Mapping[str, str] | None = None,
    llms=None,
    progress=None,
) -> ReviewResult:
    """Evaluate what a pull request changes; write the sticky comment when GitHub is there."""
    env = os.environ if env is None else env
    ctx = pr_context(env)
    base_ref = base or ctx.get("base") or "main"
    head_ref = head or ctx.get("head") or "HEAD"
    pr = pr if pr is not None else ctx.get("pr")
    base_sha, head_sha = _rev(repo, base_ref, "base"), _rev(repo, head_ref, "head")
    mb = repo.git.merge_base(base_sha, head_sha)
    if not mb:
        raise PtrainError(
            f"{base_ref} and {head_ref} have no common history",
            "fetch the full history (actions/checkout with fetch-depth: 0)",
        )
    result = ReviewResult(base_sha, head_sha, mb, base_ref, head_ref, pr=pr)
    for name in changed_prompts(repo, mb, head_sha):
        result.prompts.append(
            review_prompt(repo, name, base_sha, head_sha, llms=llms, progress=progress)
        )
    result.markdown = render_review(result)

    if comment is False:
        return result
    gh = GitHub.from_env(repo, remote, env)
    if gh is None or pr is None:
        if comment:
            missing = "a GITHUB_TOKEN" if token_from_env(env) is None else "a pull request number"
            if token_from_env(env) is not None and gh is None:
                missing = "the GitHub repository (GITHUB_REPOSITORY)"
            raise PtrainError(
                f"--comment needs {missing}", "set it, or drop --comment to print the markdown"
            )
        return result
    try:
        if not result.prompts:  # nothing to say: only refresh a comment that is already there
            existing = [c for c in gh.comments(pr) if REVIEW_MARKER in (c.get("body") or "")]
            if existing:
                c = gh.update_comment(existing[0]["id"], result.markdown)
                result.comment_url, result.comment_created = c.get("html_url"), False
            return result
        c, created = gh.upsert_comment(pr, REVIEW_MARKER, result.markdown)
        result.comment_url, result.comment_created = c.get("html_url"), created
    except GitHubError as exc:  # the verdict stands; the comment is the messenger
        result.comment_error = exc.message + (f" — {exc.hint}" if exc.hint else "")
    return result


# -- deploy after merge ---------------------------------------------------------------------------


@dataclass
class MergedDeploy:
    prompt: str
    version: int | None
    commit: str
    status: str  # deployed | already deployed | skipped | error
    tag: str | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class DeployMergedResult:
    base: str
    head: str
    env: str
    enabled: bool
    deploys: list[MergedDeploy] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if any(d.status == "error" for d in self.deploys) else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "head": self.head,
            "env": self.env,
            "enabled": self.enabled,
            "deploys": [d.to_dict() for d in self.deploys],
            "pushed": self.pushed,
        }


def merged_base(env: Mapping[str, str]) -> str | None:
    """The commit before a push (``github.event.before``), when this runs on a push event."""
    path = env.get("GITHUB_EVENT_PATH")
    if env.get("GITHUB_EVENT_NAME") != "push" or not path or not Path(path).is_file():
        return None
    try:
        before = json.loads(Path(path).read_text()).get("before")
    except (OSError, ValueError):
        return None
    return before if before and before != ZERO else None


def deploy_merged(
    repo,
    *,
    base_ref: str | None = None,
    head: str = "HEAD",
    env_name: str | None = None,
    deploy: bool | None = None,
    push: bool = False,
    remote: str = "origin",
    env: Mapping[str, str] | None = None,
) -> DeployMergedResult:
    """Deploy each prompt whose file changed in ``base_ref..head`` (its version at ``head``)."""
    env = os.environ if env is None else env
    cfg = repo.config.training
    target_env = repo.check_env(env_name or cfg.deploy_env)
    enabled = cfg.auto_deploy if deploy is None else deploy
    base_ref = base_ref or merged_base(env) or "HEAD~1"
    base_sha, head_sha = _rev(repo, base_ref, "base"), _rev(repo, head, "head")
    subject = (repo.git.commit_message(head_sha, subject_only=True) or "").strip()
    result = DeployMergedResult(base_sha, head_sha, target_env, enabled)
    for name in changed_prompts(repo, base_sha, head_sha, suites=False):
        v = _version_at(repo, name, head_sha)
        if v is None:
            continue  # deleted in the merge: nothing to deploy
        row = MergedDeploy(name, v[1], v[0], "skipped")
        result.deploys.append(row)
        if not enabled:
            row.detail = "training.auto_deploy is off (pass --deploy to deploy anyway)"
            continue
        deployed = repo.deployed(name, target_env)
        if deployed is not None and deployed.commit == v[0]:
            row.status = "already deployed"
            continue
        try:
            rec = repo.deploy(
                name, v[0], target_env, reason=f"merged in {head_sha[:8]}: {subject}"[:200]
            )
        except PtrainError as exc:
            row.status, row.detail = "error", exc.message
            continue
        row.status, row.tag = "deployed", rec.tag
    if push and any(d.status == "deployed" for d in result.deploys):
        result.pushed = sync(repo.git, remote).pushed
    return result
