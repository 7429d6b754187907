"""``ptrain mcp serve`` and the MCP middleware: startup, request latency, poll cost, change delay.

    python benchmarks/mcp_bench.py            # --calls 200 --deploys 5 --poll 1.0

Builds a prompt repo in a temp dir (3 prompts deployed), starts the real server over stdio with
the mcp SDK's client and measures, as medians: time from spawning the server to an initialized
session; prompts/list, prompts/get and tools/call get_prompt round trips; the cost of one poll
of the deploy tags (``Catalog.fingerprint``, in process); the delay from a deploy by another
process (after its command returned) to the list_changed notification; and the middleware's
cost per wrapped call (``PromptRepo.get`` + one spool append) against the bare function.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

PROMPT = """\
schema_version: 1
description: Classify a support message.
input_variables: [message]
messages:
  - role: system
    content: "You are a support triage assistant ({tag}). Answer with one word."
  - role: human
    content: "{{message}}"
"""
ARGS = {"message": "my card was charged twice"}


def build(root: Path) -> None:
    from ptrain import PromptRepo
    from ptrain.initialize import init

    init(root)
    repo = PromptRepo(root)
    for name in ("support/triage", "billing/refund", "greet"):
        repo.create(name, PROMPT.format(tag="v1"))
        repo.update(name, PROMPT.format(tag="v2"))
        repo.deploy(name, 1)


def ms(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1000:.2f} ms (n={len(xs)})"


async def timed(n: int, fn) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - t)
    return out


async def server_figures(root: Path, calls: int, deploys: int, poll: float) -> None:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    ptrain = str(Path(sys.executable).parent / "ptrain")
    params = StdioServerParameters(
        command=ptrain,
        args=["-C", str(root), "mcp", "serve", "--poll", str(poll)],
        env=dict(os.environ),
    )
    changed = anyio.Event()
    box = {"event": changed}

    async def on_message(msg) -> None:
        if (
            getattr(getattr(msg, "root", None), "method", "")
            == "notifications/prompts/list_changed"
        ):
            box["event"].set()

    starts = []
    for i in range(3):
        t = time.perf_counter()
        async with (
            stdio_client(params) as (r, w),
            ClientSession(r, w, message_handler=on_message) as s,
        ):
            await s.initialize()
            starts.append(time.perf_counter() - t)
            if i < 2:
                continue
            lst = await timed(calls, lambda: s.list_prompts())
            get = await timed(calls, lambda: s.get_prompt("support/triage", ARGS))
            tool = await timed(
                calls,
                lambda: s.call_tool("get_prompt", {"name": "support/triage", "arguments": ARGS}),
            )
            delays = []
            for k in range(deploys):
                box["event"] = anyio.Event()
                version = "2" if k % 2 == 0 else "1"
                subprocess.run(
                    [ptrain, "-C", str(root), "prompt", "deploy", "support/triage", version],
                    check=True,
                    capture_output=True,
                )
                t = time.perf_counter()
                with anyio.fail_after(30):
                    await box["event"].wait()
                delays.append(time.perf_counter() - t)
            await anyio.sleep(poll + 0.5)  # tools/list_changed too, before the client closes
    print(f"server start -> initialized session (stdio): {ms(starts)}")
    print(f"prompts/list (3 prompts):                    {ms(lst)}")
    print(f"prompts/get:                                 {ms(get)}")
    print(f"tools/call get_prompt:                       {ms(tool)}")
    print(
        f"deploy -> list_changed notification (poll {poll}s): {ms(delays)}, "
        f"max {max(delays) * 1000:.0f} ms"
    )


def in_process_figures(root: Path, calls: int) -> None:
    from ptrain import PromptRepo
    from ptrain.mcp import PromptTrainingMiddleware
    from ptrain.mcp.catalog import Catalog

    cat = Catalog(PromptRepo(root))
    polls = []
    for _ in range(calls):
        t = time.perf_counter()
        cat.fingerprint()
        polls.append(time.perf_counter() - t)
    print(f"one poll of the deploy/A-B tags:             {ms(polls)}")

    def bare(message: str) -> str:
        return message.upper()

    with tempfile.TemporaryDirectory() as spool:
        ptm = PromptTrainingMiddleware(root, spool=spool)
        wrapped = ptm.track("support/triage")(bare)
        for fn, label in ((bare, "bare function"), (wrapped, "wrapped (get + spool append)")):
            xs = []
            for _ in range(calls):
                t = time.perf_counter()
                fn(message="hi")
                xs.append(time.perf_counter() - t)
            print(f"middleware, {label + ':':<33}{ms(xs)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--deploys", type=int, default=5)
    ap.add_argument("--poll", type=float, default=1.0)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        build(root)
        anyio.run(server_figures, root, a.calls, a.deploys, a.poll)
        in_process_figures(root, a.calls)


if __name__ == "__main__":
    main()
