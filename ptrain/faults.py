"""Named steps where a test can stop ptrain, to make crash and race tests deterministic.

A mutation calls ``step("deploy.record-written")`` between its phases. In production this is one
dictionary lookup. When the environment names that step in ``PTRAIN_PAUSE_AT`` (a
comma-separated list), the process announces it reached the step by creating the file
``$PTRAIN_PAUSE_DIR/<step>.<pid>`` and then waits until that file is removed (the test resumes it)
or is killed there (the test sends SIGKILL to simulate a crash at exactly that point).

Nothing heavy is imported here: it sits on every fast path.
"""

from __future__ import annotations

import os
import time

PAUSE_ENV = "PTRAIN_PAUSE_AT"
PAUSE_DIR_ENV = "PTRAIN_PAUSE_DIR"
_MAX_WAIT_S = 120.0  # a test that forgot to resume never hangs CI for long


def step(name: str) -> None:
    """Pause here if a test asked to (see the module docstring); otherwise do nothing."""
    wanted = os.environ.get(PAUSE_ENV)
    if not wanted or name not in wanted.split(","):
        return
    folder = os.environ.get(PAUSE_DIR_ENV) or "."
    marker = os.path.join(folder, f"{name}.{os.getpid()}")
    with open(marker, "w") as fh:
        fh.write(str(os.getpid()))
    deadline = time.monotonic() + _MAX_WAIT_S
    while os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.01)
