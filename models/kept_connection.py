"""Connections this process keeps open to PostgreSQL, outside Odoo's pool.

Odoo's pool resets a connection each time it lends it (psycopg2's ``reset()``, that is
``DISCARD ALL``), which throws PostgreSQL's cached plans away, those of a table's
foreign-key checks included, and it keeps no connection to the ``postgres`` database.
Two statements run often enough for that to cost more than their own work keep a
connection of their own:

- the cron wake-up's NOTIFY (``ir_cron``): through Odoo, a new backend per NOTIFY;
- the webhook event's INSERT (``ofitec.whatsapp.webhook.event._store``): through Odoo's
  pool, its plan and the plans of its four foreign-key checks made again per request.
  Kept, the statement cost PostgreSQL 0.20 ms of CPU instead of 0.37 ms
  (``bench/README.md``, session 22).

One connection per process and database, in autocommit: each statement commits by
itself. A forked process opens its own (the parent's socket is never used nor closed
there); one statement at a time (threaded servers); opened again after it broke. A
process holds at most one such connection per database it served, beside Odoo's pool
(``db_maxconn``); dropping or copying a database through Odoo ends them
(``odoo.service.db._drop_conn``), and the next statement opens another.
"""

import logging
import os
import threading

import psycopg2

import odoo

_logger = logging.getLogger(__name__)


class Busy(Exception):
    """Another thread of this process is using the connection."""


class Lost(Exception):
    """The connection broke during the statement: it may or may not have committed."""


class KeptConnection:
    """This process's own connection to ``dbname``."""

    def __init__(self, dbname):
        self.dbname = dbname
        self._lock = threading.Lock()
        self._conn = None
        self._pid = None
        self._inherited = []  # a parent's connection: kept, never closed here

    def execute(self, query, params=None, wait=True):
        """Run ``query`` by itself, committed when it returns; its first row, or None
        when it returns no rows. Raises :class:`Busy` when ``wait`` is false and another
        thread is using the connection, :class:`Lost` when the connection broke (the
        next call opens another), and the statement's own error otherwise."""
        if not self._lock.acquire(blocking=wait):
            raise Busy()
        try:
            try:
                with self._connection().cursor() as cr:
                    cr.execute(query, params)
                    return cr.fetchone() if cr.description else None
            except psycopg2.Error as error:
                if self._conn is not None and not self._conn.closed:
                    raise  # the statement failed, the connection is fine
                self._drop()
                raise Lost(str(error)) from error
        finally:
            self._lock.release()

    def backend_pid(self):
        """The PostgreSQL backend of the connection (opened when there is none)."""
        with self._lock:
            return self._connection().get_backend_pid()

    def _connection(self):
        if self._pid != os.getpid():
            if self._conn is not None:
                self._inherited.append(self._conn)
            self._conn = None
        if self._conn is None or self._conn.closed:
            _dbname, info = odoo.sql_db.connection_info_for(self.dbname)
            try:
                self._conn = psycopg2.connect(**info)
            except psycopg2.Error as error:
                raise Lost(str(error)) from error
            self._conn.autocommit = True
            self._pid = os.getpid()
        return self._conn

    def _drop(self):
        conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():
            try:
                conn.close()
            except psycopg2.Error as error:
                _logger.debug("Closing the kept connection to %s: %s", self.dbname, error)


_KEPT = {}
_KEPT_LOCK = threading.Lock()


def kept_connection(dbname):
    """This process's :class:`KeptConnection` to ``dbname``."""
    with _KEPT_LOCK:
        kept = _KEPT.get(dbname)
        if kept is None:
            kept = _KEPT[dbname] = KeptConnection(dbname)
        return kept
