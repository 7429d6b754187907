"""The middleware and the catalog work without importing the mcp SDK or langchain."""

from __future__ import annotations

import subprocess
import sys


def test_middleware_and_catalog_import_no_sdk(served_repo):
    code = (
        "import sys\n"
        "from ptrain.mcp import PromptTrainingMiddleware\n"
        "from ptrain.mcp.catalog import Catalog\n"
        "from ptrain import PromptRepo\n"
        f"repo = PromptRepo({str(served_repo.root)!r})\n"
        "Catalog(repo).prompts()\n"
        f"ptm = PromptTrainingMiddleware(repo, spool={str(served_repo.root / 'spool')!r})\n"
        "f = ptm.track('greet')(lambda name, topic: 'ok')\n"
        "assert f(name='a', topic='b') == 'ok'\n"
        "heavy = ('mcp', 'langchain_core', 'starlette', 'uvicorn', 'anyio')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"
