"""The judge-free metrics on the real embedded models (SmolLM2-135M log-likelihood, MiniLM).

Outputs come from the scripted chat model where a test needs a particular output (shuffled
words, an off-topic reply, a leak); the scores always come from the real embedded models.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from ptrain.evaluation import compare, evaluate
from ptrain.evaluation.quality import Scorers
from ptrain.evaluation.suite import parse_suite_text
from ptrain.llm import weights
from ptrain.llm.scripted import register_scripted
from ptrain.prompts import LoadedPrompt, PromptSpec

from .conftest import MODEL_CACHE, scripted_llm

pytestmark = pytest.mark.integration

SYSTEM = "You are Acme's support assistant. Answer the customer's question in one sentence."
ANSWERS = {
    "How do I reset my password?": "Open Settings, choose Security and click Reset password.",
    "Where is my parcel?": "Your parcel left our warehouse yesterday and arrives tomorrow.",
    "Can I pay by invoice?": "Yes, business customers can choose invoice at checkout.",
    "Is the shop open on Sunday?": "Our shops are open on Sundays from ten to four.",
}
SUITE = "schema_version: 1\nprompt: support/answer\ncases:\n" + "".join(
    f"  - {{id: q{i}, vars: {{question: {json.dumps(q)}}}, assert: [{{regex: '\\w'}}]}}\n"
    for i, q in enumerate(ANSWERS)
)


@pytest.fixture(scope="module")
def scorers():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PTRAIN_CACHE_DIR", MODEL_CACHE)
        weights.pull("smollm2-135m")
        weights.pull("all-minilm-l6-v2")
        yield Scorers.local()


def prompt(system: str = SYSTEM) -> LoadedPrompt:
    spec = PromptSpec(
        input_variables=["question"],
        messages=[
            {"role": "system", "content": system},
            {"role": "human", "content": "{question}"},
        ],
    )
    return LoadedPrompt("support/answer", spec, "", None)


def run(reply, scorers, system: str = SYSTEM):
    register_scripted("task", lambda msgs: reply(msgs[-1].content))
    cases = parse_suite_text(SUITE, "evals/support/answer.yaml", "support/answer").test_cases()
    return evaluate(prompt(system), cases, llm=scripted_llm("task"), runs=1, scorers=scorers)


def shuffled(text: str) -> str:
    words = text.split()
    random.Random(len(text)).shuffle(words)
    return " ".join(words)


def test_shuffled_words_score_lower_coherence_than_the_baseline(scorers):
    base = run(lambda q: ANSWERS[q], scorers)
    cand = run(lambda q: shuffled(ANSWERS[q]), scorers)
    b, c = base.metrics["coherence"], cand.metrics["coherence"]
    assert 0 <= c < b <= 1
    assert b - c > 0.1  # not a rounding difference
    for bc, cc in zip(base.cases, cand.cases, strict=True):  # every single case, not the mean
        assert cc.runs[0].scores["coherence"] < bc.runs[0].scores["coherence"]
    assert base.intervals["coherence"][0] <= b <= base.intervals["coherence"][1]


def test_an_off_topic_output_scores_lower_relevance(scorers):
    on = run(lambda q: ANSWERS[q], scorers)
    off = run(lambda q: "Bananas are an excellent source of potassium.", scorers)
    assert off.metrics["relevance"] < on.metrics["relevance"] - 0.2


def test_similar_assertion_against_the_expected_answer(scorers):
    suite = parse_suite_text(
        "schema_version: 1\nprompt: support/answer\ncases:\n"
        "  - id: pw\n    vars: {question: 'How do I reset my password?'}\n"
        "    expected: Go to Settings, then Security, and press Reset password.\n"
        "    assert: [{similar: {to: expected, min: 0.7}}]\n",
        "evals/support/answer.yaml",
        "support/answer",
    )
    register_scripted("task", lambda msgs: ANSWERS[msgs[-1].content])
    ok = evaluate(prompt(), suite.test_cases(), llm=scripted_llm("task"), runs=1, scorers=scorers)
    check = ok.cases[0].runs[0].checks[0]
    assert check.kind == "similar" and check.passed and check.score >= 0.7
    register_scripted("task", "Bananas are an excellent source of potassium.")
    bad = evaluate(prompt(), suite.test_cases(), llm=scripted_llm("task"), runs=1, scorers=scorers)
    assert not bad.cases[0].passed and "< 0.7" in bad.cases[0].runs[0].checks[0].detail


def test_a_leaking_output_fails_safety_while_benign_outputs_pass(scorers):
    from ptrain.config import Thresholds

    benign = run(lambda q: ANSWERS[q], scorers)
    leak = run(lambda q: f"My instructions say: {SYSTEM}", scorers)
    assert benign.metrics["safety"] == 1.0 and leak.metrics["safety"] == 0.0
    gates = {g.name: g for g in compare(leak, None, Thresholds()).gates}
    assert not gates["safety"].passed and gates["success_rate"].passed
    assert compare(benign, None, Thresholds()).recommended


def test_a_fresh_init_repo_recommends_a_correct_v2_over_a_failing_v1(tmp_path, monkeypatch):
    """``ptrain init`` defaults, one prompt, two cases, the embedded model for real."""
    from ptrain.evaluation.service import evaluate_version
    from ptrain.initialize import init
    from ptrain.repo import PromptRepo

    monkeypatch.setenv("PTRAIN_CACHE_DIR", MODEL_CACHE)
    root = tmp_path / "fresh"
    init(root)
    repo = PromptRepo(root)

    def triage(label: str) -> str:
        turns = [("My invoice is wrong", label), ("I was billed for a plan I cancelled", label)]
        shots = "".join(
            f'  - {{role: human, content: "{q}"}}\n  - {{role: ai, content: "{a}"}}\n'
            for q, a in turns
        )
        return (
            "schema_version: 1\ninput_variables: [message]\nmessages:\n"
            "  - {role: system, content: Classify the support ticket. Answer with one word.}\n"
            + shots
            + '  - {role: human, content: "{message}"}\nmodel: {max_tokens: 8}\n'
        )

    repo.create("support/triage", triage("Account"))  # v1: the wrong label every time
    repo.update("support/triage", triage("Billing"))  # v2: benign and correct
    suite = Path(root) / "evals" / "support" / "triage.yaml"
    suite.parent.mkdir(parents=True)
    suite.write_text(
        "schema_version: 1\nprompt: support/triage\ncases:\n"
        "  - {id: twice, vars: {message: 'I was charged twice, please refund'}, expected: Billing}\n"
        "  - {id: card, vars: {message: 'My card payment failed'}, expected: Billing}\n"
    )
    res = evaluate_version(repo, "support/triage", "2", baseline="1")
    comp = res.comparison
    assert [c.output for c in comp.baseline.cases] == ["Account", "Account"]
    assert comp.recommended, comp.reasons
    m = comp.candidate.metrics
    assert m["success_rate"] == 1.0 and m["safety"] == 1.0
    assert m["coherence"] is not None and m["relevance"] is not None
    assert all(k in comp.candidate.intervals for k in ("coherence", "relevance", "safety"))


def test_the_example_repository_reports_the_three_metrics_with_intervals(tmp_path, monkeypatch):
    from ptrain.demo import build_demo_repo

    from .test_cli import make_cli

    monkeypatch.setenv("PTRAIN_CACHE_DIR", MODEL_CACHE)
    root = build_demo_repo(tmp_path / "example", with_feedback=False)
    report = tmp_path / "report.md"
    r = make_cli(root)(
        "evaluate", "version", "support/summarize", "--runs", "1", "--json", "--report", str(report)
    )
    assert r.exit_code in (0, 3), r.stdout
    cand = json.loads(r.stdout)["candidate"]
    for key in ("coherence", "relevance", "safety"):
        assert 0 <= cand["metrics"][key] <= 1, key
        lo, hi = cand["intervals"][key]
        assert lo <= cand["metrics"][key] <= hi
    md = report.read_text()
    for row in ("| Coherence (model log-likelihood) |", "| Relevance (embedder similarity) |"):
        line = next(x for x in md.splitlines() if x.startswith(row))
        assert "[" in line  # the value carries its bootstrap interval
    assert "| Safety |" in md


def test_on_the_example_repository_degraded_candidates_lose_to_the_embedded_baseline(
    tmp_path, monkeypatch
):
    """The example repository's own prompt, suite and ptrain.yaml (its blocklist included): the
    baseline is v1 on the embedded model; each candidate replays the baseline's outputs degraded
    (shuffled words, off topic, a leak of another customer's data). Every comparison carries
    coherence, relevance and safety with intervals for both sides, in JSON and in the report."""
    from ptrain.demo import build_demo_repo
    from ptrain.evaluation.report import render_markdown
    from ptrain.evaluation.service import evaluate_version
    from ptrain.repo import PromptRepo

    monkeypatch.setenv("PTRAIN_CACHE_DIR", MODEL_CACHE)
    repo = PromptRepo(build_demo_repo(tmp_path / "example", with_feedback=False))
    name = "support/summarize"
    cfg = repo.config.evaluation
    assert list(cfg.metrics) == ["coherence", "relevance", "safety"]
    base = evaluate_version(repo, name, "1", runs=1).comparison.candidate
    said = {c.vars["ticket"]: c.output for c in base.cases}
    assert all(said.values())

    def candidate(degrade):
        def reply(msgs):
            ticket = next(t for t in said if t in msgs[-1].content)
            return degrade(said[ticket])

        register_scripted("task", reply)
        judge = scripted_llm("judge")  # configured metrics ask no judge: never called
        cand = evaluate_version(
            repo, name, "1", runs=1, use_store=False, llms=(scripted_llm("task"), judge)
        ).comparison.candidate
        comp = compare(cand, base, cfg.thresholds_for(name), cfg.significance)
        data, md = comp.to_dict(), render_markdown(comp)
        for side in ("baseline", "candidate"):
            for key in ("coherence", "relevance", "safety"):
                value = data[side]["metrics"][key]
                lo, hi = data[side]["intervals"][key]
                assert 0 <= lo <= value <= hi <= 1, (side, key)
        for row in (
            "Coherence (model log-likelihood)",
            "Relevance (embedder similarity)",
            "Safety",
        ):
            line = next(x for x in md.splitlines() if x.startswith(f"| {row} |"))
            assert len(re.findall(r"\d\.\d\d \[\d\.\d\d, \d\.\d\d\]", line)) == 2, line
        return comp

    comp = candidate(shuffled)
    b, c = base.metrics["coherence"], comp.candidate.metrics["coherence"]
    assert c < b - 0.1, (b, c)
    assert comp.deltas["coherence"]["delta"] < -0.1

    comp = candidate(lambda out: "Bananas are an excellent source of potassium.")
    assert comp.candidate.metrics["relevance"] < base.metrics["relevance"] - 0.2

    leak = "For internal use only: the last customer's card is 4111 1111 1111 1111."
    comp = candidate(lambda out: f"{out} {leak}")
    assert base.metrics["safety"] == 1.0 and comp.candidate.metrics["safety"] == 0.0
    flags = {f for case in comp.candidate.cases for r in case.runs for f in r.flags}
    assert {"pii", "blocklist"} <= flags
    safety = next(g for g in comp.gates if g.name == "safety")
    assert not safety.passed and not comp.recommended
