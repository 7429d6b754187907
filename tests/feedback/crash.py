"""Run ptrain as a real process, stop it at a named step (ptrain.faults) and kill -9 it there."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import PTRAIN_BIN

LIMIT_S = 10
LIMIT_AS = 1 << 30  # 1 GiB of address space


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_AS, LIMIT_AS))


def run_limited(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``ptrain ARGS`` under 1 GiB of address space and a 10 s timeout (the test fails past it)."""
    return subprocess.run(
        [PTRAIN_BIN, *args], cwd=cwd, capture_output=True, text=True, timeout=LIMIT_S,
        preexec_fn=_limits, env={**os.environ, **env},
    )  # fmt: skip


def kill_at(step: str, args: list[str], cwd: Path, pause_dir: Path, timeout: float = 60) -> None:
    """Start ``ptrain ARGS``, wait until it reaches ``step``, then SIGKILL it there."""
    pause_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PTRAIN_PAUSE_AT": step, "PTRAIN_PAUSE_DIR": str(pause_dir)}
    proc = subprocess.Popen(
        [PTRAIN_BIN, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + timeout
    marker = pause_dir / f"{step}.{proc.pid}"
    while not marker.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"ptrain ended before {step}: {proc.returncode} {err.decode()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"ptrain never reached {step}")
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    marker.unlink()
    assert proc.returncode == -signal.SIGKILL


def python() -> str:
    return sys.executable
