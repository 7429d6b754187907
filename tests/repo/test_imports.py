"""The CLI's read paths and runtime loading never import langchain, faiss or a model runtime."""

from __future__ import annotations

import subprocess
import sys
import textwrap

HEAVY = (
    "langchain_core",
    "langchain_openai",
    "langchain",
    "faiss",
    "xllamacpp",
    "onnxruntime",
    "mcp",
)

PROBE = textwrap.dedent(
    """
    import sys
    heavy = {heavy!r}

    def loaded():
        return sorted(m for m in sys.modules if m.split(".")[0] in heavy)

    {body}
    print("LOADED:" + ",".join(loaded()))
    """
)


def _probe(body: str, cwd) -> str:
    code = PROBE.format(heavy=HEAVY, body=textwrap.indent(textwrap.dedent(body), "").strip())
    p = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout.rsplit("LOADED:", 1)[1].strip()


def _cli_body(*args: str) -> str:
    return (
        f"sys.argv = ['ptrain', *{list(args)!r}]\n"
        "from ptrain.cli.main import app\n"
        "try:\n"
        "    app()\n"
        "except SystemExit as e:\n"
        "    assert e.code in (0, None), e.code\n"
    )


def test_help_and_show_do_not_import_heavy_libraries(triage_repo):
    triage_repo.deploy("support/triage", 2)
    root = triage_repo.root
    for args in (
        ["--help"],
        ["prompt", "--help"],
        ["prompt", "show", "support/triage"],
        ["prompt", "show", "support/triage", "--env", "production"],
        ["prompt", "list"],
        ["prompt", "versions", "support/triage"],
        ["prompt", "validate"],
        ["mcp", "--help"],
        ["mcp", "serve", "--help"],
        ["feedback", "add", "support/triage", "--rating", "1"],
    ):
        assert _probe(_cli_body(*args), root) == "", args


def test_runtime_get_does_not_import_heavy_libraries(triage_repo):
    triage_repo.deploy("support/triage", 2)
    body = (
        "from ptrain import PromptRepo\n"
        f"p = PromptRepo({str(triage_repo.root)!r}).get('support/triage')\n"
        "assert p.version == 2\n"
        "p.format(message='hi')\n"
        "PromptRepo('.').record_feedback(p, 'rating', rating=1.0)\n"
    )
    assert _probe(body, triage_repo.root) == ""
    # and to_langchain() does import langchain_core, only when called
    loaded = _probe(body + "p.to_langchain()\n", triage_repo.root)
    assert "langchain_core" in loaded.split(",")
