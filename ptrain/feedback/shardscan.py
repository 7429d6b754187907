"""Reading shards into DuckDB: the declared schema, torn tails, invalid lines, per-shard groups.

Every analytics path (summary, query, prune) reads shards through here. ``read_json`` gets the
declared columns (``format = 'newline_delimited'``, no inference; keys not declared are ignored)
and ``ignore_errors``, which turns a malformed line into a row of NULLs: such rows, and records
that are not schema_version 1 records of their shard's prompt, are left out and reported with
line numbers (found by re-reading only those shards in Python). A shard whose last line is
incomplete is read from a copy of its complete lines, and the tail is reported.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
from pathlib import Path
from typing import Any

from ptrain.errors import PtrainError
from ptrain.feedback.fields import KINDS
from ptrain.feedback.reading import parse_each
from ptrain.feedback.store import Shard, Store
from ptrain.storage import jsonl

# The declared schema of a shard line (docs/feedback-format.md). Keys not listed are ignored.
COLUMNS: dict[str, str] = {
    "schema_version": "INTEGER", "id": "VARCHAR", "ts": "VARCHAR", "prompt": "VARCHAR",
    "version": "VARCHAR", "version_number": "INTEGER", "env": "VARCHAR", "variant": "VARCHAR",
    "kind": "VARCHAR", "rating": "DOUBLE", "error_type": "VARCHAR", "error_message": "VARCHAR",
    "latency_ms": "DOUBLE", "prompt_tokens": "BIGINT", "completion_tokens": "BIGINT",
    "metrics": "JSON", "inputs": "JSON", "output": "VARCHAR", "message": "VARCHAR",
    "suggestion": "VARCHAR", "source": "VARCHAR", "run_id": "VARCHAR", "metadata": "JSON",
}  # fmt: skip
SUMMARY_COLUMNS = ("schema_version", "ts", "prompt", "version", "version_number", "env",
                   "variant", "kind", "rating", "suggestion", "latency_ms", "prompt_tokens",
                   "completion_tokens")  # fmt: skip
# The columns a summary can split on beyond prompt and version. A scan reads only those asked for:
# extracting env and variant from every line costs ~6% of a cold summary at 1M records.
DIMENSIONS = ("env", "variant")
_KINDS_SQL = ", ".join(f"'{k}'" for k in KINDS)
VALID_SQL = (
    f"r.schema_version = 1 AND r.ts IS NOT NULL AND r.prompt = f.sprompt AND r.kind IN ({_KINDS_SQL})"
    " AND (r.kind <> 'rating' OR r.rating IS NOT NULL)"
)


def columns_sql(names: tuple[str, ...] | list[str]) -> str:
    return "{" + ", ".join(f"{n}: '{COLUMNS[n]}'" for n in names) + "}"


def read_json_sql(
    names: tuple[str, ...] | list[str],
    max_record_bytes: int = 1 << 20,
    ignore_errors: bool = True,
    filename: bool = True,
) -> str:
    """``read_json`` over the list parameter ``$files`` with the declared columns (and the
    ``filename`` column; ``file_index``, the position in ``$files``, is always there). DuckDB's
    buffers scale with ``maximum_object_size``: it follows the record size limit."""
    size = max(16 << 20, max_record_bytes + 4096)
    return (
        f"read_json($files, format = 'newline_delimited', columns = {columns_sql(names)}, "
        f"ignore_errors = {str(ignore_errors).lower()}, filename = {str(filename).lower()}, "
        f"maximum_object_size = {size})"
    )


# Pass 1 folds 1M rows into a few thousand per-file groups (no join on the big side; keyed by
# ``file_index``, the position in ``$files``, so a torn tail's copy maps to its shard as is);
# pass 2 maps files to shards and checks each group's prompt against its shard's, on the small
# side.
_ROW_OK = (
    f"r.schema_version = 1 AND r.ts IS NOT NULL AND r.kind IN ({_KINDS_SQL})"
    " AND (r.kind <> 'rating' OR r.rating IS NOT NULL)"
)
_GROUPS_SQL = f"""
SELECT r.file_index AS file, r.prompt AS prompt, r.version AS version, {{dims}},
       coalesce({_ROW_OK}, false) AS ok,
       max(r.version_number) AS version_number, count(*) AS n,
       count_if(r.kind = 'success') AS successes, count_if(r.kind = 'error') AS errors,
       count_if(r.kind = 'metric') AS metrics, count(r.rating) AS ratings,
       sum(r.rating) AS rating_sum, count(r.suggestion) AS suggestions,
       list(r.latency_ms) FILTER (WHERE r.latency_ms IS NOT NULL) AS lat,
       count(r.prompt_tokens) AS pt_n, sum(r.prompt_tokens) AS pt_sum,
       count(r.completion_tokens) AS ct_n, sum(r.completion_tokens) AS ct_sum,
       min(r.ts) AS first_ts, max(r.ts) AS last_ts
FROM {{read_json}} r
{{where}}
GROUP BY ALL
"""
_TO_SHARDS_SQL = """
SELECT m.rel AS shard, m.day, g.prompt, g.version, g.env, g.variant,
       (g.ok AND g.prompt IS NOT DISTINCT FROM m.sprompt) AS ok,
       g.* EXCLUDE (file, prompt, version, env, variant, ok)
FROM {raw} g JOIN {raw}_files m ON g.file = m.i
"""


_EMPTY_GROUPS = """(shard VARCHAR, day VARCHAR, prompt VARCHAR, version VARCHAR, env VARCHAR,
 variant VARCHAR, ok BOOLEAN, version_number INTEGER, n BIGINT, successes BIGINT, errors BIGINT,
 metrics BIGINT, ratings BIGINT, rating_sum DOUBLE, suggestions BIGINT, lat DOUBLE[],
 pt_n BIGINT, pt_sum HUGEINT, ct_n BIGINT, ct_sum HUGEINT, first_ts VARCHAR, last_ts VARCHAR)"""


def connect() -> Any:
    """A fresh DuckDB database (``feedback query`` locks its configuration down)."""
    import duckdb

    return duckdb.connect(config={"preserve_insertion_order": False})


_SHARED: list[Any] = []
_SCHEMAS = itertools.count()


class Session:
    """A connection to one in-memory database per process (starting DuckDB costs ~50 ms, a
    cursor ~1 ms), working in a schema of its own: its tables are private to the session as temp
    tables would be, yet ``other()`` connections see them, so two statements on the same data can
    run at once (DuckDB writes a small parquet file on one thread). For summaries and prune,
    which never change the database's settings. Close it when done: that drops the schema."""

    def __init__(self) -> None:
        if not _SHARED:
            _SHARED.append(connect())
        self.schema = f"s{os.getpid()}_{next(_SCHEMAS)}"
        self.con = self.other(create=True)

    def other(self, create: bool = False) -> Any:
        con = _SHARED[0].cursor()
        if create:
            con.execute(f"CREATE SCHEMA {self.schema}")
        con.execute(f"USE {self.schema}")
        return con

    def close(self) -> None:
        try:
            self.con.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
        finally:
            self.con.close()


@contextlib.contextmanager
def duckdb_errors(what: str) -> Any:
    """A DuckDB failure (out of memory, a file it cannot read) as one PtrainError line."""
    import duckdb

    try:
        yield
    except duckdb.Error as exc:
        msg = " ".join(str(exc).split("Possible solutions")[0].split())[:300]
        raise PtrainError(
            f"{what} failed in DuckDB: {msg}", "see `ptrain doctor`, or retry with --no-cache"
        ) from None


# -- loading shards into DuckDB --------------------------------------------------------------------


class ShardFiles:
    """The files DuckDB reads for some shards: the shard itself, or (torn tail) a copy of its
    complete lines in a private temp directory. Registers them as the ``files`` table."""

    def __init__(self, store: Store, items: list[Shard]):
        self.store = store
        self.tmp: Path | None = None
        self.rows: list[tuple[str, str, str, str]] = []  # file, rel, prompt, day
        self.warnings: list[str] = []
        self.bytes = 0
        for sh in items:
            self.rows.append((self._readable(sh), sh.rel(), sh.prompt, sh.day))

    def _readable(self, sh: Shard) -> str:
        with open(sh.fspath, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            self.bytes += size
            if size == 0 or os.pread(f.fileno(), 1, size - 1) == b"\n":
                return sh.fspath
            data = f.read()
        cut = data.rfind(b"\n") + 1
        self.warnings.append(
            f"{sh.rel()}: incomplete last line ({len(data) - cut} bytes at offset {cut}) skipped: "
            "a writer was killed mid-append or is still writing"
        )
        if self.tmp is None:
            self.store.cache.mkdir(parents=True, exist_ok=True)
            self.tmp = self.store.cache / f"tmp-{os.getpid()}"
            self.tmp.mkdir(exist_ok=True)
        copy = self.tmp / f"{len(self.rows)}.jsonl"
        copy.write_bytes(data[:cut])
        return str(copy)

    def register(self, con: Any, table: str = "files", temp: bool = True) -> list[str]:
        """``table`` (i, file, rel, sprompt, day), i being the position in ``$files`` (DuckDB's
        ``file_index``), for queries that join on files; returns the file names."""
        con.execute(
            f"CREATE OR REPLACE {'TEMP ' if temp else ''}TABLE {table} "
            "(i INTEGER, file VARCHAR, rel VARCHAR, sprompt VARCHAR, day VARCHAR)"
        )
        if self.rows:  # one statement for all rows (executemany costs ~1 ms a row)
            con.execute(
                f"INSERT INTO {table} SELECT unnest(range(len($a)))::INTEGER, unnest($a::VARCHAR[]), "
                "unnest($b::VARCHAR[]), unnest($c::VARCHAR[]), unnest($d::VARCHAR[])",
                {k: [r[i] for r in self.rows] for i, k in enumerate("abcd")},
            )
        return self.names()

    def names(self) -> list[str]:
        return [r[0] for r in self.rows]

    def close(self) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _bad_line_warnings(store: Store, rel: str, prompt: str) -> list[str]:
    """Exact line numbers of the lines DuckDB could not use (only for shards that have some)."""
    out: list[str] = []
    data = jsonl.read_complete(store.shards / rel).data
    for lineno, r in parse_each(data, rel, 1, out):
        ok = (
            r.__class__ is dict and r.get("schema_version") == 1 and r.get("prompt") == prompt
            and isinstance(r.get("ts"), str) and r.get("kind") in KINDS
            and not (r.get("kind") == "rating" and not isinstance(r.get("rating"), int | float))
        )  # fmt: skip
        if not ok:
            out.append(f"{rel}:{lineno}: not a valid feedback record of {prompt}; skipped")
    return out or [f"{rel}: a line has a field of the wrong type; that field was left out"]


def _dims_sql(dims: tuple[str, ...]) -> str:
    return ", ".join(f"r.{d} AS {d}" if d in dims else f"NULL::VARCHAR AS {d}" for d in DIMENSIONS)


def _scan_groups(
    con: Any,
    raw: str,
    params: dict[str, Any],
    max_bytes: int,
    since: str | None,
    dims: tuple[str, ...],
) -> None:
    """Table ``raw`` (per-file groups) from the files. First without ``ignore_errors`` (it
    makes DuckDB's JSON scan ~15% slower); a shard with a malformed line or a value of the wrong
    type fails that scan, and the files are read again with it, which is the result either way."""
    import duckdb

    names = [c for c in SUMMARY_COLUMNS if c not in DIMENSIONS or c in dims]
    for ignore in (False, True):
        sql = (
            _GROUPS_SQL.replace("{where}", "WHERE r.ts >= $since" if since else "")
            .replace("{dims}", _dims_sql(dims))
            .replace(
                "{read_json}",
                read_json_sql(names, max_bytes, ignore_errors=ignore, filename=False),
            )
        )
        try:
            con.execute(f"CREATE OR REPLACE TABLE {raw} AS {sql}", params)
            return
        except duckdb.Error:
            if ignore:
                raise


def load_groups(
    con: Any,
    store: Store,
    items: list[Shard],
    table: str,
    since: str | None = None,
    dims: tuple[str, ...] = DIMENSIONS,
) -> list[str]:
    """Fold ``items`` into ``table`` (a view in the session's schema) as per-shard groups; returns the
    warnings. ``dims``: the ``DIMENSIONS`` the groups split on; the others are NULL. The view
    maps the scan's per-file groups to shards on the fly: materialising them again would copy
    every latency list (~25 ms at 1M records, on every cold summary)."""
    if not items:
        con.execute(f"CREATE OR REPLACE TABLE {table} {_EMPTY_GROUPS}")
        return []
    raw = f"raw_{table}"
    files = ShardFiles(store, items)
    try:
        params: dict[str, Any] = {"files": files.names()}
        if since:
            params["since"] = since
        _scan_groups(con, raw, params, store.config.limits.max_record_bytes, since, dims)
        files.register(
            con, f"{raw}_files", temp=False
        )  # file_index -> shard (a torn tail's copy too)
    finally:
        files.close()
    shards_sql = _TO_SHARDS_SQL.replace("{raw}", raw)
    con.execute(f"CREATE OR REPLACE VIEW {table}_all AS {shards_sql}")
    warnings = files.warnings
    prompts = {r[1]: r[2] for r in files.rows}
    for (rel,) in con.execute(
        f"SELECT DISTINCT shard FROM {table}_all WHERE NOT ok ORDER BY shard"
    ).fetchall():
        warnings += _bad_line_warnings(store, rel, prompts[rel])
    con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM {table}_all WHERE ok")
    return warnings
