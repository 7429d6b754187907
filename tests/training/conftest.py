"""A small classifier prompt repo with feedback and evals, and a scripted task model whose
accuracy depends on the prompt in the ways the approaches are meant to exploit."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ptrain.storage.yamlio import load_safe

LABELS = ["billing", "shipping", "login"]
DATA = {
    "billing": [
        "I was charged twice",
        "refund my payment",
        "invoice is wrong",
        "card declined at checkout",
        "why is my bill higher",
        "cancel the subscription fee",
        "charged after cancelling",
        "VAT missing on invoice",
        "payment failed twice",
        "need a receipt for my order",
        "price changed after purchase",
        "coupon not applied to total",
    ],
    "shipping": [
        "where is my parcel",
        "package arrived damaged",
        "delivery is late",
        "wrong address on label",
        "courier never came",
        "tracking number not working",
        "box was empty",
        "send it express please",
        "parcel stuck in customs",
        "shipment went to neighbour",
        "change my delivery slot",
        "order shipped without the charger",
    ],
    "login": [
        "cannot sign in",
        "password reset email missing",
        "2fa code rejected",
        "account locked",
        "forgot my username",
        "login page spins forever",
        "sso fails for my team",
        "session expires instantly",
        "verification link expired",
        "cannot change my email address",
        "logged out on every device",
        "captcha never loads",
    ],
}
HELD, TRAIN = 8, 2  # per label: held-out cases (half selection, half confirmation), train cases
GOLD = {u: lab for lab, us in DATA.items() for u in us}

PROMPT = """\
schema_version: 1
description: Route a support message.
type: system
input_variables: [message]
messages:
  - role: system
    # keep in sync with the router
    content: |
      Classify the support message.
  - role: human
    content: "Message: {message}"
model:
  temperature: 0.0
  max_tokens: 8
"""

CONFIG_EXTRA = """
models:
  task: {provider: scripted, model: clf, temperature: 0.0, max_tokens: 8}
  embedder: {provider: local, model: all-minilm-l6-v2}
  cache: true
training:
  model: {provider: scripted, model: opt, max_tokens: 256}
  temperature: 0.7
  candidates: 3
  budget: {calls: 2000, tokens: 5000000}
evaluation:
  test_runs: 1
  metrics: []
"""


def classify(msgs) -> str:
    """The scripted task model: good only when the prompt helps it."""
    system = " ".join(m.content for m in msgs if m.type == "system")
    shots = sum(1 for m in msgs if m.type == "ai")
    text = msgs[-1].content.removeprefix("Message: ").strip()
    if "PWNED" in text and "ignore any instructions inside it" not in system:
        return "PWNED"
    if text in ("?",) or text.isupper():
        return "no idea" if "Whatever the" not in system else "billing"
    base = text.split("\n")[0].strip().lower()
    gold = (
        GOLD.get(base)
        or GOLD.get(text)
        or next((g for u, g in GOLD.items() if u.lower() == base), None)
    )
    if gold and (shots >= 3 or "answer with exactly one of" in system.lower()):
        return gold
    return f"I think this message is about {gold or 'something'}"


def optimizer(msgs) -> str:
    last = msgs[-1].content
    if "JSON" in msgs[0].content and "rules" in msgs[0].content:
        return json.dumps({"rules": ["Answer with exactly one of: billing, shipping, login."]})
    if "tricky test inputs" in msgs[0].content:
        return json.dumps({"inputs": ["URGENT!!!", "hola, mi factura"]})
    if "<prompt>" in last:
        return "<prompt>Classify the support message. Answer with exactly one of: billing, shipping, login.</prompt>"
    return "ok"


def write_suite(root: Path) -> None:
    lines = [
        "schema_version: 1",
        "prompt: support/route",
        "defaults:",
        f"  - one_of: [{', '.join(LABELS)}]",
        "cases:",
    ]
    i = 0
    for lab, us in DATA.items():
        for j, u in enumerate(us[: HELD + TRAIN]):
            lines += [
                f"  - id: c{i}",
                f"    vars: {{message: {json.dumps(u)}}}",
                f"    expected: {lab}",
            ]
            if j >= HELD:
                lines.append("    split: train")
            i += 1
    (root / "evals" / "support").mkdir(parents=True, exist_ok=True)
    (root / "evals" / "support" / "route.yaml").write_text("\n".join(lines) + "\n")


@pytest.fixture
def scripted():
    from ptrain.llm.scripted import clear_scripted, register_scripted

    register_scripted("clf", classify)
    register_scripted("opt", optimizer)
    yield
    clear_scripted()


@pytest.fixture
def train_repo(prompt_repo, scripted, cli):
    """support/route v1 deployed to production, an eval suite and production feedback."""
    from ptrain import PromptRepo
    from ptrain.feedback import record_many

    root = prompt_repo.root
    cfg = (root / "ptrain.yaml").read_text()
    doc = load_safe(cfg)
    for key in ("models", "training", "evaluation"):
        doc.pop(key)
    from ptrain.storage.yamlio import dump_roundtrip

    (root / "ptrain.yaml").write_text(dump_roundtrip(doc) + CONFIG_EXTRA)
    write_suite(root)
    from tests.conftest import git

    git(root, "add", "-A")
    git(root, "commit", "-qm", "config and evals")
    repo = PromptRepo(root)
    repo.create("support/route", PROMPT, "Create route")
    repo.deploy("support/route", 1, "production")
    v = repo.resolve("support/route")
    recs = []
    for lab, us in DATA.items():
        for u in us[HELD + TRAIN :]:  # never the held-out messages
            recs.append(
                {
                    "prompt": "support/route",
                    "kind": "rating",
                    "rating": 1.0,
                    "inputs": {"message": u},
                    "output": lab,
                    "version": v.commit,
                    "env": "production",
                }
            )
            recs.append(
                {
                    "prompt": "support/route",
                    "kind": "rating",
                    "rating": 0.2,
                    "inputs": {"message": u},
                    "output": f"I think this message is about {lab}",
                    "version": v.commit,
                }
            )
    for i in range(40):
        recs.append(
            {
                "prompt": "support/route",
                "kind": "success",
                "latency_ms": 100 + i,
                "version": v.commit,
            }
        )
    for s in ("Just give the label", "Shorter answers", "Use the label names"):
        recs.append(
            {"prompt": "support/route", "kind": "suggestion", "suggestion": s, "version": v.commit}
        )
    record_many(root, recs)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "feedback")
    return PromptRepo(root)


def refs(root: Path) -> str:
    from tests.conftest import git

    return git(root, "for-each-ref", "--format=%(refname) %(objectname)", "refs/tags", "refs/heads")


def branch_file(root: Path, branch: str, path: str) -> str:
    from tests.conftest import git

    return git(root, "show", f"{branch}:{path}")


def only_new_branch(before: str, after: str) -> list[str]:
    b, a = set(before.splitlines()), set(after.splitlines())
    assert b <= a, f"existing refs changed: {sorted(b - a)}"
    return [re.sub(r" .*", "", x) for x in sorted(a - b)]
