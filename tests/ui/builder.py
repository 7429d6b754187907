"""The example repository with a story the web page can show, built for real.

``example-repo/`` copied into a git repository the way ``ptrain.demo`` builds it (its feedback
on v1 of every prompt, Nov 1-19), then for ``assistant/intent``:

* v2 committed (2026-11-19), deployed to staging (11-19) and production (11-20);
* production feedback on v2 for Nov 20-24: more errors, lower ratings, slower;
* a rollback of production to v1 (11-25) and v1 feedback for Nov 25-27;
* stored evaluations of v1 and v2 on its eval suite (a scripted task model, at the seam
  ``ptrain/llm/scripted.py``) that disagree on some cases;
* an A/B experiment in staging (A=v1, B=v2) with live feedback on both variants;
* one training run (``ptrain.training.train``, scripted task and optimizer models), which
  writes its report under ``.ptrain/reports`` and its branch or attempt tag.

Deploy records carry the wall-clock time of the deploy; the clock of ``ptrain.repo`` is set for
the deploys of this story so they sit among the feedback they explain.
"""

from __future__ import annotations

import contextlib
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

NAME = "assistant/intent"
V2_LINE = "      Reply with the label only, in lowercase.\n"
LABELS = ["add_to_playlist", "book_restaurant", "get_weather", "play_music", "rate_book",
          "search_creative_work", "search_screening_event"]  # fmt: skip


@contextlib.contextmanager
def clock(at: str):
    """``ptrain.deploy``'s ``datetime.now`` returns ``at`` (the deploy record's ``at`` field)."""
    import ptrain.deploy as repo_mod

    fixed = datetime.fromisoformat(at.replace("Z", "+00:00"))

    class Fixed(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return fixed if tz else fixed.replace(tzinfo=None)

    saved = repo_mod.datetime
    repo_mod.datetime = Fixed
    try:
        yield
    finally:
        repo_mod.datetime = saved


def _day_records(rng, day: datetime, n: int, version, bad: bool, env: str = "production"):
    """``n`` records of one day: calls (success/error with latency and tokens) and ratings."""
    out = []
    for i in range(n):
        ts = (day + timedelta(minutes=30 + i * (1380 // n))).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        base = {"prompt": NAME, "version": version.commit, "version_number": version.number,
                "env": env, "ts": ts}  # fmt: skip
        label = rng.choice(LABELS)
        utterance = f"utterance {day:%m%d}-{i} about {label.replace('_', ' ')}"
        if i % 3 == 2:
            good = rng.random() > (0.55 if bad else 0.2)
            out.append({**base, "kind": "rating", "rating": 1.0 if good else 0.2,
                        "inputs": {"utterance": utterance},
                        "output": label if good else f"The intent is {label}.",
                        **({} if good else {"message": "answered with a sentence"})})  # fmt: skip
            continue
        failed = rng.random() < (0.3 if bad else 0.06)
        lat = rng.uniform(450, 900) if bad else rng.uniform(250, 550)
        rec = {**base, "latency_ms": round(lat, 1), "source": "automated"}
        if failed:
            rec.update(kind="error", error_type="DispatchError", error_message="no intent label")
        else:
            rec.update(kind="success", prompt_tokens=rng.randint(95, 110),
                       completion_tokens=rng.randint(3, 9))  # fmt: skip
        out.append(rec)
    return out


def scripted_intent(msgs) -> str:
    """Right on most cases; v2's extra instruction makes it answer in a sentence on some."""
    system = " ".join(m.content for m in msgs if m.type == "system")
    text = msgs[-1].content.removeprefix("Utterance: ").lower()
    words = {"playlist": "add_to_playlist", "restaurant": "book_restaurant", "reserv": "book_restaurant",
             "weather": "get_weather", "forecast": "get_weather", "play": "play_music",
             "rate": "rate_book", "star": "rate_book", "movie": "search_screening_event",
             "schedule": "search_screening_event", "showtime": "search_screening_event"}  # fmt: skip
    label = next((lab for w, lab in words.items() if w in text), "search_creative_work")
    if "lowercase" in system and len(text) % 2 == 0:
        return f"The intent is {label}."
    return label


def build(dest: Path) -> Path:
    from ptrain import PromptRepo
    from ptrain.demo import build_demo_repo, identity

    with clock("2026-10-01T09:30:00Z"):
        build_demo_repo(dest)
    repo = PromptRepo(dest)
    path = dest / repo.prompt_path(NAME)
    text = path.read_text().replace("      rate_book.\n", "      rate_book.\n" + V2_LINE, 1)
    with identity("2026-11-19T08:00:00Z"):
        v2 = repo.update(NAME, text, message="Ask for the bare label in lowercase")
    v1 = repo.resolve(NAME, 1)
    moves = [
        ("2026-11-19T10:00:00Z", lambda: repo.deploy(NAME, 2, "staging", reason="try the lowercase instruction")),
        ("2026-11-20T00:00:00Z", lambda: repo.deploy(NAME, 2, "production", reason="staging looked fine")),
        ("2026-11-25T00:00:00Z", lambda: repo.rollback(NAME, "production", reason="error rate doubled after v2")),
    ]  # fmt: skip
    for at, move in moves:
        with clock(at):
            rec = move()
        if rec.at != at:  # the story needs its dates: fail here, not in a puzzling assertion
            raise RuntimeError(
                f"deploy record at {rec.at}, wanted {at}: ptrain.repo no longer takes the time "
                "from datetime.now; update tests/ui/builder.clock"
            )
    _feedback(repo, v1, v2)
    _evaluations(repo)
    _experiment(repo)
    _training(dest)
    return dest


def _feedback(repo, v1, v2) -> None:
    from ptrain.feedback import record_many

    rng = random.Random(7)
    recs = []
    for d in range(20, 25):
        recs += _day_records(rng, datetime(2026, 11, d, tzinfo=UTC), 14, v2, bad=True)
    for d in range(25, 28):
        recs += _day_records(rng, datetime(2026, 11, d, tzinfo=UTC), 10, v1, bad=False)
    recs.append({"prompt": NAME, "version": v2.commit, "version_number": 2, "env": "production",
                 "ts": "2026-11-22T15:00:00.000Z", "kind": "suggestion",
                 "suggestion": "Keep the labels exactly as listed; lowercase sentences break routing."})  # fmt: skip
    record_many(repo.root, recs)


def _evaluations(repo) -> None:
    from ptrain.config import ModelSettings
    from ptrain.evaluation.service import evaluate_version
    from ptrain.llm.client import LLM
    from ptrain.llm.scripted import scripted_models

    with scripted_models({"ui-intent": scripted_intent}):
        settings = ModelSettings(provider="scripted", model="ui-intent", max_tokens=16)
        task = LLM(settings, cache_dir=None)
        for version in ("1", "2"):
            evaluate_version(repo, NAME, version, runs=1, llms=(task, task))


def _experiment(repo) -> None:
    from ptrain import ab
    from ptrain.feedback import record_many

    ab.start(repo, NAME, ["A=1", "B=2"], env="staging", reason="lowercase instruction")
    rng = random.Random(3)
    recs = []
    for i in range(60):
        variant, v = ("A", 1) if i % 2 == 0 else ("B", 2)
        commit = repo.resolve(NAME, v).commit
        ok = rng.random() > (0.1 if variant == "A" else 0.3)
        recs.append({"prompt": NAME, "version": commit, "version_number": v, "env": "staging",
                     "variant": variant, "kind": "success" if ok else "error",
                     **({} if ok else {"error_type": "DispatchError"})})  # fmt: skip
    record_many(repo.root, recs)


def scripted_optimizer(msgs) -> str:
    """meta_prompt's optimizer: drops the lowercase instruction (which the task model fumbles)."""
    return (
        "<prompt>Predict the intent of the utterance. The possible intents are: "
        + ", ".join(LABELS)
        + ". Reply with exactly one of them.</prompt>"
    )


def _training(root: Path) -> None:
    """One real ``train`` run with scripted models; ptrain.yaml is restored afterwards, so the
    work tree is the example's (the run's branch and report stay)."""
    from ptrain import PromptRepo
    from ptrain.llm.scripted import scripted_models
    from ptrain.storage.yamlio import dump_roundtrip, load_roundtrip
    from ptrain.training.run import train

    cfg = root / "ptrain.yaml"
    original = cfg.read_text()
    doc = load_roundtrip(original)
    doc["models"]["task"] = {"provider": "scripted", "model": "ui-intent", "max_tokens": 16}
    doc["training"]["model"] = {"provider": "scripted", "model": "ui-opt", "max_tokens": 256}
    cfg.write_text(dump_roundtrip(doc))
    try:
        with scripted_models({"ui-intent": scripted_intent, "ui-opt": scripted_optimizer}):
            stamp = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
            train(PromptRepo(root), NAME, "meta_prompt", candidates=1, runs=1, now=stamp)
    finally:
        cfg.write_text(original)


def expected_points(root: Path, name: str = NAME) -> int:
    """Distinct (version, UTC day) pairs in the stored feedback of ``name``, read from the
    shard files directly (independently of the code under test)."""
    seen = set()
    for p in (root / "feedback" / name).rglob("*.jsonl"):
        for line in p.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                seen.add((r.get("version"), r["ts"][:10]))
    return len(seen)


def expected_rating_points(root: Path, name: str = NAME) -> int:
    """Distinct (version, UTC day) pairs that have at least one rating."""
    seen = set()
    for p in (root / "feedback" / name).rglob("*.jsonl"):
        for line in p.read_text().splitlines():
            r = json.loads(line) if line.strip() else {}
            if r.get("rating") is not None:
                seen.add((r.get("version"), r["ts"][:10]))
    return len(seen)


def expected_points_where(root: Path, keep, name: str = NAME) -> int:
    """Distinct (version, UTC day) pairs with at least one record for which ``keep(record)``."""
    seen = set()
    for p in (root / "feedback" / name).rglob("*.jsonl"):
        for line in p.read_text().splitlines():
            r = json.loads(line) if line.strip() else {}
            if r and keep(r):
                seen.add((r.get("version"), r["ts"][:10]))
    return len(seen)


def expected_differences(root: Path, name: str = NAME) -> tuple[int, int]:
    """(cases whose stored results disagree, cases failed somewhere) over the stored results
    of the 40 held-out cases, read from ``.ptrain/evals/*.json`` directly."""
    outcomes: dict[str, list[bool]] = {}
    for p in (root / ".ptrain" / "evals").glob("*.json"):
        d = json.loads(p.read_text())
        if d.get("prompt") != name or len(d.get("cases", [])) != 40:
            continue
        for c in d["cases"]:
            outcomes.setdefault(c["id"], []).append(bool(c["passed"]))
    differ = sum(1 for v in outcomes.values() if len(set(v)) > 1)
    failed = sum(1 for v in outcomes.values() if not all(v))
    return differ, failed
