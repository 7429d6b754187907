"""`import ptrain.feedback`, `feedback add` and `record_feedback` never load DuckDB, LangChain,
FAISS or the analytics modules (the package's names are loaded on first use)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

HEAVY = ("duckdb", "langchain", "langchain_core", "faiss", "xllamacpp", "onnxruntime")
ANALYTICS = ("ptrain.feedback.analytics", "ptrain.feedback.sql", "ptrain.feedback.retention",
             "ptrain.feedback.importing", "ptrain.feedback.sources")  # fmt: skip


def _loaded(body: str, cwd) -> set[str]:
    code = textwrap.dedent(body) + "\nimport sys\nprint(' '.join(sorted(sys.modules)))\n"
    p = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return set(p.stdout.split())


def _bad(mods: set[str]) -> list[str]:
    return sorted(m for m in mods if m.split(".")[0] in HEAVY or m in ANALYTICS)


def test_importing_the_package_is_free(tmp_path):
    mods = _loaded("import ptrain.feedback", tmp_path)
    assert not _bad(mods) and "pydantic" not in mods and "ptrain.feedback.records" not in mods


def test_feedback_add_and_record_feedback_stay_light(repo):
    body = f"""
    import sys
    sys.argv = ["ptrain", "feedback", "add", "support/triage", "--rating", "1", "-m", "ok"]
    from ptrain.cli.main import app
    try:
        app()
    except SystemExit as e:
        assert e.code in (0, None), e.code
    from ptrain import PromptRepo
    r = PromptRepo({str(repo.root)!r})
    r.record_feedback(r.get("support/triage"), "rating", rating=0.5)
    """
    mods = _loaded(body, repo.root)
    assert not _bad(mods), _bad(mods)
    assert "ptrain.feedback.store" in mods  # it did record


def test_feedback_add_does_not_import_pydantic(repo):
    """The record is checked and the settings read by the plain-Python rules (issue 13: the
    model's import was ~85 ms of `feedback add`)."""
    body = """
    import sys
    sys.argv = ["ptrain", "feedback", "add", "support/triage", "--rating", "1", "-m", "ok",
                "--metric", "latency_ms=12", "--json"]
    from ptrain.cli.main import app
    try:
        app()
    except SystemExit as e:
        assert e.code in (0, None), e.code
    """
    mods = _loaded(body, repo.root)
    assert "ptrain.feedback.store" in mods  # it did record
    assert not [m for m in mods if m.split(".")[0] == "pydantic"]
    assert not {"ptrain.feedback.records", "ptrain.feedback.settings", "ptrain.prompts"} & mods


def test_summary_does_load_duckdb(repo):
    mods = _loaded(
        f"from ptrain import feedback\nfeedback.summarize({str(repo.root)!r})", repo.root
    )
    assert "duckdb" in mods


def test_a_second_feedback_add_reads_the_settings_without_ruamel(repo):
    """ptrain.yaml parsed once is cached by its digest in .git/ptrain-cache (~20 ms of ruamel
    off the next `feedback add`); an edited ptrain.yaml is a different digest, parsed anew."""
    body = """
    import sys
    sys.argv = ["ptrain", "feedback", "add", "support/triage", "--rating", "1", "-m", "ok"]
    from ptrain.cli.main import app
    try:
        app()
    except SystemExit as e:
        assert e.code in (0, None), e.code
    """
    _loaded(body, repo.root)
    assert list((repo.root / ".git" / "ptrain-cache").glob("settings-*.json"))
    assert "ruamel.yaml" not in _loaded(body, repo.root)
    cfg = repo.root / "ptrain.yaml"
    cfg.write_text(cfg.read_text().replace("staging]", "canary]"))
    assert "ruamel.yaml" in _loaded(body, repo.root)  # a new digest: parsed (then cached)
    assert "ruamel.yaml" not in _loaded(body, repo.root)
    from ptrain.layout import raw_settings

    assert raw_settings(repo.root)["envs"] == ["production", "canary"]
