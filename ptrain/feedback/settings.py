"""The ``feedback:`` section of ``ptrain.yaml``: retention, size limits and the redaction policy.

Read cheaply on the fast paths (``feedback add``, ``record_feedback``): only this section of the
raw YAML is validated, not the whole config model.

.. code-block:: yaml

    feedback:
      retention_days: 90
      limits:
        max_record_bytes: 1048576     # one record (one JSONL line / CSV row), default 1 MiB
        max_import_bytes: 536870912   # one import file, default 512 MiB
        max_import_records: 2000000   # records in one import
      redact:                         # applied before anything is written; counted, never kept
        secrets: true                 # API keys and tokens (sk-, ghp_, AWS, bearer, JWT, ...)
        cards: true                   # card numbers (Luhn-checked, known issuer prefixes)
        emails: false
        phones: false
        custom:                       # your own: name + regular expression
          - {name: employee_id, pattern: 'EMP-\\d{6}'}
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, ValidationError, field_validator

from ptrain.errors import ValidationError as PtrainValidationError
from ptrain.schema import Strict, first_error


class Limits(Strict):
    max_record_bytes: int = Field(1 << 20, ge=1024, le=1 << 30)
    max_import_bytes: int = Field(512 << 20, ge=1024)
    max_import_records: int = Field(2_000_000, ge=1)


class CustomRule(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    pattern: str = Field(min_length=1, max_length=1000)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return v


class RedactPolicy(Strict):
    secrets: bool = True
    cards: bool = True
    emails: bool = False
    phones: bool = False
    custom: list[CustomRule] = Field(default_factory=list)


class FeedbackConfig(Strict):
    batch_size: int = Field(10, ge=1)
    retention_days: int = Field(90, ge=1)
    limits: Limits = Field(default_factory=Limits)
    redact: RedactPolicy = Field(default_factory=RedactPolicy)


DEFAULT = FeedbackConfig()


def from_raw(doc: Any) -> FeedbackConfig:
    """Validate the raw ``feedback:`` mapping; a mistake is one line naming the key."""
    if doc is None:
        return DEFAULT
    try:
        return FeedbackConfig.model_validate(doc)
    except ValidationError as exc:
        raise PtrainValidationError(
            f"ptrain.yaml: feedback.{first_error(exc)}", "fix the feedback: section of ptrain.yaml"
        ) from None
