from __future__ import annotations

import pytest

from ptrain.errors import PtrainError, ValidationError
from ptrain.evaluation.suite import Assertion, load_suite, parse_suite_text

GOOD = """\
schema_version: 1
prompt: support/triage
defaults:
  - max_tokens: 8
cases:
  - id: card
    vars: {message: "charged twice"}
    expected: billing
  - id: pwd
    vars: {message: "reset password"}
    expected: account
    assert:
      - one_of: [billing, account, technical]
    split: train
    source: feedback:0192abcdef
    tags: [login]
"""


def test_yaml_suite_loads_with_defaults_implicit_equals_and_splits():
    s = parse_suite_text(GOOD, "evals/support/triage.yaml", "support/triage")
    assert [c.id for c in s.cases] == ["card", "pwd"]
    test, train = s.test_cases(), s.train_cases()
    assert [c.id for c in test] == ["card"] and [c.id for c in train] == ["pwd"]
    # no `assert`: equals expected, then the suite default
    assert [a.kind for a in test[0].assertions()] == ["equals", "max_tokens"]
    assert [a.kind for a in train[0].assertions()] == ["one_of", "max_tokens"]
    assert s.cases[0].assert_ == []  # the raw case is unchanged


@pytest.mark.parametrize(
    "bad, where, what",
    [
        (GOOD.replace("    tags: [login]", "    tagz: [login]"), ":16:", "unknown key 'tagz'"),
        (
            GOOD.replace("- one_of: [billing, account, technical]", "- regex: '[unclosed'"),
            ":13:",
            "does not compile",
        ),
        (
            GOOD.replace(
                "      - one_of: [billing, account, technical]",
                "      - contains: a\n        equals: b",
            ),
            ":13:",
            "exactly one",
        ),
        (GOOD.replace("source: feedback:0192abcdef", "source: somewhere"), ":15:", "source"),
        (GOOD.replace("id: pwd", "id: card"), "", "duplicate case id"),
        (GOOD.replace("split: train", "split: holdout"), ":14:", "split"),
    ],
)
def test_validation_errors_point_at_file_and_line(bad, where, what):
    with pytest.raises(ValidationError) as e:
        parse_suite_text(bad, "evals/support/triage.yaml", "support/triage")
    assert e.value.message.startswith("evals/support/triage.yaml:")
    assert where in e.value.message and what in e.value.message


def test_prompt_must_match_file_name():
    with pytest.raises(ValidationError, match="does not match"):
        parse_suite_text(GOOD, "evals/other.yaml", "other")


def test_jsonl_suite_and_its_errors_by_line():
    text = '{"id": "a", "vars": {"q": "x"}, "expected": "y"}\n\n{"id": "b", "vars": {"q": "z"}, "assert": [{"contains": "z"}]}\n'
    s = parse_suite_text(text, "evals/t.jsonl", "t")
    assert s.prompt == "t" and [c.id for c in s.cases] == ["a", "b"]
    with pytest.raises(ValidationError, match=r"^evals/t.jsonl:2: unknown key 'expect'"):
        parse_suite_text('{"id": "a"}\n{"id": "b", "expect": 1}\n', "evals/t.jsonl", "t")
    with pytest.raises(ValidationError, match=r"^evals/t.jsonl:1: invalid JSON"):
        parse_suite_text("{nope\n", "evals/t.jsonl", "t")
    with pytest.raises(
        ValidationError, match=r"evals/t.jsonl:2: duplicate case id 'a' \(first on line 1\)"
    ):
        parse_suite_text('{"id": "a"}\n{"id": "a"}\n', "evals/t.jsonl", "t")


def test_load_suite_from_repo_and_missing_suite_hint(prompt_repo):
    from ptrain.prompts import new_prompt_yaml

    with pytest.raises(PtrainError, match="no prompt named 'support/triage'"):
        load_suite(prompt_repo, "support/triage")  # no such prompt: that is the problem
    prompt_repo.create("support/triage", new_prompt_yaml("Classify {ticket}"))
    with pytest.raises(PtrainError) as e:
        load_suite(prompt_repo, "support/triage")
    assert "from-feedback" in e.value.hint
    path = prompt_repo.root / "evals" / "support" / "triage.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(GOOD)
    s = load_suite(prompt_repo, "support/triage")
    assert s.path == "evals/support/triage.yaml" and len(s.cases) == 2


def test_case_to_doc_round_trips():
    s = parse_suite_text(GOOD, "evals/support/triage.yaml", "support/triage")
    doc = s.cases[1].to_doc()
    assert doc["assert"] == [{"one_of": ["billing", "account", "technical"]}]
    assert "expected" in doc and "split" in doc
    assert Assertion(contains="x").describe() == "contains: x"
    assert (
        s.content_hash()
        == parse_suite_text(GOOD + "# a comment\n", "evals/support/triage.yaml").content_hash()
    )
