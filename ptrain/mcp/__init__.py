"""MCP (Model Context Protocol) for ptrain.

* :mod:`ptrain.mcp.server` — ``ptrain mcp serve``: deployed prompts as MCP prompts and tools
  (the only importer of the ``mcp`` SDK);
* :mod:`ptrain.mcp.catalog` — what it serves, as plain data (no SDK);
* :mod:`ptrain.mcp.middleware` — :class:`PromptTrainingMiddleware` for Python MCP servers: wrap
  FastMCP-style tool and prompt functions to record every call as feedback (no SDK either).

Nothing is imported here, so ``import ptrain.mcp`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ptrain.mcp.middleware import Call, PromptTrainingMiddleware, current_call

__all__ = ["PromptTrainingMiddleware", "Call", "current_call"]


def __getattr__(name: str):
    if name in __all__:
        from ptrain.mcp import middleware  # lazy: PEP 562, the SDK-free names load on first use

        return getattr(middleware, name)
    raise AttributeError(f"module 'ptrain.mcp' has no attribute {name!r}")
