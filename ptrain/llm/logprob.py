"""Per-token log-likelihood of a given text under the embedded model (teacher forcing).

llama.cpp's server does not echo prompt log-probabilities (``echo`` on ``/v1/completions`` is
rejected), so ``LogprobScorer.score`` forces the model to "generate" exactly the text instead:

1. ``POST /apply-template`` renders the context messages with the model's chat template, ending
   with the assistant turn's header (the same prompt the model answers during an evaluation);
2. ``POST /tokenize`` gives the text's canonical tokens (special-token syntax in the text is
   not parsed: ``<|im_end|>`` in an output is plain characters);
3. ``POST /completion`` with a grammar of exactly those token ids (``root ::= <[id]> <[id]>
   ...``), ``n_probs: 1`` and ``post_sampling_probs: false``: the sampler can only pick the
   forced token, and the reported ``logprob`` is the model's own (pre-grammar, pre-sampling)
   log-probability of it given everything before.

One request per text, as costly as generating it (llama.cpp decodes the forced tokens one at a
time), so texts are cut at ``MAX_TOKENS`` tokens: the mean over the first 64 stands for the
whole. ``scorer(model)`` is one scorer per model and process that remembers what it scored (a
training run re-scores the same (input, output) pairs for every candidate). Only local models
(``ptrain models list``) can be scored, on the server ``ptrain.llm.server`` already runs.
"""

from __future__ import annotations

import json
import math
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ptrain.errors import ModelError
from ptrain.llm import server, weights

MAX_TOKENS = 64
MEMO_SIZE = 20_000
TIMEOUT_S = 120.0


@dataclass(frozen=True)
class TokenScore:
    """Log-likelihood of one text: ``mean_logprob`` (nats per token) over ``tokens`` tokens."""

    mean_logprob: float
    tokens: int
    truncated: bool = False

    @property
    def perplexity(self) -> float:
        return math.exp(-self.mean_logprob)


class LogprobScorer:
    """Scores texts under local model ``model`` (e.g. ``smollm2-135m``). Thread-safe."""

    def __init__(self, model: str = "smollm2-135m"):
        self.model = model
        self.name = f"local:{model}:{weights.spec(model).files[0].sha256[:16]}"
        self._vocab: int | None = None
        self._memo: dict[str, TokenScore | None] = {}
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Drop the remembered scores (benchmarks time real scoring)."""
        with self._lock:
            self._memo.clear()

    def _url(self) -> str:
        return server.get(self.model).url

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        req = urllib.request.Request(
            self._url() + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")[:200]
            raise ModelError(f"the embedded model refused to score a text: {detail}", None) from e
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise ModelError(f"the embedded model could not score a text: {e}", None) from e

    @property
    def vocab_size(self) -> int:
        """The model's vocabulary size (a uniform guess costs ``ln(vocab_size)`` nats a token)."""
        if self._vocab is None:
            with urllib.request.urlopen(self._url() + "/v1/models", timeout=TIMEOUT_S) as r:
                meta = json.loads(r.read())["data"][0].get("meta") or {}
            self._vocab = int(meta.get("n_vocab") or 0) or 49152
        return self._vocab

    def score(self, context: Sequence[tuple[str, str]], text: str) -> TokenScore | None:
        """Log-likelihood of ``text`` as the assistant's reply after ``context`` ((role, content)
        pairs; roles system / user / assistant). ``None`` for an empty text."""
        key = json.dumps([list(map(list, context)), text], ensure_ascii=False)
        with self._lock:
            if key in self._memo:
                return self._memo[key]
        got = self._score(context, text)
        with self._lock:
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = got
        return got

    def _score(self, context: Sequence[tuple[str, str]], text: str) -> TokenScore | None:
        tokens = self._post("/tokenize", {"content": text, "add_special": False})["tokens"]
        tokens = [t for t in tokens if isinstance(t, int)]
        if not tokens:
            return None
        truncated = len(tokens) > MAX_TOKENS
        tokens = tokens[:MAX_TOKENS]
        messages = [{"role": _role(r), "content": c} for r, c in context]
        prompt = self._post("/apply-template", {"messages": messages})["prompt"]
        reply = self._post(
            "/completion",
            {
                "prompt": prompt,
                "grammar": "root ::= " + " ".join(f"<[{t}]>" for t in tokens),
                "n_predict": len(tokens),
                "temperature": 0.0,
                "seed": 42,
                "n_probs": 1,
                "post_sampling_probs": False,
                "cache_prompt": True,
            },
        )
        logprobs = [p.get("logprob") for p in reply.get("completion_probabilities") or []]
        logprobs = [float(x) for x in logprobs[: len(tokens)] if isinstance(x, int | float)]
        if len(logprobs) < len(tokens):
            raise ModelError(
                f"the embedded model scored {len(logprobs)} of {len(tokens)} tokens",
                "set PTRAIN_LOCAL_CTX higher if the texts are long",
            )
        return TokenScore(sum(logprobs) / len(logprobs), len(logprobs), truncated)


def _role(role: str) -> str:
    return {"human": "user", "ai": "assistant"}.get(role, role)


_scorers: dict[str, LogprobScorer] = {}
_scorers_lock = threading.Lock()


def scorer(model: str = "smollm2-135m") -> LogprobScorer:
    """The scorer of local model ``model``, one per process."""
    with _scorers_lock:
        if model not in _scorers:
            _scorers[model] = LogprobScorer(model)
        return _scorers[model]
