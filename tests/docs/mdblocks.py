"""Fenced code blocks of the markdown docs, with their ``docs-test`` annotations.

See the header of ``test_docs.py`` for the annotation syntax.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHELL = ("bash", "sh", "shell")
PYTHON = ("python", "py")
_FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
_NOTE = re.compile(r"<!--\s*docs-test:\s*(.*?)\s*-->")
_KNOWN = ("skip", "integration", "before", "allow-exit", "prompt-file")


@dataclass
class Block:
    doc: str  # path relative to the repository root
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    notes: list[str] = field(default_factory=list)

    @property
    def runnable(self) -> bool:
        return self.lang in SHELL + PYTHON or self.prompt_file

    @property
    def prompt_file(self) -> bool:
        """A yaml block annotated ``prompt-file``: checked with ``ptrain prompt validate``."""
        return self.lang in ("yaml", "yml") and bool(self.note("prompt-file"))

    def note(self, key: str) -> list[str]:
        """Values of the annotations named ``key`` (``before CMD`` -> ``["CMD"]``)."""
        out = []
        for n in self.notes:
            word, _, rest = n.partition(" ")
            if word.rstrip(":") == key:
                out.append(rest.strip().strip(":").strip())
        return out

    @property
    def skip_reason(self) -> str | None:
        reasons = self.note("skip")
        return reasons[0] if reasons else None

    @property
    def integration(self) -> bool:
        return bool(self.note("integration"))

    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def docs() -> list[Path]:
    """README.md and every docs/*.md, in a stable order."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks(path: Path) -> list[Block]:
    """Every fenced block of ``path``; ``<!-- docs-test: ... -->`` lines directly above a fence
    (blank lines allowed between) annotate it."""
    lines = path.read_text().splitlines()
    rel = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    out: list[Block] = []
    pending: list[str] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        note = _NOTE.search(lines[i])
        if note:
            pending.append(note.group(1))
        elif m:
            fence, lang, start = m.group(2), m.group(3).lower(), i
            body = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(fence):
                body.append(lines[i])
                i += 1
            out.append(Block(rel, start + 1, lang, "\n".join(body) + "\n", pending))
            pending = []
        elif lines[i].strip():
            pending = []  # an annotation belongs to the block right below it
        i += 1
    return out


def unknown_notes(block: Block) -> list[str]:
    return [n for n in block.notes if n.split(" ")[0].rstrip(":") not in _KNOWN]
