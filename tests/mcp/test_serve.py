"""``ptrain mcp serve`` over stdio, driven by the mcp SDK's own client, on a real git repo."""

from __future__ import annotations

import subprocess

import anyio
import pytest

from tests.conftest import PTRAIN_BIN
from tests.mcp.conftest import BOTH, mcp_session

pytest.importorskip("mcp")

INVALID_PARAMS = -32602


def run(fn, *args, timeout: float = 120):
    async def main():
        with anyio.fail_after(timeout):
            return await fn(*args)

    return anyio.run(main)


def ptrain(root, *args: str) -> str:
    p = subprocess.run([PTRAIN_BIN, "-C", str(root), *args], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


def feedback_of(root, prompt: str) -> list[dict]:
    from ptrain.feedback import iter_feedback

    return list(iter_feedback(root, prompt))


def test_list_get_and_invalid_params(served_repo):
    from mcp.shared.exceptions import McpError

    triage_v2 = served_repo.resolve("support/triage", 2).commit

    async def body():
        async with mcp_session(served_repo.root) as (s, _):
            listed = {p.name: p for p in (await s.list_prompts()).prompts}
            assert sorted(listed) == ["greet", "support/triage"]  # draft is not deployed
            greet = listed["greet"]
            assert greet.description == "Greet someone and open a topic."
            assert [(a.name, a.required) for a in greet.arguments] == [
                ("name", True),
                ("topic", True),
            ]
            assert listed["support/triage"].meta == {
                "version": 2,
                "commit": triage_v2,
                "env": "production",
            }

            got = await s.get_prompt("greet", {"name": "Ann", "topic": "refunds"})
            assert [(m.role, m.content.text) for m in got.messages] == [
                ("user", "Hello Ann, tell me about refunds.")
            ]
            assert got.meta["version"] == 1 and got.meta["env"] == "production"

            tri = await s.get_prompt("support/triage", {"message": "card charged {twice}"})
            roles = [m.role for m in tri.messages]
            texts = [m.content.text for m in tri.messages]
            assert roles == ["user", "user", "assistant", "user"]  # system, example, ask
            assert "(v2)" in texts[0] and texts[-1] == "card charged {twice}"
            assert tri.meta["commit"] == triage_v2

            for name, args, words in (
                ("nope", {}, "no prompt named 'nope'"),
                ("draft", {"text": "x"}, "no prompt named 'draft'"),
                ("../etc/passwd", {}, "invalid prompt name"),
                ("greet", {"name": "Ann"}, "needs argument 'topic'"),
                ("greet", {"name": "A", "topic": "b", "tone": "c"}, "no argument 'tone'"),
            ):
                with pytest.raises(McpError) as err:
                    await s.get_prompt(name, args)
                assert err.value.error.code == INVALID_PARAMS, name
                assert words in err.value.error.message, err.value.error.message

            # the tools mirror the prompts, for hosts that ignore prompts
            tools = {t.name: t for t in (await s.list_tools()).tools}
            assert sorted(tools) == [
                "get_prompt",
                "list_prompts",
                "prompt_history",
                "record_feedback",
            ]
            assert "greet, support/triage" in tools["get_prompt"].description
            r = await s.call_tool("list_prompts", {})
            assert [p["name"] for p in r.structuredContent["prompts"]] == [
                "greet",
                "support/triage",
            ]
            r = await s.call_tool(
                "get_prompt",
                {"name": "support/triage", "version": "1", "arguments": {"message": "hi"}},
            )
            assert not r.isError and r.structuredContent["version"] == 1
            assert "(v1)" in r.structuredContent["messages"][0]["content"]
            assert r.structuredContent["commit"] in r.content[0].text
            r = await s.call_tool("get_prompt", {"name": "greet", "arguments": {"name": "A"}})
            assert r.isError and "needs argument 'topic'" in r.content[0].text
            r = await s.call_tool("get_prompt", {"name": "nope"})
            assert r.isError and "no prompt named 'nope'" in r.content[0].text
            r = await s.call_tool("prompt_history", {"name": "support/triage"})
            deploys = r.structuredContent["deploys"]
            assert [(d["action"], d["to_version"]) for d in deploys] == [("deploy", 2)]

    run(body)


def test_feedback_is_tied_to_the_served_commit(served_repo):
    root = served_repo.root

    async def body():
        async with mcp_session(root) as (s, notes):
            r = await s.call_tool(
                "get_prompt", {"name": "support/triage", "arguments": {"message": "hi"}}
            )
            served = r.structuredContent["commit"]
            # a deploy after the get must not move the feedback to the new version
            ptrain(root, "prompt", "deploy", "support/triage", "3")
            await notes.wait_for(*BOTH)
            r = await s.call_tool(
                "record_feedback",
                {
                    "name": "support/triage",
                    "commit": served,
                    "rating": 0.2,
                    "message": "too terse",
                    "output": "billing",
                },
            )
            assert not r.isError, r.content[0].text
            r = await s.call_tool(
                "record_feedback",
                {
                    "name": "support/triage",
                    "commit": served,
                    "error": "answered in French",
                    "variant": None,  # echoed back from get_prompt's result as it was
                    "env": None,
                },
            )
            assert not r.isError, r.content[0].text
            for bad, words in (
                ({"commit": "0" * 40, "rating": 1.0}, "has no version"),
                ({"commit": "not-a-sha", "rating": 1.0}, "not a commit sha"),
                ({"commit": served, "rating": 7}, "Input validation error: rating: 7 is greater"),
                ({"commit": None, "rating": 1}, "Input validation error: commit: None is not"),
                ({"commit": served, "message": "hm"}, "needs a rating"),
            ):
                r = await s.call_tool("record_feedback", {"name": "support/triage", **bad})
                assert r.isError and words in r.content[0].text, (bad, r.content[0].text)

            # a version fetched by number, never deployed: its feedback claims no env
            r = await s.call_tool("get_prompt", {"name": "greet", "version": 1, "arguments": {}})
            assert r.isError  # greet needs its arguments
            r = await s.call_tool(
                "get_prompt",
                {"name": "support/triage", "version": "v1", "arguments": {"message": "x"}},
            )
            v1 = r.structuredContent
            assert v1["env"] is None
            r = await s.call_tool(
                "record_feedback",
                {"name": "support/triage", "commit": v1["commit"], "env": None, "rating": 1},
            )
            assert not r.isError, r.content[0].text
            assert "env" not in r.structuredContent["recorded"]

    run(body)
    recs = [r for r in feedback_of(root, "support/triage") if r.get("version_number") != 1]
    recs.sort(key=lambda r: r["kind"])
    assert [r["kind"] for r in recs] == ["error", "rating"]  # the bad calls wrote nothing
    err, rating = recs
    v2 = served_repo.resolve("support/triage", 2)
    for rec in recs:
        assert rec["version"] == v2.commit and rec["version_number"] == 2
        assert rec["env"] == "production" and rec["source"] == "user"
        assert rec["metadata"] == {"via": "mcp", "client": "mcp"}  # the SDK client's name
    assert rating["rating"] == 0.2 and rating["message"] == "too terse"
    assert rating["output"] == "billing"
    assert err["error_message"] == "answered in French"


def test_a_deploy_by_another_process_is_served_and_announced(served_repo):
    root = served_repo.root
    v3 = served_repo.resolve("support/triage", 3).commit

    async def body():
        async with mcp_session(root) as (s, notes):
            before = await s.get_prompt("support/triage", {"message": "hi"})
            assert before.meta["version"] == 2
            await s.list_tools()
            ptrain(root, "prompt", "deploy", "support/triage", "3", "-m", "from elsewhere")
            # the very next get serves the new version, before any notification
            after = await s.get_prompt("support/triage", {"message": "hi"})
            assert after.meta == {"version": 3, "commit": v3, "env": "production"}
            assert "(v3)" in after.messages[0].content.text
            await notes.wait_for(*BOTH)
            listed = {p.name: p.meta for p in (await s.list_prompts()).prompts}
            assert listed["support/triage"]["version"] == 3

            # a newly deployed prompt: announced again, listed, and named by the tool
            ptrain(root, "prompt", "deploy", "draft", "1")
            await notes.wait_for(*BOTH, count=2)
            assert "draft" in {p.name for p in (await s.list_prompts()).prompts}
            tools = {t.name: t for t in (await s.list_tools()).tools}
            assert "draft, greet, support/triage" in tools["get_prompt"].description
            # a rollback moves the tag back: served at once, announced too
            ptrain(root, "prompt", "rollback", "support/triage")
            again = await s.get_prompt("support/triage", {"message": "hi"})
            assert again.meta["version"] == 2
            await notes.wait_for(*BOTH, count=3)

    run(body)


def test_ab_unit_gets_a_sticky_variant_and_feedback_carries_it(served_repo):
    import mcp.types as types

    root = served_repo.root
    ptrain(root, "ab", "start", "support/triage", "-v", "A=2", "-v", "B=3")
    commits = {
        "A": served_repo.resolve("support/triage", 2).commit,
        "B": served_repo.resolve("support/triage", 3).commit,
    }

    async def body():
        async with mcp_session(root) as (s, _):
            seen = {}
            for i in range(24):
                unit = f"user-{i}"
                first = await s.call_tool(
                    "get_prompt",
                    {"name": "support/triage", "unit_id": unit, "arguments": {"message": "x"}},
                )
                again = await s.call_tool(
                    "get_prompt",
                    {"name": "support/triage", "unit_id": unit, "arguments": {"message": "y"}},
                )
                a, b = first.structuredContent, again.structuredContent
                assert a["variant"] == b["variant"] and a["commit"] == b["commit"]
                assert commits[a["variant"]] == a["commit"]
                seen[unit] = a["variant"]
            assert set(seen.values()) == {"A", "B"}  # 24 units: both arms (p of not ~1e-7)

            # prompts/get takes the unit from the request's _meta
            unit = next(u for u, v in seen.items() if v == "B")
            req = types.ClientRequest(
                types.GetPromptRequest(
                    params=types.GetPromptRequestParams(
                        name="support/triage",
                        arguments={"message": "z"},
                        _meta={"unit_id": unit},
                    )
                )
            )
            got = await s.send_request(req, types.GetPromptResult)
            assert got.meta["variant"] == "B" and got.meta["commit"] == commits["B"]
            without = await s.get_prompt("support/triage", {"message": "z"})
            assert "variant" not in without.meta and without.meta["version"] == 2

            # feedback carries the variant: echoed back, or derived from the same unit_id
            r = await s.call_tool(
                "record_feedback",
                {"name": "support/triage", "commit": commits["B"], "variant": "B", "rating": 1},
            )
            assert not r.isError, r.content[0].text
            unit_a = next(u for u, v in seen.items() if v == "A")
            r = await s.call_tool(
                "record_feedback",
                {"name": "support/triage", "commit": commits["A"], "unit_id": unit_a, "rating": 0},
            )
            assert not r.isError, r.content[0].text

    run(body)
    recs = {r["variant"]: r for r in feedback_of(root, "support/triage")}
    assert sorted(recs) == ["A", "B"]
    assert recs["A"]["version"] == commits["A"] and recs["A"]["rating"] == 0
    assert recs["B"]["version"] == commits["B"] and recs["B"]["rating"] == 1


def test_read_only_has_no_write_tool_and_writes_nothing(served_repo):
    root = served_repo.root
    commit = served_repo.resolve("greet", 1).commit

    async def body():
        async with mcp_session(root, "--read-only") as (s, _):
            names = [t.name for t in (await s.list_tools()).tools]
            assert "record_feedback" not in names and "get_prompt" in names
            r = await s.call_tool(
                "record_feedback", {"name": "greet", "commit": commit, "rating": 1}
            )
            assert r.isError and "read-only" in r.content[0].text

    run(body)
    assert feedback_of(root, "greet") == []
    assert not (root / "feedback").exists() or not any((root / "feedback").rglob("*.jsonl"))


def test_spool_takes_the_feedback_instead_of_the_repo(served_repo, tmp_path):
    root = served_repo.root
    spool = tmp_path / "spool"
    commit = served_repo.resolve("greet", 1).commit

    async def body():
        async with mcp_session(root, "--spool", str(spool)) as (s, _):
            r = await s.call_tool(
                "record_feedback", {"name": "greet", "commit": commit, "suggestion": "be brief"}
            )
            assert not r.isError, r.content[0].text

    run(body)
    assert feedback_of(root, "greet") == []
    (rec,) = feedback_of(spool, "greet")
    assert rec["kind"] == "suggestion" and rec["version"] == commit
    assert rec["version_number"] == 1 and rec["suggestion"] == "be brief"


def test_a_deploy_fetched_by_ptrain_sync_is_served_and_announced(served_repo, tmp_path):
    from tests.conftest import git

    origin = served_repo.root
    git(tmp_path, "clone", "-q", f"file://{origin}", "clone")
    clone = tmp_path / "clone"

    async def body():
        async with mcp_session(clone, "--read-only") as (s, notes):
            assert (await s.get_prompt("support/triage", {"message": "x"})).meta["version"] == 2
            ptrain(origin, "prompt", "deploy", "support/triage", "3")
            await anyio.sleep(0.6)  # three polls: nothing moved here yet
            assert notes.methods == []
            assert (await s.get_prompt("support/triage", {"message": "x"})).meta["version"] == 2
            assert "fetched" in ptrain(clone, "sync", "--no-push")
            assert (await s.get_prompt("support/triage", {"message": "x"})).meta["version"] == 3
            await notes.wait_for(*BOTH)

    run(body)
