"""The GitHub REST API, for the few calls ptrain makes: the only module that talks to GitHub.

Configuration comes from the environment, as GitHub Actions sets it:

* the token from ``GITHUB_TOKEN`` (or ``GH_TOKEN``). It is sent only in the ``Authorization``
  header to the API base, never logged, never written to a file, a pull-request body or a
  comment, and redacted from every error message. Redirects are not followed, so it cannot leak
  to another host;
* the repository from ``GITHUB_REPOSITORY`` (``owner/name``), else parsed from the remote's URL;
* the API base from ``GITHUB_API_URL`` (default ``https://api.github.com``; a GitHub Enterprise
  remote ``host`` defaults to ``https://host/api/v3``).

Pull requests of trained prompts: one per prompt. An open pull request for a prompt is found by
the hidden marker ``<!-- ptrain:prompt=NAME -->`` in its body (or its head branch
``ptrain/train/NAME/<timestamp>``). A later run force-pushes its result onto that pull request's
branch (``--force-with-lease`` against the sha GitHub reports, and only when the branch's tip is a
ptrain commit, so hand edits are never overwritten) and updates its title and body, instead of
opening a duplicate.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ptrain.errors import GitError, PtrainError

DEFAULT_API = "https://api.github.com"
LABELS = ["ptrain", "prompt-training"]
BRANCH_PREFIX = "ptrain/train/"
MAX_BODY = 65_000  # GitHub rejects bodies and comments over 65,536 characters
MAX_PAGES = 20
TRAILER = "Ptrain-Trained"
# token shapes GitHub issues; redacted from messages even when they are not *our* token
_TOKEN_SHAPES = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{20,})\b")


class GitHubError(PtrainError):
    """A GitHub API call failed; the message names the status, the hint the fix."""


def prompt_marker(name: str) -> str:
    return f"<!-- ptrain:prompt={name} -->"


def token_from_env(env: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if env is None else env
    return (env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or "").strip() or None


def redact(text: str, token: str | None = None) -> str:
    if token:
        text = text.replace(token, "***")
    text = _TOKEN_SHAPES.sub("***", text)
    # credentials in URLs (https://user:secret@host/...)
    return re.sub(r"(https?://)[^/@\s]+@", r"\1***@", text)


_REMOTE_RE = re.compile(
    r"^(?:(?P<scheme>[a-z][a-z0-9+.-]*)://)?(?:[^@/\s]+@)?(?P<host>[^/:\s]+)(?::\d+)?[:/]"
    r"(?P<path>[^\s]+?)(?:\.git)?/?$",
    re.IGNORECASE,
)


def parse_remote(url: str) -> tuple[str, str] | None:
    """``(host, "owner/name")`` of a GitHub-style remote URL; None for local paths and file://."""
    url = (url or "").strip()
    if not url or url.startswith(("/", ".", "file:")) or re.match(r"^[A-Za-z]:[\\/]", url):
        return None
    m = _REMOTE_RE.match(url)
    if not m or (m.group("scheme") or "ssh").lower() not in ("ssh", "git", "http", "https"):
        return None
    parts = [p for p in m.group("path").split("/") if p]
    if len(parts) < 2:
        return None
    return m.group("host").lower(), "/".join(parts[-2:])


def remote_url(repo, remote: str) -> str | None:
    return repo.git.remote_url(remote)


@dataclass(frozen=True)
class Target:
    api: str
    repository: str  # owner/name
    web: str  # https://github.com or the Enterprise host


def target(repo, remote: str = "origin", env: Mapping[str, str] | None = None) -> Target | None:
    """Which GitHub repository and API this clone belongs to, or None when it is not on GitHub."""
    env = os.environ if env is None else env
    parsed = parse_remote(remote_url(repo, remote) or "")
    slug = (env.get("GITHUB_REPOSITORY") or "").strip() or (parsed[1] if parsed else None)
    if not slug:
        return None
    if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", slug):
        raise GitHubError(
            f"GITHUB_REPOSITORY={slug!r} is not owner/name", "set GITHUB_REPOSITORY=owner/name"
        )
    host = parsed[0] if parsed else "github.com"
    api = (env.get("GITHUB_API_URL") or "").strip().rstrip("/")
    if not api:
        api = DEFAULT_API if host == "github.com" else f"https://{host}/api/v3"
    web = (env.get("GITHUB_SERVER_URL") or "").strip().rstrip("/") or f"https://{host}"
    return Target(api, slug, web)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would re-send the Authorization header to wherever a redirect points
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class GitHub:
    """A small client for the GitHub REST API (v3, ``X-GitHub-Api-Version: 2022-11-28``)."""

    def __init__(self, api: str, repository: str, token: str, *, timeout: float = 30.0):
        self.api = api.rstrip("/")
        self.repository = repository
        self._token = token
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirect())

    def __repr__(self) -> str:  # never show the token
        return f"GitHub({self.api!r}, {self.repository!r})"

    @classmethod
    def from_env(
        cls, repo, remote: str = "origin", env: Mapping[str, str] | None = None
    ) -> GitHub | None:
        """A client when a token is set and the repository is known, else None."""
        token = token_from_env(env)
        if token is None:
            return None
        t = target(repo, remote, env)
        return cls(t.api, t.repository, token) if t else None

    # -- transport -----------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return path if path.startswith(self.api + "/") else f"{self.api}{path}"

    def request(self, method: str, path: str, body: Any = None, *, what: str = "") -> Any:
        data, _ = self._send(method, path, body, what or f"{method} {path}")
        return data

    def _send(self, method: str, path: str, body: Any, what: str) -> tuple[Any, str | None]:
        req = urllib.request.Request(
            self._url(path),
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self._token}",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "ptrain",
                **({"Content-Type": "application/json"} if body is not None else {}),
            },
        )
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                raw, link = resp.read(), resp.headers.get("Link")
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc, what) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise GitHubError(
                redact(f"cannot reach the GitHub API at {self.api}: {reason}", self._token),
                "check the network and GITHUB_API_URL (GitHub Enterprise: https://HOST/api/v3)",
            ) from None
        try:
            return (json.loads(raw) if raw.strip() else None), link
        except ValueError:
            raise GitHubError(
                f"{self.api} did not answer with JSON while {what}",
                "check GITHUB_API_URL: it must be the REST API base, not the web address",
            ) from None

    def _http_error(self, exc: urllib.error.HTTPError, what: str) -> GitHubError:
        try:
            payload = json.loads(exc.read() or b"{}")
        except ValueError:
            payload = {}
        msg = str(payload.get("message") or exc.reason or "").strip()
        details = [
            str(e.get("message") or e.get("code") or "") if isinstance(e, dict) else str(e)
            for e in payload.get("errors") or []
        ]
        full = "; ".join(x for x in [msg, *details] if x)
        code = exc.code
        text = f"GitHub refused {what} ({code}{': ' + full if full else ''})"
        if code == 401:
            hint = (
                "set GITHUB_TOKEN (or GH_TOKEN) to a valid token; in a workflow pass "
                "`env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}`"
            )
        elif code == 403 and "rate limit" in full.lower():
            hint = "wait for the rate limit to reset, then re-run"
        elif code == 403 and "create or approve pull requests" in full:
            hint = (
                "allow it in Settings → Actions → General → Workflow permissions, or use a PAT / "
                "GitHub App token"
            )
        elif code == 403:
            hint = (
                "give the workflow `permissions: contents: write, pull-requests: write` "
                "(pull requests from forks get a read-only token)"
            )
        elif code == 404:
            hint = (
                f"check GITHUB_REPOSITORY ({self.repository}) and GITHUB_API_URL, and that the "
                "token can see that repository"
            )
        elif code == 422:
            hint = "push the branch first and check it has commits over the base branch"
        elif 300 <= code < 400:
            hint = "the repository moved or was renamed: update GITHUB_REPOSITORY"
        else:
            hint = "retry later (GitHub may be unavailable)"
        return GitHubError(redact(text, self._token), hint)

    def _list(self, path: str, what: str) -> list[dict]:
        url = path + ("&" if "?" in path else "?") + "per_page=100"
        out: list[dict] = []
        for _ in range(MAX_PAGES):
            data, link = self._send("GET", url, None, what)
            out.extend(data or [])
            nxt = _next_link(link)
            # follow pagination only on the API host: the token must not go anywhere else
            if not nxt or not nxt.startswith(self.api + "/"):
                break
            url = nxt
        return out

    def _repo_path(self) -> str:
        owner, name = self.repository.split("/", 1)
        return f"/repos/{urllib.parse.quote(owner)}/{urllib.parse.quote(name)}"

    # -- endpoints -----------------------------------------------------------------------------
    def default_branch(self) -> str:
        return self.request("GET", self._repo_path(), what="reading the repository")[
            "default_branch"
        ]

    def open_pulls(self) -> list[dict]:
        return self._list(f"{self._repo_path()}/pulls?state=open", "listing open pull requests")

    def create_pull(self, *, title: str, head: str, base: str, body: str) -> dict:
        return self.request(
            "POST",
            f"{self._repo_path()}/pulls",
            {"title": title, "head": head, "base": base, "body": self._safe(body)},
            what="creating a pull request",
        )

    def update_pull(self, number: int, *, title: str | None = None, body: str | None = None):
        fields: dict[str, str] = {}
        if title is not None:
            fields["title"] = title
        if body is not None:
            fields["body"] = self._safe(body)
        return self.request(
            "PATCH", f"{self._repo_path()}/pulls/{int(number)}", fields, what="updating a PR"
        )

    def add_labels(self, number: int, labels: list[str]) -> list[dict]:
        return self.request(
            "POST",
            f"{self._repo_path()}/issues/{int(number)}/labels",
            {"labels": labels},
            what="labelling a pull request",
        )

    def comments(self, number: int) -> list[dict]:
        return self._list(f"{self._repo_path()}/issues/{int(number)}/comments", "listing comments")

    def create_comment(self, number: int, body: str) -> dict:
        return self.request(
            "POST",
            f"{self._repo_path()}/issues/{int(number)}/comments",
            {"body": self._safe(body)},
            what="commenting on a pull request",
        )

    def update_comment(self, comment_id: int, body: str) -> dict:
        return self.request(
            "PATCH",
            f"{self._repo_path()}/issues/comments/{int(comment_id)}",
            {"body": self._safe(body)},
            what="updating a comment",
        )

    def upsert_comment(self, number: int, marker: str, body: str) -> tuple[dict, bool]:
        """The one comment on ``number`` that carries ``marker``: updated if it exists, else
        created. Returns (comment, created)."""
        for c in self.comments(number):
            if marker in (c.get("body") or ""):
                return self.update_comment(c["id"], body), False
        return self.create_comment(number, body), True

    def _safe(self, text: str) -> str:
        text = redact(text, self._token)
        if len(text) > MAX_BODY:
            text = text[: MAX_BODY - 200] + "\n\n…(cut: GitHub allows 65,536 characters)\n"
        return text


def _next_link(link: str | None) -> str | None:
    for part in (link or "").split(","):
        m = re.match(r'\s*<([^>]+)>\s*;\s*rel="next"', part)
        if m:
            return m.group(1)
    return None


# -- pull requests for training results ----------------------------------------------------------


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
