"""The durable queue of asynchronous (``Event``) invocations and the dead-letter queue, in SQLite.

An event is written to this platform's journal file (one ``write``: it survives the process being
killed) before ``invoke`` returns 202; a background thread moves journalled events into SQLite in
batches, then drops the journal. Events are claimed by one platform at a time (their ``owner``) and
deleted only once their outcome is settled; a platform that dies mid-event leaves them ``running``
under a dead owner (or still in its journal), and the next platform on the same home puts them back
in the queue: at-least-once delivery, as Lambda's.
"""
from __future__ import annotations

import base64
import itertools
import json
import os
import struct
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS async_events (
    request_id TEXT PRIMARY KEY,
    function TEXT NOT NULL,
    qualifier TEXT,
    payload BLOB NOT NULL,
    enqueued_at REAL NOT NULL,
    due_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    throttles INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'queued',
    owner TEXT
);
CREATE INDEX IF NOT EXISTS async_events_due ON async_events (state, due_at);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    function TEXT NOT NULL,
    request_id TEXT NOT NULL,
    qualifier TEXT,
    payload BLOB NOT NULL,
    record TEXT NOT NULL,
    failed_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_by_function ON dead_letters (function, seq);
"""


def process_identity(pid: int | None = None) -> str:
    """pid plus the process's start time: a pid alone can be reused by an unrelated process."""
    pid = os.getpid() if pid is None else pid
    try:
        start = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        start = "?"
    return f"{pid}:{start}"


_instances = itertools.count(1)


def new_owner() -> str:
    """This platform's name on the events it claims: its process, plus an instance number, since
    two Platforms of one process each hand back only their own events when they close."""
    return f"{process_identity()}:{next(_instances)}"


def owner_alive(owner: str) -> bool:
    """Whether the process behind ``owner`` (``pid:start[:instance]``) still runs."""
    pid, _, rest = owner.partition(":")
    start = rest.split(":")[0]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return start == "?" or process_identity(int(pid)) == f"{pid}:{start}"


@dataclass
class QueuedEvent:
    request_id: str
    function: str
    qualifier: str | None
    payload: bytes
    enqueued_at: float
    due_at: float
    attempts: int
    throttles: int


@dataclass
class DeadLetter:
    seq: int
    function: str
    request_id: str
    qualifier: str | None
    payload: bytes
    record: dict
    failed_at: float

    @property
    def condition(self) -> str:
        return self.record["requestContext"]["condition"]

    @property
    def event(self):
        return json.loads(self.payload)


_COLUMNS = "request_id, function, qualifier, payload, enqueued_at, due_at, attempts, throttles"


def _event(row) -> QueuedEvent:
    return QueuedEvent(*row)


_LEN = struct.Struct("!I")
INGEST_INTERVAL_S = 0.01


def _encode(row: tuple) -> bytes:
    request_id, function, qualifier, payload, now = row
    data = json.dumps({"id": request_id, "fn": function, "q": qualifier, "t": now,
                       "p": base64.b64encode(payload).decode()}).encode()
    return _LEN.pack(len(data)) + data


def read_journal(path: Path) -> list[tuple]:
    """The complete records of a journal; a record cut short by a kill is ignored."""
    data = path.read_bytes()
    rows, at = [], 0
    while at + 4 <= len(data):
        (size,) = _LEN.unpack_from(data, at)
        if at + 4 + size > len(data):
            break
        rec = json.loads(data[at + 4:at + 4 + size])
        rows.append((rec["id"], rec["fn"], rec["q"], base64.b64decode(rec["p"]), rec["t"]))
        at += 4 + size
    return rows


def _delete(conn, request_ids) -> None:
    """One statement per few hundred ids, not one per id: this runs in the claim transaction."""
    ids = list(request_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        conn.execute("DELETE FROM async_events WHERE request_id IN (%s)"
                     % ",".join("?" * len(chunk)), chunk)


def _not_in(functions: list[str]) -> tuple[str, list[str]]:
    if not functions:
        return "", []
    return " AND function NOT IN (%s)" % ",".join("?" * len(functions)), list(functions)


class EventQueue:
    def __init__(self, store: Store, journal_dir: Path, owner: str | None = None,
                 on_ingest: Callable[[], None] | None = None) -> None:
        self.store = store
        self.owner = owner or new_owner()
        self.store.connection().executescript(SCHEMA)
        self.journal_dir = journal_dir
        self.journal_dir.mkdir(parents=True, exist_ok=True)
        self.on_ingest = on_ingest
        self._lock = threading.Condition()
        self._pending: list[tuple] = []
        self._ingesting = 0
        self._generation = 0
        self._fd = self._open_journal()
        self._stopping = False
        self._thread = threading.Thread(target=self._ingest_loop, name="nblambda-journal",
                                        daemon=True)
        self._thread.start()

    def _journal_path(self, generation: int) -> Path:
        return self.journal_dir / f"{self.owner.replace(':', '-')}.{generation}.journal"

    def _open_journal(self) -> int:
        return os.open(self._journal_path(self._generation),
                       os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def put(self, request_id: str, function: str, qualifier: str | None, payload: bytes,
            now: float) -> None:
        """Durable once this returns: in the journal, then in SQLite within milliseconds."""
        row = (request_id, function, qualifier, payload, now)
        record = _encode(row)
        with self._lock:
            os.write(self._fd, record)
            self._pending.append(row)
            if len(self._pending) == 1:
                self._lock.notify_all()

    def _ingest_loop(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._pending or self._stopping)
                if not self._pending:
                    return
            if not self._stopping:
                threading.Event().wait(INGEST_INTERVAL_S)  # gather a batch: one commit for many
            with self._lock:
                batch, self._pending = self._pending, []
                self._ingesting = len(batch)
                old_fd, old_generation = self._fd, self._generation
                self._generation += 1
                self._fd = self._open_journal()
            inserted = self._insert_until_done(batch)
            os.close(old_fd)
            if inserted:
                self._journal_path(old_generation).unlink(missing_ok=True)
            with self._lock:
                self._ingesting = 0
                self._lock.notify_all()
            if self.on_ingest is not None:
                self.on_ingest()

    def _insert_until_done(self, rows: list[tuple]) -> bool:
        """The journal keeps these rows until SQLite has them, so a failing insert (a locked or
        full disk) is retried, never dropped; it is reported once."""
        reported = False
        while True:
            try:
                self._insert(rows)
                return True
            except Exception as exc:
                if not reported:
                    print(f"nblambda: cannot queue {len(rows)} async event(s) in the store yet "
                          f"({exc}); they are kept in the journal and retried", file=sys.stderr)
                    reported = True
                if self._stopping:
                    return False  # left in the journal: the next platform here recovers them
                threading.Event().wait(0.5)

    def _insert(self, rows: list[tuple]) -> None:
        with self.store.transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO async_events (request_id, function, qualifier, payload, "
                "enqueued_at, due_at) VALUES (?, ?, ?, ?, ?, ?)",
                [(i, f, q, p, t, t) for i, f, q, p, t in rows])

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every event put so far is in SQLite."""
        with self._lock:
            self._lock.notify_all()
            self._lock.wait_for(lambda: not self._pending and not self._ingesting, timeout)

    def close(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        self._thread.join(timeout=30)
        os.close(self._fd)
        try:
            self._journal_path(self._generation).unlink()
        except OSError:
            pass

    def claim(self, now: float, limit: int, finished: list[str] = (),
              exclude: list[str] = ()) -> list[QueuedEvent]:
        """Delete the ``finished`` events and take up to ``limit`` due ones, oldest due first,
        for this owner: one transaction for both, so a busy queue costs one commit per batch.
        Events of the functions in ``exclude`` are left queued."""
        skip, skip_args = _not_in(exclude)
        with self.store.transaction() as conn:
            _delete(conn, finished)
            if limit <= 0:
                return []
            rows = conn.execute(
                f"UPDATE async_events SET state = 'running', owner = ? WHERE request_id IN "
                f"(SELECT request_id FROM async_events WHERE state = 'queued' AND due_at <= ?"
                f"{skip} ORDER BY due_at LIMIT ?) RETURNING {_COLUMNS}",
                (self.owner, now, *skip_args, limit)).fetchall()
        events = [_event(r) for r in rows]
        events.sort(key=lambda e: e.due_at)
        return events

    def next_due(self, exclude: list[str] = ()) -> float | None:
        skip, skip_args = _not_in(exclude)
        row = self.store.connection().execute(
            f"SELECT MIN(due_at) FROM async_events WHERE state = 'queued'{skip}",
            skip_args).fetchone()
        return row[0]

    def requeue(self, event: QueuedEvent, due_at: float, *, attempts: int, throttles: int) -> None:
        self.store.connection().execute(
            "UPDATE async_events SET state = 'queued', owner = NULL, due_at = ?, attempts = ?, "
            "throttles = ? WHERE request_id = ?",
            (due_at, attempts, throttles, event.request_id))

    def done(self, request_ids: list[str]) -> None:
        with self.store.transaction() as conn:
            _delete(conn, request_ids)

    def recover(self) -> int:
        """Put back the events that a dead platform was running or had only journalled.
        Returns how many."""
        count = 0
        for journal in sorted(self.journal_dir.glob("*.journal")):
            owner = journal.name.split(".", 1)[0].replace("-", ":")
            if owner == self.owner or owner_alive(owner):
                continue
            rows = read_journal(journal)
            self._insert(rows)
            journal.unlink()
            count += len(rows)
        conn = self.store.connection()
        owners = [r[0] for r in conn.execute(
            "SELECT DISTINCT owner FROM async_events WHERE state = 'running'").fetchall()]
        dead = [o for o in owners if o and o != self.owner and not owner_alive(o)]
        for owner in dead:
            count += conn.execute("UPDATE async_events SET state = 'queued', owner = NULL "
                                  "WHERE state = 'running' AND owner = ?", (owner,)).rowcount
        return count

    def release_mine(self) -> None:
        """At close: events this platform claimed but did not finish go back to the queue."""
        self.store.connection().execute(
            "UPDATE async_events SET state = 'queued', owner = NULL WHERE owner = ? "
            "AND state = 'running'", (self.owner,))

    def attempts_made(self, request_id: str) -> int | None:
        """How many times the event has run so far; None once it is settled (or unknown)."""
        self.flush()
        row = self.store.connection().execute(
            "SELECT attempts FROM async_events WHERE request_id = ?", (request_id,)).fetchone()
        return row[0] if row else None

    def count(self, function: str | None = None, state: str | None = None) -> int:
        self.flush()
        sql, args = "SELECT COUNT(*) FROM async_events WHERE 1 = 1", []
        if function is not None:
            sql, args = sql + " AND function = ?", args + [function]
        if state is not None:
            sql, args = sql + " AND state = ?", args + [state]
        return self.store.connection().execute(sql, args).fetchone()[0]

    def pending(self, function: str | None = None) -> list[QueuedEvent]:
        self.flush()
        sql, args = f"SELECT {_COLUMNS} FROM async_events", []
        if function is not None:
            sql, args = sql + " WHERE function = ?", [function]
        rows = self.store.connection().execute(sql + " ORDER BY due_at", args).fetchall()
        return [_event(r) for r in rows]

    def drop_function(self, function: str) -> None:
        conn = self.store.connection()
        conn.execute("DELETE FROM async_events WHERE function = ?", (function,))
        conn.execute("DELETE FROM dead_letters WHERE function = ?", (function,))

    # -- dead letters ---------------------------------------------------------------------------
    def dead_letter(self, event: QueuedEvent, record: dict, now: float) -> None:
        self.store.connection().execute(
            "INSERT INTO dead_letters (function, request_id, qualifier, payload, record, "
            "failed_at) VALUES (?, ?, ?, ?, ?, ?)",
            (event.function, event.request_id, event.qualifier, event.payload,
             json.dumps(record), now))

    def dead_letters(self, function: str | None = None) -> list[DeadLetter]:
        sql, args = ("SELECT seq, function, request_id, qualifier, payload, record, failed_at "
                     "FROM dead_letters"), []
        if function is not None:
            sql, args = sql + " WHERE function = ?", [function]
        rows = self.store.connection().execute(sql + " ORDER BY seq", args).fetchall()
        return [DeadLetter(s, f, r, q, bytes(p), json.loads(rec), t)
                for s, f, r, q, p, rec, t in rows]

    def take_dead_letters(self, function: str, seqs: list[int] | None) -> list[DeadLetter]:
        letters = [d for d in self.dead_letters(function) if seqs is None or d.seq in seqs]
        with self.store.transaction() as conn:
            conn.executemany("DELETE FROM dead_letters WHERE seq = ?", [(d.seq,) for d in letters])
        return letters

    def dead_letter_count(self, function: str | None = None) -> int:
        sql, args = "SELECT COUNT(*) FROM dead_letters", []
        if function is not None:
            sql, args = sql + " WHERE function = ?", [function]
        return self.store.connection().execute(sql, args).fetchone()[0]
