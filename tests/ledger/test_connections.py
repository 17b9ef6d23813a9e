"""The SQL stores' connection pool: one connection per thread, reopened when broken, fork-safe."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path
from typing import Any

from usagebill.ledger._connections import Connections
from usagebill.ledger.sqlite import SqliteStore


class FakeConnection:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_one_connection_per_thread() -> None:
    pool = Connections(FakeConnection)
    mine = pool.get()
    assert pool.get() is mine
    theirs: list[FakeConnection] = []
    thread = threading.Thread(target=lambda: theirs.append(pool.get()))
    thread.start()
    thread.join()
    assert theirs[0] is not mine
    pool.close()
    assert mine.closed
    assert theirs[0].closed  # close() closes every thread's connection


def test_a_broken_connection_is_replaced() -> None:
    pool = Connections(FakeConnection, lambda connection: not connection.closed)
    first = pool.get()
    first.close()
    assert pool.get() is not first


def test_a_fork_abandons_the_parents_connections_without_closing_them() -> None:
    """What a forked child does, simulated in this process (whose coverage is measured)."""
    pool = Connections(FakeConnection)
    inherited = pool.get()
    pool._pid = -1  # as if this process were a fork of process -1
    fresh = pool.get()
    assert fresh is not inherited
    pool.close()
    assert fresh.closed
    assert not inherited.closed  # closing it would end the parent's session too


def test_close_in_a_fork_before_any_use_leaves_the_parents_alone() -> None:
    pool = Connections(FakeConnection)
    inherited = pool.get()
    pool._pid = -1
    pool.close()
    assert not inherited.closed


_STORES: dict[str, SqliteStore] = {}


def _child(queue: Any) -> None:
    store = _STORES["store"]
    with store.transaction() as tx:
        tx.count("forked", "2026-10")
    queue.put(id(store._connection()))


def test_a_forked_child_uses_its_own_sqlite_connection(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "ledger.db")
    _STORES["store"] = store
    parent = store._connection()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child, args=(queue,))
    child.start()
    queue.get(timeout=60)
    child.join(60)
    assert child.exitcode == 0
    assert store._connection() is parent
    assert isinstance(parent, sqlite3.Connection)
    assert store.stats("2026-10") == {"forked": 1}  # the parent sees what the child committed
    store.close()
    _STORES.clear()
