"""``ptrain ui`` as a real process, and the promise that nobody else pays for it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request

from tests.conftest import PTRAIN_BIN


def _ui_modules_after(args: list[str]) -> tuple[str, str]:
    code = (
        "import sys\n"
        f"sys.argv = ['ptrain', *{args!r}]\n"
        "from ptrain.cli.main import app\n"
        "try:\n    app()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "print('UI:' + ','.join(m for m in sys.modules if m.startswith('ptrain.ui')))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout, p.stdout.rsplit("UI:", 1)[1].strip()


def test_fast_paths_do_not_import_the_ui(ui_repo):
    out, loaded = _ui_modules_after(["--help"])
    assert " ui " in out and loaded == ""  # listed in the help, not imported
    root = str(ui_repo.root)
    for args in (
        ["-C", root, "prompt", "list"],
        ["-C", root, "prompt", "show", "assistant/intent"],
        ["-C", root, "feedback", "add", "assistant/intent", "-r", "1"],
    ):
        assert _ui_modules_after(args)[1] == "", args


def test_serves_the_repository_and_prints_the_token(ui_repo):
    proc = subprocess.Popen(
        [PTRAIN_BIN, "-C", str(ui_repo.root), "ui", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        url = re.search(r"http://127\.0\.0\.1:\d+/", lines[0]).group(0)
        token = lines[2].split(":", 1)[1].strip()
        assert f"?token={token}" in lines[1] and len(token) >= 24
        with urllib.request.urlopen(url + "api/prompts", timeout=30) as r:
            names = [p["name"] for p in json.loads(r.read())["prompts"]]
        assert names == sorted(ui_repo.prompt_names())
        with urllib.request.urlopen(url, timeout=30) as r:
            page = r.read().decode()
            assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert '<script src="/static/app.js"' in page and "http" not in page.split("<body>")[0]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_outside_a_repository_is_one_line(tmp_path):
    p = subprocess.run(
        [PTRAIN_BIN, "-C", str(tmp_path), "ui", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 1
    assert "Traceback" not in p.stderr and p.stderr.strip()


def test_port_in_use_is_one_line(ui_server, ui_repo):
    port = ui_server.server_address[1]
    p = subprocess.run(
        [PTRAIN_BIN, "-C", str(ui_repo.root), "ui", "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in p.stderr and "Traceback" not in p.stderr
