"""Everything persistent, in one SQLite database (WAL): functions, invocation history and logs.

Function writes are synchronous. Invocation records are queued to a writer thread and committed in
batches, so an invoke never waits on the disk; ``flush()`` (called before every read of history and
at close) makes them visible.
"""
from __future__ import annotations

import collections
import contextlib
import functools
import json
import os
import sqlite3
import sys
import threading
from pathlib import Path

from .models import FunctionConfig, InvocationResult

BATCH_WINDOW_S = 0.05
WRITE_CHUNK = 32

SCHEMA = """
CREATE TABLE IF NOT EXISTS functions (
    name TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS invocations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,  -- not unique: an async event's retries keep its request id
    function TEXT NOT NULL,
    started_at REAL NOT NULL,
    status TEXT NOT NULL,
    error_type TEXT,
    record TEXT NOT NULL,
    payload BLOB,
    logs TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS invocations_by_function ON invocations (function, seq);
CREATE INDEX IF NOT EXISTS invocations_by_request ON invocations (request_id);
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    config TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS aliases (
    name TEXT NOT NULL,
    alias TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (name, alias)
);
CREATE TABLE IF NOT EXISTS settings (
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (name, key)
);
CREATE TABLE IF NOT EXISTS routes (  -- HTTP routes (API Gateway style): route key -> function
    route_key TEXT PRIMARY KEY,
    function TEXT NOT NULL,
    qualifier TEXT,
    created_at REAL NOT NULL
);
-- Bumped by every change to functions and their settings, whoever makes it (another kernel, the
-- CLI, a server on the same home): a process knows its cached configurations are stale.
CREATE TABLE IF NOT EXISTS catalog (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT OR IGNORE INTO catalog (id, generation) VALUES (1, 0);
""" + "".join(
    f"CREATE TRIGGER IF NOT EXISTS {table}_{event.lower()} AFTER {event} ON {table} "
    "BEGIN UPDATE catalog SET generation = generation + 1; END;\n"
    for table in ("functions", "settings") for event in ("INSERT", "UPDATE", "DELETE"))


# Catalog changes made in this process, per database file: Platforms sharing a home inside one
# kernel see each other's deploys at once, without a query per invocation.
_local_changes: collections.Counter = collections.Counter()


def _changes_catalog(method):
    """Count the change once it is committed, so a reader that sees the count sees the change."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        finally:
            _local_changes[self._key] += 1
    return wrapper


class Store:
    def __init__(self, path: str | Path, *, retention: int = 1000) -> None:
        self.path = str(path)
        self._key = os.path.realpath(self.path)
        self.retention = retention
        self._local = threading.local()
        with self._conn() as conn:
            conn.executescript(SCHEMA)
        self._pending: list[InvocationResult] = []
        self._writing = 0
        self._flush_requested = False
        self._stopping = False
        self._pending_lock = threading.Condition()
        self._writer = threading.Thread(target=self._write_loop, name="nblambda-store", daemon=True)
        self._writer.start()
        self._closed = False

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (autocommit; use ``transaction`` to group statements)."""
        return self._conn()

    @contextlib.contextmanager
    def transaction(self):
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    # -- functions ----------------------------------------------------------------------------
    @_changes_catalog
    def save_function(self, config: FunctionConfig) -> None:
        with self._conn() as conn:
            conn.execute("INSERT OR REPLACE INTO functions (name, config, code_hash, updated_at) "
                         "VALUES (?, ?, ?, ?)",
                         (config.name, json.dumps(config.to_dict()), config.code_hash,
                          config.updated_at))

    def load_function(self, name: str) -> FunctionConfig | None:
        row = self._conn().execute("SELECT config FROM functions WHERE name = ?", (name,)).fetchone()
        return FunctionConfig.from_dict(json.loads(row[0])) if row else None

    def list_functions(self) -> list[FunctionConfig]:
        rows = self._conn().execute("SELECT config FROM functions ORDER BY name").fetchall()
        return [FunctionConfig.from_dict(json.loads(r[0])) for r in rows]

    @_changes_catalog
    def delete_function(self, name: str) -> bool:
        self.flush()
        with self._conn() as conn:
            cur = conn.execute("DELETE FROM functions WHERE name = ?", (name,))
            for table, column in (("invocations", "function"), ("versions", "name"),
                                  ("aliases", "name"), ("settings", "name")):
                conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (name,))
            return cur.rowcount > 0

    # -- versions, aliases, per-function settings ------------------------------------------------
    def save_version(self, config: FunctionConfig) -> None:
        with self._conn() as conn:
            conn.execute("INSERT INTO versions (name, version, config) VALUES (?, ?, ?)",
                         (config.name, int(config.version), json.dumps(config.to_dict())))

    def load_version(self, name: str, version: int) -> FunctionConfig | None:
        row = self._conn().execute("SELECT config FROM versions WHERE name = ? AND version = ?",
                                   (name, version)).fetchone()
        return FunctionConfig.from_dict(json.loads(row[0])) if row else None

    def list_versions(self, name: str) -> list[FunctionConfig]:
        rows = self._conn().execute("SELECT config FROM versions WHERE name = ? ORDER BY version",
                                    (name,)).fetchall()
        return [FunctionConfig.from_dict(json.loads(r[0])) for r in rows]

    def delete_version(self, name: str, version: int) -> bool:
        with self._conn() as conn:
            return conn.execute("DELETE FROM versions WHERE name = ? AND version = ?",
                                (name, version)).rowcount > 0

    def save_alias(self, name: str, alias: str, data: dict) -> None:
        with self._conn() as conn:
            conn.execute("INSERT OR REPLACE INTO aliases (name, alias, data) VALUES (?, ?, ?)",
                         (name, alias, json.dumps(data)))

    def load_alias(self, name: str, alias: str) -> dict | None:
        row = self._conn().execute("SELECT data FROM aliases WHERE name = ? AND alias = ?",
                                   (name, alias)).fetchone()
        return json.loads(row[0]) if row else None

    def list_aliases(self, name: str) -> list[dict]:
        rows = self._conn().execute("SELECT data FROM aliases WHERE name = ? ORDER BY alias",
                                    (name,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def delete_alias(self, name: str, alias: str) -> bool:
        with self._conn() as conn:
            return conn.execute("DELETE FROM aliases WHERE name = ? AND alias = ?",
                                (name, alias)).rowcount > 0

    @_changes_catalog
    def set_setting(self, name: str, key: str, value) -> None:
        with self._conn() as conn:
            if value is None:
                conn.execute("DELETE FROM settings WHERE name = ? AND key = ?", (name, key))
            else:
                conn.execute("INSERT OR REPLACE INTO settings (name, key, value) VALUES (?, ?, ?)",
                             (name, key, json.dumps(value)))

    def catalog_generation(self) -> int:
        """Changes to functions and settings so far, by any process using this home."""
        return self._conn().execute("SELECT generation FROM catalog").fetchone()[0]

    def local_changes(self) -> int:
        """Changes to functions and settings made by this process (no query)."""
        return _local_changes[self._key]


    def get_setting(self, name: str, key: str, default=None):
        row = self._conn().execute("SELECT value FROM settings WHERE name = ? AND key = ?",
                                   (name, key)).fetchone()
        return json.loads(row[0]) if row else default

    # -- HTTP routes (used by nblambda.api; a route outlives its function, as in API Gateway) -----
    def save_route(self, route_key: str, function: str, qualifier: str | None,
                   created_at: float) -> None:
        with self._conn() as conn:
            conn.execute("INSERT OR REPLACE INTO routes (route_key, function, qualifier, created_at) "
                         "VALUES (?, ?, ?, ?)", (route_key, function, qualifier, created_at))

    def list_routes(self) -> list[dict]:
        rows = self._conn().execute("SELECT route_key, function, qualifier FROM routes "
                                    "ORDER BY route_key").fetchall()
        return [{"route_key": k, "function": f, "qualifier": q} for k, f, q in rows]

    def delete_route(self, route_key: str) -> bool:
        with self._conn() as conn:
            return conn.execute("DELETE FROM routes WHERE route_key = ?",
                                (route_key,)).rowcount > 0

    # -- invocations --------------------------------------------------------------------------
    def record_invocation(self, result: InvocationResult) -> None:
        with self._pending_lock:
            self._pending.append(result)
            if len(self._pending) == 1:
                self._pending_lock.notify_all()

    def _write_loop(self) -> None:
        conn = self._conn()
        writes = 0
        while True:
            with self._pending_lock:
                self._pending_lock.wait_for(lambda: self._pending or self._stopping)
                if not self._pending and self._stopping:
                    return
                if not self._flush_requested and not self._stopping:
                    # Gather a batch: one wake-up and one transaction per window, not per invoke.
                    self._pending_lock.wait_for(lambda: self._flush_requested or self._stopping,
                                                timeout=BATCH_WINDOW_S)
                batch, self._pending = self._pending, []
                self._writing = len(batch)
            try:
                self._write_rows(conn, batch)
                writes += len(batch)
                if writes >= 500:
                    writes = 0
                    self._apply_retention(conn)
            except sqlite3.Error as exc:  # keep serving; say what was lost
                print(f"nblambda: could not record {len(batch)} invocation(s): {exc}",
                      file=sys.stderr)
            with self._pending_lock:
                self._writing = 0
                if not self._pending:
                    self._flush_requested = False
                self._pending_lock.notify_all()

    def _write_batch(self, conn: sqlite3.Connection, batch: list[InvocationResult]) -> None:
        rows = []
        for r in batch:
            record = r.to_dict()
            record.pop("logs")
            payload = r.raw_payload
            record.pop("payload")
            if payload is None and r.error is None:
                payload = json.dumps(r.payload).encode()
            rows.append((r.request_id, r.function_name, r.started_at, r.status, r.error_type,
                         json.dumps(record, default=str), payload, r.logs))
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO invocations (request_id, function, started_at, status, "
                "error_type, record, payload, logs) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def _write_rows(self, conn: sqlite3.Connection, batch: list[InvocationResult]) -> None:
        # Encode and insert in small chunks: the writer thread then lets go of the GIL between
        # chunks instead of holding it through a whole batch while invokes wait for it.
        for start in range(0, len(batch), WRITE_CHUNK):
            self._write_batch(conn, batch[start:start + WRITE_CHUNK])

    def _apply_retention(self, conn: sqlite3.Connection) -> None:
        """Keep the newest ``retention`` invocations of each function."""
        with conn:
            conn.execute(
                "DELETE FROM invocations WHERE seq IN (SELECT seq FROM (SELECT seq, ROW_NUMBER() "
                "OVER (PARTITION BY function ORDER BY seq DESC) AS n FROM invocations) WHERE n > ?)",
                (self.retention,))

    def flush(self, timeout: float = 30.0) -> None:
        with self._pending_lock:
            if not self._pending and not self._writing:
                return
            self._flush_requested = True
            self._pending_lock.notify_all()
            self._pending_lock.wait_for(lambda: not self._pending and not self._writing,
                                        timeout=timeout)

    def invocations(self, name: str | None = None, limit: int = 50) -> list[InvocationResult]:
        self.flush()
        self._apply_retention(self._conn())
        sql = "SELECT record, payload, logs FROM invocations"
        args: tuple = ()
        if name is not None:
            sql += " WHERE function = ?"
            args = (name,)
        sql += " ORDER BY seq DESC LIMIT ?"
        rows = self._conn().execute(sql, args + (limit,)).fetchall()
        return [_result_from_row(*row) for row in rows]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._pending_lock:
            self._stopping = True
            self._pending_lock.notify_all()
        self._writer.join(timeout=30)


def _result_from_row(record: str, payload: bytes | None, logs: str) -> InvocationResult:
    data = json.loads(record)
    result = InvocationResult(**data, logs=logs)
    if payload is not None and result.error is None:
        if result.content_type == "application/json":
            result.payload = json.loads(payload)
        else:
            result.payload = bytes(payload)
        result.raw_payload = bytes(payload)
    return result
