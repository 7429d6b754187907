"""Per-call example selection (``example_selection``) on a deterministic stand-in embedder."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from ptrain.errors import ValidationError
from ptrain.prompts import LoadedPrompt, parse_prompt

POOL = [
    ("reset my password", "login"),
    ("refund please", "billing"),
    ("nice weather today", "other"),
    ("login broken again", "login"),
    ("refund for my refund", "billing"),
]


class Keywords:
    """Counts a few keywords: texts sharing words get similar unit vectors."""

    name = "keywords-select-v1"
    dim = 4
    words = ("password", "refund", "weather", "login")

    def embed(self, texts):
        v = np.array([[t.count(w) + 0.01 for w in self.words] for t in texts], dtype=np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def keywords(monkeypatch, tmp_path):
    import ptrain.llm.select as select

    monkeypatch.setenv("PTRAIN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(select, "_embedder", lambda model: Keywords())
    monkeypatch.setattr(select, "_indexes", {})


def _prompt(k=2, pool=POOL):
    doc = {
        "schema_version": 1,
        "input_variables": ["message"],
        "messages": [
            {"role": "system", "content": "Route the message."},
            {"role": "human", "content": "Message: {message}"},
        ],
        "examples": [{"inputs": {"message": m}, "output": o} for m, o in pool],
        "example_selection": {"by": "similarity", "k": k},
    }
    return LoadedPrompt("support/route", parse_prompt(doc, "t.yaml"), "c0", 1)


def test_each_call_shows_the_k_nearest_examples_most_similar_last(keywords):
    msgs = _prompt(k=2).format_messages(message="my refund, refund!")
    assert msgs[0] == ("system", "Route the message.")
    assert msgs[-1] == ("human", "Message: my refund, refund!")
    shots = msgs[1:-1]
    assert [t for r, t in shots if r == "ai"] == ["billing", "billing"]
    assert shots[-2] == ("human", "Message: refund for my refund")  # the nearest, last
    other = _prompt(k=2).format_messages(message="password reset and login")
    assert [t for r, t in other[1:-1] if r == "ai"] == ["login", "login"]


def test_a_pool_no_larger_than_k_is_shown_whole(keywords):
    msgs = _prompt(k=8).format_messages(message="refund")
    assert len(msgs) == 2 + 2 * len(POOL)


def test_langchain_template_selects_the_same_examples(keywords):
    p = _prompt(k=2)
    ours = p.format_messages(message="weather or refund")
    lc = p.to_langchain().format_messages(message="weather or refund")
    roles = {"system": "system", "human": "human", "ai": "ai"}
    assert [(roles[m.type], m.content) for m in lc] == ours


def test_the_index_is_cached_on_disk_and_reused(keywords, tmp_path):
    import ptrain.llm.select as select

    _prompt().format_messages(message="refund")
    files = list((tmp_path / "examples").glob("index-*.faiss"))
    assert len(files) == 1
    select._indexes.clear()
    _prompt().format_messages(message="login")  # loaded, not rebuilt
    assert list((tmp_path / "examples").glob("index-*.faiss")) == files


def test_selection_without_a_pool_or_with_a_bad_k_is_refused():
    with pytest.raises(ValidationError, match="example_selection needs a pool"):
        _prompt(pool=[])
    with pytest.raises(ValidationError, match="k"):
        _prompt(k=0)


def test_loading_a_selecting_prompt_imports_no_vector_library():
    # formatting needs numpy/FAISS; parsing and PromptRepo.get must not
    code = (
        "import sys\n"
        "from ptrain.prompts import parse_prompt\n"
        "doc = {'schema_version': 1, 'input_variables': ['m'], 'template': '{m}',"
        " 'examples': [{'inputs': {'m': 'a'}, 'output': 'b'}], 'example_selection': {'k': 1}}\n"
        "parse_prompt(doc, 't')\n"
        "print(sorted(m for m in ('numpy', 'faiss', 'onnxruntime') if m in sys.modules))\n"
    )
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
