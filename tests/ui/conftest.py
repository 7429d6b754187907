"""Fixtures for the web page: the example repository with a story (see builder.py), copied per
test, and a real ``ptrain ui`` server on a free 127.0.0.1 port in a thread of the test."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ui import builder


@pytest.fixture(scope="session")
def _ui_template(tmp_path_factory):
    root = tmp_path_factory.mktemp("ui-template") / "repo"
    with pytest.MonkeyPatch.context() as mp:
        for key in ("AUTHOR", "COMMITTER"):
            mp.setenv(f"GIT_{key}_NAME", "Ann Operator")
            mp.setenv(f"GIT_{key}_EMAIL", "ann@acme.example")
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        mp.setenv("HOME", str(root.parent))
        (root.parent / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
        builder.build(root)
    return root


def _copy(template: Path, dest: Path):
    from ptrain import PromptRepo

    shutil.copytree(template, dest, symlinks=True)
    return PromptRepo(dest)


@pytest.fixture
def ui_repo(_ui_template, tmp_path):
    """A fresh copy per test (for tests that write)."""
    return _copy(_ui_template, tmp_path / "repo")


@pytest.fixture(scope="module")
def shared_repo(_ui_template, tmp_path_factory):
    """One copy per module, for reads and refused writes (each checks nothing changed)."""
    return _copy(_ui_template, tmp_path_factory.mktemp("ui-shared") / "repo")


@dataclass
class Reply:
    status: int
    data: dict


class Client:
    def __init__(self, server):
        self.server = server
        self.base = server.url.rstrip("/")

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None) -> Reply:  # fmt: skip
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers=headers or {})  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return Reply(r.status, json.loads(r.read()))
        except urllib.error.HTTPError as e:
            return Reply(e.code, json.loads(e.read()))

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, doc, token: str | None = "") -> Reply:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["X-Ptrain-Token"] = token or self.server.token
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        return self.request("POST", path, body, headers)


def _serve(root: Path):
    from ptrain.ui.server import make_server

    server = make_server(root, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def ui_server(ui_repo):
    server = _serve(ui_repo.root)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def client(ui_server):
    return Client(ui_server)


@pytest.fixture(scope="module")
def shared_client(shared_repo):
    server = _serve(shared_repo.root)
    yield Client(server)
    server.shutdown()
    server.server_close()


def snapshot(root: Path) -> dict[str, str]:
    """Digest of every file a write could touch: feedback shards and eval suites."""
    out = {}
    for sub in ("feedback", "evals", "prompts"):
        for p in sorted((root / sub).rglob("*")):
            if p.is_file():
                out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def stored_records(root: Path, name: str = builder.NAME) -> list[dict]:
    """Every record in the shard files, read directly (not through the code under test)."""
    recs = []
    for p in sorted((root / "feedback" / name).rglob("*.jsonl")):
        recs += [json.loads(ln) for ln in p.read_text().splitlines() if ln.strip()]
    return recs
