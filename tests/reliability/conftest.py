"""Helpers for crash, race and malformed-input tests: real ptrain processes, paused at named
steps (``ptrain.faults``) and killed with SIGKILL, resource-limited runs, consistency checks."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PTRAIN_BIN, build_template_repo, copy_repo, git
from tests.repo.conftest import triage

MEM_LIMIT = 1 << 30  # 1 GiB of address space per malformed-input run
TIME_LIMIT = 10.0


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float


def _limit_memory() -> None:  # runs in the child between fork and exec
    resource.setrlimit(resource.RLIMIT_AS, (MEM_LIMIT, MEM_LIMIT))


def run_limited(cwd: Path, *args: str, env: dict | None = None, stdin: str | None = None) -> Run:
    """The real console script under RLIMIT_AS = 1 GiB and a 10 s timeout."""
    t0 = time.monotonic()
    p = subprocess.run(
        [PTRAIN_BIN, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT,
        preexec_fn=_limit_memory,
        env={**os.environ, **(env or {})},
        input=stdin,
    )
    return Run(p.returncode, p.stdout, p.stderr, time.monotonic() - t0)


def ptrain(cwd: Path, *args: str) -> Run:
    t0 = time.monotonic()
    p = subprocess.run([PTRAIN_BIN, *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    return Run(p.returncode, p.stdout, p.stderr, time.monotonic() - t0)


class Paused:
    """A ptrain process stopped at ``step`` (``PTRAIN_PAUSE_AT``), to be killed or resumed."""

    def __init__(self, cwd: Path, pause_dir: Path, step: str, *args: str):
        pause_dir.mkdir(exist_ok=True)
        env = {**os.environ, "PTRAIN_PAUSE_AT": step, "PTRAIN_PAUSE_DIR": str(pause_dir)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ptrain", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.marker = pause_dir / f"{step}.{self.proc.pid}"
        deadline = time.monotonic() + 30
        while not self.marker.exists():
            if self.proc.poll() is not None:
                raise AssertionError(f"never reached {step}: {self.proc.communicate()}")
            if time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError(f"timed out waiting for {step}")
            time.sleep(0.01)

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.marker.unlink(missing_ok=True)

    def resume(self) -> tuple[int, str, str]:
        self.marker.unlink()
        out, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, out, err


def wait_for_git_children(root: Path, timeout: float = 10.0) -> None:
    """After a kill, git children (an aborting `update-ref --stdin`) finish on their own."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        locks = [p for p in (root / ".git").rglob("*.lock") if p.name != "ptrain.lock"]
        if not locks:
            return
        time.sleep(0.05)


def assert_consistent(root: Path, prompt: str = "support/triage") -> None:
    """git fsck, ptrain doctor and the deploy history all agree the repo is fine."""
    fsck = subprocess.run(
        ["git", "fsck", "--no-dangling"], cwd=root, capture_output=True, text=True
    )
    assert fsck.returncode == 0, fsck.stderr
    doc = ptrain(root, "doctor")
    assert doc.code == 0, doc.out + doc.err
    hist = ptrain(root, "prompt", "history", prompt, "--json")
    assert hist.code == 0, hist.err
    from ptrain import PromptRepo

    repo = PromptRepo(root)
    for env in repo.envs:
        recs = repo.history(prompt, env)
        moving = git(
            root, "for-each-ref", "--format=%(objectname)", f"refs/tags/ptrain/{prompt}@{env}"
        ).strip()
        if not recs:
            assert not moving, f"{env}: a moving tag without records"
            continue
        seqs = [r.seq for r in recs]
        assert seqs == sorted(set(seqs)), seqs
        assert moving == git(root, "rev-parse", f"refs/tags/{recs[-1].tag}").strip(), env
        for prev, rec in zip(recs, recs[1:], strict=False):
            assert rec.from_commit == prev.to_commit, (prev, rec)
        assert repo.get(prompt, env).commit == recs[-1].to_commit
    assert not list((root / ".git" / "ptrain-tmp").glob("index.*")), "leaked temp index"


@pytest.fixture(scope="session")
def _reliability_template(tmp_path_factory):
    return build_template_repo(
        tmp_path_factory.mktemp("rel") / "repo", triage, versions=3, deploy=1
    )


@pytest.fixture
def rel_repo(_reliability_template, tmp_path):
    """support/triage v1..v3, v1 deployed to production (fresh copy per test)."""
    return copy_repo(_reliability_template, tmp_path)
