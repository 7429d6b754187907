"""Every shell and Python block of README.md and docs/*.md runs here, so the docs cannot drift.

How it runs
-----------
Each document is one session in a fresh temporary folder, its blocks in order, top to bottom:

* The session starts in an empty folder holding ``ptrain/``, a link to this checkout (a docs
  page may say "run from the folder where you cloned ptrain" and read ``ptrain/example-repo``).
* ``bash``/``sh``/``shell`` blocks run with ``bash -e -o pipefail`` and ``ptrain`` (this
  checkout's console script) on PATH. The working directory and shell variables carry over from
  block to block (``cd my-prompts`` or ``branch=$(...)`` in one block hold for the next), like a
  person typing them in one terminal.
* ``python`` blocks run in-process, in one namespace per document (a name defined in one block
  is there in the next), in the shell session's current directory.
* Paths an app would use are rewritten to temporary ones: ``/srv/prompts`` becomes the session's
  current directory (the prompt repo the shell blocks built) and ``/var/spool/ptrain`` a
  temporary spool folder. ``$EDITOR`` is a script that edits the file it is given the way the
  README's next line expects (it names the labels in the template).
* A ``yaml`` block annotated ``prompt-file`` must pass ``ptrain prompt validate``; other
  languages (yaml, text, none) are not run.

Every document runs twice: ``[doc-unit]`` skips the blocks annotated ``integration`` (those
need the embedded model; later blocks must not depend on them), ``[doc-all]`` (marked
``integration``) runs every block.

Annotations
-----------
An HTML comment directly above a fence (blank lines allowed in between) annotates it::

    <!-- docs-test: skip (why this block cannot run as written) -->
    <!-- docs-test: integration -->            needs the embedded model
    <!-- docs-test: before CMD -->              a shell command run first (a precondition the
                                                prose states, e.g. a file the reader has)
    <!-- docs-test: allow-exit 3 -->            the block may end with this exit code
    <!-- docs-test: prompt-file -->             (on a yaml block) a prompt file that validates

Keep ``skip`` rare and honest: a block a reader can run should run here. A new section of the
README needs nothing if its blocks run as written; otherwise annotate them, and
``test_annotations_are_known_and_skips_give_a_reason`` keeps the annotations well-formed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import PTRAIN_BIN
from tests.docs.mdblocks import ROOT, Block, blocks, docs, unknown_notes

DOCS = docs()

# The $EDITOR of the README tour: the edit `ptrain prompt update ... -m "Name the labels"` commits.
EDITOR = """\
import sys
from pathlib import Path

p = Path(sys.argv[1])
p.write_text(p.read_text().replace(
    "Classify this ticket: {ticket}",
    "Classify this ticket as billing, technical or account: {ticket}",
))
"""


class Session:
    """One document's terminal and Python interpreter."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.cwd = tmp / "work"
        self.cwd.mkdir()
        (self.cwd / "ptrain").symlink_to(ROOT)  # "run from the folder where you cloned ptrain"
        self.spool = tmp / "spool"
        self.spool.mkdir()
        editor = tmp / "editor.py"
        editor.write_text(EDITOR)
        self.env = {
            **os.environ,
            "PATH": f"{Path(PTRAIN_BIN).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(ROOT),
            "EDITOR": f"{sys.executable} {editor}",
            "COLUMNS": "100",
        }
        self.namespace: dict = {"__name__": "__docs__"}
        self.log: list[str] = []

    def rewrite(self, code: str) -> str:
        return code.replace("/srv/prompts", str(self.cwd)).replace(
            "/var/spool/ptrain", str(self.spool)
        )

    def run(self, block: Block) -> None:
        if block.prompt_file:
            path = self.tmp / f"prompt-file-{block.line}.yaml"
            path.write_text(block.code)
            self._shell(Block(block.doc, block.line, "bash", f"ptrain prompt validate {path}\n"))
        elif block.lang in ("python", "py"):
            self._python(block)
        else:
            self._shell(block)

    def _shell(self, block: Block) -> None:
        state, variables = self.tmp / "cwd.txt", self.tmp / "vars.sh"
        script = "\n".join(
            [
                "__known=\" $(compgen -v | tr '\\n' ' ') \"",
                f'[ -f "{variables}" ] && . "{variables}"',
                "set -e -o pipefail",
                *block.note("before"),
                self.rewrite(block.code),
                f'pwd > "{state}"',
                # variables the block set (`branch=$(...)`) hold in the next block, as in a terminal
                'for __v in $(compgen -v); do case "$__v" in __*) continue;; esac; '
                'case "$__known" in *" $__v "*) ;; '
                f'*) declare -p "$__v";; esac; done > "{variables}.new"',
                f'mv "{variables}.new" "{variables}"',
            ]
        )
        allowed = {0, *(int(c) for c in block.note("allow-exit"))}
        p = subprocess.run(
            ["bash", "-c", script],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=540,
        )
        self.log.append(f"$ {block.where()}\n{p.stdout}{p.stderr}")
        if p.returncode not in allowed:
            pytest.fail(
                f"{block.where()}: the {block.lang} block exited {p.returncode}\n"
                f"{textwrap.indent(block.code, '    ')}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}",
                pytrace=False,
            )
        if state.exists():
            self.cwd = Path(state.read_text().strip())

    def _python(self, block: Block) -> None:
        if block.note("before"):
            self._shell(Block(block.doc, block.line, "bash", "", block.notes))
        old = Path.cwd()
        os.chdir(self.cwd)
        try:
            code = compile(self.rewrite(block.code), block.where(), "exec")
            exec(code, self.namespace)  # noqa: S102 - the README's own code, run as written
        except Exception as exc:
            pytest.fail(
                f"{block.where()}: the python block raised {exc.__class__.__name__}: {exc}\n"
                f"{textwrap.indent(block.code, '    ')}",
                pytrace=False,
            )
        finally:
            os.chdir(old)


def _run_doc(path: Path, tmp_path: Path, with_model: bool, monkeypatch) -> Session:
    for key in ("PTRAIN_TASK_MODEL", "PTRAIN_OPTIMIZER_MODEL", "PTRAIN_REPO"):
        monkeypatch.delenv(key, raising=False)
    session = Session(tmp_path)
    for block in blocks(path):
        if not block.runnable or block.skip_reason:
            continue
        if block.integration and not with_model:
            continue
        session.run(block)
    return session


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


@pytest.mark.parametrize("path", DOCS, ids=_ids(DOCS))
def test_doc_blocks_without_the_model(path, tmp_path, monkeypatch):
    _run_doc(path, tmp_path, with_model=False, monkeypatch=monkeypatch)


@pytest.mark.integration
@pytest.mark.timeout(1200)  # README.md trains for real: ~6 min on a loaded 2-core machine
@pytest.mark.parametrize("path", DOCS, ids=_ids(DOCS))
def test_doc_blocks_with_the_model(path, tmp_path, monkeypatch):
    _run_doc(path, tmp_path, with_model=True, monkeypatch=monkeypatch)


def test_annotations_are_known_and_skips_give_a_reason():
    for path in DOCS:
        for b in blocks(path):
            assert not unknown_notes(b), f"{b.where()}: unknown docs-test annotation {b.notes}"
            if b.note("skip"):
                reason = b.skip_reason or ""
                assert reason.startswith("(") and len(reason) > 8, (
                    f"{b.where()}: a skip needs a reason: <!-- docs-test: skip (why) -->"
                )


def test_the_readme_has_shell_and_python_blocks_and_few_skips():
    """The harness sees the README (a parser regression would silently test nothing)."""
    readme = [b for b in blocks(ROOT / "README.md") if b.runnable]
    assert sum(b.lang == "python" for b in readme) >= 3
    assert sum(b.lang == "bash" for b in readme) >= 8
    skipped = [b for b in readme if b.skip_reason]
    assert len(skipped) <= 5, [b.where() for b in skipped]


def test_the_harness_honours_annotations(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text(
        "<!-- docs-test: skip (not here) -->\n\n```bash\nexit 1\n```\n"
        "text\n<!-- docs-test: integration -->\n```python\nx = 1\n```\n"
        "<!-- docs-test: stale -->\n\nprose breaks the link\n```bash\necho hi\n```\n"
    )
    a, b, c = (blk for blk in blocks(doc) if blk.runnable)
    assert a.skip_reason == "(not here)" and not a.integration
    assert b.integration and b.lang == "python"
    assert c.notes == []


@pytest.mark.parametrize(
    "body",
    [
        "```bash\nptrain promt list\n```\n",
        "```python\nfrom ptrain import PromptRepo\nPromptRepo('/srv/prompts')\n```\n",
        "<!-- docs-test: prompt-file -->\n```yaml\nschema_version: 1\ntemplate: '{x}'\n```\n",
    ],
    ids=["shell", "python", "prompt-file"],
)
def test_a_block_that_does_not_run_fails_its_doc(body, tmp_path, monkeypatch):
    doc = tmp_path / "broken.md"
    doc.write_text(body)
    (tmp_path / "session").mkdir()
    with pytest.raises(pytest.fail.Exception, match="broken.md:"):
        _run_doc(doc, tmp_path / "session", with_model=False, monkeypatch=monkeypatch)


def test_cwd_and_variables_carry_over_between_shell_blocks(tmp_path, monkeypatch):
    doc = tmp_path / "carry.md"
    doc.write_text(
        "```bash\nmkdir sub && cd sub\nname=$(echo kept)\nt=1\n```\n"
        '```bash\ntest "$(basename "$PWD")" = sub && test "$name" = kept && test "$t" = 1\nt=2\n```\n'
        '```bash\ntest "$t" = 2 && test "$name" = kept\n```\n'
        "```python\nimport os\nassert os.path.basename(os.getcwd()) == 'sub'\n```\n"
    )
    (tmp_path / "session").mkdir()
    _run_doc(doc, tmp_path / "session", with_model=False, monkeypatch=monkeypatch)
