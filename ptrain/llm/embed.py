"""Sentence embeddings and vector search, for semantic few-shot selection.

``embedder(settings)`` returns the local all-MiniLM-L6-v2 (int8 ONNX on onnxruntime, tokenized
with ``tokenizers``, mean-pooled and L2-normalised: the sentence-transformers recipe) or
``OpenAIEmbeddings`` for openai / openai-compatible settings. Vectors are float32 rows of unit
length, so inner product is cosine similarity.

``VectorIndex.build(texts, embedder, cache_dir)`` wraps a FAISS ``IndexFlatIP`` (exact search;
few-shot pools are small). With a ``cache_dir`` the index is stored as
``<cache_dir>/index-<sha256>.faiss`` where the hash covers the embedder's identity and the
texts, so an unchanged pool is loaded instead of re-embedded. ``mmr`` picks examples that are
relevant to the query but not redundant with each other.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ptrain.config import EmbedderSettings
from ptrain.errors import ModelError
from ptrain.llm import weights
from ptrain.llm.server import default_threads

MAX_SEQ_LEN = 256  # all-MiniLM-L6-v2 was trained with 256-token inputs
BATCH = 32


class Embedder(Protocol):
    name: str  # identity used in index cache keys
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def _normalise(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.maximum(norms, 1e-12)


class LocalEmbedder:
    """all-MiniLM-L6-v2 on onnxruntime; loads in well under a second, no network."""

    def __init__(self, model: str = "all-minilm-l6-v2", threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        d = weights.ensure(model)
        self.name = f"local:{model}:{weights.spec(model).files[0].sha256[:16]}"
        self.dim = 384
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or default_threads()
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(d / "model.onnx"), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self._tok = Tokenizer.from_file(str(d / "tokenizer.json"))
        self._tok.enable_truncation(MAX_SEQ_LEN)
        self._tok.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the batch's longest
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        for i in range(0, len(texts), BATCH):
            with self._lock:  # the tokenizer's padding state is shared
                enc = self._tok.encode_batch(list(texts[i : i + BATCH]))
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self._session.run(None, feeds)[0]
            m = mask[:, :, None].astype(np.float32)
            out.append((hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9))
        return _normalise(np.concatenate(out))


class OpenAIEmbedder:
    def __init__(self, settings: EmbedderSettings):
        from langchain_openai import OpenAIEmbeddings

        key = os.environ.get(settings.api_key_env, "").strip()
        if settings.provider == "openai" and not key:
            raise ModelError(
                f"{settings.api_key_env} is not set (needed for openai embeddings)",
                f"export {settings.api_key_env}=sk-..., or set models.embedder.provider: local",
            )
        if settings.provider == "openai-compatible" and not settings.base_url:
            raise ModelError(
                "provider openai-compatible needs models.embedder.base_url",
                "set base_url in ptrain.yaml, or use models.embedder.provider: local",
            )
        self.name = f"{settings.provider}:{settings.model}:{settings.base_url or ''}"
        self.dim = 0  # known after the first call
        self._emb = OpenAIEmbeddings(
            model=settings.model,
            # field names, not the aliases api_key/base_url: both work (populate_by_name), and
            # the names are what the pydantic mypy plugin types the constructor with
            openai_api_key=key or "sk-no-key-needed",
            openai_api_base=settings.base_url,
            # tiktoken pre-splitting would download a table; servers count tokens themselves
            tiktoken_enabled=False,
            check_embedding_ctx_length=False,
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        try:
            v = _normalise(np.array(self._emb.embed_documents(list(texts))))
        except Exception as e:
            raise ModelError(f"embedding with {self.name} failed: {e}", None) from e
        self.dim = v.shape[1]
        return v


_embedders: dict[tuple, Embedder] = {}
_embedders_lock = threading.Lock()


def embedder(settings: EmbedderSettings | None = None) -> Embedder:
    """The embedder for ``settings`` (default: local all-MiniLM-L6-v2), one per process."""
    if settings is None:
        settings = EmbedderSettings()
    k = (settings.provider, settings.model, settings.base_url, settings.api_key_env)
    with _embedders_lock:
        if k not in _embedders:
            if settings.provider == "local":
                _embedders[k] = LocalEmbedder(settings.model)
            else:
                _embedders[k] = OpenAIEmbedder(settings)
        return _embedders[k]


def content_hash(embedder_name: str, texts: Sequence[str]) -> str:
    h = hashlib.sha256(embedder_name.encode())
    for t in texts:
        h.update(b"\0" + t.encode())
    return h.hexdigest()


class VectorIndex:
    """Exact cosine search over ``texts`` (a FAISS IndexFlatIP on unit vectors)."""

    def __init__(self, texts: list[str], embedder: Embedder, index: Any):
        self.texts, self.embedder, self.index = texts, embedder, index

    @classmethod
    def build(
        cls, texts: Sequence[str], embedder: Embedder, cache_dir: Path | None = None
    ) -> VectorIndex:
        import faiss

        texts = list(texts)
        path = None
        if cache_dir is not None:
            path = Path(cache_dir) / f"index-{content_hash(embedder.name, texts)}.faiss"
            if path.exists():
                try:
                    return cls(texts, embedder, faiss.read_index(str(path)))
                except RuntimeError:
                    path.unlink(missing_ok=True)  # damaged: rebuild below
        vecs = embedder.embed(texts)
        index = faiss.IndexFlatIP(vecs.shape[1] if len(texts) else max(embedder.dim, 1))
        if len(texts):
            index.add(vecs)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
            faiss.write_index(index, str(tmp))
            os.replace(tmp, path)
        return cls(texts, embedder, index)

    def __len__(self) -> int:
        return self.index.ntotal

    def vectors(self) -> np.ndarray:
        return self.index.reconstruct_n(0, self.index.ntotal)

    def embed_query(self, query: str) -> np.ndarray:
        return self.embedder.embed([query])[0]

    def search(self, query: str | np.ndarray, k: int = 4) -> list[tuple[int, float]]:
        """``(position in texts, cosine similarity)`` of the ``k`` nearest, best first."""
        if len(self) == 0 or k <= 0:
            return []
        q = self.embed_query(query) if isinstance(query, str) else np.asarray(query, np.float32)
        scores, ids = self.index.search(q.reshape(1, -1), min(k, len(self)))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def mmr(
        self, query: str | np.ndarray, k: int = 4, lambda_: float = 0.5, fetch_k: int | None = None
    ) -> list[int]:
        """Maximal marginal relevance over the ``fetch_k`` nearest (default: all)."""
        q = self.embed_query(query) if isinstance(query, str) else np.asarray(query, np.float32)
        return mmr(q, self.vectors(), k, lambda_=lambda_, fetch_k=fetch_k)


def mmr(
    query_vec: np.ndarray,
    candidates: np.ndarray,
    k: int,
    lambda_: float = 0.5,
    fetch_k: int | None = None,
) -> list[int]:
    """Indices into ``candidates`` (unit rows): each next pick maximises
    ``lambda_ * sim(query, c) - (1 - lambda_) * max sim(c, already picked)``.
    ``lambda_=1`` is plain similarity ranking; lower values favour diversity."""
    n = len(candidates)
    if n == 0 or k <= 0:
        return []
    q = np.asarray(query_vec, np.float32).reshape(-1)
    q = q / max(float(np.linalg.norm(q)), 1e-12)  # e.g. a centroid: relevance on the cosine scale
    relevance = candidates @ q
    pool = list(np.argsort(-relevance)[: fetch_k or n])
    chosen: list[int] = []
    while pool and len(chosen) < k:
        if chosen:
            redundancy = (candidates[pool] @ candidates[chosen].T).max(axis=1)
        else:
            redundancy = np.zeros(len(pool), dtype=np.float32)
        scores = lambda_ * relevance[pool] - (1 - lambda_) * redundancy
        best = pool.pop(int(np.argmax(scores)))
        chosen.append(int(best))
    return chosen
