"""The ``ptrain ui`` HTTP server: the standard library's ``ThreadingHTTPServer``, a JSON API and
the static page from ``ptrain/ui/static`` (no CDN, works offline).

API (every answer is JSON; an error is ``{"error": one line, "hint": what to do}`` with a 4xx):

=========================  ====================================================================
GET  /api/prompts          prompts, version counts, what is deployed where
GET  /api/prompt           ?name=  versions, deploy/rollback history, deployed per env
GET  /api/diff             ?name=&a=&b=  unified diff between two versions
GET  /api/feedback         ?name=[&since=&env=]  per-version daily series, deploy moments, totals
GET  /api/feedback/lists   ?name=[&since=]  suggestions, worst rated, newest interactions
GET  /api/evals            ?name=[&cases=]  stored eval results: case × version matrix
GET  /api/training         [?name=]  training reports with their branch or attempt tag
GET  /api/ab               ?name=  A/B experiments per env with report and verdict
POST /api/feedback         rating / comment / suggestion  -> a feedback record
POST /api/expected         an interaction's output as expected -> an eval case
=========================  ====================================================================

Safety: binds 127.0.0.1 unless told otherwise; a request whose ``Host`` is not this server is
refused while bound to loopback (DNS rebinding); writes need the header ``X-Ptrain-Token`` with
the random token printed at start (a cross-site page can neither read it nor send the header
without a CORS preflight, which is never granted); bodies are JSON objects of at most 64 KiB;
unknown query parameters and body fields are errors.
"""

from __future__ import annotations

import hmac
import json
import secrets
import sys
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ptrain.errors import (
    ConcurrentUpdate,
    NotAPromptRepo,
    PromptNotFound,
    PtrainError,
    VersionNotFound,
)
from ptrain.repo import PromptRepo
from ptrain.ui import annotate, results, views
from ptrain.ui.annotate import Conflict, RecordNotFound

MAX_BODY = 64 * 1024
TOKEN_HEADER = "X-Ptrain-Token"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
STATIC = {  # url path -> (file in ptrain/ui/static, content type)
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/chart.js": ("chart.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class HttpError(PtrainError):
    def __init__(self, status: int, message: str, hint: str | None = None):
        super().__init__(message, hint)
        self.status = status


def _routes() -> dict[str, tuple[Callable[..., Any], tuple[str, ...], tuple[str, ...]]]:
    """GET path -> (view(repo, **params), required params, optional params)."""
    return {
        "/api/prompts": (views.overview, (), ()),
        "/api/prompt": (views.prompt_detail, ("name",), ()),
        "/api/diff": (views.version_diff, ("name", "a", "b"), ()),
        "/api/feedback": (views.feedback_series, ("name",), ("since", "env")),
        "/api/feedback/lists": (views.feedback_lists, ("name",), ("since",)),
        "/api/evals": (results.eval_matrix, ("name",), ("cases",)),
        "/api/training": (results.training, (), ("name",)),
        "/api/ab": (results.experiments, ("name",), ()),
    }


def _writes() -> dict[str, Callable[..., dict[str, Any]]]:
    return {"/api/feedback": annotate.rate, "/api/expected": annotate.mark_expected}


def status_of(exc: PtrainError) -> int:
    if isinstance(exc, HttpError):
        return exc.status
    if isinstance(exc, PromptNotFound | VersionNotFound | RecordNotFound):
        return 404
    if isinstance(exc, Conflict | ConcurrentUpdate):
        return 409
    return 400


class UIServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, root: Path, host: str, port: int, token: str, quiet: bool = True):
        self.root = Path(root)
        self.token = token
        self.quiet = quiet
        self.routes = _routes()
        self.writes = _writes()
        self.static = {p: (_asset(f), ct) for p, (f, ct) in STATIC.items()}
        super().__init__((host, port), Handler)

    @property
    def url(self) -> str:
        host, port = str(self.server_address[0]), int(self.server_address[1])
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    def allowed_hosts(self) -> set[str] | None:
        """``Host`` values accepted while bound to loopback (None: any)."""
        host, port = str(self.server_address[0]), int(self.server_address[1])
        if host not in LOOPBACK:
            return None
        return {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}


def _asset(name: str) -> bytes:
    return (resources.files("ptrain.ui") / "static" / name).read_bytes()


class Handler(BaseHTTPRequestHandler):
    server: UIServer
    server_version = "ptrain-ui"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if not self.server.quiet:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    # -- dispatch ------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._handle(self._get)

    def do_POST(self) -> None:  # noqa: N802
        self._handle(self._post)

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle(self._get)

    def do_PUT(self) -> None:  # noqa: N802
        self._send_error(HttpError(405, "method not allowed", "use GET or POST"))

    do_DELETE = do_PATCH = do_PUT  # noqa: N815

    def _handle(self, fn: Callable[[], None]) -> None:
        try:
            self._check_host()
            fn()
        except PtrainError as exc:
            self._send_error(exc)
        except Exception as exc:  # a bug: one line to the client, the traceback to stderr
            traceback.print_exc(file=sys.stderr)
            self._send_json(500, {"error": f"internal error ({exc.__class__.__name__})",
                                  "hint": "see the terminal running `ptrain ui`"})  # fmt: skip

    def _check_host(self) -> None:
        allowed = self.server.allowed_hosts()
        if allowed is not None and self.headers.get("Host", "") not in allowed:
            raise HttpError(403, "unexpected Host header", f"open {self.server.url}")

    def _get(self) -> None:
        url = urlsplit(self.path)
        if url.path in self.server.static:
            data, ctype = self.server.static[url.path]
            self._send(200, data, ctype, cache="no-cache")
            return
        route = self.server.routes.get(url.path)
        if route is None:
            raise HttpError(404, f"no such page {url.path[:80]!r}", f"open {self.server.url}")
        view, required, optional = route
        params = _params(url.query, required, optional)
        self._send_json(200, view(self._repo(), **params))

    def _post(self) -> None:
        url = urlsplit(self.path)
        write = self.server.writes.get(url.path)
        if write is None:
            raise HttpError(404, f"cannot POST to {url.path[:80]!r}", "see docs/ui.md")
        self._check_token()
        body = self._read_json()
        self._send_json(200, write(self._repo(), body))

    def _repo(self):
        try:
            return PromptRepo(self.server.root)
        except NotAPromptRepo as exc:
            raise HttpError(500, exc.message, exc.hint) from None

    # -- input checks --------------------------------------------------------------------------
    def _check_token(self) -> None:
        origin = self.headers.get("Origin")
        # bound elsewhere than loopback, a write must still come from a page of this server
        allowed = self.server.allowed_hosts() or {self.headers.get("Host", "")}
        if origin and urlsplit(origin).netloc not in allowed:
            raise HttpError(403, "cross-origin write refused", f"use the page at {self.server.url}")
        given = self.headers.get(TOKEN_HEADER, "")
        if not given:
            raise HttpError(
                401, "missing token", "paste the token `ptrain ui` printed at start (Settings)"
            )
        if not hmac.compare_digest(given.encode(), self.server.token.encode()):
            raise HttpError(403, "wrong token", "use the token `ptrain ui` printed at start")

    def _read_json(self) -> Any:
        ctype = self.headers.get("Content-Type", "")
        if ctype.split(";")[0].strip().lower() != "application/json":
            raise HttpError(415, "the body must be JSON", "send Content-Type: application/json")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise HttpError(411, "missing Content-Length", "send the body's length") from None
        if length < 0 or length > MAX_BODY:
            raise HttpError(413, f"body larger than {MAX_BODY} bytes", "send less text")
        raw = self.rfile.read(length)
        try:
            return json.loads(raw.decode("utf-8"))
        except RecursionError:
            raise HttpError(
                400, "malformed JSON body: nested too deeply", "send a flat object"
            ) from None
        except (UnicodeDecodeError, ValueError) as exc:
            msg = str(exc).splitlines()[0][:100]
            raise HttpError(400, f"malformed JSON body: {msg}", "send a JSON object") from None

    # -- output --------------------------------------------------------------------------------
    def _send_error(self, exc: PtrainError) -> None:
        self._send_json(status_of(exc), {"error": exc.message, "hint": exc.hint})

    def _send_json(self, status: int, data: Any) -> None:
        body = json.dumps(data, ensure_ascii=False, default=str).encode()
        self._send(status, body, "application/json; charset=utf-8", cache="no-store")

    def _send(self, status: int, body: bytes, ctype: str, cache: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _params(query: str, required: tuple[str, ...], optional: tuple[str, ...]) -> dict[str, str]:
    try:
        raw = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise HttpError(400, "malformed query string", "use ?name=VALUE&...") from None
    out: dict[str, str] = {}
    for key, values in raw.items():
        if key not in required and key not in optional:
            known = ", ".join((*required, *optional)) or "none"
            raise HttpError(400, f"unknown parameter {key!r}", f"parameters: {known}")
        if len(values) > 1:
            raise HttpError(400, f"parameter {key!r} given twice", "give it once")
        if values[0] != "":
            out[key] = values[0]
    missing = [k for k in required if k not in out]
    if missing:
        raise HttpError(400, f"missing parameter {missing[0]!r}", f"add ?{missing[0]}=...")
    return out


def make_server(
    root: str | Path, host: str = "127.0.0.1", port: int = 8765, token: str | None = None,
    quiet: bool = True,
) -> UIServer:  # fmt: skip
    """A bound server over the repository at ``root`` (``serve_forever`` to run it)."""
    repo = PromptRepo(root)  # refuse a folder that is not a prompt repository, before binding
    try:
        return UIServer(repo.root, host, port, token or secrets.token_urlsafe(24), quiet)
    except OSError as exc:
        raise PtrainError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            "pick another port with --port (0 picks a free one)",
        ) from None
