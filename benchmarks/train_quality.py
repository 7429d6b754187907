"""Training quality: ptrain's search vs. DSPy on BIG-bench tasks, same model, data and call budget.

    pip install -e '.[bench]'        # dspy 3.4.1, optuna (MIPROv2), matplotlib (the plot)
    python benchmarks/train_quality.py                     # intent_recognition, SmolLM2, 80/80
    python benchmarks/train_quality.py --quick             # 40 held-out / 40 test cases
    python benchmarks/train_quality.py --tasks intent_recognition,social_support \
        --models smollm2-135m,qwen2.5-0.5b --budget 500 --write-readme

Data (see benchmarks/bigbench.py; the demo uses intent [0:400], so intent uses [400:] only; the
other tasks start at 0; emojis has 131 examples, so its simulated traffic is 21):

* ``test``   first T          the final test split: neither ptrain nor DSPy sees it before the end;
* ``val``    next V           ptrain's held-out eval cases (it *selects* on half and *confirms* on
                              the other half) = DSPy's valset (what its optimizers select on);
* ``train``  next 30          ``split: train`` eval cases (gold label) = part of DSPy's trainset;
* ``traffic`` next 100        simulated production feedback for ptrain: 56% right label rated
                              high, 24% a verbose sentence rated low, 10% a wrong label rated 0,
                              10% dispatcher errors, plus 3 suggestions. DSPy's trainset is the 30
                              train cases plus the high-rated traffic (the same gold labels ptrain
                              can learn from; ptrain additionally sees the negative feedback).

Each ptrain configuration (``auto`` — the full search —, one operator, or ``all``) runs in its own fresh throwaway prompt repo
(``benchmarks/.data/train_quality/``) under the same call budget. The response cache is shared so
reruns are cheap, but a cache hit is *charged* to the budget like a real call (see ColdBudget):
the spend reported and enforced is what a cold run costs. DSPy's calls are counted the same way
(every LM request, cached or not). Scoring the final test split is not part of either budget.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import shutil
import sys
import threading
import time
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bigbench import load  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data" / "train_quality"
APPROACHES = ["auto", "few_shot", "reinforcement", "meta_prompt", "adversarial", "all"]

TASKS = {
    "intent_recognition": {
        "prompt": "bench/intent",
        "var": "utterance",
        "field": "intent",
        "instruction": (
            "Predict the intent of the utterance. The possible intents are: {labels}.\n"
        ),
        "human": "Utterance: {utterance}",
        "max_tokens": 8,
        "verbose": "The intent of this utterance is {label}.",
        "suggestions": [
            "Reply with only the intent name; the dispatcher rejects sentences.",
            "Adding a song to a playlist should be add_to_playlist, not play_music.",
            "Questions about movie showtimes are search_screening_event.",
        ],
    },
    "social_support": {
        "prompt": "bench/support-tone",
        "var": "reply",
        "field": "tone",
        "instruction": (
            "Classify the tone of a forum reply towards the person who asked the question.\n"
            "Answer with one word: {labels}.\n"
        ),
        "human": "Reply: {reply}",
        "max_tokens": 4,
        "verbose": "This reply is {label} towards the person who asked.",
        "suggestions": [
            "Answer with one word only; the moderation queue cannot parse sentences.",
            "Replies that only give facts or links are neutral.",
            "Sarcasm and mockery are unsupportive even when polite.",
        ],
    },
    "implicatures": {
        "prompt": "bench/implicature",
        "var": "dialogue",
        "field": "answer",
        "instruction": (
            "Does Speaker 2's answer mean yes or no? Answer with one word: {labels}.\n"
        ),
        "human": "Dialogue: {dialogue}",
        "max_tokens": 4,
        "verbose": "Speaker 2's answer means {label}.",
        "suggestions": [
            "Reply with yes or no only; the form cannot read sentences.",
            "An indirect answer that gives a reason to refuse means no.",
            "Offering to help or saying it is easy means yes.",
        ],
    },
    "emojis_emotion_prediction": {
        "prompt": "bench/emoji-emotion",
        "var": "emoji",
        "field": "emotion",
        "instruction": (
            "Select the emotion that most closely corresponds to the emoji. "
            "The possible emotions are: {labels}.\n"
        ),
        "human": "Emoji: {emoji}",
        "max_tokens": 6,
        "verbose": "This emoji expresses {label}.",
        "suggestions": [
            "Reply with the emotion name only.",
            "Hearts and smiles are joy or trust, not anticipation.",
            "Crying faces are sadness.",
        ],
    },
}
# ``[0:400]`` of intent_recognition is the demo's (example-repo); the other tasks are unused there.
OFFSET = {"intent_recognition": 400}


# -- data -------------------------------------------------------------------------------------


def splits(
    task: str, n_test: int, n_val: int, n_train: int = 30, n_traffic: int = 100, draw: int = 0
) -> dict:
    """Slices of ``[400:]``; draw 0 keeps its order, draw d > 0 reshuffles it with Random(d)
    (``[400:]`` is too short for disjoint draws: 293 intent examples, 210 needed with --quick)."""
    ex, labels, _ = load(task)
    rest = list(ex[OFFSET.get(task, 0) :])
    if draw:
        random.Random(draw).shuffle(rest)
    # small tasks (emojis: 131 examples) get less simulated traffic, never less test/val
    n_traffic = max(0, min(n_traffic, len(rest) - n_test - n_val - n_train))
    need = n_test + n_val + n_train + n_traffic
    if len(rest) < need or n_traffic < 20:
        raise SystemExit(f"{task}: {len(rest)} examples, need {need} (+20 traffic)")
    out, i = {"labels": labels}, 0
    for name, n in (("test", n_test), ("val", n_val), ("train", n_train), ("traffic", n_traffic)):
        out[name] = rest[i : i + n]
        i += n
    return out


def prompt_yaml(task: str, labels: list[str]) -> str:
    t = TASKS[task]
    instr = t["instruction"].format(labels=", ".join(labels))
    body = "\n".join("      " + ln for ln in instr.rstrip("\n").split("\n"))
    return (
        "schema_version: 1\n"
        f"description: BIG-bench {task}; the caller needs the bare label.\n"
        "type: system\n"
        f"input_variables: [{t['var']}]\n"
        "messages:\n"
        "  - role: system\n"
        "    content: |\n"
        f"{body}\n"
        "  - role: human\n"
        f'    content: "{t["human"]}"\n'
        "model:\n"
        "  temperature: 0.0\n"
        f"  max_tokens: {t['max_tokens']}\n"
    )


def config_yaml(model: str, budget: int, prompt: str, opt_model: str | None = None) -> str:
    return f"""schema_version: 1
prompts_dir: prompts
feedback_dir: feedback
evals_dir: evals
envs: [staging, production]
models:
  task: {{provider: local, model: {model}, temperature: 0.0, max_tokens: 256}}
  embedder: {{provider: local, model: all-minilm-l6-v2}}
  cache: true
training:
  model: {{provider: local, model: {opt_model or model}, max_tokens: 512}}
  temperature: 0.7
  approaches: [few_shot, reinforcement, meta_prompt, adversarial]
  min_feedback_required: 10
  candidates: 3
  budget: {{calls: {budget}, tokens: 5000000}}
  auto_deploy: false
evaluation:
  test_runs: 1
  metrics: []
  deployment_thresholds: {{success_rate: 0.8, safety_score: 0.9, improvement_required: 0.05}}
  prompt_thresholds:
    {prompt}: {{success_rate: 0.3}}
"""


def suite_yaml(prompt: str, labels: list[str], var: str, cases: list[tuple], split=None) -> str:
    lines = ["schema_version: 1", f"prompt: {prompt}", "defaults:"]
    lines.append(f"  - one_of: [{', '.join(labels)}]")
    lines.append("cases:")
    for cid, text, label, sp in cases:
        lines.append(f"  - id: {cid}")
        lines.append(f"    vars: {{{var}: {json.dumps(text, ensure_ascii=False)}}}")
        lines.append(f"    expected: {json.dumps(label)}")
        if sp:
            lines.append(f"    split: {sp}")
    return "\n".join(lines) + "\n"


def feedback_records(task: str, data: dict, version: str) -> list[dict]:
    t, labels = TASKS[task], data["labels"]
    rng = random.Random(7)
    day0 = datetime(2026, 11, 1, tzinfo=UTC)
    base = {"prompt": t["prompt"], "version": version, "version_number": 1, "env": "production"}

    def ts() -> str:
        s = day0 + timedelta(seconds=rng.randrange(19 * 86400))
        return s.strftime("%Y-%m-%dT%H:%M:%S.") + f"{rng.randrange(1000):03d}Z"

    recs = []
    for text, lab in data["traffic"]:
        common = {**base, "ts": ts(), "inputs": {t["var"]: text}}
        roll = rng.random()
        if roll < 0.56:
            recs.append(
                {**common, "kind": "rating", "rating": rng.choice([1.0, 1.0, 0.9]), "output": lab}
            )
        elif roll < 0.80:
            recs.append(
                {
                    **common,
                    "kind": "rating",
                    "rating": rng.choice([0.2, 0.3, 0.4]),
                    "output": t["verbose"].format(label=lab.replace("_", " ")),
                    "message": "Answered with a sentence; the caller could not parse it",
                }
            )
        elif roll < 0.90:
            other = rng.choice([x for x in labels if x != lab])
            recs.append({**common, "kind": "rating", "rating": 0.0, "output": other})
        else:
            recs.append(
                {
                    **common,
                    "kind": "error",
                    "error_type": "DispatchError",
                    "error_message": "no label in model output",
                    "latency_ms": round(rng.lognormvariate(6.0, 0.35), 1),
                    "source": "automated",
                }
            )
    for s in t["suggestions"]:
        recs.append({**base, "ts": ts(), "kind": "suggestion", "suggestion": s})
    return recs


def gold_train(task: str, data: dict) -> list[tuple[str, str]]:
    """The labelled examples ptrain can build from: train cases + high-rated traffic."""
    recs = feedback_records(task, data, "0" * 40)
    good = [
        (r["inputs"][TASKS[task]["var"]], r["output"])
        for r in recs
        if r["kind"] == "rating" and r["rating"] >= 0.8
    ]
    return list(data["train"]) + good


def build_repo(
    dest: Path, task: str, model: str, data: dict, budget: int, cache: Path, opt_model=None
) -> Path:
    from ptrain.demo import FEEDBACK_DATE, FIRST_DATE, identity
    from ptrain.feedback import record_many
    from ptrain.repo import PromptRepo
    from ptrain.storage.git import init_repo

    t = TASKS[task]
    name, labels = t["prompt"], data["labels"]
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    cases = [(f"val-{i:03d}", x, y, None) for i, (x, y) in enumerate(data["val"])]
    cases += [(f"train-{i:03d}", x, y, "train") for i, (x, y) in enumerate(data["train"])]
    files = {
        "ptrain.yaml": config_yaml(model, budget, name, opt_model),
        f"prompts/{name}.yaml": prompt_yaml(task, labels),
        f"evals/{name}.yaml": suite_yaml(name, labels, t["var"], cases),
        ".gitignore": ".ptrain/\n",
    }
    for rel, text in files.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(text)
    git = init_repo(dest)
    git.run("symbolic-ref", "HEAD", "refs/heads/main")
    with identity(FIRST_DATE):
        version = git.commit_files({k: v.encode() for k, v in files.items()}, "Initial prompt")
        git.sync_index(list(files))
        PromptRepo(dest).deploy(name, 1, "production", reason="initial release")
    record_many(dest, feedback_records(task, data, version), writer="api-eu1-7f3a")
    fb = {
        p.relative_to(dest).as_posix(): p.read_bytes()
        for p in sorted((dest / "feedback").rglob("*"))
        if p.is_file()
    }
    with identity(FEEDBACK_DATE):
        git.commit_files(fb, "Import production feedback")
        git.sync_index(list(fb))
    # one response cache for every configuration of this model (cache hits are charged anyway)
    (dest / ".ptrain" / "cache").mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    (dest / ".ptrain" / "cache" / "responses").symlink_to(cache, target_is_directory=True)
    return dest


# -- cold-equivalent budget -------------------------------------------------------------------


_COLD: list = []


def install_cold_budget():
    """A Budget whose cache hits cost what the call would have cost (and may exceed it)."""
    if _COLD:
        return _COLD[0]
    from ptrain.errors import BudgetExceeded
    from ptrain.llm.budget import Budget, Spend
    from ptrain.llm.client import LLM

    class ColdBudget(Budget):
        def charge_hit(self, hit: dict) -> None:
            with self._lock:
                s, h = self._spent, self._held
                if self.calls is not None and s.calls + h.calls + 1 > self.calls:
                    raise BudgetExceeded(
                        f"budget reached: {self.calls} calls (cache hits charged); spent {s}",
                        "raise --budget",
                    )
                self._add(
                    s,
                    Spend(
                        calls=1,
                        prompt_tokens=hit["prompt_tokens"],
                        completion_tokens=hit["completion_tokens"],
                    ),
                    +1,
                )

    _COLD.append(ColdBudget)
    if not getattr(LLM._cache_hit, "_cold", False):
        orig = LLM._cache_hit

        def _cache_hit(self, hit):
            if isinstance(self.budget, ColdBudget):
                self.budget.charge_hit(hit)
            return orig(self, hit)

        _cache_hit._cold = True
        LLM._cache_hit = _cache_hit
    return ColdBudget


# -- ptrain -----------------------------------------------------------------------------------


def loaded(name: str, text: str):
    from ptrain.prompts import LoadedPrompt
    from ptrain.training.edits import checked

    return LoadedPrompt(name, checked(text), "", None)


def score(prompt, cases, llm) -> float:
    from ptrain.evaluation import evaluate

    r = evaluate(prompt, cases, llm=llm, judge=None, runs=1, metrics=[])
    return float(r.metrics.get("success_rate") or 0.0)


def run_ptrain(
    task,
    model,
    data,
    approach,
    budget_calls,
    test_cases,
    test_llm,
    cache,
    draw=0,
    opt_model=None,
    sweep=False,
) -> dict:
    """One ``ptrain train`` at ``budget_calls``; ``sweep``: a point of the accuracy-vs-calls
    curve below the main budget, in a repository of its own."""
    from ptrain.repo import PromptRepo
    from ptrain.training.run import train

    ColdBudget = install_cold_budget()
    tail = (f"-d{draw}" if draw else "") + (f"-b{budget_calls}" if sweep else "")
    dest = DATA / f"{task}-{model}-{approach}{tail}" / "repo"
    build_repo(dest, task, model, data, budget_calls, cache, opt_model)
    repo = PromptRepo(dest)
    name = TASKS[task]["prompt"]
    t0 = time.perf_counter()
    res = train(repo, name, approach, budget=ColdBudget(calls=budget_calls, tokens=5_000_000))
    wall = time.perf_counter() - t0
    # what ptrain would ship: the confirmed winner, else the search's pick by selection score
    # (reported either way, as DSPy's program is; "proposed" says whether it was confirmed)
    chosen = res.best or res.top
    conf = chosen.result.metrics.get("success_rate") if chosen and chosen.result else None
    row = {
        "task": task,
        "model": model,
        "method": f"ptrain {approach}"
        + (f" (optimizer {opt_model})" if opt_model and opt_model != model else ""),
        "val": chosen.selection if chosen else res.baseline_selection,
        "confirm": conf,
        "base_val": res.baseline_selection,
        "base_confirm": res.baseline.metrics.get("success_rate") if res.baseline else None,
        "candidate": chosen.candidate.label if chosen else "(none scored)",
        "proposed": res.best is not None,
        "calls": res.spend.get("calls", 0),
        "tokens": res.spend.get("tokens", 0),
        "real_calls": res.spend.get("calls", 0) - res.spend.get("cache_hits", 0),
        "wall_s": wall,
        "budget_exhausted": res.budget_exhausted,
        "sizes": res.sizes,
        "rounds": len(res.search.rounds) if res.search else 0,
        "candidates": [
            {
                "label": o.candidate.label,
                "round": o.round,
                "selection": o.selection,
                "minibatch": o.minibatch,
                "confirm": o.result.metrics.get("success_rate") if o.result else None,
                "rejected": o.rejected,
                "recommended": o.recommended,
                "p": o.comparison.p_value if o.comparison else None,
            }
            for o in res.outcomes
        ],
        "notes": res.notes,
    }
    text = chosen.candidate.text if chosen else prompt_yaml(task, data["labels"])
    row["test"] = score(loaded(name, text), test_cases, test_llm)
    (dest.parent / "chosen.yaml").write_text(text)
    return row


# -- DSPy -------------------------------------------------------------------------------------


class DspyCounter:
    """Every DSPy LM request (cache hits included), with the usage the response carries."""

    def __init__(self):
        self.calls = 0
        self.real = 0
        self.tokens = 0
        self.lock = threading.Lock()

    def install(self):
        # DSPy 3.4 routes every LM call, cached or not, through execution.finalize (which
        # BaseLM.__call__ imports at call time), so counting there sees them all.
        from dspy.clients import execution

        if getattr(execution.finalize, "_counted", False):
            execution.finalize._counter = self
            return
        orig = execution.finalize

        def finalize(lm, call, result):
            c = finalize._counter
            usage = dict(getattr(result, "usage", None) or {})
            tokens = int(usage.get("total_tokens") or 0)
            if not tokens:  # cache hits carry no usage: count what the call would have used
                from ptrain.llm.tokens import count_messages, count_text

                try:
                    msgs = [(m["role"], m["content"]) for m in call.messages or []]
                    tokens = count_messages(msgs) + sum(
                        count_text(str(o)) for o in (result.outputs or [])
                    )
                except Exception:
                    tokens = 0
            with c.lock:
                c.calls += 1
                c.real += 0 if getattr(result, "cache_hit", False) else 1
                c.tokens += tokens
            return orig(lm, call, result)

        finalize._counted = True
        finalize._counter = self
        execution.finalize = finalize

    def snapshot(self) -> tuple[int, int]:
        with self.lock:
            return self.calls, self.tokens


def dspy_program(task: str, labels: list[str]):
    import dspy

    t = TASKS[task]
    instr = t["instruction"].format(labels=", ".join(labels)).strip()
    sig = dspy.Signature(
        {t["var"]: dspy.InputField(), t["field"]: dspy.OutputField(desc="one label")},
        instr,
    )
    return dspy.Predict(sig)


def dspy_examples(task: str, pairs):
    import dspy

    t = TASKS[task]
    return [dspy.Example(**{t["var"]: x, t["field"]: y}).with_inputs(t["var"]) for x, y in pairs]


def dspy_eval(prog, examples, metric) -> float:
    import dspy

    ev = dspy.Evaluate(
        devset=examples,
        metric=metric,
        num_threads=2,
        display_progress=False,
        max_errors=10**6,
        failure_score=0.0,
        provide_traceback=False,
    )
    r = ev(prog)
    s = float(getattr(r, "score", r))
    return s / 100 if s > 1 else s


def _dspy_lm(model: str, **kw):
    import dspy

    from ptrain.llm import server

    return dspy.LM(
        f"openai/{model}", api_base=server.base_url(model), api_key="x", num_retries=1, **kw
    )


def _dspy_compile(
    method, student, trainset, valset, metric, field, budget_calls, n_cand, opt_model
):
    """Compile ``student`` with one DSPy optimizer (sized to about ``budget_calls`` LM calls)."""
    import dspy

    if method == "zero-shot":
        return student
    if method == "LabeledFewShot(k=8)":
        return dspy.LabeledFewShot(k=8).compile(student, trainset=trainset)
    if method == "KNNFewShot(k=4)":
        # DSPy's own per-call retrieval of demos, with the embedder ptrain uses (MiniLM) and no
        # bootstrapping: labelled nearest neighbours, what ptrain's `similar` candidates do
        from ptrain.llm.embed import embedder

        emb = embedder()
        return dspy.KNNFewShot(
            k=4,
            trainset=trainset,
            vectorizer=dspy.Embedder(lambda texts: emb.embed(list(texts)), caching=False),
            max_bootstrapped_demos=0,
            max_labeled_demos=4,
        ).compile(student)
    if method.startswith("BootstrapFewShotWithRandomSearch"):
        opt = dspy.BootstrapFewShotWithRandomSearch(
            metric=metric,
            max_bootstrapped_demos=4,
            max_labeled_demos=8,
            num_candidate_programs=n_cand,
            num_threads=2,
            max_errors=10**6,
        )
        return opt.compile(student, trainset=trainset, valset=valset)
    if method.startswith("MIPROv2"):
        # auto=None with explicit candidates/trials: "light" alone runs ~10x the call budget here
        opt = dspy.MIPROv2(
            metric=metric,
            prompt_model=_dspy_lm(opt_model, temperature=1.0, max_tokens=256),
            auto=None,
            num_candidates=3,
            num_threads=2,
            max_errors=10**6,
            verbose=False,
        )
        return opt.compile(
            student,
            trainset=trainset,
            valset=valset,
            num_trials=6,
            minibatch_size=min(20, len(valset)),
            max_bootstrapped_demos=4,
            max_labeled_demos=8,
            requires_permission_to_run=False,
        )
    if method.startswith("GEPA"):

        def gepa_metric(gold, pred, trace=None, pred_name=None, pred_trace=None):
            ok = metric(gold, pred)
            got = getattr(pred, field, "") or ""
            fb = "correct" if ok else f"expected {gold[field]!r}, got {got!r}"
            return dspy.Prediction(score=float(ok), feedback=fb)

        # GEPA takes auto OR max_metric_calls, not both: the call budget, like everyone else
        opt = dspy.GEPA(
            metric=gepa_metric,
            max_metric_calls=budget_calls,
            reflection_lm=_dspy_lm(opt_model, temperature=1.0, max_tokens=512),
            num_threads=2,
            seed=0,
        )
        return opt.compile(student, trainset=trainset, valset=valset)
    raise SystemExit(f"unknown DSPy method {method}")


def run_dspy(
    task, model, data, method, budget_calls, adapter, n_candidates, opt_model=None
) -> dict:
    import dspy

    from ptrain.evaluation.assertions import normalise

    t = TASKS[task]
    field = t["field"]

    def metric(ex, pred, trace=None):
        return normalise(getattr(pred, field, "") or "") == normalise(ex[field])

    dspy.configure_cache(disk_cache_dir=str(DATA / "dspy-cache"))
    lm = _dspy_lm(model, temperature=0.0, max_tokens=64)
    ad = dspy.JSONAdapter() if adapter == "json" else dspy.ChatAdapter()
    dspy.configure(lm=lm, adapter=ad)
    counter = DspyCounter()
    counter.install()
    trainset = dspy_examples(task, gold_train(task, data))
    valset = dspy_examples(task, data["val"])
    testset = dspy_examples(task, data["test"])
    student = dspy_program(task, data["labels"])
    t0 = time.perf_counter()
    note = ""
    prog = _dspy_compile(
        method,
        student,
        trainset,
        valset,
        metric,
        field,
        budget_calls,
        n_candidates,
        opt_model or model,
    )
    calls, tokens = counter.snapshot()
    compile_s = time.perf_counter() - t0
    val = dspy_eval(prog, valset, metric)
    if method in ("zero-shot", "LabeledFewShot(k=8)", "KNNFewShot(k=4)"):
        # no selection: scoring on val is what it costs to know its score
        calls, tokens = counter.snapshot()
        compile_s = time.perf_counter() - t0
    real = counter.real
    test = dspy_eval(prog, testset, metric)
    if calls > budget_calls:
        note = f"over the {budget_calls}-call budget"
    return {
        "task": task,
        "model": model,
        "method": dspy_name(method, None, adapter, n_candidates),
        "val": val,
        "test": test,
        "calls": calls,
        "tokens": tokens,
        "real_calls": real,
        "wall_s": compile_s,
        "proposed": None,
        "notes": [note] if note else [],
        "demos": len(getattr(prog, "demos", []) or []),
    }


def dspy_name(method: str, args=None, adapter: str = "chat", n_candidates: int = 2) -> str:
    if args is not None:
        adapter, n_candidates = args.dspy_adapter, args.dspy_candidates
    extra = f", {n_candidates} candidates" if "RandomSearch" in method else ""
    return f"DSPy {method} ({adapter}{extra})"


def majority_row(task: str, model: str, data: dict) -> dict:
    """Always answer the commonest label of the labelled examples ptrain and DSPy can build from."""
    from collections import Counter

    gold = [y for _, y in gold_train(task, data)]
    top = Counter(gold).most_common(1)[0][0]
    acc = sum(y == top for _, y in data["test"]) / len(data["test"])
    return {
        "task": task,
        "model": model,
        "method": "majority label (no LM)",
        "test": acc,
        "val": sum(y == top for _, y in data["val"]) / len(data["val"]),
        "calls": 0,
        "real_calls": 0,
        "wall_s": 0.0,
        "proposed": None,
        "notes": [f"always {top!r}"],
    }


# -- driver -----------------------------------------------------------------------------------


def fmt(x, pct=False) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.3f}" if pct else f"{x:,.0f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def table(rows: list[dict]) -> str:
    head = (
        "| task | model | method | test acc | val acc | proposed | LM calls | tokens | wall s |\n"
        "|---|---|---|---:|---:|---|---:|---:|---:|\n"
    )

    def order(r):
        m = r["method"]
        rank = (
            0
            if m == "starting prompt"
            else 1 + APPROACHES.index(m.split()[1])
            if m.startswith("ptrain ") and m.split()[1] in APPROACHES
            else 10
        )
        return (r["task"], r.get("draw", 0), r["model"], rank)

    lines = []
    for r in sorted(rows, key=order):
        prop = {True: "yes", False: "no", None: "-"}[r.get("proposed")]
        lines.append(
            f"| {r['task']}{f' (draw {d})' if (d := r.get('draw', 0)) else ''} | {r['model']} | "
            f"{r['method']} | {fmt(r.get('test'), True)} | "
            f"{fmt(r.get('val'), True)} | {prop} | {fmt(r.get('calls'))} | "
            f"{fmt(r.get('tokens'))} | {fmt(r.get('wall_s'))} |"
        )
    return head + "\n".join(lines) + "\n"


def median(xs: list) -> float | None:
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


BFRS = "DSPy BootstrapFewShotWithRandomSearch"


def summary(rows: list[dict], ref: str = f"{BFRS} (chat, 2 candidates)") -> str:
    """Per (task, model, method) over data draws: median / min-max test accuracy, median calls;
    then each ptrain approach against ``ref`` (DSPy BootstrapFewShotWithRandomSearch), as ratios
    of medians over the draws both ran, and per-draw wins/ties/losses."""
    groups: dict[tuple, dict[int, dict]] = {}
    for r in rows:
        if r.get("test") is not None:
            groups.setdefault((r["task"], r["model"], r["method"]), {})[r.get("draw", 0)] = r
    out = [
        "| task | model | method | draws | proposed | median test acc | min–max | median LM calls "
        "| median real calls |",
        "|---|---|---|---:|---|---:|---|---:|---:|",
    ]
    ordered = sorted(groups.items(), key=lambda kv: (*kv[0][:2], kv[0][2][0] != "p", kv[0][2]))
    for (task, model, method), by in ordered:
        acc = [r["test"] for r in by.values()]
        prop = [r.get("proposed") for r in by.values()]
        prop = "-" if None in prop else f"{sum(prop)}/{len(prop)}"
        out.append(
            f"| {task} | {model} | {method} | {len(by)} | {prop} | {fmt(median(acc), True)} | "
            f"{min(acc):.3f}–{max(acc):.3f} | {fmt(median([r.get('calls') for r in by.values()]))}"
            f" | {fmt(median([r.get('real_calls') for r in by.values()]))} |"
        )
    out += [
        "",
        f"| task | model | ptrain vs {ref.removeprefix('DSPy ')} | acc ratio (medians) "
        "| calls ratio (medians) "
        "| draws won/tied/lost |",
        "|---|---|---|---:|---:|---|",
    ]
    for (task, model, method), by in ordered:
        other = groups.get((task, model, ref))
        if not method.startswith("ptrain ") or other is None:
            continue
        common = sorted(set(by) & set(other))
        if not common:
            continue
        a = median([by[d]["test"] for d in common])
        b = median([other[d]["test"] for d in common])
        ca = median([by[d].get("calls") for d in common])
        cb = median([other[d].get("calls") for d in common])
        d = [by[i]["test"] - other[i]["test"] for i in common]
        wtl = f"{sum(x > 0 for x in d)}/{sum(x == 0 for x in d)}/{sum(x < 0 for x in d)}"
        acc_ratio = f"{a / b:.2f}" if b else "-"
        calls_ratio = f"{ca / cb:.2f}" if ca is not None and cb else "-"
        out.append(f"| {task} | {model} | {method} | {acc_ratio} | {calls_ratio} | {wtl} |")
    return "\n".join(out) + "\n"


def latest_rows(path: Path, n_test: int | None = None, n_val: int | None = None) -> list[dict]:
    """Per (task, model, method, draw), the newest run, with the wall time of the slowest (the
    coldest: results are identical between runs at temperature 0 with seeded sampling, only the
    wall time shrinks as the response cache fills); only runs with these split sizes if given."""
    rows: dict[tuple, dict] = {}
    wall: dict[tuple, float] = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        a = r.get("args") or {}
        if (n_test, n_val) != (None, None) and (a.get("test"), a.get("val")) != (n_test, n_val):
            continue
        k = (r["task"], r["model"], r["method"], r.get("draw", 0))
        rows[k] = r
        if r.get("wall_s") is not None:
            wall[k] = max(wall.get(k, 0.0), r["wall_s"])
    return [{**r, "wall_s": wall.get(k)} for k, r in rows.items()]


_AT = re.compile(r" @\d+$")  # a sweep point's suffix: "METHOD @N"


def _plot_name(method: str) -> str:
    """A method's legend name: without DSPy's adapter, with the sweep's " @N" kept."""
    at = _AT.search(method)
    bare = re.sub(r" \((chat|json)[^)]*\)$", "", _AT.sub("", method))
    return bare + (at.group() if at else "")


def plot(rows: list[dict], path: Path) -> Path:
    """Accuracy vs LM calls, one panel per (task, model): each method's draws and its median."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = sorted({(r["task"], r["model"]) for r in rows if r.get("test") is not None})
    fig, axes = plt.subplots(1, max(1, len(cells)), figsize=(4.2 * max(1, len(cells)), 4.2))
    axes = [axes] if len(cells) <= 1 else list(axes)
    names = sorted(
        {_AT.sub("", _plot_name(r["method"])) for r in rows if r.get("test") is not None}
    )
    color = {m: f"C{i % 10}" for i, m in enumerate(names)}  # one colour per method everywhere
    for ax, (task, model) in zip(axes, cells, strict=False):
        by: dict[str, list[dict]] = {}
        for r in rows:
            if (r["task"], r["model"]) == (task, model) and r.get("test") is not None:
                by.setdefault(_plot_name(r["method"]), []).append(r)
        curves: dict[str, list[tuple]] = {}
        for method, rs in sorted(by.items()):
            base = _AT.sub("", method)
            xs = [r.get("calls") or 0 for r in rs]
            ys = [r["test"] for r in rs]
            c = color[base]
            ax.plot(xs, ys, "o", alpha=0.35, color=c)
            main = base == method
            ax.plot(
                [median(xs)],
                [median(ys)],
                "D" if main else "d",
                color=c,
                label=method if main else None,
                ms=8 if main else 6,
            )
            curves.setdefault(base, []).append((median(xs), median(ys)))
        for base, pts in curves.items():  # a method run at several budgets: its curve
            if len(pts) > 1:
                ax.plot(*zip(*sorted(pts), strict=True), "-", color=color[base], alpha=0.7)
        ax.set_title(f"{task}\n{model}", fontsize=9)
        ax.set_xlabel("LM calls to train/compile")
        ax.set_ylabel("test accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", default="intent_recognition")
    ap.add_argument("--models", default="smollm2-135m")
    ap.add_argument("--approaches", default="auto", help=f"comma list of {APPROACHES}")
    ap.add_argument(
        "--dspy",
        default="zero-shot,LabeledFewShot(k=8),BootstrapFewShotWithRandomSearch",
        help="comma list; '' to skip; MIPROv2 also accepted",
    )
    ap.add_argument("--dspy-adapter", default="chat", choices=["chat", "json"])
    ap.add_argument("--dspy-candidates", type=int, default=2)
    ap.add_argument("--budget", type=int, default=500, help="LM calls per configuration")
    ap.add_argument("--test", type=int, default=80)
    ap.add_argument("--val", type=int, default=80)
    ap.add_argument("--quick", action="store_true", help="40 val / 40 test cases")
    ap.add_argument("--out", default=str(DATA / "results.jsonl"))
    ap.add_argument(
        "--draws",
        type=int,
        default=1,
        help="data draws: 0 = the [400:] order, d > 0 = [400:] reshuffled with Random(d)",
    )
    ap.add_argument(
        "--table", action="store_true", help="print the tables of --out (--quick: 40/40 only)"
    )
    ap.add_argument(
        "--optimizer-model",
        default=None,
        help="ptrain's training.model and GEPA/MIPROv2's reflection/prompt model (default: the task model)",
    )
    ap.add_argument(
        "--dspy-timeout",
        type=float,
        default=None,
        help="stop a MIPROv2/GEPA compile after N seconds",
    )
    ap.add_argument("--resume", action="store_true", help="skip ptrain cells already in --out")
    ap.add_argument(
        "--sweep",
        default="",
        help="comma list of smaller call budgets to rerun ptrain's approaches and GEPA at, after "
        "the main one: the accuracy-vs-calls curve (rows named 'METHOD @N')",
    )
    ap.add_argument("--plot", action="store_true", help="write the accuracy-vs-calls PNG of --out")
    ap.add_argument(
        "--plot-out",
        default=str(HERE / "results" / "train_quality_acc_vs_calls.png"),
        help="where --plot writes the PNG",
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.test, args.val = 40, 40
    ref = f"{BFRS} ({args.dspy_adapter}, {args.dspy_candidates} candidates)"
    if args.table or args.plot:
        rows = latest_rows(Path(args.out), *((40, 40) if args.quick else (None, None)))
        if args.plot:
            print(plot(rows, Path(args.plot_out)))
        print(table(rows))
        print(summary(rows, ref))
        return 0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = _done_keys(out, args) if args.resume else set()
    rows: list[dict] = []
    tasks = [t for t in args.tasks.split(",") if t]
    # SmolLM2 over every task and draw first, then the next model: a partial run is a full table
    for model in [m for m in args.models.split(",") if m]:
        for draw in range(args.draws):
            for task in tasks:
                run_cell(task, model, draw, args, out, rows, done)
    print(table(rows))
    print(summary(rows, ref))
    return 0


def _done_keys(out: Path, args) -> set[tuple]:
    if not out.exists():
        return set()
    keys = set()
    for line in out.read_text().splitlines():
        r = json.loads(line)
        a = r.get("args") or {}
        same = (a.get("test"), a.get("val"), a.get("budget")) == (args.test, args.val, args.budget)
        if same and r.get("test") is not None:
            keys.add((r["task"], r["model"], r["method"], r.get("draw", 0)))
    return keys


def _write(out: Path, row: dict, rows: list[dict], args, draw: int) -> None:
    row["draw"] = draw
    row["stamp"] = datetime.now(UTC).isoformat(timespec="seconds")
    row["args"] = vars(args)
    with out.open("a") as f:  # one line per result as it lands: a killed run is still a table
        f.write(json.dumps(row, default=str) + "\n")
    rows.append(row)
    print(
        json.dumps({k: v for k, v in row.items() if k not in ("args", "candidates")}, default=str)
    )


def run_capped(timeout: float | None, fn, *a) -> dict:
    """``fn(*a)`` in a forked process, stopped after ``timeout`` s (the machine is shared and
    some DSPy optimizers run for an hour on SmolLM2): a cell that does not finish is a row that
    says so, not a benchmark that never ends. The model server stays in this process."""
    if not timeout:
        return fn(*a)
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    q = ctx.Queue()

    def child():
        try:
            q.put(fn(*a))
        except Exception as exc:
            q.put({"notes": [f"failed: {exc.__class__.__name__}: {str(exc)[:300]}"]})

    t0 = time.perf_counter()
    p = ctx.Process(target=child, daemon=True)
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.kill()
        p.join()
        return {
            "task": a[0],
            "model": a[1],
            "wall_s": time.perf_counter() - t0,
            "notes": [f"stopped after {timeout:.0f} s: did not finish compiling on this machine"],
        }
    return q.get() if not q.empty() else {"notes": ["failed: the process died"]}


def run_cell(task: str, model: str, draw: int, args, out: Path, rows: list, done: set) -> None:
    """Every method on one (task, model, draw), side by side, same data and call budget."""
    from ptrain.config import ModelSettings
    from ptrain.evaluation.suite import parse_suite_text
    from ptrain.llm.client import LLM

    data = splits(task, args.test, args.val, draw=draw)
    t = TASKS[task]

    def suite_of(kind: str, pairs) -> list:
        cases = [(f"{kind}-{i:03d}", x, y, None) for i, (x, y) in enumerate(pairs)]
        text = suite_yaml(t["prompt"], data["labels"], t["var"], cases)
        return parse_suite_text(text, f"{kind}.yaml").resolved()

    test_cases = suite_of("test", data["test"])
    cache = DATA / "cache" / model
    cache.mkdir(parents=True, exist_ok=True)
    test_llm = LLM(
        ModelSettings(provider="local", model=model, temperature=0.0, max_tokens=256),
        cache_dir=cache,
    )
    start_prompt = loaded(t["prompt"], prompt_yaml(task, data["labels"]))
    if (task, model, "starting prompt", draw) not in done:
        base = {"task": task, "model": model, "method": "starting prompt", "calls": 0}
        base["test"] = score(start_prompt, test_cases, test_llm)
        base["val"] = score(start_prompt, suite_of("val", data["val"]), test_llm)
        _write(out, base, rows, args, draw)
    _write(out, majority_row(task, model, data), rows, args, draw)
    configs = [("ptrain", a, args.budget) for a in args.approaches.split(",") if a]
    configs += [("dspy", m, args.budget) for m in args.dspy.split(",") if m]
    # the curve's points below the main budget, after it (so mostly served from the cache):
    # ptrain's approaches and GEPA, the one DSPy optimizer that takes a call budget
    curve = [(k, w) for k, w, _ in configs if k == "ptrain" or w == "GEPA"]
    for b in sorted({int(x) for x in args.sweep.split(",") if x} - {args.budget}):
        configs += [(k, w, b) for k, w in curve]
    opt_model = args.optimizer_model or model
    for kind, what, budget in configs:
        sweep = budget != args.budget
        at = f" @{budget}" if sweep else ""
        print(f"== {task} / draw {draw} / {model} / {kind} {what}{at}", flush=True)
        t0 = time.perf_counter()
        try:
            if kind == "ptrain":
                method = f"ptrain {what}" + (
                    f" (optimizer {opt_model})" if opt_model != model else ""
                )
                if (task, model, method + at, draw) in done:
                    continue
                row = run_ptrain(
                    task,
                    model,
                    data,
                    what,
                    budget,
                    test_cases,
                    test_llm,
                    cache,
                    draw,
                    opt_model,
                    sweep,
                )
            else:
                if (task, model, dspy_name(what, args) + at, draw) in done:
                    continue
                capped = what.startswith(("MIPROv2", "GEPA"))
                row = run_capped(
                    args.dspy_timeout if capped else None,
                    run_dspy,
                    task,
                    model,
                    data,
                    what,
                    budget,
                    args.dspy_adapter,
                    args.dspy_candidates,
                    opt_model,
                )
                row.setdefault("method", dspy_name(what, args))
        except Exception as exc:  # report and go on: one broken config is a result too
            traceback.print_exc()
            row = {
                "task": task,
                "model": model,
                "method": f"{kind} {what}",
                "wall_s": time.perf_counter() - t0,
                "notes": [f"failed: {exc.__class__.__name__}: {str(exc)[:300]}"],
            }
        row["method"] += at  # a sweep point: "METHOD @N"
        row["budget"] = budget
        _write(out, row, rows, args, draw)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
