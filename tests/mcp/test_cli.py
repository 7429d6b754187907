"""``ptrain mcp serve``: bad input fails with one line before serving; HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import anyio
import pytest

from tests.conftest import PTRAIN_BIN, git
from tests.mcp.conftest import BOTH, Notes

pytest.importorskip("mcp")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--env", "nowhere"], "unknown env 'nowhere'"),
        (["--transport", "carrier-pigeon"], "unknown transport"),
    ],
)
def test_bad_options_fail_with_one_line(served_repo, cli, args, words):
    r = cli.run("mcp", "serve", *args, cwd=served_repo.root, timeout=60)
    assert r.exit_code == 1 and words in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_not_a_repo_and_bare_without_spool(tmp_path, served_repo, cli):
    r = cli.run("mcp", "serve", cwd=tmp_path, timeout=60)
    assert r.exit_code == 1 and "run `ptrain init`" in r.stderr and "Traceback" not in r.stderr
    bare = tmp_path / "mirror.git"
    git(tmp_path, "clone", "-q", "--mirror", str(served_repo.root), str(bare))
    r = cli.run("mcp", "serve", cwd=bare, timeout=60)
    assert r.exit_code == 1 and "--spool DIR" in r.stderr, r.stderr


def test_http_port_in_use_fails_with_one_line(served_repo, cli):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = cli.run("mcp", "serve", "--transport", "http", "--port", str(port), timeout=60)
    assert r.exit_code == 1 and f"cannot listen on 127.0.0.1:{port}" in r.stderr, r.stderr
    assert "--port" in r.stderr and "Traceback" not in r.stderr and r.stdout == ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_http_transport_serves_on_loopback(served_repo):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    port = _free_port()
    proc = subprocess.Popen(
        [PTRAIN_BIN, "mcp", "serve", "--transport", "http", "--port", str(port), "--poll", "0.2"],
        cwd=served_repo.root,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "server did not listen"
            time.sleep(0.1)

        async def body():
            notes = Notes()
            url = f"http://127.0.0.1:{port}/mcp"
            with anyio.fail_after(60):
                async with (
                    streamable_http_client(url) as (read, write, _),
                    ClientSession(read, write, message_handler=notes) as s,
                ):
                    await s.initialize()
                    names = [p.name for p in (await s.list_prompts()).prompts]
                    assert names == ["greet", "support/triage"]
                    got = await s.get_prompt("greet", {"name": "Ann", "topic": "tea"})
                    assert got.messages[0].content.text == "Hello Ann, tell me about tea."
                    # change notifications reach HTTP sessions too (on the GET event stream)
                    await anyio.to_thread.run_sync(lambda: served_repo.deploy("support/triage", 3))
                    await notes.wait_for(*BOTH)
                    assert (await s.get_prompt("support/triage", {"message": "x"})).meta[
                        "version"
                    ] == 3

        anyio.run(body)
        # bound to loopback only, not to every address (Linux: the kernel's listening table)
        bound = _listening_addresses(port)
        if bound is not None:
            assert bound == {"127.0.0.1"}, bound
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/mcp" in out


def _listening_addresses(port: int) -> set[str] | None:
    """IPv4 addresses listening on ``port``, from /proc/net/tcp (None off Linux)."""
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    out = set()
    for line in lines:
        local, state = line.split()[1], line.split()[3]
        addr, _, hexport = local.partition(":")
        if state == "0A" and int(hexport, 16) == port:  # 0A = LISTEN
            out.add(socket.inet_ntoa(bytes.fromhex(addr)[::-1]))
    return out


def test_an_env_without_deploys_is_named_on_stderr(served_repo):
    # a host would list no prompts: say so, and name the env that has deploys (the default
    # env is the first of ptrain.yaml's envs, which in many repos is staging)
    p = subprocess.run(
        [PTRAIN_BIN, "mcp", "serve", "--env", "staging"],
        cwd=served_repo.root,
        stdin=subprocess.DEVNULL,  # end of input: the stdio server stops at once
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout == ""  # stdout carries only the protocol
    assert "no prompt is deployed to staging" in p.stderr, p.stderr
    assert "pass --env production" in p.stderr and "Traceback" not in p.stderr
    # where prompts are deployed, nothing is said
    p = subprocess.run(
        [PTRAIN_BIN, "mcp", "serve"],
        cwd=served_repo.root,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0 and p.stderr == "", p.stderr
