"""The JSON API over real HTTP: every endpoint's bad input (unknown prompt, malformed body,
missing token...) is a 4xx with a one-line error and writes nothing; good writes land in the
repository as normal feedback records and eval cases."""

from __future__ import annotations

import json

import pytest

from tests.ui.builder import NAME, expected_points
from tests.ui.conftest import snapshot, stored_records

GETS = [
    "/api/prompt?name={}",
    "/api/diff?name={}&a=1&b=2",
    "/api/feedback?name={}",
    "/api/feedback/lists?name={}",
    "/api/evals?name={}",
    "/api/training?name={}",
    "/api/ab?name={}",
]


def _one_line(reply) -> str:
    err = reply.data["error"]
    assert isinstance(err, str) and err and "\n" not in err and "Traceback" not in err
    assert reply.data.get("hint")
    return err


@pytest.mark.parametrize("path", GETS)
def test_unknown_prompt_is_404(shared_client, path):
    r = shared_client.get(path.format("no/such-prompt"))
    assert r.status == 404
    assert "no prompt named 'no/such-prompt'" in _one_line(r)


@pytest.mark.parametrize("path", GETS)
def test_malformed_prompt_name_is_400(shared_client, path):
    r = shared_client.get(path.format("Bad%20Name"))
    assert r.status == 400
    assert "invalid prompt name" in _one_line(r)


@pytest.mark.parametrize("path", [p.split("?")[0] for p in GETS if "training" not in p])
def test_missing_name_is_400(shared_client, path):
    r = shared_client.get(path)
    assert r.status == 400
    assert "missing parameter 'name'" in _one_line(r)


def test_unknown_and_repeated_parameters_are_400(shared_client):
    r = shared_client.get(f"/api/feedback?name={NAME}&colour=red")
    assert r.status == 400 and "unknown parameter 'colour'" in _one_line(r)
    r = shared_client.get(f"/api/feedback?name={NAME}&name={NAME}")
    assert r.status == 400 and "given twice" in _one_line(r)
    r = shared_client.get(f"/api/feedback?name={NAME}&env=moon")
    assert r.status == 400 and "unknown env 'moon'" in _one_line(r)
    r = shared_client.get(f"/api/feedback?name={NAME}&since=yesterday-ish")
    assert r.status == 400 and "cannot read --since" in _one_line(r)


def test_unknown_version_in_diff_is_404(shared_client):
    r = shared_client.get(f"/api/diff?name={NAME}&a=1&b=9")
    assert r.status == 404 and "has no version 9" in _one_line(r)
    r = shared_client.get(f"/api/diff?name={NAME}&a=1&b=--output%3D/tmp/x")
    assert r.status == 404 and "is not a version" in _one_line(r)


def test_a_prompt_without_feedback_or_results(shared_client):
    s = shared_client.get("/api/feedback?name=support/reply")
    assert s.status == 200 and s.data["series"] == [] and s.data["totals"] == []
    assert shared_client.get("/api/evals?name=support/reply").data["columns"] == []
    assert shared_client.get("/api/training?name=support/reply").data["reports"] == []
    lists = shared_client.get("/api/feedback/lists?name=support/reply").data
    assert lists["recent"] == [] and lists["worst"] == []


def test_unknown_path_and_method(shared_client):
    assert shared_client.get("/api/nothing").status == 404
    assert shared_client.request("PUT", "/api/feedback", b"{}").status == 405
    assert shared_client.post("/api/prompts", {}).status == 404


def test_foreign_host_header_is_refused(shared_client):
    r = shared_client.request("GET", "/api/prompts", headers={"Host": "evil.example:80"})
    assert r.status == 403 and "Host" in _one_line(r)


def test_reads(shared_client, shared_repo):
    ov = shared_client.get("/api/prompts").data
    assert [p["name"] for p in ov["prompts"]] == sorted(shared_repo.prompt_names())
    intent = next(p for p in ov["prompts"] if p["name"] == NAME)
    assert intent["versions"] == 2
    assert intent["deployed"] == {
        "production": {"number": 1, "commit": shared_repo.resolve(NAME, 1).commit, "label": "v1"},
        "staging": {"number": 2, "commit": shared_repo.resolve(NAME, 2).commit, "label": "v2"},
    }
    d = shared_client.get(f"/api/prompt?name={NAME}").data
    assert [(h["env"], h["action"], h["to_version"]) for h in d["history"]] == [
        ("production", "deploy", 1),
        ("staging", "deploy", 2),
        ("production", "deploy", 2),
        ("production", "rollback", 1),
    ]
    diff = shared_client.get(f"/api/diff?name={NAME}&a=1&b=2").data["diff"]
    assert "+      Reply with the label only, in lowercase." in diff
    s = shared_client.get(f"/api/feedback?name={NAME}").data
    assert sum(len(x["points"]) for x in s["series"]) == expected_points(shared_repo.root)
    assert sum(p["count"] for x in s["series"] for p in x["points"]) == len(
        stored_records(shared_repo.root)
    )
    prod = shared_client.get(f"/api/feedback?name={NAME}&env=production").data
    assert {d["env"] for d in prod["deploys"]} == {"production"}
    m = shared_client.get(f"/api/evals?name={NAME}").data
    # v1 and v2 scored on the 40 held-out cases; training confirmed its candidate on the other
    # set (half of them), which the page offers as a second case set
    assert [c["label"] for c in m["columns"]] == ["v1", "v2"]
    assert len(m["rows"]) == 40 and all(len(r["cells"]) == 2 for r in m["rows"])
    other = [s for s in m["case_sets"] if s["hash"] != m["case_set"]]
    assert other, m["case_sets"]
    conf = shared_client.get(f"/api/evals?name={NAME}&cases={other[0]['hash']}").data
    assert any(c["label"].startswith("candidate ") for c in conf["columns"])
    assert len(conf["rows"]) == other[0]["cases"] < 40
    dev = next(c for c in m["case_sets"] if c["hash"] != m["case_set"])
    m2 = shared_client.get(f"/api/evals?name={NAME}&cases={dev['hash']}").data
    assert len(m2["rows"]) == dev["cases"] and m2["case_set"] == dev["hash"]
    assert shared_client.get(f"/api/evals?name={NAME}&cases=ffff0000").status == 400
    t = shared_client.get(f"/api/training?name={NAME}").data["reports"]
    assert len(t) == 1 and t[0]["proposed"]
    assert t[0]["ref"]["ref"] == "ptrain/train/assistant/intent/20261126-090000"
    assert shared_repo.git.rev_parse(t[0]["ref"]["ref"]) == t[0]["ref"]["commit"]
    ab = shared_client.get(f"/api/ab?name={NAME}").data["experiments"]
    assert [x["env"] for x in ab] == ["staging"]
    assert ab[0]["report"]["verdict"]["label"] == "keep running"


# -- writes ---------------------------------------------------------------------------------

GOOD = {"prompt": NAME, "rating": 0.0, "message": "wrong intent"}


@pytest.mark.parametrize(
    ("body", "token", "status", "needle"),
    [
        (GOOD, None, 401, "missing token"),
        (GOOD, "not-the-token", 403, "wrong token"),
        (b"{not json", "", 400, "malformed JSON body"),
        (b"\xff\xfe", "", 400, "malformed JSON body"),
        ([1, 2], "", 400, "must be a JSON object"),
        ({**GOOD, "prompt": "no/such-prompt"}, "", 404, "no prompt named"),
        ({**GOOD, "prompt": "Bad Name"}, "", 400, "invalid prompt name"),
        ({"rating": 1}, "", 400, "missing prompt"),
        ({**GOOD, "rating": 1.5}, "", 400, "out of range"),
        ({**GOOD, "rating": -0.1}, "", 400, "out of range"),
        ({**GOOD, "rating": "good"}, "", 400, "rating must be a number"),
        ({**GOOD, "rating": True}, "", 400, "rating must be a number"),
        ({**GOOD, "colour": "red"}, "", 400, "unknown field 'colour'"),
        ({"prompt": NAME, "message": "only a comment"}, "", 400, "nothing to record"),
        ({**GOOD, "message": "x" * 5000}, "", 400, "longer than"),
        ({**GOOD, "record_id": "0" * 26}, "", 404, "has no feedback record"),
        ({**GOOD, "record_id": "../../etc"}, "", 400, "not a feedback record id"),
        ({**GOOD, "version": 9}, "", 404, "has no version 9"),
        ({**GOOD, "version": "-x y"}, "", 404, "is not a version"),
        ({**GOOD, "version": [1]}, "", 400, "version must be"),
        (b"[" * 60000, "", 400, "malformed JSON body"),
        ({**GOOD, "env": "moon"}, "", 400, "unknown env"),
    ],
)
def test_bad_feedback_writes_nothing(shared_client, shared_repo, body, token, status, needle):
    before = snapshot(shared_repo.root)
    r = shared_client.post("/api/feedback", body, token=token)
    assert r.status == status, r.data
    assert needle in _one_line(r)
    assert snapshot(shared_repo.root) == before


@pytest.mark.parametrize(
    ("body", "token", "status", "needle"),
    [
        ({"prompt": NAME, "record_id": "1" * 26}, None, 401, "missing token"),
        ({"prompt": NAME, "record_id": "1" * 26}, "not-the-token", 403, "wrong token"),
        (b"{not json", "", 400, "malformed JSON body"),
        (b'"a string"', "", 400, "must be a JSON object"),
        ({"prompt": "no/such-prompt", "record_id": "1" * 26}, "", 404, "no prompt named"),
        ({"prompt": "Bad Name", "record_id": "1" * 26}, "", 400, "invalid prompt name"),
        ({"prompt": NAME, "record_id": "../../etc"}, "", 400, "not a feedback record id"),
        ({"prompt": NAME, "record_id": "1" * 26, "expected": 3}, "", 400, "must be a string"),
    ],
)
def test_bad_expected_writes_nothing(shared_client, shared_repo, body, token, status, needle):
    before = snapshot(shared_repo.root)
    r = shared_client.post("/api/expected", body, token=token)
    assert r.status == status, r.data
    assert needle in _one_line(r)
    assert snapshot(shared_repo.root) == before


def test_wrong_content_type_and_size(shared_client, shared_repo):
    before = snapshot(shared_repo.root)
    headers = {"Content-Type": "text/plain", "X-Ptrain-Token": shared_client.server.token}
    r = shared_client.request("POST", "/api/feedback", json.dumps(GOOD).encode(), headers)
    assert r.status == 415
    headers["Content-Type"] = "application/json"
    r = shared_client.request("POST", "/api/feedback", b" " * (65 * 1024), headers)
    assert r.status == 413
    headers["Origin"] = "http://evil.example"
    r = shared_client.request("POST", "/api/feedback", json.dumps(GOOD).encode(), headers)
    assert r.status == 403 and "cross-origin" in _one_line(r)
    assert snapshot(shared_repo.root) == before


def test_rating_an_interaction_writes_a_normal_record(client, ui_repo, cli):
    recent = client.get(f"/api/feedback/lists?name={NAME}").data["recent"]
    target = recent[0]
    before = {r["id"] for r in stored_records(ui_repo.root)}
    r = client.post("/api/feedback", {"prompt": NAME, "record_id": target["id"], "rating": 1})
    assert r.status == 200, r.data
    new = [x for x in stored_records(ui_repo.root) if x["id"] not in before]
    assert len(new) == 1 and new[0] == r.data
    rec = new[0]
    base = next(x for x in stored_records(ui_repo.root) if x["id"] == target["id"])
    assert rec["kind"] == "rating" and rec["rating"] == 1.0 and rec["source"] == "user"
    for key in ("version", "version_number", "env", "inputs", "output"):
        assert rec.get(key) == base.get(key), key
    assert rec["metadata"] == {"annotates": target["id"], "via": "ptrain ui"}
    # the same format as `ptrain feedback add` writes, plus what the interaction carried
    out = cli.invoke("-C", str(ui_repo.root), "feedback", "add", NAME, "-r", "0.5", "--json")
    assert out.exit_code == 0, out.stderr
    by_cli = json.loads(out.stdout)
    assert set(rec) - set(by_cli) <= {"metadata", "inputs", "output", "env"}
    # (the CLI's --json adds the redaction counts, which are never a record field)
    assert set(by_cli) - set(rec) <= {"message", "redacted"}


def test_feedback_on_the_deployed_version(client, ui_repo):
    r = client.post("/api/feedback", {"prompt": NAME, "suggestion": "list the labels as bullets"})
    assert r.status == 200, r.data
    assert r.data["kind"] == "suggestion"
    # no env given: the repo's default env (the first of `envs`), as every command does
    default = ui_repo.deployed(NAME, ui_repo.default_env)
    assert r.data["version_number"] == default.number and r.data["version"] == default.commit
    assert r.data["env"] == ui_repo.default_env
    r = client.post("/api/feedback", {"prompt": NAME, "rating": 0.25, "env": "staging"})
    assert r.data["version_number"] == 2 and r.data["env"] == "staging"
    ids = {x["id"] for x in stored_records(ui_repo.root)}
    assert r.data["id"] in ids


def test_feedback_for_an_env_that_runs_nothing_is_refused(client, ui_repo):
    """As on the CLI: an explicit env never falls back to the latest version."""
    from ptrain.prompts import new_prompt_yaml

    ui_repo.create("fresh", new_prompt_yaml("Say hi to {who}"))
    before = snapshot(ui_repo.root)
    r = client.post("/api/feedback", {"prompt": "fresh", "rating": 1, "env": ui_repo.envs[-1]})
    assert r.status == 404 and "fresh is not deployed to" in r.data["error"], r.data
    assert snapshot(ui_repo.root) == before
    r = client.post("/api/feedback", {"prompt": "fresh", "rating": 1})  # no env: the latest
    assert r.status == 200 and r.data["version_number"] == 1, r.data


def test_mark_expected_appends_an_eval_case(client, ui_repo):
    from ptrain.evaluation.suite import load_suite

    recent = client.get(f"/api/feedback/lists?name={NAME}").data["recent"]
    target = next(x for x in recent if x.get("output") and x.get("inputs"))
    n_before = len(load_suite(ui_repo, NAME).cases)
    before = snapshot(ui_repo.root)
    for bad, status, needle in [
        ({"prompt": NAME}, 400, "missing record_id"),
        ({"prompt": "no/such", "record_id": target["id"]}, 404, "no prompt named"),
        ({"prompt": NAME, "record_id": target["id"], "rating": 1}, 400, "unknown field"),
        ({"prompt": NAME, "record_id": "1" * 26}, 404, "has no feedback record"),
    ]:
        r = client.post("/api/expected", bad)
        assert r.status == status and needle in _one_line(r), r.data
    assert client.post("/api/expected", {"prompt": NAME}, token=None).status == 401
    assert snapshot(ui_repo.root) == before

    r = client.post("/api/expected", {"prompt": NAME, "record_id": target["id"],
                                      "expected": "play_music"})  # fmt: skip
    assert r.status == 200, r.data
    suite = load_suite(ui_repo, NAME)
    assert len(suite.cases) == n_before + 1
    case = suite.cases[-1]
    assert case.source == f"feedback:{target['id']}" and case.expected == "play_music"
    assert case.vars == target["inputs"]
    again = client.post("/api/expected", {"prompt": NAME, "record_id": target["id"]})
    assert again.status == 409 and "already a case" in _one_line(again)


def test_mark_expected_needs_inputs(client, ui_repo):
    from ptrain.feedback import record

    rec = record(ui_repo.root, {"prompt": NAME, "kind": "rating", "rating": 1.0, "output": "x"})
    before = snapshot(ui_repo.root)
    r = client.post("/api/expected", {"prompt": NAME, "record_id": rec.id})
    assert r.status == 400 and "inputs lack utterance" in _one_line(r)
    assert snapshot(ui_repo.root) == before


def test_rating_an_ab_interaction_does_not_sway_the_experiment(client, ui_repo):
    from ptrain import ab

    arms = {a.name: a.outcomes for a in ab.report(ui_repo, NAME, env="staging").arms}
    target = next(r for r in stored_records(ui_repo.root) if r.get("variant") == "B")
    r = client.post("/api/feedback", {"prompt": NAME, "record_id": target["id"], "rating": 1})
    assert r.status == 200, r.data
    assert "variant" not in r.data and r.data["env"] == "staging"
    assert r.data["version"] == target["version"]
    assert {a.name: a.outcomes for a in ab.report(ui_repo, NAME, env="staging").arms} == arms


def test_a_new_record_shows_at_once(client, ui_repo):
    """The scan is memoised per shard state: an append must be seen by the next request."""

    def total() -> int:
        s = client.get(f"/api/feedback?name={NAME}").data
        return sum(p["count"] for x in s["series"] for p in x["points"])

    before = total()
    assert total() == before  # served again (from the memo)
    r = client.post("/api/feedback", {"prompt": NAME, "suggestion": "shorter labels"})
    assert r.status == 200
    assert total() == before + 1
    lists = client.get(f"/api/feedback/lists?name={NAME}").data
    assert lists["suggestions"][0]["id"] == r.data["id"]
