"""Prompt files are data: YAML is loaded safely and templates cannot reach Python objects."""

from __future__ import annotations

from pathlib import Path

import pytest

from ptrain.errors import ValidationError
from ptrain.prompts import template_variables
from ptrain.repo import validate_paths


def test_python_tags_in_yaml_are_never_executed(tmp_path: Path):
    canary = tmp_path / "canary"
    evil = tmp_path / "evil.yaml"
    evil.write_text(
        "schema_version: 1\n"
        f'description: !!python/object/apply:os.system ["touch {canary}"]\n'
        'template: "hi {x}"\ninput_variables: [x]\n'
    )
    problems = validate_paths([evil])
    assert problems and "evil.yaml:2" in problems[0]
    assert not canary.exists()


@pytest.mark.parametrize("placeholder", ["{x.__class__}", "{x[0]}", "{0}", "{x!r}", "{x:>10}"])
def test_templates_allow_plain_names_only(placeholder):
    with pytest.raises(ValueError):
        template_variables(f"hello {placeholder}")


def test_feedback_braces_in_examples_stay_literal(prompt_repo):
    from ptrain.prompts import LoadedPrompt, PromptSpec

    spec = PromptSpec.model_validate(
        {
            "input_variables": ["q"],
            "messages": [{"role": "human", "content": "Q: {q}"}],
            "examples": [{"inputs": {"q": "{secret}"}, "output": "{q.__class__}"}],
        }
    )
    msgs = LoadedPrompt("p", spec, "").format_messages(q="real")
    assert ("human", "Q: {secret}") in msgs and ("ai", "{q.__class__}") in msgs
    with pytest.raises(ValidationError):
        LoadedPrompt("p", spec, "").format_messages()  # a missing variable is an error
