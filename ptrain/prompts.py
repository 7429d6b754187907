"""The prompt file format (``prompts/<name>.yaml``) and the loaded prompt object.

A prompt file (schema_version 1)::

    schema_version: 1
    description: Classify a customer message into one support intent.
    type: system                 # system | user: the role the main template plays
    owner: support-team
    labels: [support, classifier]
    input_variables: [message]
    messages:                    # chat messages ... (or a single `template:`)
      - role: system
        content: |
          You are a support triage assistant. ...
      - role: human
        content: "{message}"
    examples:                    # optional few-shot examples, shown before the last human turn
      - inputs: {message: "My card was charged twice"}
        output: billing
    example_selection:           # optional: show only the k examples nearest each call's inputs
      by: similarity
      k: 4
    model: {temperature: 0.0, max_tokens: 16}

Without ``example_selection`` every example is shown on every call. With it, ``examples`` is a
pool and each call shows the ``k`` whose inputs are most similar to the call's (see
``ptrain.llm.select``), the most similar last.

Templates use f-string style placeholders only (``{name}``; ``{{`` for a literal brace).
Attribute access, indexing and format specs are rejected, so a template from an untrusted file
cannot reach into Python objects; nothing is ever evaluated.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, model_validator

from ptrain.errors import ValidationError
from ptrain.llm.select import select_examples
from ptrain.schema import AtKey, Strict, errors_of, validate_document
from ptrain.storage.yamlio import dump_roundtrip, literal, load_roundtrip
from ptrain.suggest import did_you_mean

SCHEMA_VERSION = 1
ROLES = ("system", "human", "ai")
_ROLE_ALIASES = {"user": "human", "assistant": "ai"}


def template_variables(template: str) -> list[str]:
    """Placeholders of an f-string style template, in order of first use."""
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(
            f"bad braces in template ({exc}); write {{{{ and }}}} for literal braces"
        ) from None
    for _, field_name, spec, conversion in parsed:
        if field_name is None:
            continue
        if not field_name.isidentifier():
            raise ValueError(
                f"placeholder {{{field_name}}} is not a plain name; use {{name}} only "
                "(no attribute access, indexing or positional fields)"
            )
        if spec or conversion:
            raise ValueError(
                f"placeholder {{{field_name}}} has a format spec or conversion; use {{{field_name}}}"
            )
        if field_name not in names:
            names.append(field_name)
    return names


class Message(Strict):
    role: str
    content: str

    @model_validator(mode="after")
    def _role(self) -> Message:
        role = _ROLE_ALIASES.get(self.role, self.role)
        if role not in ROLES:
            raise ValueError(f"role {self.role!r} is not one of system, human, ai")
        object.__setattr__(self, "role", role)
        return self


class Example(Strict):
    inputs: dict[str, str]
    output: str


class ExampleSelection(Strict):
    """Per-call examples: the ``k`` of the pool nearest to the call's inputs."""

    by: Literal["similarity"] = "similarity"
    k: int = Field(4, ge=1, le=64)
    embedder: Literal["all-minilm-l6-v2"] = "all-minilm-l6-v2"  # the embedded local model


class ModelHints(Strict):
    model: str | None = None
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1)


class PromptSpec(Strict):
    schema_version: int = SCHEMA_VERSION
    description: str = ""
    type: Literal["system", "user"] = "system"
    owner: str | None = None
    labels: list[str] = Field(default_factory=list)
    input_variables: list[str] = Field(default_factory=list)
    messages: list[Message] | None = None
    template: str | None = None
    examples: list[Example] = Field(default_factory=list)
    example_selection: ExampleSelection | None = None
    model: ModelHints = Field(default_factory=ModelHints)

    @model_validator(mode="after")
    def _consistent(self) -> PromptSpec:
        if self.schema_version != SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {self.schema_version} is not supported (this ptrain reads 1)"
            )
        if (self.messages is None) == (self.template is None):
            raise ValueError("give either `messages` or `template`, not both and not neither")
        if self.messages is not None and not self.messages:
            raise ValueError("`messages` is empty; add at least one message")
        declared = list(self.input_variables)
        used: list[str] = []
        for loc, text in self._located_templates():
            for name in template_variables(text):
                if name not in declared:
                    guess = did_you_mean(name, declared)
                    raise AtKey(
                        f"template uses {{{name}}} but input_variables does not declare it; "
                        + (f"{guess[:-1]} (a typo)? Otherwise add" if guess else "add")
                        + f" '{name}' to input_variables",
                        loc,
                        f"{{{name}}}",
                    )
                if name not in used:
                    used.append(name)
        unused = [v for v in declared if v not in used]
        if unused:
            raise AtKey(
                f"input_variables declares '{unused[0]}' but no template uses it; "
                f"remove it or use {{{unused[0]}}}",
                ("input_variables",),
            )
        for i, ex in enumerate(self.examples):
            extra = [k for k in ex.inputs if k not in declared]
            if extra:
                raise ValueError(
                    f"examples[{i}] has input '{extra[0]}' that is not an input variable"
                )
        if self.example_selection is not None and not self.examples:
            raise AtKey(
                "example_selection needs a pool of examples; add `examples` or remove it",
                ("example_selection",),
            )
        return self

    def _located_templates(self) -> list[tuple[tuple, str]]:
        if self.messages is not None:
            return [(("messages", i, "content"), m.content) for i, m in enumerate(self.messages)]
        return [(("template",), self.template or "")]

    def templates(self) -> list[str]:
        return (
            [m.content for m in self.messages]
            if self.messages is not None
            else [self.template or ""]
        )

    def chat_messages(self) -> list[tuple[str, str]]:
        """(role, template) pairs; a single template plays the role named by `type`."""
        if self.messages is not None:
            return [(m.role, m.content) for m in self.messages]
        return [("system" if self.type == "system" else "human", self.template or "")]

    def expanded_templates(self, examples: list[Example] | None = None) -> list[tuple[str, str]]:
        """chat_messages() with the few-shot examples inserted, as (role, template) pairs.

        ``examples`` (default: all of them) are the ones to show. Each example becomes a human turn (the last human template filled with the example's
        inputs) and an ai turn (its output), placed before the last human turn. Example text is
        escaped, so braces inside it are literal and never placeholders.
        """
        msgs = self.chat_messages()
        shown = self.examples if examples is None else examples
        if not shown:
            return msgs
        human = next((t for r, t in reversed(msgs) if r == "human"), None)
        blanks = {v: "" for v in self.input_variables}
        shots: list[tuple[str, str]] = []
        for ex in shown:
            if human is not None:
                text = human.format_map({**blanks, **ex.inputs})
            else:
                text = "\n".join(ex.inputs.values())
            shots += [("human", _escape(text)), ("ai", _escape(ex.output))]
        last_human = max((i for i, (r, _) in enumerate(msgs) if r == "human"), default=len(msgs))
        return msgs[:last_human] + shots + msgs[last_human:]


def parse_prompt(doc: Any, source: str) -> PromptSpec:
    return validate_document(
        PromptSpec, doc, source, "fix the prompt file; see `ptrain prompt validate`"
    )


def prompt_problems(doc: Any, source: str) -> list[str]:
    return errors_of(PromptSpec, doc, source)


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _fill(template: str, variables: dict[str, Any]) -> str:
    # Variables were checked to be plain names, so str.format cannot reach attributes here.
    return template.format_map(_Strict(variables))


class _Strict(dict):
    def __missing__(self, key: str) -> str:
        raise ValidationError(
            f"missing input variable '{key}'", f"pass it, e.g. --var {key}=... or format({key}=...)"
        )


@dataclass
class LoadedPrompt:
    """A prompt at one version, ready to format. Returned by ``PromptRepo.get``."""

    name: str
    spec: PromptSpec
    commit: str
    version: int | None = None
    env: str | None = None
    variant: str | None = None
    _lc: Any = field(default=None, repr=False, compare=False)

    @property
    def input_variables(self) -> list[str]:
        return list(self.spec.input_variables)

    def format_messages(self, **variables: Any) -> list[tuple[str, str]]:
        """(role, text) messages with few-shot examples before the last human turn."""
        shown = None
        if self.spec.example_selection is not None:
            shown = select_examples(self.spec, variables)
        return [(role, _fill(t, variables)) for role, t in self.spec.expanded_templates(shown)]

    def format(self, **variables: Any) -> str:
        """The prompt as text (a single template's text, or role-prefixed chat messages)."""
        msgs = self.format_messages(**variables)
        if self.spec.template is not None and not self.spec.examples:
            return msgs[0][1]
        label = {"system": "System", "human": "Human", "ai": "AI"}
        return "\n".join(f"{label[r]}: {t}" for r, t in msgs)

    def to_langchain(self):
        """A ``langchain_core`` ``ChatPromptTemplate`` (imported only when called)."""
        if self._lc is None:
            from ptrain.llm.templates import to_chat_prompt_template  # lazy: the langchain adapter

            self._lc = to_chat_prompt_template(self)
        return self._lc


def new_prompt_yaml(template: str, type_: str = "system", description: str = "") -> str:
    """The YAML text of a new single-template prompt, variables taken from the template."""
    try:
        variables = template_variables(template)
    except ValueError as exc:
        raise ValidationError(f"--template: {exc}", "fix the template's braces") from None
    from ruamel.yaml.scalarstring import LiteralScalarString

    doc = {
        "schema_version": SCHEMA_VERSION,
        "description": description,
        "type": type_,
        "input_variables": variables,
        "template": LiteralScalarString(template) if "\n" in template else template,
    }
    return dump_roundtrip(doc)


def rewrite_prompt_text(text: str, changes: dict[str, Any], source: str = "<prompt>") -> str:
    """``text`` with top-level keys replaced, keeping comments, key order and ``|`` blocks.

    ``changes`` maps top-level keys to new values. For ``messages`` the existing message nodes
    are kept (with their comments) and only each ``content`` is replaced; messages are added or
    dropped at the end when the count differs. Multi-line strings are written as ``|`` blocks.
    """
    doc = load_roundtrip(text, source)
    if not isinstance(doc, dict):
        raise ValidationError(
            f"{source}:1: expected a mapping of keys at the top level", "fix the prompt file"
        )
    for key, value in changes.items():
        value = _literal(value)
        if key == "messages" and isinstance(doc.get("messages"), list) and value is not None:
            _rewrite_messages(doc["messages"], value)
        elif isinstance(value, dict) and isinstance(doc.get(key), dict):
            _merge(doc[key], value)
        elif doc.get(key) != value or key not in doc:
            doc[key] = value
    return dump_roundtrip(doc)


def _merge(node: dict, value: dict) -> None:
    """Update a mapping node in place, so its comments and key order stay."""
    for k in [k for k in node if k not in value]:
        del node[k]
    for k, v in value.items():
        if node.get(k) != v or k not in node:
            node[k] = v


def _rewrite_messages(nodes: list, messages: list) -> None:
    for i, new in enumerate(messages):
        if i < len(nodes) and isinstance(nodes[i], dict):
            # the role stays as written (user/human are aliases); only changed content moves
            if nodes[i].get("content") != new["content"]:
                nodes[i]["content"] = new["content"]
        else:
            nodes.append(new)
    del nodes[len(messages) :]


def _literal(value: Any) -> Any:
    """Multi-line strings as ``|`` blocks, recursively; other values unchanged."""
    if isinstance(value, str):
        return literal(value)
    if hasattr(value, "model_dump"):
        value = value.model_dump(exclude_none=True)
    if isinstance(value, dict):
        return {k: _literal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_literal(v) for v in value]
    return value
