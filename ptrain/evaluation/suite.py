"""Eval suites: ``evals/<prompt name>.yaml`` (or ``.jsonl``), the cases a prompt is scored on.

YAML format (schema_version 1; unknown keys are errors, reported as ``file:line``)::

    schema_version: 1
    prompt: assistant/intent
    description: Routing labels the dispatcher accepts.
    defaults:                        # assertions applied to every case
      - max_tokens: 8
    cases:
      - id: weather-1
        vars: {utterance: "Will it rain in Paris tomorrow?"}
        expected: get_weather        # with no `assert`, the case asserts `equals: expected`
      - id: music-2
        vars: {utterance: "Play some jazz"}
        expected: play_music
        assert:
          - one_of: [add_to_playlist, play_music, get_weather]   # the first label found counts
        split: train                 # train | test (default test): training builds from train
        source: feedback:0192ab...   # manual | feedback:<record id> | adversarial:<run id>
        tags: [music]

Assertion kinds (one key per item): ``equals`` (normalised: stripped, case-insensitive,
trailing punctuation ignored), ``contains``, ``not_contains``, ``regex`` (Python ``re.search``),
``one_of`` (labels; the label occurring first in the output must equal ``expected`` when the
case has one, otherwise any label passes), ``json_schema`` (the output parses as JSON and
validates: type/properties/required/enum/items/additionalProperties), ``max_latency_ms``,
``max_tokens`` (completion tokens), ``llm_rubric`` (a judge model decides pass/score),
``similar: {to: <text or "expected">, min: 0.8}`` (cosine similarity of the output and the text,
or the case's expected answer, with the embedder; see docs/metrics.md).

JSONL format: ``evals/<prompt name>.jsonl``, one case object per line (the keys of a case
above); the prompt is the file's name and there are no defaults.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from ptrain.errors import PtrainError, ValidationError
from ptrain.repo import check_name
from ptrain.schema import Strict, first_error, validate_document
from ptrain.storage.yamlio import load_roundtrip

if TYPE_CHECKING:
    from ptrain.repo import PromptRepo

SCHEMA_VERSION = 1
ASSERTION_KINDS = (
    "equals",
    "contains",
    "not_contains",
    "regex",
    "one_of",
    "json_schema",
    "max_latency_ms",
    "max_tokens",
    "llm_rubric",
    "similar",
)
_SOURCE_RE = re.compile(r"^(manual|(feedback|adversarial):[A-Za-z0-9_.:\-]+)$")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")


class Similar(Strict):
    """``similar: {to: <text or "expected">, min: 0.8}``: embedder cosine similarity."""

    to: str = Field(min_length=1)
    min: float = Field(0.8, ge=0, le=1)


class Assertion(Strict):
    """Exactly one of the fields is set."""

    equals: str | None = None
    contains: str | None = None
    not_contains: str | None = None
    regex: str | None = None
    one_of: list[str] | None = None
    json_schema: dict[str, Any] | None = None
    max_latency_ms: float | None = Field(None, gt=0)
    max_tokens: int | None = Field(None, ge=1)
    llm_rubric: str | None = None
    similar: Similar | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Assertion:
        given = [k for k in ASSERTION_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"an assertion has exactly one of {', '.join(ASSERTION_KINDS)}"
                + (f"; this one has {', '.join(given)}" if given else "")
            )
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"regex {self.regex!r} does not compile: {exc}") from None
        if self.one_of is not None and not self.one_of:
            raise ValueError("one_of needs at least one label")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ASSERTION_KINDS if getattr(self, k) is not None)

    @property
    def value(self) -> Any:
        return getattr(self, self.kind)

    def describe(self) -> str:
        v = self.value
        if isinstance(v, Similar):
            return f"similar: to {v.to!r}, min {v.min:g}"
        return f"{self.kind}: {json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v}"


class Case(Strict):
    id: str
    vars: dict[str, Any] = Field(default_factory=dict)
    expected: str | None = None
    assert_: list[Assertion] = Field(default_factory=list, alias="assert")
    split: Literal["train", "test"] | None = None
    source: str = "manual"
    tags: list[str] = Field(default_factory=list)

    model_config = {**Strict.model_config, "populate_by_name": True}

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID_RE.match(v):
            raise ValueError(f"case id {v!r}: use letters, digits, '_', '-', '.', ':'")
        return v

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        if not _SOURCE_RE.match(v):
            raise ValueError(f"source {v!r}: use manual, feedback:<id> or adversarial:<run>")
        return v

    @model_validator(mode="after")
    def _similar_needs_expected(self) -> Case:
        if self.expected is None and any(
            a.similar is not None and a.similar.to == "expected" for a in self.assert_
        ):
            raise ValueError(
                f"case {self.id!r}: `similar: {{to: expected}}` needs the case's `expected`"
            )
        return self

    def assertions(self, defaults: Sequence[Assertion] = ()) -> list[Assertion]:
        """The case's checks: its own (or ``equals: expected`` when it has none) + defaults."""
        own = list(self.assert_)
        if not own and self.expected is not None:
            own = [Assertion(equals=self.expected)]
        return own + list(defaults)

    def to_doc(self) -> dict[str, Any]:
        """The case as a suite-file mapping (only the keys that differ from the defaults)."""
        doc = self.model_dump(by_alias=True, exclude_defaults=True, exclude_none=True)
        if "assert" in doc:
            doc["assert"] = [a.model_dump(exclude_none=True) for a in self.assert_]
        return {"id": self.id, **{k: v for k, v in doc.items() if k != "id"}}


class Suite(Strict):
    schema_version: int = SCHEMA_VERSION
    prompt: str
    description: str = ""
    defaults: list[Assertion] = Field(default_factory=list)
    cases: list[Case] = Field(default_factory=list)
    _path: str | None = PrivateAttr(default=None)

    @property
    def path(self) -> str | None:
        """Where the suite was read from (relative to the repository), if from a file."""
        return self._path

    @model_validator(mode="after")
    def _check(self) -> Suite:
        if self.schema_version != SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {self.schema_version} is not supported (this ptrain reads 1)"
            )
        seen: set[str] = set()
        for c in self.cases:
            if c.id in seen:
                raise ValueError(f"duplicate case id {c.id!r}")
            seen.add(c.id)
        return self

    def resolved(self, cases: list[Case] | None = None) -> list[Case]:
        """Copies of ``cases`` (default: all) whose ``assert`` holds every check that applies:
        their own (or ``equals: expected``) followed by the suite's defaults."""
        return [
            c.model_copy(update={"assert_": c.assertions(self.defaults)})
            for c in (self.cases if cases is None else cases)
        ]

    def train_cases(self) -> list[Case]:
        """Cases marked ``split: train`` (what training may learn from), resolved."""
        return self.resolved([c for c in self.cases if c.split == "train"])

    def test_cases(self) -> list[Case]:
        """Every case not marked ``split: train`` (what a version is scored on), resolved."""
        return self.resolved([c for c in self.cases if c.split != "train"])

    def content_hash(self, cases: list[Case] | None = None) -> str:
        """sha256 of the validated content (comments and formatting do not change it)."""
        body = {
            "defaults": [a.model_dump(exclude_none=True) for a in self.defaults],
            "cases": [c.to_doc() for c in (self.cases if cases is None else cases)],
        }
        blob = json.dumps(body, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()


def suite_path(repo: PromptRepo, name: str) -> Path | None:
    """The suite file of ``name`` in the work tree (.yaml, .yml or .jsonl), if any."""
    base = Path(repo.root) / repo.config.evals_dir.strip("/")
    for ext in (".yaml", ".yml", ".jsonl"):
        p = base / f"{name}{ext}"
        if p.is_file():
            return p
    return None


def load_suite(repo: PromptRepo, name: str) -> Suite:
    """The eval suite of prompt ``name``; ``PtrainError`` with a hint when there is none."""
    check_name(name)
    path = suite_path(repo, name)
    rel = f"{repo.config.evals_dir.strip('/')}/{name}.yaml"
    if path is None:
        repo.check_prompt(name)  # a typo'd name says "did you mean", not "write a suite"
        raise PtrainError(
            f"{name} has no eval suite ({rel})",
            f"write {rel} (see `ptrain evals list --help`) or run `ptrain evals from-feedback {name}`",
        )
    source = path.relative_to(repo.root).as_posix()
    return parse_suite_text(path.read_text(), source, name)


def parse_suite_text(text: str, source: str, name: str | None = None) -> Suite:
    """A suite from YAML or JSONL text; ``ValidationError`` as ``source:line: problem``."""
    if source.endswith(".jsonl"):
        suite = _parse_jsonl(text, source, name)
    else:
        doc = load_roundtrip(text, source)
        if doc is None:
            doc = {}
        suite = validate_document(Suite, doc, source, "fix the eval suite; see `ptrain evals list`")
    if name is not None and suite.prompt != name:
        raise ValidationError(
            f"{source}:1: prompt {suite.prompt!r} does not match the file's name ({name})",
            f"set `prompt: {name}` or rename the file",
        )
    suite._path = source
    return suite


def _parse_jsonl(text: str, source: str, name: str | None) -> Suite:
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                f"{source}:{lineno}: invalid JSON: {exc.msg}", "one case object per line"
            ) from None
        if not isinstance(doc, dict):
            raise ValidationError(
                f"{source}:{lineno}: expected a JSON object", "one case object per line"
            )
        try:
            case = Case.model_validate(doc)
        except PydanticValidationError as exc:
            raise ValidationError(
                f"{source}:{lineno}: {first_error(exc)}", "fix that line of the eval suite"
            ) from None
        if case.id in seen:
            raise ValidationError(
                f"{source}:{lineno}: duplicate case id {case.id!r} (first on line {seen[case.id]})",
                "give every case its own id",
            )
        seen[case.id] = lineno
        cases.append(case)
    prompt = name or Path(source).stem
    return Suite(prompt=prompt, cases=cases)


def missing_vars(case: Case, input_variables: list[str]) -> list[str]:
    return [v for v in input_variables if v not in case.vars]
