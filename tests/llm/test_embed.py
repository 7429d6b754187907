"""Vector search and MMR on a deterministic stand-in embedder; the real ONNX embedder is an
integration test (it needs the pulled weights)."""

from __future__ import annotations

import numpy as np
import pytest

from ptrain.llm.embed import VectorIndex, mmr


class KeywordEmbedder:
    """Counts a few keywords: similar texts get similar unit vectors."""

    name = "keywords-v1"
    dim = 4
    words = ("password", "refund", "weather", "login")

    def __init__(self):
        self.embedded = 0

    def embed(self, texts):
        self.embedded += len(texts)
        v = np.array(
            [[t.lower().count(w) + 0.01 for w in self.words] for t in texts], dtype=np.float32
        )
        return v / np.linalg.norm(v, axis=1, keepdims=True)


TEXTS = [
    "reset my password",
    "password and login broken",
    "password password help",
    "refund please",
    "nice weather",
]


def test_search_ranks_by_cosine_similarity():
    idx = VectorIndex.build(TEXTS, KeywordEmbedder())
    hits = idx.search("password", k=3)
    assert [i for i, _ in hits][:1] in ([0], [2])
    assert {i for i, _ in hits} == {0, 1, 2}
    assert hits[0][1] >= hits[1][1] >= hits[2][1]


def test_index_is_cached_by_content_hash(tmp_path):
    emb = KeywordEmbedder()
    VectorIndex.build(TEXTS, emb, tmp_path)
    again = VectorIndex.build(TEXTS, emb, tmp_path)
    assert emb.embedded == len(TEXTS)  # loaded, not re-embedded
    assert len(again) == len(TEXTS)
    VectorIndex.build([*TEXTS, "one more"], emb, tmp_path)  # different content: rebuilt
    assert emb.embedded == 2 * len(TEXTS) + 1
    assert len(list(tmp_path.glob("index-*.faiss"))) == 2


def test_mmr_trades_relevance_for_diversity():
    emb = KeywordEmbedder()
    vecs = emb.embed(TEXTS)
    q = emb.embed(["password login"])[0]
    relevant_only = mmr(q, vecs, k=3, lambda_=1.0)
    diverse = mmr(q, vecs, k=3, lambda_=0.3)
    assert relevant_only[0] == diverse[0] == 1
    assert set(relevant_only) == {0, 1, 2}
    assert len(set(diverse) - {0, 1, 2}) >= 1  # picked something unlike the first pick


def test_mmr_edge_cases():
    assert mmr(np.ones(3), np.zeros((0, 3)), k=2) == []
    vecs = np.eye(3, dtype=np.float32)
    assert sorted(mmr(np.ones(3), vecs, k=10)) == [0, 1, 2]


@pytest.mark.integration
def test_local_minilm_embeds_paraphrases_close(minilm):
    from ptrain.llm.embed import embedder

    e = embedder()
    v = e.embed(["How do I reset my password?", "I forgot my login password", "Nice weather"])
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    sims = v @ v.T
    assert sims[0, 1] > 0.6 > 0.2 > sims[0, 2]
    idx = VectorIndex.build(["refund my order", "reset password", "weather today"], e)
    assert idx.search("I can't log in, need a new password", k=1)[0][0] == 1
