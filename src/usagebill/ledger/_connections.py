"""One database connection per thread, opened on first use: the pool of the SQL stores.

A connection is not safe to share between threads mid-transaction, and one that crossed a
``fork`` is worse: the child and the parent would talk over the same socket (PostgreSQL), or
share a file lock's state (SQLite). So a forked child abandons every connection it inherited —
it neither uses nor closes them, since closing would end the parent's sessions too — and opens
its own, while the parent's stay untouched.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

__all__ = ["Connections"]


class _Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Closable)


class Connections(Generic[C]):
    """This thread's connection from ``connect``, reopened when ``usable`` says it broke.

    >>> import sqlite3
    >>> pool = Connections(lambda: sqlite3.connect(":memory:"))
    >>> pool.get() is pool.get()        # the same thread gets the same connection
    True
    >>> pool.close()
    """

    def __init__(self, connect: Callable[[], C], usable: Callable[[C], bool] | None = None) -> None:
        self._connect = connect
        self._usable = usable or (lambda _connection: True)
        self._pid = os.getpid()
        self._local = threading.local()
        self._open: list[C] = []
        self._inherited: list[C] = []  # a forked child's copies of the parent's: never touched
        self._guard = threading.Lock()

    def get(self) -> C:
        """This thread's connection, opened on first use, again if it broke or we forked."""
        if os.getpid() != self._pid:
            self._forget_parents()
        connection: C | None = getattr(self._local, "connection", None)
        if connection is None or not self._usable(connection):
            connection = self._connect()
            self._local.connection = connection
            with self._guard:
                self._open.append(connection)
        return connection

    def _forget_parents(self) -> None:
        # Keep them referenced, so that they are never finalised (closed) in the child.
        self._inherited.extend(self._open)
        self._open = []
        self._local = threading.local()
        self._guard = threading.Lock()
        self._pid = os.getpid()

    def close(self) -> None:
        """Close every connection this process opened (the parent's are left alone)."""
        if os.getpid() != self._pid:
            self._forget_parents()
        with self._guard:
            for connection in self._open:
                connection.close()
            self._open.clear()
        self._local = threading.local()
