"""The LangChain callback records each top-level run of a chain: success or error, latency, tokens."""

from __future__ import annotations

import pytest

from ptrain import feedback as fb

pytest.importorskip("langchain_core")


def _chain(model):
    from langchain_core.prompts import ChatPromptTemplate

    return ChatPromptTemplate.from_messages([("human", "Classify: {message}")]) | model


def test_success_records_latency_and_tokens_and_rating_attaches_later(spool):
    from ptrain.llm.feedback_callback import PtrainFeedbackCallback
    from ptrain.llm.scripted import ScriptedChatModel

    h = PtrainFeedbackCallback(
        spool, prompt="support/triage", version="abc1234", version_number=2, env="production"
    )
    out = _chain(ScriptedChatModel(replies=["billing"])).invoke(
        {"message": "charged twice"}, config={"callbacks": [h]}
    )
    assert out.content == "billing"
    (rec,) = fb.list_feedback(spool, "support/triage").records
    assert rec["kind"] == "success" and rec["source"] == "automated"
    assert rec["version"] == "abc1234" and rec["version_number"] == 2 and rec["env"] == "production"
    um = out.usage_metadata
    assert (
        rec["prompt_tokens"] == um["input_tokens"] > 0
        and rec["completion_tokens"] == um["output_tokens"] > 0
    )
    assert (
        rec["latency_ms"] > 0
        and rec["inputs"] == {"message": "charged twice"}
        and rec["output"] == "billing"
    )

    h.rate(rec["run_id"], 0.9, message="right answer")
    ratings = fb.list_feedback(spool, "support/triage", kinds=["rating"]).records
    assert [(r["run_id"], r["rating"], r["message"], r["source"]) for r in ratings] == [
        (rec["run_id"], 0.9, "right answer", "user")
    ]
    assert not h.write_errors


def test_failing_chain_records_the_error(spool):
    from langchain_core.runnables import RunnableLambda

    from ptrain.llm.feedback_callback import PtrainFeedbackCallback

    def upstream(_):
        raise TimeoutError("model endpoint timed out after 30s")

    h = PtrainFeedbackCallback(spool, prompt="support/triage", variant="B")
    with pytest.raises(TimeoutError):
        _chain(RunnableLambda(upstream)).invoke({"message": "hi"}, config={"callbacks": [h]})
    (rec,) = fb.list_feedback(spool, "support/triage").records
    assert rec["kind"] == "error" and rec["error_type"] == "TimeoutError"
    assert rec["error_message"] == "model endpoint timed out after 30s" and rec["variant"] == "B"
    assert rec["latency_ms"] >= 0
    s = fb.summarize(spool).rows[0]
    assert s["errors"] == 1 and s["error_rate"] == 1.0


def test_model_alone_with_llm_output_token_usage(spool):
    """A model used directly is the top-level run; llm_output['token_usage'] is read too."""
    from uuid import uuid4

    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, LLMResult

    from ptrain.llm.feedback_callback import PtrainFeedbackCallback

    h = PtrainFeedbackCallback(spool, prompt="support/triage")
    rid = uuid4()
    h.on_chat_model_start({}, [[]], run_id=rid)
    h.on_llm_end(
        LLMResult(generations=[[ChatGeneration(message=AIMessage("ok"))]],
                  llm_output={"token_usage": {"prompt_tokens": 12, "completion_tokens": 3}}),
        run_id=rid,
    )  # fmt: skip
    (rec,) = fb.list_feedback(spool, "support/triage").records
    assert (rec["prompt_tokens"], rec["completion_tokens"], rec["output"]) == (12, 3, "ok")


def test_a_broken_feedback_store_never_breaks_the_app(spool):
    from ptrain.llm.feedback_callback import PtrainFeedbackCallback
    from ptrain.llm.scripted import ScriptedChatModel

    seen = []
    h = PtrainFeedbackCallback(spool, prompt="support/triage", on_write_error=seen.append)
    (spool / "support").write_text("a file where a directory should be")
    out = _chain(ScriptedChatModel(replies=["ok"])).invoke(
        {"message": "x"}, config={"callbacks": [h]}
    )
    assert out.content == "ok" and len(seen) == 1 and h.write_errors == seen


def test_bad_construction_fails_early(spool):
    from ptrain.errors import ValidationError
    from ptrain.llm.feedback_callback import PtrainFeedbackCallback

    with pytest.raises(ValidationError, match="is not a prompt name"):
        PtrainFeedbackCallback(spool, prompt="Not A Name")
