"""A prompt repo to serve, and the SDK's own client talking to a real ``ptrain mcp serve``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import PTRAIN_BIN, build_template_repo, copy_repo
from tests.repo.conftest import triage

GREET = """\
schema_version: 1
description: Greet someone and open a topic.
type: user
input_variables: [name, topic]
template: "Hello {name}, tell me about {topic}."
"""

DRAFT = """\
schema_version: 1
description: Not deployed yet.
input_variables: [text]
template: "Summarise: {text}"
"""


@pytest.fixture(scope="session")
def _served_template(tmp_path_factory):
    """support/triage v1..v3 with v2 in production, greet v1 in production, draft undeployed."""
    from ptrain import PromptRepo

    root = build_template_repo(tmp_path_factory.mktemp("mcp") / "repo", triage, deploy=2)
    with pytest.MonkeyPatch.context() as mp:
        for key in ("AUTHOR", "COMMITTER"):
            mp.setenv(f"GIT_{key}_NAME", "Test User")
            mp.setenv(f"GIT_{key}_EMAIL", "test@example.com")
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        mp.setenv("HOME", str(root.parent))
        repo = PromptRepo(root)
        repo.create("greet", GREET)
        repo.create("draft", DRAFT)
        repo.deploy("greet", 1)
    return root


@pytest.fixture
def served_repo(_served_template, tmp_path):
    return copy_repo(_served_template, tmp_path)


BOTH = ("notifications/prompts/list_changed", "notifications/tools/list_changed")


class Notes:
    """Notifications the client received, by method, with a way to wait for one."""

    def __init__(self) -> None:
        import anyio

        self.methods: list[str] = []
        self._event = anyio.Event()

    async def __call__(self, message) -> None:
        import anyio
        import mcp.types as types

        if isinstance(message, types.ServerNotification):
            self.methods.append(message.root.method)
            self._event.set()
            self._event = anyio.Event()

    async def wait_for(self, *methods: str, count: int = 1, timeout: float = 15) -> None:
        """Until each method arrived ``count`` times. Tests wait for the notifications a
        deploy causes before closing: one arriving while the SDK's stdio client shuts down
        raises BrokenResourceError in its reader task."""
        import anyio

        with anyio.fail_after(timeout):
            while not all(self.methods.count(m) >= count for m in methods):
                await self._event.wait()


def serve_params(root: Path, *args: str):
    from mcp import StdioServerParameters

    return StdioServerParameters(
        command=PTRAIN_BIN,
        args=["-C", str(root), "mcp", "serve", "--poll", "0.2", *args],
        env=dict(os.environ),  # the test's git identity, HOME and PYTHONPATH
        cwd=str(root),
    )


@contextlib.asynccontextmanager
async def mcp_session(root: Path, *args: str) -> AsyncIterator[tuple[object, Notes]]:
    """An initialized ``ClientSession`` over stdio to ``ptrain mcp serve`` on ``root``."""
    from mcp import ClientSession
    from mcp.client.stdio import stdio_client

    notes = Notes()
    async with (
        stdio_client(serve_params(root, *args)) as (read, write),
        ClientSession(read, write, message_handler=notes) as session,
    ):
        await session.initialize()
        yield session, notes
