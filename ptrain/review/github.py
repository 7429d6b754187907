"""The GitHub REST API, for the few calls ptrain makes: the only module that talks to GitHub.

Configuration comes from the environment, as GitHub Actions sets it:

* the token from ``GITHUB_TOKEN`` (or ``GH_TOKEN``). It is sent only in the ``Authorization``
  header to the API base, never logged, never written to a file, a pull-request body or a
  comment, and redacted from every error message. Redirects are not followed, so it cannot leak
  to another host;
* the repository from ``GITHUB_REPOSITORY`` (``owner/name``), else parsed from the remote's URL;
* the API base from ``GITHUB_API_URL`` (default ``https://api.github.com``; a GitHub Enterprise
  remote ``host`` defaults to ``https://host/api/v3``).

:mod:`ptrain.review.publish` uses it to open or update the pull request of a training run.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ptrain.errors import PtrainError

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
