"""``ptrain mcp serve``: deployed prompts over the Model Context Protocol (the ``mcp`` SDK, 1.x).

The only module that imports the ``mcp`` SDK (and, for HTTP, starlette/uvicorn, which the SDK
brings). It binds :class:`ptrain.mcp.catalog.Catalog` to the SDK's low-level ``Server``: the set
of prompts is not known when the server starts (it changes with every deploy), so prompts and
tools are answered by handlers rather than registered as FastMCP functions.

* ``prompts/list``: every prompt deployed to the env; arguments = ``input_variables`` (all
  required); ``_meta`` = ``{"version", "commit", "env"}``.
* ``prompts/get``: the messages filled with the arguments (system text is sent as a user
  message: MCP prompts have no system role); ``_meta`` as above plus ``variant``. A client may
  pass ``unit_id`` in the request's ``_meta`` to get its sticky A/B variant. Unknown names,
  missing or unknown arguments answer JSON-RPC invalid params (-32602).
* tools, for hosts that ignore prompts: ``list_prompts``, ``get_prompt``, ``record_feedback``
  (absent with ``--read-only``), ``prompt_history``. A tool's failure is a tool result with
  ``isError`` (the protocol's convention), its text the one-line problem and fix.
* change: a watcher polls the deploy and A/B tags (one ``git for-each-ref`` per interval) and,
  when they move (a deploy by another process, a ``ptrain sync`` that fetched one), sends
  ``notifications/prompts/list_changed`` and ``notifications/tools/list_changed`` (the
  ``get_prompt`` tool's description lists the deployed prompts) to every session that has
  made a request. ``get`` reads the tag on every call, so it serves the new version at once.
* transports: stdio, or streamable HTTP at ``http://HOST:PORT/mcp`` (HOST 127.0.0.1 unless
  given; on a loopback host the SDK's DNS-rebinding protection is on).
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections.abc import AsyncIterator
from typing import Any

import anyio
import mcp.types as types
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.session import ServerSession
from mcp.shared.exceptions import McpError

from ptrain import __version__
from ptrain.errors import PtrainError
from ptrain.mcp.catalog import BadArguments, Catalog, UnknownPrompt

log = logging.getLogger("ptrain.mcp")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
WRITE_TOOL = "record_feedback"

_ENV_PROP = {"type": "string", "description": "Environment (default: the server's env)."}
_NAME_PROP = {"type": "string", "description": "Prompt name, e.g. support/triage."}


class PromptServer:
    """One MCP server over one catalog; ``run_stdio`` or ``run_http`` serve it."""

    def __init__(self, catalog: Catalog, poll: float = 1.0):
        self.catalog = catalog
        self.poll = poll
        self.sessions: weakref.WeakSet[ServerSession] = weakref.WeakSet()
        self._validators: dict[str, Any] = {}
        env = catalog.env
        self.server: Server = Server(
            "ptrain",
            version=__version__,
            instructions=(
                f"Prompts deployed to {env} in a ptrain repository. Call get_prompt for a "
                "prompt's messages; after using it, call record_feedback with the `name`, "
                "`commit` (and `variant`) that get_prompt returned."
            ),
        )
        self._register()

    # -- handlers -------------------------------------------------------------------------
    def _register(self) -> None:
        srv = self.server

        @srv.list_prompts()
        async def _list_prompts() -> list[types.Prompt]:
            self._track()
            return [_prompt(p) for p in self.catalog.prompts()]

        @srv.get_prompt()
        async def _get_prompt(name: str, arguments: dict[str, str] | None) -> types.GetPromptResult:
            self._track()
            try:
                r = self.catalog.render(name, arguments, unit_id=self._unit_id())
            except (UnknownPrompt, BadArguments) as exc:
                raise McpError(
                    types.ErrorData(code=types.INVALID_PARAMS, message=str(exc))
                ) from None
            except PtrainError as exc:
                raise McpError(
                    types.ErrorData(code=types.INTERNAL_ERROR, message=str(exc))
                ) from None
            return types.GetPromptResult(
                description=r.description or None,
                messages=[
                    types.PromptMessage(
                        role=m["role"],  # "user" | "assistant"
                        content=types.TextContent(type="text", text=m["content"]),
                    )
                    for m in r.messages
                ],
                _meta=r.meta,
            )

        @srv.list_tools()
        async def _list_tools() -> list[types.Tool]:
            self._track()
            return self.tools()

        # the SDK's own input check runs jsonschema.validate, which re-checks the schema on
        # every call (~6 ms); the schemas are fixed, so their validators are built once
        @srv.call_tool(validate_input=False)
        async def _call_tool(name: str, arguments: dict[str, Any]) -> Any:
            self._track()
            try:
                self._check_input(name, arguments)
                return self.call(name, arguments)
            except PtrainError as exc:
                return types.CallToolResult(
                    content=[types.TextContent(type="text", text=str(exc))], isError=True
                )

    def _check_input(self, name: str, arguments: dict[str, Any]) -> None:
        schema = _SCHEMAS.get(name)
        if schema is None:
            return  # an unknown tool: call() says so
        validator = self._validators.get(name)
        if validator is None:
            import jsonschema

            validator = self._validators[name] = jsonschema.Draft202012Validator(schema)
        error = next(iter(validator.iter_errors(arguments)), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path)
            raise PtrainError(
                f"Input validation error: {(where + ': ') if where else ''}{error.message}",
                "see the tool's inputSchema (tools/list)",
            )

    def _track(self) -> None:
        """Remember the session of the current request: list-changed notifications go there."""
        with contextlib.suppress(LookupError):
            self.sessions.add(self.server.request_context.session)

    def _unit_id(self) -> str | None:
        with contextlib.suppress(LookupError):
            meta = self.server.request_context.meta
            extra = (meta.model_extra or {}) if meta is not None else {}
            unit = extra.get("unit_id")
            return str(unit) if unit not in (None, "") else None
        return None

    def _client_name(self) -> str | None:
        """The host's name from its initialize request (kept with feedback as provenance)."""
        with contextlib.suppress(LookupError, AttributeError):
            params = self.server.request_context.session.client_params
            return params.clientInfo.name[:100] if params is not None else None
        return None

    # -- tools ----------------------------------------------------------------------------
    def tools(self) -> list[types.Tool]:
        names = self.catalog.deployed_names()
        listed = ", ".join(names[:50]) + (" ..." if len(names) > 50 else "") if names else "none"
        read = types.ToolAnnotations(readOnlyHint=True, openWorldHint=False)
        tools = [
            types.Tool(
                name="list_prompts",
                description="List the prompts deployed to an env: name, description, "
                "arguments, version and commit.",
                inputSchema=_LIST_SCHEMA,
                annotations=read,
            ),
            types.Tool(
                name="get_prompt",
                description="A deployed prompt's messages filled with `arguments` (by env, or "
                "a given version; `unit_id` gives the caller's sticky A/B variant). The result "
                "carries the served `commit` and `variant`: pass them to record_feedback. "
                f"Deployed to {self.catalog.env}: {listed}.",
                inputSchema=_GET_SCHEMA,
                annotations=read,
            ),
            types.Tool(
                name="prompt_history",
                description="Deploys and rollbacks of a prompt in an env (newest last): "
                "version, commit, who, when, why.",
                inputSchema=_HISTORY_SCHEMA,
                annotations=read,
            ),
        ]
        if not self.catalog.read_only:
            tools.insert(
                2,
                types.Tool(
                    name=WRITE_TOOL,
                    description="Record feedback on a prompt version that get_prompt served: "
                    "a rating (0.0 bad .. 1.0 good), an error, or a suggestion, with an "
                    "optional message. Pass the `name`, `commit` and `variant` from "
                    "get_prompt's result, so the feedback is tied to what was served.",
                    inputSchema=_FEEDBACK_SCHEMA,
                    annotations=types.ToolAnnotations(
                        readOnlyHint=False, destructiveHint=False, openWorldHint=False
                    ),
                ),
            )
        return tools

    def call(self, name: str, args: dict[str, Any]) -> Any:
        """A tool call as data (structured content); PtrainError for the caller's mistakes."""
        cat = self.catalog
        if name == "list_prompts":
            env = args.get("env") or cat.env
            return {"env": env, "prompts": cat.prompts(env)}
        if name == "get_prompt":
            r = cat.render(
                args["name"],
                args.get("arguments") or {},
                env=args.get("env"),
                version=args.get("version"),
                unit_id=args.get("unit_id"),
            )
            served = f"{r.name} v{r.version} commit {r.commit}" if r.version else r.commit
            note = f"[ptrain: {served}" + (f" variant {r.variant}" if r.variant else "") + "]"
            text = types.TextContent(type="text", text=f"{r.text()}\n\n{note}")
            return [text], r.to_dict()
        if name == "prompt_history":
            return {"deploys": cat.history(args["name"], args.get("env"), args.get("limit") or 20)}
        if name == WRITE_TOOL:  # refused by the catalog when read-only (and not listed)
            rec = cat.record_feedback(
                str(args.get("name", "")),
                str(args.get("commit", "")),
                client=self._client_name(),
                **{k: args.get(k) for k in _FEEDBACK_FIELDS},
            )
            return {"recorded": rec}
        raise PtrainError(f"unknown tool {name!r}", "call tools/list for the tools")

    # -- change detection -----------------------------------------------------------------
    async def watch(self) -> None:
        """Poll the deploy and A/B tags; on a change, tell every session its lists changed."""
        last = await self._fingerprint()
        while True:
            await anyio.sleep(self.poll)
            now = await self._fingerprint()
            if now is not None and now != last:
                last = now
                await self.announce()

    async def _fingerprint(self) -> str | None:
        try:
            return await anyio.to_thread.run_sync(self.catalog.fingerprint)
        except (PtrainError, OSError) as exc:  # a repo mid-gc or gone: keep serving, retry
            log.warning("ptrain mcp: cannot read deploy tags: %s", exc)
            return None

    async def announce(self) -> None:
        for session in list(self.sessions):
            try:
                await session.send_prompt_list_changed()
                await session.send_tool_list_changed()
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                self.sessions.discard(session)

    def init_options(self):
        return self.server.create_initialization_options(
            NotificationOptions(prompts_changed=True, tools_changed=True)
        )

    # -- transports -----------------------------------------------------------------------
    async def run_stdio(self) -> None:
        from mcp.server.stdio import stdio_server

        async with stdio_server() as (read, write), anyio.create_task_group() as tg:
            tg.start_soon(self.watch)
            await self.server.run(read, write, self.init_options())
            tg.cancel_scope.cancel()

    def http_app(self, host: str = "127.0.0.1"):
        """A Starlette app serving streamable HTTP at ``/mcp`` (and running the watcher)."""
        from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
        from mcp.server.transport_security import TransportSecuritySettings
        from starlette.applications import Starlette
        from starlette.routing import Route

        security = None
        if host in LOOPBACK:
            security = TransportSecuritySettings(
                enable_dns_rebinding_protection=True,
                allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
                allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
            )
        manager = StreamableHTTPSessionManager(app=self.server, security_settings=security)

        class _Endpoint:
            async def __call__(self, scope, receive, send) -> None:
                await manager.handle_request(scope, receive, send)

        @contextlib.asynccontextmanager
        async def lifespan(_app) -> AsyncIterator[None]:
            async with manager.run(), anyio.create_task_group() as tg:
                tg.start_soon(self.watch)
                yield
                tg.cancel_scope.cancel()

        return Starlette(routes=[Route("/mcp", endpoint=_Endpoint())], lifespan=lifespan)

    async def run_http(self, host: str, port: int) -> None:
        import uvicorn

        config = uvicorn.Config(self.http_app(host), host=host, port=port, log_level="warning")
        await uvicorn.Server(config).serve()


def _prompt(p: dict[str, Any]) -> types.Prompt:
    return types.Prompt(
        name=p["name"],
        description=p["description"] or None,
        arguments=[types.PromptArgument(name=a["name"], required=True) for a in p["arguments"]],
        _meta={k: p[k] for k in ("version", "commit", "env")},
    )


_GET_SCHEMA = {
    "type": "object",
    "properties": {
        "name": _NAME_PROP,
        "arguments": {
            "type": "object",
            "description": "The prompt's arguments (see list_prompts), as strings.",
            "additionalProperties": {"type": "string"},
        },
        "env": _ENV_PROP,
        "version": {
            "type": ["string", "integer"],
            "description": "A version instead of the deployed one: 3, v3 or a commit sha.",
        },
        "unit_id": {
            "type": "string",
            "description": "A user or session id: its sticky variant when an A/B test runs.",
        },
    },
    "required": ["name"],
}

_LIST_SCHEMA = {"type": "object", "properties": {"env": _ENV_PROP}}
_HISTORY_SCHEMA = {
    "type": "object",
    "properties": {
        "name": _NAME_PROP,
        "env": _ENV_PROP,
        "limit": {"type": "integer", "minimum": 1, "maximum": 500},
    },
    "required": ["name"],
}
_FEEDBACK_FIELDS = (
    "rating",
    "error",
    "suggestion",
    "message",
    "output",
    "env",
    "variant",
    "unit_id",
)
_FEEDBACK_SCHEMA = {
    "type": "object",
    "properties": {
        "name": _NAME_PROP,
        "commit": {"type": "string", "description": "The `commit` get_prompt returned."},
        "rating": {"type": "number", "minimum": 0, "maximum": 1},
        "error": {"type": "string", "description": "What went wrong with the prompt's result."},
        "suggestion": {"type": "string", "description": "How the prompt should change."},
        "message": {"type": "string", "description": "A comment."},
        "output": {"type": "string", "description": "The answer the prompt produced."},
        "env": _ENV_PROP,
        "variant": {"type": "string", "description": "The `variant` get_prompt returned."},
        "unit_id": {"type": "string", "description": "The unit_id passed to get_prompt."},
    },
    "required": ["name", "commit"],
}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """Optional properties also take null: hosts echo back a result's ``"variant": null``."""
    for key, prop in schema["properties"].items():
        if key not in schema.get("required", ()):
            kinds = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
            schema["properties"][key] = {**prop, "type": [*kinds, "null"]}
    return schema


for _schema in (_GET_SCHEMA, _LIST_SCHEMA, _HISTORY_SCHEMA, _FEEDBACK_SCHEMA):
    _nullable(_schema)

_SCHEMAS = {
    "list_prompts": _LIST_SCHEMA,
    "get_prompt": _GET_SCHEMA,
    "prompt_history": _HISTORY_SCHEMA,
    WRITE_TOOL: _FEEDBACK_SCHEMA,
}


def check_listen(host: str, port: int) -> None:
    """PtrainError now, rather than uvicorn's log line later, when host:port cannot be bound."""
    import socket

    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError):
        raise PtrainError(
            f"cannot resolve --host {host!r}", "give an address such as 127.0.0.1"
        ) from None
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            raise PtrainError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc})",
                "pick another port with --port, or stop the process that uses it",
            ) from None


def serve(
    catalog: Catalog,
    *,
    transport: str = "stdio",
    host: str = "127.0.0.1",
    port: int = 8000,
    poll: float = 1.0,
) -> None:
    """Serve until the client disconnects (stdio) or the process is stopped (HTTP)."""
    server = PromptServer(catalog, poll=poll)
    if transport == "stdio":
        anyio.run(server.run_stdio)
    elif transport == "http":
        anyio.run(server.run_http, host, port)
    else:
        raise PtrainError(f"unknown transport {transport!r}", "use --transport stdio or http")
