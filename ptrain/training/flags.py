"""Flags on a trained candidate that a person must look at before it ships.

Feedback is data written by users; training must never turn it into instructions. A candidate is
flagged when the text it adds to the prompt (compared with the current version)

* copies a run of words from a feedback message or suggestion (8 words, or the whole message
  when it is shorter), or
* contains instruction-like text (e.g. "ignore previous instructions", "you are now", "system
  prompt"), typically carried in by a feedback example.

Flagged candidates are listed in the report and the pull-request body and are never
auto-deployed.
"""

from __future__ import annotations

import re

SHINGLE = 8
MIN_WORDS = 4  # shorter messages ("Shorter answers") are too generic to call a copy
INSTRUCTION_LIKE = re.compile(
    r"ignore (all |any |the )?(previous|prior|above|earlier) (instructions|prompts?|rules)"
    r"|disregard (all |any |the )?(previous|prior|above) "
    r"|you are now\b|new instructions?:|system prompt|reveal (your|the) (prompt|instructions)"
    r"|developer mode|jailbreak",
    re.I,
)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _added(candidate: str, base: str) -> str:
    """The lines of ``candidate`` that the current version does not have."""
    have = {ln.strip() for ln in base.splitlines()}
    return "\n".join(ln for ln in candidate.splitlines() if ln.strip() not in have)


def flags_for(candidate: str, base: str, feedback_text: list[tuple[str, str]]) -> list[str]:
    added = _added(candidate, base)
    words = _words(added)
    joined = " " + " ".join(words) + " "
    out = []
    for fid, msg in feedback_text:
        mw = _words(msg)
        if len(mw) < MIN_WORDS:
            continue
        n = min(SHINGLE, len(mw))
        for i in range(len(mw) - n + 1):
            if " " + " ".join(mw[i : i + n]) + " " in joined:
                out.append(f"copies text from feedback {fid}: “{' '.join(mw[i : i + n])}”")
                break
    for m in dict.fromkeys(x.group(0) for x in INSTRUCTION_LIKE.finditer(added)):
        out.append(f"contains instruction-like text: “{m}”")
    return out
