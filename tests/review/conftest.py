"""A local bare remote and a local HTTP stand-in for the GitHub REST endpoints ptrain uses.

The stand-in keeps pull requests, labels and comments in memory, records every request (method,
path, headers, JSON body), answers 401 to a wrong token, and reads branch tips from the bare
remote, as GitHub does from its repository.
"""

from __future__ import annotations

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import git
from tests.training.conftest import scripted, train_repo  # noqa: F401  (fixtures)

TOKEN = "ghs_S3cretT0kenForTestsOnly0123456789"
SLUG = "acme/prompts"


class FakeGitHub:
    def __init__(self, bare: Path, page_size: int = 100):
        self.bare = bare
        self.page_size = page_size
        self.requests: list[dict] = []
        self.pulls: dict[int, dict] = {}
        self.comments: dict[int, dict] = {}
        self.labels: dict[int, list[str]] = {}
        self.fail: dict[tuple[str, str], tuple[int, dict]] = {}
        self._next = 1
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def tip(self, ref: str) -> str | None:
        p = subprocess.run(
            ["git", f"--git-dir={self.bare}", "rev-parse", "--verify", "-q", f"refs/heads/{ref}"],
            capture_output=True,
            text=True,
        )
        return p.stdout.strip() or None

    def calls(self, method: str, suffix: str = "") -> list[dict]:
        return [r for r in self.requests if r["method"] == method and r["path"].endswith(suffix)]

    def _pull_view(self, pr: dict) -> dict:
        return {**pr, "head": {**pr["head"], "sha": self.tip(pr["head"]["ref"])}}

    def route(self, method: str, path: str, query: dict, body):  # noqa: C901
        base = f"/repos/{SLUG}"
        for (m, suffix), answer in self.fail.items():
            if m == method and path.endswith(suffix):
                return answer
        if method == "GET" and path == base:
            return 200, {"full_name": SLUG, "default_branch": "main"}
        if path == f"{base}/pulls" and method == "GET":
            items = [self._pull_view(p) for p in self.pulls.values() if p["state"] == "open"]
            return 200, items
        if path == f"{base}/pulls" and method == "POST":
            if not self.tip(body["head"]):
                return 422, {"message": "Validation Failed", "errors": [{"message": "no head"}]}
            if any(
                p["head"]["ref"] == body["head"] and p["state"] == "open"
                for p in self.pulls.values()
            ):
                return 422, {"message": "A pull request already exists"}
            n = self._next
            self._next += 1
            self.pulls[n] = {
                "number": n,
                "state": "open",
                "title": body["title"],
                "body": body["body"],
                "html_url": f"https://github.example/{SLUG}/pull/{n}",
                "head": {"ref": body["head"], "repo": {"full_name": SLUG}},
                "base": {"ref": body["base"]},
            }
            return 201, self._pull_view(self.pulls[n])
        parts = path.removeprefix(base + "/").split("/")
        if parts[0] == "pulls" and method == "PATCH":
            pr = self.pulls[int(parts[1])]
            pr.update({k: v for k, v in body.items() if k in ("title", "body")})
            return 200, self._pull_view(pr)
        if parts[0] == "issues" and parts[-1] == "labels" and method == "POST":
            have = self.labels.setdefault(int(parts[1]), [])
            have += [lab for lab in body["labels"] if lab not in have]
            return 200, [{"name": lab} for lab in have]
        if parts[0] == "issues" and parts[1] == "comments" and method == "PATCH":
            c = self.comments[int(parts[2])]
            c["body"] = body["body"]
            return 200, c
        if parts[0] == "issues" and parts[-1] == "comments":
            number = int(parts[1])
            if method == "GET":
                return 200, [c for c in self.comments.values() if c["issue"] == number]
            cid = 1000 + len(self.comments)
            self.comments[cid] = {
                "id": cid,
                "issue": number,
                "body": body["body"],
                "html_url": f"https://github.example/{SLUG}/pull/{number}#issuecomment-{cid}",
            }
            return 201, self.comments[cid]
        return 404, {"message": "Not Found"}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _do(self):
                url = urlsplit(self.path)
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                body = json.loads(raw) if raw else None
                with fake._lock:
                    fake.requests.append(
                        {
                            "method": self.command,
                            "path": url.path,
                            "query": url.query,
                            "headers": dict(self.headers),
                            "body": body,
                        }
                    )
                    if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                        status, data = 401, {"message": "Bad credentials"}
                    else:
                        status, data = fake.route(self.command, url.path, parse_qs(url.query), body)
                headers = {}
                if isinstance(data, list) and self.command == "GET":
                    page = int(parse_qs(url.query).get("page", ["1"])[0])
                    size = fake.page_size
                    if len(data) > page * size:
                        q = f"per_page={size}&page={page + 1}"
                        headers["Link"] = f'<{fake.url}{url.path}?{q}>; rel="next"'
                    data = data[(page - 1) * size : page * size]
                out = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PATCH = _do

        return Handler


@pytest.fixture
def bare_remote(tmp_path, train_repo):  # noqa: F811
    """``origin`` of the train repo: a local bare repository with main and the deploy tags."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    root = train_repo.root
    git(root, "remote", "add", "origin", str(bare))
    git(root, "push", "-q", "origin", "main", "--tags")
    return bare


@pytest.fixture
def github(bare_remote, monkeypatch):
    """The GitHub stand-in, and the environment a workflow gives ptrain to reach it."""
    fake = FakeGitHub(bare_remote)
    fake.thread.start()
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.delenv("GH_TOKEN", raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_REPOSITORY", SLUG)
    monkeypatch.setenv("GITHUB_API_URL", fake.url)
    for k in ("GITHUB_EVENT_PATH", "GITHUB_REF", "GITHUB_BASE_REF", "GITHUB_EVENT_NAME"):
        monkeypatch.delenv(k, raising=False)
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def no_github(monkeypatch):
    for k in (
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "GITHUB_REPOSITORY",
        "GITHUB_API_URL",
        "GITHUB_EVENT_PATH",
    ):
        monkeypatch.delenv(k, raising=False)
    for k in ("GITHUB_REF", "GITHUB_BASE_REF", "GITHUB_EVENT_NAME"):
        monkeypatch.delenv(k, raising=False)


def everything_written(*repos: Path) -> str:
    """Every file under ``repos`` plus the decompressed content of every commit, diff and tag in
    them (git objects are compressed on disk), for leak checks."""
    chunks = []
    for root in repos:
        for p in root.rglob("*"):
            if p.is_file():
                chunks.append(p.read_bytes().decode("latin-1"))
        gd = ["--git-dir", str(root)] if root.name.endswith(".git") else ["-C", str(root)]
        for args in (
            ["log", "--all", "-p", "--format=%H%n%B"],
            ["for-each-ref", "--format=%(refname)%n%(contents)"],
        ):
            p = subprocess.run(["git", *gd, *args], capture_output=True, text=True)
            chunks.append(p.stdout)
    return "\n".join(chunks)
