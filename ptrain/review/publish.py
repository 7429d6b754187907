"""Pull requests of trained prompts, through :mod:`ptrain.review.github`.

Pull requests of trained prompts: one per prompt. An open pull request for a prompt is found by
the hidden marker ``<!-- ptrain:prompt=NAME -->`` in its body (or its head branch
``ptrain/train/NAME/<timestamp>``). A later run force-pushes its result onto that pull request's
branch (``--force-with-lease`` against the sha GitHub reports, and only when the branch's tip is a
ptrain commit, so hand edits are never overwritten) and updates its title and body, instead of
opening a duplicate.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ptrain.errors import GitError, PtrainError
from ptrain.review.github import (
    BRANCH_PREFIX,
    LABELS,
    MAX_BODY,
    TRAILER,
    GitHub,
    GitHubError,
    parse_remote,
    prompt_marker,
    redact,
    remote_url,
    token_from_env,
)


@dataclass
class PullRequest:
    url: str
    number: int
    created: bool
    branch: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "url": self.url,
            "number": self.number,
            "created": self.created,
            "branch": self.branch,
            "notes": self.notes,
        }


def find_open_pr(gh: GitHub, name: str) -> dict | None:
    """The open ptrain pull request of prompt ``name`` (from this repository, not a fork)."""
    marker = prompt_marker(name)
    branch = re.compile(re.escape(f"{BRANCH_PREFIX}{name}/") + r"\d{8}-\d{6}")
    hits = []
    for pr in gh.open_pulls():
        head = pr.get("head") or {}
        own = ((head.get("repo") or {}).get("full_name") or "").lower() == gh.repository.lower()
        if own and (marker in (pr.get("body") or "") or branch.fullmatch(head.get("ref") or "")):
            hits.append(pr)
    return min(hits, key=lambda p: p["number"]) if hits else None


def pr_title(res) -> str:
    b = res.best
    base, cand = res.baseline.metrics, b.result.metrics
    return (
        f"ptrain: train {res.prompt} with {b.candidate.approach} "
        f"(success {base.get('success_rate') or 0:.0%} → {cand.get('success_rate') or 0:.0%})"
    )


def pr_body(res, branch: str, notes: list[str] | None = None) -> str:
    footer = [
        "---",
        f"*Opened by `ptrain train`. The next training of `{res.prompt}` updates this pull request "
        "(its branch is force-pushed while its tip is a ptrain commit) instead of opening another. "
        f"Merge to accept the new version, close to reject. Branch `{branch}`.*",
    ]
    extra = [f"> {n}" for n in notes or []]
    report = res.report
    room = MAX_BODY - 2000
    if len(report) > room:
        report = report[:room] + "\n\n…(report cut; the full report is in `.ptrain/reports/`)\n"
    return "\n".join([prompt_marker(res.prompt), *extra, "", report.rstrip(), "", *footer]) + "\n"


def _push(repo, remote: str, commit: str, branch: str, lease: str | None, token: str | None):
    leases = [(f"refs/heads/{branch}", lease)] if lease is not None else []
    try:
        repo.git.push(remote, [f"{commit}:refs/heads/{branch}"], leases=leases)
    except GitError as exc:
        raise PtrainError(
            redact(f"git push of {branch} to {remote} failed: {exc.message}", token),
            "check push rights (in a workflow: `permissions: contents: write`); if the branch "
            "moved meanwhile, re-run",
        ) from None


def _made_by_ptrain(repo, remote: str, sha: str, ref: str, name: str) -> bool:
    """Whether ``sha`` (a PR's head) is a training commit of ``name``, so replacing it loses
    nothing a person wrote."""
    if not repo.git.has_object(sha):
        with contextlib.suppress(GitError):  # not fetchable: then it is not known to be ours
            repo.git.fetch(remote, [f"refs/heads/{ref}"])
    message = repo.git.commit_message(sha)
    return message is not None and bool(
        re.search(rf"^{TRAILER}: {re.escape(name)}$", message, re.MULTILINE)
    )


def base_branch(repo, gh: GitHub | None, env: Mapping[str, str] | None = None) -> str:
    """The branch the training branched from: the current branch, else the workflow's ref,
    else the repository's default branch."""
    env = os.environ if env is None else env
    current = repo.git.current_branch()
    if current:
        return current
    if (env.get("GITHUB_REF") or "").startswith("refs/heads/"):
        return env["GITHUB_REF"].removeprefix("refs/heads/")
    if gh is not None:
        return gh.default_branch()
    return "main"


def publish_training(
    repo, res, *, remote: str = "origin", env: Mapping[str, str] | None = None
) -> PullRequest | None:
    """Open (or update) the pull request of a proposed training result; None without GitHub."""
    if not res.proposed:
        raise PtrainError(f"nothing to review for {res.prompt}: no candidate was proposed")
    gh = GitHub.from_env(repo, remote, env)
    if gh is None:
        return None
    token = token_from_env(env)
    notes: list[str] = []
    title = pr_title(res)
    existing = find_open_pr(gh, res.prompt)
    if existing is not None and not _made_by_ptrain(
        repo, remote, existing["head"]["sha"], existing["head"]["ref"], res.prompt
    ):
        notes.append(
            f"#{existing['number']} has commits ptrain did not make, so it was left as it is."
        )
        existing = None
    if existing is not None:
        ref = existing["head"]["ref"]
        _push(repo, remote, res.commit, ref, existing["head"]["sha"], token)
        if res.pushed and res.branch != ref:
            # this run's own branch is now redundant on the remote: its commit is the PR's tip
            with contextlib.suppress(GitError):  # best effort: a leftover branch is harmless
                repo.git.push(
                    remote,
                    [f":refs/heads/{res.branch}"],
                    leases=[(f"refs/heads/{res.branch}", res.commit)],
                )
        pr = gh.update_pull(existing["number"], title=title, body=pr_body(res, ref, notes))
        out = PullRequest(pr["html_url"], pr["number"], False, ref, notes)
    else:
        if not res.pushed:
            _push(repo, remote, res.commit, res.branch, None, token)
            res.pushed = True
        base = base_branch(repo, gh, env)
        pr = gh.create_pull(
            title=title, head=res.branch, base=base, body=pr_body(res, res.branch, notes)
        )
        out = PullRequest(pr["html_url"], pr["number"], True, res.branch, notes)
    try:
        gh.add_labels(out.number, LABELS)
    except GitHubError as exc:  # labels are a nicety; the pull request is what matters
        out.notes.append(f"labels not added: {exc.message}")
    return out


def open_or_update_pr(repo, res, *, remote: str = "origin") -> str | None:
    """The url of the pull request for ``res`` (opened or updated); None when there is no GitHub
    token or repository (then :func:`review_instructions` says how to open the review)."""
    pr = publish_training(repo, res, remote=remote)
    if pr is None:
        return None
    res.notes.extend(pr.notes)
    return pr.url


def review_instructions(
    repo, res, *, remote: str = "origin", env: Mapping[str, str] | None = None
) -> str:
    """How to open the review of a training branch by hand (no GitHub token, or not GitHub)."""
    env = os.environ if env is None else env
    base = base_branch(repo, None, env)
    lines = []
    if res.pushed:
        lines.append(
            f"pushed {res.branch} to {remote}: open a pull/merge request for it into {base}"
        )
    else:
        lines.append(
            f"{res.branch} is not on {remote}: push it with `git push {remote} {res.branch}`, "
            f"then open a pull/merge request into {base}"
        )
    parsed = parse_remote(remote_url(repo, remote) or "")
    if parsed and parsed[0] == "github.com":
        lines.append(f"  https://github.com/{parsed[1]}/compare/{base}...{res.branch}?expand=1")
    lines.append(f"  see its eval table with: ptrain review --base {base} --head {res.branch}")
    if token_from_env(env) is None:
        lines.append("  (set GITHUB_TOKEN to have ptrain open the pull request itself)")
    return "\n".join(lines)
