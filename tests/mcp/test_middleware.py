"""PromptTrainingMiddleware wrapping a small FastMCP server, called through the SDK's client."""

from __future__ import annotations

import anyio
import pytest

from ptrain.errors import PtrainError
from ptrain.mcp import PromptTrainingMiddleware, current_call

Context = pytest.importorskip("mcp.server.fastmcp").Context  # module level: annotations resolve


def _records(spool) -> list[dict]:
    from ptrain.feedback import iter_feedback

    return sorted(iter_feedback(spool), key=lambda r: r["ts"])


def _server(ptm):
    from mcp.server.fastmcp import FastMCP

    mcp = FastMCP("support")

    @mcp.tool()
    @ptm.track("support/triage")
    async def classify(message: str, hint: str = "") -> str:
        """Classify a support message."""
        call = current_call()
        assert "{" not in call.prompt.format(message=message)
        call.add_tokens(prompt=12, completion=3)
        await anyio.sleep(0.02)
        return "billing"

    @mcp.tool()
    @ptm.track("support/triage")
    def lookup(message: str) -> str:
        raise LookupError(f"no customer for {message!r}")

    @mcp.tool()
    @ptm.track("support/triage", unit_id_arg="user")
    def variant_of(message: str, user: str, ctx: Context) -> str:
        assert ctx.request_id is not None  # FastMCP still injects its Context
        return current_call().prompt.variant or "-"

    @mcp.tool()
    @ptm.track("draft")
    def summarise(text: str) -> str:
        return text

    @mcp.prompt()
    @ptm.prompt("support/triage")
    def triage(message: str) -> list[dict]:
        return current_call().messages(message=message)

    mcp.tool()(ptm.rating_tool())
    return mcp


def test_middleware_records_errors_successes_latency_and_ratings(served_repo, tmp_path):
    from mcp.shared.memory import create_connected_server_and_client_session

    spool = tmp_path / "spool"
    ptm = PromptTrainingMiddleware(served_repo.root, spool=spool)
    v2 = served_repo.resolve("support/triage", 2)

    async def body():
        async with create_connected_server_and_client_session(_server(ptm)) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            # the wrapper kept the signature: FastMCP built the same schema
            assert tools["classify"].inputSchema["required"] == ["message"]
            assert "hint" in tools["classify"].inputSchema["properties"]
            assert tools["classify"].description == "Classify a support message."
            assert "ctx" not in tools["variant_of"].inputSchema["properties"]

            ok = await client.call_tool("classify", {"message": "charged twice"})
            assert not ok.isError and ok.content[0].text == "billing"
            bad = await client.call_tool("lookup", {"message": "Ann"})
            assert bad.isError and "no customer for 'Ann'" in bad.content[0].text
            gone = await client.call_tool("summarise", {"text": "x"})
            assert gone.isError and "not deployed" in gone.content[0].text
            got = await client.get_prompt("triage", {"message": "refund please"})
            assert [m.role for m in got.messages] == ["user", "user", "assistant", "user"]
            assert got.messages[-1].content.text == "refund please"

            success = next(r for r in _records(spool) if r.get("output") == "billing")
            r = await client.call_tool(
                "rate_call", {"run_id": success["run_id"], "rating": 0.25, "message": "wrong"}
            )
            assert not r.isError, r.content[0].text
            r = await client.call_tool("rate_call", {"run_id": "nope", "rating": 1.0})
            assert r.isError and "no call with run id" in r.content[0].text
            r = await client.call_tool("rate_call", {"run_id": success["run_id"], "rating": 3})
            assert r.isError and "rating" in r.content[0].text

    anyio.run(body)
    recs = _records(spool)
    by_fn = {}
    for r in recs:
        by_fn.setdefault(r["metadata"]["mcp"]["function"], []).append(r)

    (ok, rating) = by_fn["classify"]
    assert ok["kind"] == "success" and ok["source"] == "automated"
    assert ok["version"] == v2.commit and ok["version_number"] == 2 and ok["env"] == "production"
    assert ok["latency_ms"] >= 20  # the 20 ms sleep, measured around the call
    assert (ok["prompt_tokens"], ok["completion_tokens"]) == (12, 3)
    assert ok["inputs"] == {"message": "charged twice", "hint": ""} and ok["output"] == "billing"
    assert rating["kind"] == "rating" and rating["rating"] == 0.25
    assert rating["run_id"] == ok["run_id"] and rating["version"] == v2.commit
    assert rating["message"] == "wrong" and rating["source"] == "user"

    (err,) = by_fn["lookup"]
    assert err["kind"] == "error" and err["error_type"] == "LookupError"
    assert err["error_message"] == "no customer for 'Ann'"
    assert err["version"] == v2.commit and err["latency_ms"] >= 0

    (missing,) = by_fn["summarise"]  # not deployed: recorded as an error too, no version
    assert missing["error_type"] == "VersionNotFound" and "version" not in missing

    (rendered,) = by_fn["triage"]
    assert rendered["kind"] == "success" and rendered["metadata"]["mcp"]["kind"] == "prompt"
    assert "output" not in rendered and rendered["inputs"] == {"message": "refund please"}
    assert ptm.write_errors == []


def test_middleware_serves_new_deploys_and_sticky_variants(served_repo, tmp_path):
    from mcp.shared.memory import create_connected_server_and_client_session

    from ptrain import ab

    spool = tmp_path / "spool"
    ptm = PromptTrainingMiddleware(served_repo.root, spool=spool)
    server = _server(ptm)

    async def call(client, tool, args):
        r = await client.call_tool(tool, args)
        assert not r.isError, r.content[0].text
        return r.content[0].text

    async def body():
        async with create_connected_server_and_client_session(server) as client:
            assert await call(client, "variant_of", {"message": "m", "user": "u1"}) == "-"
            served_repo.deploy("support/triage", 3)
            await call(client, "classify", {"message": "m"})
            ab.start(served_repo, "support/triage", ["A=2", "B=3"])
            seen = {}
            for i in range(24):
                first = await call(client, "variant_of", {"message": "m", "user": f"u{i}"})
                again = await call(client, "variant_of", {"message": "n", "user": f"u{i}"})
                assert first == again
                seen[f"u{i}"] = first
            assert set(seen.values()) == {"A", "B"}
            return seen

    seen = anyio.run(body)
    recs = _records(spool)
    v3 = served_repo.resolve("support/triage", 3).commit
    assert next(r for r in recs if r.get("output") == "billing")["version"] == v3
    arms = {"A": served_repo.resolve("support/triage", 2).commit, "B": v3}
    ab_recs = [r for r in recs if r.get("variant")]
    assert len(ab_recs) == 48
    for r in ab_recs:
        assert r["variant"] == seen[r["inputs"]["user"]] and r["version"] == arms[r["variant"]]


def test_feedback_write_failure_never_breaks_the_call(served_repo, tmp_path):
    blocked = tmp_path / "spool"
    blocked.write_text("a file where the spool directory should be")
    errors = []
    ptm = PromptTrainingMiddleware(served_repo.root, spool=blocked, on_write_error=errors.append)

    @ptm.track("support/triage")
    def answer(message: str) -> str:
        return "ok"

    assert answer(message="hi") == "ok"
    assert len(errors) == 1 and ptm.write_errors == errors


def test_direct_positional_calls_are_recorded_by_argument_name(served_repo, tmp_path):
    from ptrain import ab

    spool = tmp_path / "spool"
    ptm = PromptTrainingMiddleware(served_repo.root, spool=spool)
    ab.start(served_repo, "support/triage", ["A=2", "B=3"])

    @ptm.track("support/triage", unit_id_arg="user")
    def answer(message: str, user: str) -> str:
        return current_call().prompt.variant or "-"

    got = {answer(f"m{i}", f"u{i}") for i in range(24)}  # positional, as a direct call
    assert got == {"A", "B"}
    recs = _records(spool)
    assert len(recs) == 24 and all(r["inputs"]["user"].startswith("u") for r in recs)
    assert {r["variant"] for r in recs} == {"A", "B"}


def test_current_call_outside_a_wrapped_function_is_a_clear_error():
    with pytest.raises(PtrainError, match="only available inside"):
        current_call()


def test_bad_prompt_name_fails_at_decoration(served_repo, tmp_path):
    ptm = PromptTrainingMiddleware(served_repo.root, spool=tmp_path / "s")
    with pytest.raises(PtrainError, match="invalid prompt name"):
        ptm.track("Not A Name")
