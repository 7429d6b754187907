"""Regenerate example-repo/evals and example-repo/feedback from BIG-bench data.

    python benchmarks/build_example_repo.py

Feedback records point at the commit the demo builds deterministically (see ptrain.demo), so
run this again after changing anything in example-repo/ outside feedback/.
Slices of the shuffled intent task (see benchmarks/bigbench.py): [0:40] held-out eval cases,
[40:54] train-split eval cases, [100:400] simulated production traffic. benchmarks/train_quality
uses [400:] only, so the benchmark never sees the demo's data.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bigbench import load  # noqa: E402

ROOT = Path(__file__).resolve().parents[1] / "example-repo"
WRITERS = ["api-eu1-7f3a", "api-us2-19c4"]


def yaml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def write_suite(
    path: Path, prompt: str, description: str, defaults: list[str], cases: list[dict]
) -> None:
    lines = ["schema_version: 1", f"prompt: {prompt}", f"description: {yaml_str(description)}"]
    if defaults:
        lines.append("defaults:")
        lines += [f"  - {d}" for d in defaults]
    lines.append("cases:")
    for c in cases:
        lines.append(f"  - id: {c['id']}")
        lines.append(
            "    vars: {" + ", ".join(f"{k}: {yaml_str(v)}" for k, v in c["vars"].items()) + "}"
        )
        if "expected" in c:
            lines.append(f"    expected: {yaml_str(c['expected'])}")
        if "assert" in c:
            lines.append("    assert:")
            lines += [f"      - {a}" for a in c["assert"]]
        if "split" in c:
            lines.append(f"    split: {c['split']}")
        if "tags" in c:
            lines.append(f"    tags: [{', '.join(c['tags'])}]")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def ts(rng: random.Random, day0: datetime, days: int) -> str:
    t = day0 + timedelta(seconds=rng.randrange(days * 86400))
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{rng.randrange(1000):03d}Z"


def rid(rng: random.Random, t: str) -> str:
    ms = int(datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp() * 1000)
    return f"{ms:012x}" + "".join(rng.choice("0123456789abcdef") for _ in range(14))


def write_feedback(prompt: str, records: list[dict]) -> int:
    by_file: dict[Path, list[dict]] = {}
    for r in sorted(records, key=lambda r: r["ts"]):
        w = WRITERS[hash(r["id"]) % len(WRITERS)] if False else WRITERS[int(r["id"][-1], 16) % 2]
        by_file.setdefault(ROOT / "feedback" / prompt / r["ts"][:10] / f"{w}.jsonl", []).append(r)
    for path, recs in by_file.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in recs)
        )
    return len(records)


def intent(version: str) -> None:
    ex, labels, _ = load("intent_recognition")
    test, train, traffic = ex[0:40], ex[40:54], ex[100:400]
    cases = [
        {"id": f"intent-{i:03d}", "vars": {"utterance": u}, "expected": lab}
        for i, (u, lab) in enumerate(test)
    ]
    cases += [
        {"id": f"intent-train-{i:02d}", "vars": {"utterance": u}, "expected": lab, "split": "train"}
        for i, (u, lab) in enumerate(train)
    ]
    write_suite(
        ROOT / "evals/assistant/intent.yaml",
        "assistant/intent",
        "Utterances from the BIG-bench intent_recognition task; the dispatcher needs the bare label.",
        [f"one_of: [{', '.join(labels)}]"],
        cases,
    )
    rng = random.Random(7)
    day0 = datetime(2026, 11, 1, tzinfo=UTC)
    recs = []
    base = {
        "schema_version": 1,
        "prompt": "assistant/intent",
        "version": version,
        "version_number": 1,
        "env": "production",
    }
    for u, lab in traffic[:150]:
        t = ts(rng, day0, 19)
        roll = rng.random()
        common = {**base, "id": rid(rng, t), "ts": t, "inputs": {"utterance": u}}
        lat = round(rng.lognormvariate(6.0, 0.35), 1)
        if roll < 0.56:  # right label, rated good
            recs.append(
                {
                    **common,
                    "kind": "rating",
                    "rating": rng.choice([1.0, 1.0, 0.9]),
                    "output": lab,
                    "source": "user",
                }
            )
        elif (
            roll < 0.80
        ):  # a sentence instead of a label: the dispatcher falls back, users rate it down
            wrong = f"The intent of this utterance is {lab.replace('_', ' ')}."
            recs.append(
                {
                    **common,
                    "kind": "rating",
                    "rating": rng.choice([0.2, 0.3, 0.4]),
                    "output": wrong,
                    "message": "Assistant answered with a sentence; routing failed",
                    "source": "user",
                }
            )
        elif roll < 0.90:  # wrong label
            other = rng.choice([x for x in labels if x != lab])
            recs.append(
                {**common, "kind": "rating", "rating": 0.0, "output": other, "source": "user"}
            )
        else:  # the dispatcher could not parse the answer at all
            recs.append(
                {
                    **common,
                    "kind": "error",
                    "error_type": "DispatchError",
                    "error_message": "no intent label in model output",
                    "latency_ms": lat,
                    "source": "automated",
                }
            )
    for _ in traffic[150:300]:  # automated success metrics for calls that returned something
        t = ts(rng, day0, 19)
        recs.append(
            {
                **base,
                "id": rid(rng, t),
                "ts": t,
                "kind": "success",
                "latency_ms": round(rng.lognormvariate(6.0, 0.3), 1),
                "prompt_tokens": rng.randrange(70, 110),
                "completion_tokens": rng.randrange(2, 14),
                "source": "automated",
            }
        )
    for s in [
        "Reply with only the intent name; the dispatcher rejects sentences.",
        "Adding a song to a playlist should be add_to_playlist, not play_music.",
        "Questions about movie showtimes are search_screening_event.",
    ]:
        t = ts(rng, day0, 19)
        recs.append(
            {
                **base,
                "id": rid(rng, t),
                "ts": t,
                "kind": "suggestion",
                "suggestion": s,
                "source": "user",
            }
        )
    print(
        "assistant/intent:",
        write_feedback("assistant/intent", recs),
        "feedback records,",
        len(cases),
        "eval cases",
    )


def tone(version: str) -> None:
    ex, labels, _ = load("social_support")
    test, traffic = ex[0:24], ex[100:160]
    cases = [
        {"id": f"tone-{i:03d}", "vars": {"reply": u}, "expected": lab}
        for i, (u, lab) in enumerate(test)
    ]
    write_suite(
        ROOT / "evals/community/support-tone.yaml",
        "community/support-tone",
        "Forum replies from the BIG-bench social_support task.",
        [f"one_of: [{', '.join(labels)}]"],
        cases,
    )
    rng = random.Random(11)
    day0 = datetime(2026, 11, 5, tzinfo=UTC)
    base = {
        "schema_version": 1,
        "prompt": "community/support-tone",
        "version": version,
        "version_number": 1,
        "env": "production",
    }
    recs = []
    for u, lab in traffic:
        t = ts(rng, day0, 14)
        good = rng.random() < 0.5
        recs.append(
            {
                **base,
                "id": rid(rng, t),
                "ts": t,
                "kind": "rating",
                "inputs": {"reply": u},
                "output": lab if good else rng.choice([x for x in labels if x != lab]),
                "rating": 1.0 if good else 0.0,
                "source": "user",
            }
        )
    print(
        "community/support-tone:",
        write_feedback("community/support-tone", recs),
        "feedback records,",
        len(cases),
        "eval cases",
    )


TICKETS = [
    (
        "I was charged twice for my Acme Pro subscription this month, please refund one charge.",
        "subscription",
    ),
    (
        "The Acme Router X2 keeps dropping wifi every evening since the last firmware update.",
        "router",
    ),
    ("How do I export my invoices from the Acme billing portal as CSV?", "invoices"),
    ("My Acme Watch strap broke after two weeks, can I get a replacement?", "strap"),
    ("I can't log in to the Acme app, the reset email never arrives.", "reset email"),
    ("Please cancel my order 44817 for the Acme Blender, I ordered the wrong colour.", "order"),
]


def support() -> None:
    cases = [
        {
            "id": f"summary-{i}",
            "vars": {"ticket": t},
            "assert": [f"contains: {yaml_str(k)}", "max_tokens: 48"],
        }
        for i, (t, k) in enumerate(TICKETS)
    ]
    write_suite(
        ROOT / "evals/support/summarize.yaml",
        "support/summarize",
        "Summaries must name the product or issue and stay short.",
        [],
        cases,
    )
    cases = [
        {
            "id": f"reply-{i}",
            "vars": {"customer_name": n, "ticket": t, "tone": "warm"},
            "assert": [
                "contains: Acme Support",
                "not_contains: refund has been",
                "llm_rubric: The reply is polite, addresses the customer's problem and promises no refund or date.",
            ],
        }
        for i, (n, (t, _k)) in enumerate(zip(["Ana", "Ben", "Chloe", "Dev"], TICKETS, strict=False))
    ]
    write_suite(
        ROOT / "evals/support/reply.yaml",
        "support/reply",
        "Drafts must be signed, polite, and never promise refunds or dates.",
        [],
        cases,
    )


def main() -> None:
    sys.path.insert(0, str(ROOT.parent))
    from ptrain.demo import build_demo_repo, first_commit

    shutil.rmtree(ROOT / "feedback", ignore_errors=True)
    intent("0" * 40)  # evals first: they are part of the commit the feedback points at
    tone("0" * 40)
    support()
    shutil.rmtree(ROOT / "feedback", ignore_errors=True)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        version = first_commit(build_demo_repo(Path(tmp) / "r", with_feedback=False))
    print("demo version commit:", version)
    intent(version)
    tone(version)
    (ROOT / "feedback" / ".gitkeep").touch()


if __name__ == "__main__":
    main()
