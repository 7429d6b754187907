"""Comments, key order and `|` literal blocks survive a rewrite ptrain makes of a prompt file."""

from __future__ import annotations

from ptrain.prompts import PromptSpec, rewrite_prompt_text
from ptrain.storage.yamlio import load_roundtrip, load_safe

ORIGINAL = """\
# Ticket summarizer — owned by the support team.
schema_version: 1
description: Summarise a support ticket for the on-call engineer.  # shown in `prompt list`
type: system
owner: support-team
labels: [support, summary]
input_variables: [ticket]
messages:
  # the system turn sets the tone
  - role: system
    content: |
      You summarise support tickets.
      Keep it to three bullet points.
  - role: user   # written as 'user' on purpose
    content: "Ticket:\\n{ticket}"
model:
  temperature: 0.2  # low: summaries should be stable
  max_tokens: 200
"""


def test_rewrite_keeps_comments_order_and_literal_blocks():
    new_system = "You summarise support tickets.\nKeep it to two bullet points.\nNo greetings.\n"
    out = rewrite_prompt_text(
        ORIGINAL,
        {
            "description": "Summarise a ticket in two bullets.",
            "messages": [
                {"role": "system", "content": new_system},
                {"role": "human", "content": "Ticket:\n{ticket}"},
            ],
            "model": {"temperature": 0.2, "max_tokens": 120},
        },
    )
    # every comment is still there
    for comment in (
        "# Ticket summarizer — owned by the support team.",
        "# shown in `prompt list`",
        "# the system turn sets the tone",
        "# written as 'user' on purpose",
        "temperature: 0.2  # low: summaries should be stable",
    ):
        assert comment in out, out
    # key order is unchanged
    keys = [ln.split(":")[0] for ln in out.splitlines() if ln and ln[0].isalpha()]
    assert keys == [
        "schema_version",
        "description",
        "type",
        "owner",
        "labels",
        "input_variables",
        "messages",
        "model",
    ]
    # the changed multi-line content is a `|` block, the untouched message keeps its quoting
    assert (
        "    content: |\n      You summarise support tickets.\n"
        "      Keep it to two bullet points.\n      No greetings.\n"
    ) in out
    assert '    content: "Ticket:\\n{ticket}"' in out
    assert "  - role: user" in out
    assert "labels: [support, summary]" in out
    spec = PromptSpec.model_validate(load_safe(out))
    assert spec.messages[0].content == new_system
    assert spec.description == "Summarise a ticket in two bullets."
    assert spec.model.max_tokens == 120


def test_rewrite_with_no_changes_is_byte_identical():
    assert rewrite_prompt_text(ORIGINAL, {}) == ORIGINAL


def test_rewrite_adds_and_drops_messages_at_the_end():
    out = rewrite_prompt_text(
        ORIGINAL,
        {"messages": [{"role": "system", "content": "Only this.\nAnd this.\n"}]},
    )
    doc = load_roundtrip(out)
    assert [m["content"] for m in doc["messages"]] == ["Only this.\nAnd this.\n"]
    assert "# the system turn sets the tone" in out
    out = rewrite_prompt_text(
        ORIGINAL,
        {
            "messages": [
                {"role": "system", "content": "S"},
                {"role": "human", "content": "Ticket:\n{ticket}"},
                {"role": "ai", "content": "Noted.\nSummary follows."},
            ]
        },
    )
    assert "  - role: ai\n    content: |-\n      Noted.\n      Summary follows." in out


def test_rewrite_then_update_commits_only_the_new_text(prompt_repo):
    prompt_repo.create("support/summary", ORIGINAL)
    text = rewrite_prompt_text(ORIGINAL, {"description": "Shorter."})
    v = prompt_repo.update("support/summary", text, "trainer: shorter description")
    assert v.number == 2
    committed = prompt_repo.read_text("support/summary", v.commit)
    assert committed.splitlines()[2].split() == [
        "description:",
        "Shorter.",
        "#",
        "shown",
        "in",
        "`prompt",
        "list`",
    ]
    assert committed.splitlines()[3:] == ORIGINAL.splitlines()[3:]
    assert (prompt_repo.root / "prompts/support/summary.yaml").read_text() == committed
