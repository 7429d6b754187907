"""Record one piece of feedback: the service behind ``PromptRepo.record_feedback`` and
``ptrain feedback add``.

The record is checked before the version is looked up (so a bad record never costs a git call),
then tied to the version ``locate`` finds, redacted and appended. Everything here is plain data:
no pydantic, so the CLI's fast path stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ptrain.feedback.check import check
from ptrain.feedback.store import FeedbackWriter


@dataclass(frozen=True)
class Recorded:
    """The record as stored (a dict, in the on-disk field order) and what redaction removed
    from it (kind -> occurrences)."""

    record: dict[str, Any]
    redacted: dict[str, int]


def add(
    writer: FeedbackWriter,
    doc: dict[str, Any],
    locate: Callable[[], tuple[str, int | None]] | tuple[str, int | None],
) -> Recorded:
    """Append ``doc`` (record fields without the version) for the (commit, number) that
    ``locate`` gives (a pair, or a function called only once the record is known to be valid)."""
    doc = {k: v for k, v in doc.items() if v is not None}
    if callable(locate):
        check(doc)  # refuse a bad record before touching git or disk
        locate = locate()
    commit, number = locate
    doc = {"version": commit, "version_number": number, **doc}
    before = dict(writer.redacted)
    (rec,) = writer.append([{k: v for k, v in doc.items() if v is not None}])
    after = writer.redacted
    return Recorded(
        rec, {k: n - before.get(k, 0) for k, n in after.items() if n > before.get(k, 0)}
    )
