"""``ptrain feedback query "SQL"``: the user's SELECT over a ``feedback`` table, read-only.

The records (every live shard, declared schema, invalid lines left out and reported) are loaded
into an in-memory DuckDB table named ``feedback``; then external access is switched off and the
configuration locked, so the query cannot read or write files, attach databases or load
extensions. The SQL must be exactly one statement and DuckDB's own parser must call it a SELECT:
writes, DDL, COPY, ATTACH, INSTALL/LOAD, PRAGMA, SET and multiple statements are refused before
anything runs.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from ptrain.errors import PtrainError
from ptrain.feedback.importing import recover
from ptrain.feedback.shardscan import (
    COLUMNS,
    VALID_SQL,
    ShardFiles,
    _bad_line_warnings,
    connect,
    duckdb_errors,
    read_json_sql,
)
from ptrain.feedback.store import open_store, shards

MAX_SQL_CHARS = 100_000
_HINT = "the table is `feedback` (one row per record); e.g. SELECT kind, count(*) FROM feedback GROUP BY kind"


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool
    warnings: list[str]

    def to_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]


def check_sql(con: Any, sql: str) -> None:
    """Refuse anything but exactly one SELECT, using DuckDB's own parser."""
    import duckdb

    if len(sql) > MAX_SQL_CHARS:
        raise PtrainError(f"the query is {len(sql):,} characters; at most {MAX_SQL_CHARS:,}", _HINT)
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise PtrainError(f"bad SQL: {_one_line(exc)}", _HINT) from None
    if len(statements) != 1:
        raise PtrainError(
            f"feedback query runs one statement; got {len(statements)}", "send one SELECT"
        )
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise PtrainError(
            f"feedback query is read-only: {kind.name} statements are refused",
            "use a SELECT; the feedback files only change through ptrain feedback commands",
        )


def query(
    root: str | os.PathLike[str], sql: str, *, max_rows: int = 10_000, timeout_s: float = 60.0
) -> QueryResult:
    """Run one read-only SELECT over the ``feedback`` table; at most ``max_rows`` rows back."""
    import duckdb

    store = open_store(root)
    con = connect()
    try:
        check_sql(con, sql)
        recover(store)
        with duckdb_errors("loading the feedback table"):
            warnings = _load(con, store)
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        timer = threading.Timer(timeout_s, con.interrupt)
        timer.start()
        try:
            cur = con.execute(sql)
            rows = cur.fetchmany(max_rows + 1)
        except duckdb.InterruptException:
            raise PtrainError(
                f"the query ran longer than {timeout_s:g} s; stopped", "narrow it down"
            ) from None
        except duckdb.Error as exc:
            raise PtrainError(f"query failed: {_one_line(exc)}", _HINT) from None
        finally:
            timer.cancel()
        columns = [d[0] for d in cur.description or []]
        return QueryResult(columns, rows[:max_rows], len(rows) > max_rows, warnings)
    finally:
        con.close()


def _load(con: Any, store: Any) -> list[str]:
    items = shards(store)
    names = list(COLUMNS)
    files = ShardFiles(store, items)
    try:
        paths = files.register(con)
        if not paths:
            cols = ", ".join(f"{n} {COLUMNS[n]}" for n in names)
            con.execute(f"CREATE TABLE feedback ({cols})")
            return files.warnings
        select = ", ".join(f"r.{n}" for n in names)
        con.execute(
            f"CREATE TEMP TABLE loaded AS SELECT {select}, f.rel AS _shard, f.sprompt AS _sprompt, "
            f"({VALID_SQL}) AS _ok FROM {read_json_sql(names, store.config.limits.max_record_bytes)} r JOIN files f ON r.filename = f.file",
            {"files": paths},
        )
    finally:
        files.close()
    warnings = files.warnings
    for rel, prompt in con.execute(
        "SELECT DISTINCT _shard, _sprompt FROM loaded WHERE NOT _ok ORDER BY 1"
    ).fetchall():
        warnings += _bad_line_warnings(store, rel, prompt)
    con.execute(
        f"CREATE TABLE feedback AS SELECT {', '.join(names)} FROM loaded WHERE _ok ORDER BY ts, id"
    )
    con.execute("DROP TABLE loaded")
    return warnings
