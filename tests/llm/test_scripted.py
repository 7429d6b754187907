"""The scripted chat model is a real LangChain chat model: other modules' tests rely on it."""

from __future__ import annotations

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate
from pydantic import BaseModel

from ptrain.config import ModelSettings
from ptrain.llm.chat import chat_model
from ptrain.llm.scripted import (
    ScriptedChatModel,
    ScriptedHTTPError,
    get_scripted,
    register_scripted,
    scripted_models,
)


def test_callable_sees_the_messages_and_usage_is_reported():
    model = ScriptedChatModel(responder=lambda msgs: f"{len(msgs)}:{msgs[-1].content}")
    reply = model.invoke([SystemMessage("be brief"), HumanMessage("hello")])
    assert reply.content == "2:hello"
    assert reply.usage_metadata["input_tokens"] > 0
    assert reply.usage_metadata["output_tokens"] > 0
    assert isinstance(model, BaseChatModel)


def test_replies_are_used_in_order_and_the_last_repeats():
    model = ScriptedChatModel(replies=["one", "two"])
    assert [model.invoke("q").content for _ in range(3)] == ["one", "two", "two"]
    assert len(model.calls) == 3


def test_exceptions_in_replies_are_raised():
    model = ScriptedChatModel(replies=[ScriptedHTTPError(503), "ok"])
    with pytest.raises(ScriptedHTTPError) as err:
        model.invoke("q")
    assert err.value.status_code == 503
    assert model.invoke("q").content == "ok"


def test_responder_with_two_arguments_sees_the_request_parameters():
    model = ScriptedChatModel(responder=lambda msgs, kw: str(kw.get("temperature")))
    assert model.invoke("q", temperature=0.3).content == "0.3"


def test_works_in_a_langchain_chain():
    model = ScriptedChatModel(responder=lambda msgs: msgs[-1].content[::-1])
    chain = ChatPromptTemplate.from_messages([("user", "{x}")]) | model
    assert chain.invoke({"x": "abc"}).content == "cba"


def test_with_structured_output_parses_json_text():
    class Verdict(BaseModel):
        label: str
        score: float

    model = ScriptedChatModel(replies=['Verdict: {"label": "good", "score": 0.9}'])
    assert model.with_structured_output(Verdict).invoke("q") == Verdict(label="good", score=0.9)
    as_dict = ScriptedChatModel(replies=['{"a": 1}']).with_structured_output({"type": "object"})
    assert as_dict.invoke("q") == {"a": 1}
    raw = ScriptedChatModel(replies=['{"a": 1}']).with_structured_output(
        {"type": "object"}, include_raw=True
    )
    assert raw.invoke("q")["parsed"] == {"a": 1}


def test_registry_resolves_provider_scripted():
    made = register_scripted("judge", ["0.5"])
    assert chat_model(ModelSettings(provider="scripted", model="judge")) is made
    assert get_scripted("judge").invoke("q").content == "0.5"


def test_context_manager_unregisters():
    from ptrain.errors import ModelError

    with scripted_models({"tmp": "hi"}) as made:
        assert made["tmp"].invoke("q").content == "hi"
    with pytest.raises(ModelError):
        get_scripted("tmp")
