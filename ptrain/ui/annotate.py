"""The page's only writes, validated like the CLI's, through the same public paths.

* ``rate``: a feedback record written by ``ptrain.feedback.record`` — the function
  ``ptrain feedback add`` calls (same format, same locked append, and whatever that path does
  to the text, such as redaction). Rating an interaction copies its prompt version, env,
  inputs, output and run id into the new record, and names it in ``metadata.annotates``, so
  training and ``evals from-feedback`` can use the rating. Its A/B variant is not copied: a
  reviewer's rating after the fact is not an outcome of live traffic and must not sway a verdict.
* ``mark_expected``: an interaction's output (or a corrected text) as the expected answer of a
  new eval case, appended by ``evaluation.service.add_cases`` (the writer of
  ``ptrain evals from-feedback --write``: validated, atomic, under the repository lock; left
  uncommitted in the work tree for review).

Nothing is written unless every field is valid: a body is checked completely, then the record
or case is validated by its own model, and only then is anything appended.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from ptrain.errors import PtrainError, ValidationError
from ptrain.evaluation.service import add_cases
from ptrain.evaluation.suite import Case, load_suite
from ptrain.feedback import iter_feedback, make_record, record
from ptrain.schema import first_error
from ptrain.ui.views import check_version_spec, require_prompt

if TYPE_CHECKING:
    from ptrain.repo import PromptRepo

MAX_TEXT = 4000  # characters of a comment, suggestion or expected answer
_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{8,64}$")  # = feedback record ids
_FIELDS = {
    "rate": {"prompt", "record_id", "rating", "message", "suggestion", "version", "env"},
    "expected": {"prompt", "record_id", "expected"},
}


class Conflict(PtrainError):
    """The write would duplicate something already there (a 409 in the API)."""


class RecordNotFound(PtrainError):
    """No feedback record with that id (a 404 in the API)."""


def check_body(body: Any, action: str) -> dict[str, Any]:
    """The body as a dict with known keys only; ValidationError naming the first problem."""
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object", 'send {"prompt": ...}')
    unknown = sorted(set(body) - _FIELDS[action])
    if unknown:
        raise ValidationError(
            f"unknown field {unknown[0]!r}", f"use {', '.join(sorted(_FIELDS[action]))}"
        )
    for key in ("prompt", "record_id", "message", "suggestion", "env", "expected"):
        v = body.get(key)
        if v is not None and not isinstance(v, str):
            raise ValidationError(f"{key} must be a string", f'send "{key}": "..."')
        if isinstance(v, str) and len(v) > MAX_TEXT:
            raise ValidationError(f"{key} is longer than {MAX_TEXT} characters", "shorten it")
    if not body.get("prompt"):
        raise ValidationError("missing prompt", "send the prompt's name, e.g. support/triage")
    rid = body.get("record_id")
    if rid is not None and not _ID_RE.match(rid):
        raise ValidationError(f"{rid[:70]!r} is not a feedback record id", "pick an interaction")
    return body


def _rating(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ValidationError("rating must be a number from 0 to 1", "👍 is 1, 👎 is 0")
    if not 0.0 <= float(v) <= 1.0:
        raise ValidationError(f"rating {v} is out of range", "give a number from 0 to 1")
    return float(v)


def find_record(repo: PromptRepo, name: str, record_id: str) -> dict[str, Any]:
    for r in iter_feedback(repo.root, name):
        if r.get("id") == record_id:
            return r
    raise RecordNotFound(
        f"{name} has no feedback record {record_id!r}", "reload the page and pick an interaction"
    )


def rate(repo: PromptRepo, body: Any) -> dict[str, Any]:
    """Append one rating (or suggestion) record; returns the stored record."""
    body = check_body(body, "rate")
    name = require_prompt(repo, body["prompt"])
    rating = _rating(body.get("rating"))
    version = body.get("version")
    if version is not None and not isinstance(version, str | int):
        raise ValidationError("version must be a number or a sha", 'e.g. "version": 3')
    text = {k: body[k].strip() for k in ("message", "suggestion") if (body.get(k) or "").strip()}
    # the CLI's choice of kind: a rating when one is given, else a suggestion
    kind = "rating" if rating is not None else "suggestion" if "suggestion" in text else None
    if kind is None:
        raise ValidationError(
            "nothing to record", "give a rating (👍/👎 or a 0–1 score) or a suggestion"
        )
    doc: dict[str, Any] = {"prompt": name, "kind": kind, "rating": rating, **text,
                           "source": "user", "env": body.get("env")}  # fmt: skip
    rid = body.get("record_id")
    if rid is not None:
        if version is not None or body.get("env") is not None:
            raise ValidationError("give record_id or version/env, not both", "drop version/env")
        base = find_record(repo, name, rid)
        # not its A/B variant: a reviewer's later rating is not an outcome of live traffic
        for key in ("version", "version_number", "env", "inputs", "output", "run_id"):
            if base.get(key) is not None:
                doc[key] = base[key]
        doc["metadata"] = {"annotates": rid, "via": "ptrain ui"}
    else:
        doc["metadata"] = {"via": "ptrain ui"}
    doc = {k: v for k, v in doc.items() if v is not None}
    make_record(doc)  # refuse a bad record before resolving versions or touching disk
    if rid is None:
        env = repo.check_env(doc["env"]) if "env" in doc else None
        if version is not None:  # a version asked for claims no env unless one is given
            v = repo.resolve(name, check_version_spec(str(version)))
        else:  # the CLI's rule: an explicit env never falls back; none means the first env
            v = repo.resolve(name, None, env)
            doc["env"] = env or repo.default_env
        doc["version"], doc["version_number"] = v.commit, v.number
    return record(repo.root, doc).model_dump(exclude_none=True)


def mark_expected(repo: PromptRepo, body: Any) -> dict[str, Any]:
    """Add the interaction ``record_id`` to the prompt's eval suite as a positive case."""
    from pydantic import ValidationError as PydanticValidationError

    body = check_body(body, "expected")
    name = require_prompt(repo, body["prompt"])
    rid = body.get("record_id")
    if not rid:
        raise ValidationError("missing record_id", "pick the interaction whose output is right")
    base = find_record(repo, name, rid)
    inputs = base.get("inputs") or {}
    expected = (body.get("expected") or base.get("output") or "").strip()
    if not expected:
        raise ValidationError("this interaction has no output", "type the expected answer")
    variables = repo.load(name).input_variables
    missing = [v for v in variables if v not in inputs]
    if missing:
        raise ValidationError(
            f"the interaction's inputs lack {', '.join(missing)}",
            "only interactions recorded with inputs can become eval cases",
        )
    source = f"feedback:{rid}"
    try:
        suite = load_suite(repo, name)
    except PtrainError:
        suite = None
    if suite is not None and any(c.source == source for c in suite.cases):
        raise Conflict(f"{rid} is already a case of {name}'s suite", "see `ptrain evals list`")
    try:
        case = Case(
            id=f"ui-{re.sub(r'[^A-Za-z0-9]', '', rid)[-12:]}",
            vars=inputs,
            expected=expected,
            source=source,
            tags=["from-feedback", "positive", "ui"],
        )
    except PydanticValidationError as exc:  # a value the suite format refuses
        raise ValidationError(
            f"cannot make an eval case: {first_error(exc)}", "check the interaction's inputs"
        ) from None
    path = add_cases(repo, name, [case])
    return {"case": case.to_doc(), "path": path, "committed": False}
