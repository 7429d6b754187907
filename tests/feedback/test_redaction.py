"""Redaction before anything is written: a corpus of what must go and what must stay, applied on
every write path (API, CLI add, file import, spool import); counted, never stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ptrain import feedback as fb
from ptrain.feedback.redact import Redactor, luhn_ok
from ptrain.feedback.settings import RedactPolicy
from tests.conftest import git

HERE = Path(__file__).parent / "redaction"
ALL_ON = RedactPolicy(secrets=True, cards=True, emails=True, phones=True)


def _corpus(name: str) -> list[list[str]]:
    out = []
    for line in (HERE / name).read_text().splitlines():
        if line and not line.startswith("#"):
            out.append(line.replace("\\n", "\n").split("\t"))
    return out


@pytest.mark.parametrize("kind, text", _corpus("must_go.txt"))
def test_must_go(kind, text):
    r = Redactor(ALL_ON)
    out = r.text(text)
    assert f"[REDACTED:{kind}]" in out, out
    assert r.counts[kind] >= 1
    # the sensitive token itself is gone (the longest run of 6+ digits/letters that was there)
    removed = [w for w in text.replace('"', " ").split() if w not in out.replace('"', " ").split()]
    assert removed, out


@pytest.mark.parametrize("text", [t[0] for t in _corpus("must_stay.txt")])
def test_must_stay(text):
    r = Redactor(ALL_ON)
    assert r.text(text) == text
    assert not r.counts


def test_luhn():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")


def test_defaults_redact_secrets_and_cards_but_not_emails(spool):
    rec = fb.record(spool, {"prompt": "p", "kind": "rating", "rating": 1.0,
                            "message": "key sk-proj-Xy7Qw2Lm9Np4Rt6Vb8Zc1Df3Gh5Jk0 mail a@b.io",
                            "inputs": {"card": "4111 1111 1111 1111", "nested": ["ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5"]},
                            "ts": "2026-11-01T10:00:00Z"}, writer="w")  # fmt: skip
    assert rec.message == "key [REDACTED:secret] mail a@b.io"
    assert rec.inputs == {"card": "[REDACTED:card]", "nested": ["[REDACTED:secret]"]}
    raw = (spool / "p/2026-11-01/w.jsonl").read_bytes()
    assert b"sk-proj" not in raw and b"4111" not in raw and b"ghp_" not in raw


def _enable_all(root: Path) -> None:
    path = root / "ptrain.yaml"
    doc = path.read_text().replace(
        "\nfeedback:\n",
        "\nfeedback:\n  redact:\n    emails: true\n    phones: true\n"
        "    custom:\n      - {name: employee_id, pattern: 'EMP-\\d{6}'}\n",
        1,
    )
    path.write_text(doc)
    git(root, "commit", "-qam", "redact all")


SECRET_TEXT = "I am EMP-123456, mail jane@example.com, call +1 415 555 0132, key sk-ABCDEFGHIJKLMNOPQRSTUVWX01"


def _no_secret_on_disk(root: Path) -> None:
    for p in (root / "feedback").rglob("*.jsonl"):
        data = p.read_text()
        for token in ("EMP-123456", "jane@example.com", "555 0132", "sk-ABCDEF"):
            assert token not in data, (p, token)


def test_cli_add_redacts_and_reports_counts(repo, fb_cli):
    _enable_all(repo.root)
    r = fb_cli.invoke(
        "feedback", "add", "support/triage", "--rating", "0", "-m", SECRET_TEXT, "--json"
    )
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["redacted"] == {"employee_id": 1, "email": 1, "phone": 1, "secret": 1}
    assert doc["message"].count("[REDACTED:") == 4
    r = fb_cli.invoke("feedback", "add", "support/triage", "--rating", "0", "-m", SECRET_TEXT)
    assert "(redacted: 1 email, 1 employee_id, 1 phone, 1 secret)" in r.stdout
    _no_secret_on_disk(repo.root)


def test_import_and_spool_redact_and_count(repo, tmp_path):
    _enable_all(repo.root)
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"prompt": "support/triage", "kind": "suggestion", "suggestion": SECRET_TEXT,
                               "ts": "2026-11-01T10:00:00Z"}) + "\n")  # fmt: skip
    rep = fb.import_file(repo.root, src)
    assert rep.written == 1 and rep.redacted == {
        "employee_id": 1,
        "email": 1,
        "phone": 1,
        "secret": 1,
    }
    spool = tmp_path / "spool"
    fb.record(spool, {"prompt": "support/triage", "kind": "rating", "rating": 1.0, "message": SECRET_TEXT,
                      "ts": "2026-11-01T11:00:00Z"}, writer="app")  # fmt: skip
    rep = fb.import_spool(repo.root, spool)
    assert rep.written == 1 and rep.redacted["email"] == 1
    _no_secret_on_disk(repo.root)
    summary_of_text = [r.get("suggestion") or r.get("message") for r in fb.iter_feedback(repo.root)]
    assert all("[REDACTED:email]" in t for t in summary_of_text)


def test_redaction_can_be_turned_off(repo):
    path = repo.root / "ptrain.yaml"
    path.write_text(
        path.read_text().replace(
            "\nfeedback:\n", "\nfeedback:\n  redact:\n    secrets: false\n    cards: false\n", 1
        )
    )
    rec = fb.record(
        repo.root,
        {"prompt": "support/triage", "kind": "success", "message": "sk-ABCDEFGHIJKLMNOPQRSTUVWX01"},
    )
    assert rec.message == "sk-ABCDEFGHIJKLMNOPQRSTUVWX01"
