"""PEP 249 (DB-API 2.0) over the host's Postgres connection pools, for code and libraries
written against a DB-API driver (SQLAlchemy's `postgresql+aw` dialect is built on it).

    from aw import dbapi
    conn = dbapi.connect("default")            # a connector profile, never a DSN
    cur = conn.cursor()
    cur.execute("select id, name from users where id = %s", (123,))
    cur.fetchall()                              # [(123, 'alice')]
    conn.commit()

Paramstyle `pyformat`, as psycopg (`%s`, `%(name)s`, `%%`); `$1` works too. A connection
begins a transaction with its first statement (on one pooled connection of the host) and
ends it with `commit()` / `rollback()`, which hand that connection back; `autocommit = True`
runs each statement on its own. The guest never sees a password: the host holds the pool.
"""

import datetime
import time

from wit_world.imports import postgres as _pg

from . import _pgvalues, errors
from ._sql import translate
from ._wit import call

apilevel = "2.0"
threadsafety = 1
paramstyle = "pyformat"


# -- Exceptions (PEP 249's hierarchy). Each keeps the host's classification: `kind`, `code`
# (`sqlstate`, as psycopg names it), `retryable`, and the `ConnectorError` as `__cause__`.

class Warning(Exception):  # noqa: A001 - the name PEP 249 requires
    pass


class Error(Exception):
    kind = "permanent"
    sqlstate = None
    retryable = False


class InterfaceError(Error):
    pass


class DatabaseError(Error):
    pass


class DataError(DatabaseError):
    pass


class OperationalError(DatabaseError):
    pass


class IntegrityError(DatabaseError):
    pass


class InternalError(DatabaseError):
    pass


class ProgrammingError(DatabaseError):
    pass


class NotSupportedError(DatabaseError):
    pass


_BY_KIND = {
    "conflict": IntegrityError, "not-found": ProgrammingError, "denied": ProgrammingError,
    "transient": OperationalError, "timeout": OperationalError, "auth": OperationalError,
    "config": OperationalError, "limit": OperationalError, "permanent": DatabaseError,
}


def _translated(exc):
    """The DB-API exception for a `ConnectorError` (SQLSTATE class 22 is a DataError, other
    invalid input a ProgrammingError, as psycopg classes them)."""
    code = exc.code or ""
    if exc.kind == "invalid-input":
        cls = DataError if code.startswith("22") else ProgrammingError
    elif code.startswith("XX"):
        cls = InternalError
    else:
        cls = _BY_KIND.get(exc.kind, DatabaseError)
    error = cls(exc.message)
    error.kind, error.sqlstate, error.code, error.retryable = exc.kind, exc.code, exc.code, exc.retryable
    error.connector_error = exc
    return error


def _db(function, *args):
    """A host call, its failure raised as a DB-API exception."""
    try:
        return call(function, *args)
    except errors.ConnectorError as exc:
        raise _translated(exc) from exc


# -- Types and constructors.

class _TypeSet(frozenset):
    """A PEP 249 type object: equal to the type codes (server type names) it covers."""

    def __eq__(self, other):
        if isinstance(other, str):
            return other in self
        return frozenset.__eq__(self, other)

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = frozenset.__hash__


STRING = _TypeSet({"text", "varchar", "bpchar", "name", "char", "citext", "xml", "json", "jsonb", "uuid"})
BINARY = _TypeSet({"bytea"})
NUMBER = _TypeSet({"int2", "int4", "int8", "float4", "float8", "numeric", "oid", "bool"})
DATETIME = _TypeSet({"date", "time", "timetz", "timestamp", "timestamptz", "interval"})
ROWID = _TypeSet({"oid", "tid"})

Date = datetime.date
Time = datetime.time
Timestamp = datetime.datetime
Binary = bytes


def DateFromTicks(ticks):  # noqa: N802 - PEP 249 names
    return Date(*time.localtime(ticks)[:3])


def TimeFromTicks(ticks):  # noqa: N802
    return Time(*time.localtime(ticks)[3:6])


def TimestampFromTicks(ticks):  # noqa: N802
    return Timestamp(*time.localtime(ticks)[:6])


# -- Row factories (psycopg's names).

def tuple_row(names, values):
    return tuple(values)


def dict_row(names, values):
    return dict(zip(names, values))


_ISOLATION = {
    "READ UNCOMMITTED": _pg.Isolation.READ_COMMITTED,  # PostgreSQL runs it as read committed
    "READ COMMITTED": _pg.Isolation.READ_COMMITTED,
    "REPEATABLE READ": _pg.Isolation.REPEATABLE_READ,
    "SERIALIZABLE": _pg.Isolation.SERIALIZABLE,
}


def connect(profile=None, *, autocommit=False):
    """A connection to connector profile `profile` (None = the one named like the run profile)."""
    from . import postgres
    return Connection(postgres.client(profile), autocommit=autocommit)


class Connection:
    """A DB-API connection. Its transaction is a host transaction begun by the first statement
    after `connect`, `commit` or `rollback`. `close()` rolls back what is open."""

    def __init__(self, client, *, autocommit=False, row_factory=tuple_row):
        self._client = client
        self._tx = None
        self._borrowed = None  # an SDK transaction this connection runs in, not its own
        self._pinned = False
        self._closed = False
        self.autocommit = autocommit
        self.row_factory = row_factory
        # Options of the next transaction this connection begins (SQLAlchemy sets them).
        self.isolation_level = None
        self.read_only = False
        self.deferrable = False

    @classmethod
    def _for_block(cls, client):
        """`client.connection()`: one server session for the whole block (commits inside it
        chain to the next transaction on the same session), dict rows."""
        conn = cls(client, row_factory=dict_row)
        conn._pinned = True
        conn._borrowed = client._tx
        return conn

    # The transaction statements run in (begun on demand), or the client in autocommit mode.
    def _handle(self):
        if self._closed:
            raise InterfaceError("the connection is closed")
        if self._borrowed is not None:
            if self._borrowed._done:
                raise InterfaceError("the transaction this connection ran in has ended")
            return self._borrowed._h
        if self.autocommit and not self._pinned:
            return self._client._client
        if self._tx is None:
            level = _ISOLATION.get(str(self.isolation_level or "").upper().replace("_", " "))
            options = _pg.TransactionOptions(level, bool(self.read_only), bool(self.deferrable))
            self._tx = _db(self._client._client.begin, options)
        return self._tx

    def cursor(self, row_factory=None):
        return Cursor(self, row_factory or self.row_factory)

    def execute(self, sql, params=None):
        """psycopg's shortcut: a new cursor that has run `sql`."""
        return self.cursor().execute(sql, params)

    def _end(self, verb):
        if self._borrowed is not None:
            raise ProgrammingError(f"this connection runs in an open transaction block, which ends it; {verb} that block instead")
        if self._tx is None:
            return
        if self._pinned:
            _db(getattr(self._tx, f"{verb}_and_chain"))
        else:
            tx, self._tx = self._tx, None
            try:
                _db(getattr(tx, verb))
            finally:
                tx.__exit__(None, None, None)

    def commit(self):
        self._end("commit")

    def rollback(self):
        self._end("rollback")

    def close(self):
        if self._closed:
            return
        self._closed = True
        if self._tx is not None:
            tx, self._tx = self._tx, None
            tx.__exit__(None, None, None)  # dropping an open host transaction rolls it back

    @property
    def closed(self):
        return self._closed

    def transaction(self):
        """psycopg's `conn.transaction()` inside a transaction: a savepoint block (released when
        it ends normally, rolled back to when it raises)."""
        return _SavepointBlock(self)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if self._borrowed is None and not self._closed:
                if exc_type is None:
                    if self._tx is not None:
                        tx, self._tx = self._tx, None
                        try:
                            _db(tx.commit)
                        finally:
                            tx.__exit__(None, None, None)
                elif self._tx is not None:
                    tx, self._tx = self._tx, None
                    try:
                        tx.rollback()
                    except Exception:  # noqa: BLE001 - the block's own exception is the one to see
                        pass
                    finally:
                        tx.__exit__(None, None, None)
        finally:
            self._closed = True
        return False


class _SavepointBlock:
    _count = 0

    def __init__(self, conn):
        self._conn = conn
        _SavepointBlock._count += 1
        self._name = f"aw_sp_{_SavepointBlock._count}"

    def __enter__(self):
        handle = self._conn._handle()
        if self._conn.autocommit and not self._conn._pinned and self._conn._borrowed is None:
            raise NotSupportedError("transaction() needs autocommit off")
        _db(handle.savepoint, self._name)
        return self

    def __exit__(self, exc_type, exc, tb):
        handle = self._conn._handle()
        if exc_type is None:
            _db(handle.release, self._name)
        else:
            _db(handle.rollback_to, self._name)
            _db(handle.release, self._name)
        return False


class Cursor:
    """A DB-API cursor. Results are buffered by the host within the profile's `max_rows` /
    `max_bytes`; for big results use the client's `query_iter`."""

    arraysize = 1

    def __init__(self, connection, row_factory=tuple_row):
        self.connection = connection
        self.row_factory = row_factory
        self.description = None
        self.rowcount = -1
        self.lastrowid = None
        self.rownumber = None
        self._rows = []
        self._names = []
        self._closed = False

    def _reset(self):
        self.description, self.rowcount, self.rownumber, self._rows, self._names = None, -1, None, [], []

    def execute(self, operation, parameters=None):
        if self._closed:
            raise InterfaceError("the cursor is closed")
        self._reset()
        try:
            sql, values = translate(operation, parameters)
            params = _pgvalues.params(values)
        except errors.ConnectorError as exc:
            raise _translated(exc) from exc
        result = _db(self.connection._handle().run, sql, params, None)
        self.rowcount = result.rows_affected
        if result.columns:
            self._names = [c.name for c in result.columns]
            self.description = tuple((c.name, c.type_name, None, None, None, None, None) for c in result.columns)
            factory, decode = self.row_factory, _pgvalues.from_value
            self._rows = [factory(self._names, [decode(v) for v in row]) for row in result.rows]
            self.rownumber = 0
        return self

    def executemany(self, operation, seq_of_parameters):
        """Runs `operation` once per parameter set, pipelined on one connection in one go;
        `rowcount` is the total."""
        if self._closed:
            raise InterfaceError("the cursor is closed")
        self._reset()
        sql, batches = operation, []
        try:
            for parameters in seq_of_parameters:
                sql, values = translate(operation, parameters)
                batches.append(_pgvalues.params(values))
        except errors.ConnectorError as exc:
            raise _translated(exc) from exc
        self.rowcount = _db(self.connection._handle().execute_many, sql, batches, None) if batches else 0
        return self

    def fetchone(self):
        if self.rownumber is None:
            raise ProgrammingError("the last statement returned no rows")
        if self.rownumber >= len(self._rows):
            return None
        row = self._rows[self.rownumber]
        self.rownumber += 1
        return row

    def fetchmany(self, size=None):
        if self.rownumber is None:
            raise ProgrammingError("the last statement returned no rows")
        size = self.arraysize if size is None else size
        rows = self._rows[self.rownumber:self.rownumber + size]
        self.rownumber += len(rows)
        return rows

    def fetchall(self):
        if self.rownumber is None:
            raise ProgrammingError("the last statement returned no rows")
        rows = self._rows[self.rownumber:]
        self.rownumber = len(self._rows)
        return rows

    def __iter__(self):
        while True:
            row = self.fetchone()
            if row is None:
                return
            yield row

    def nextset(self):
        return None

    def setinputsizes(self, sizes):
        pass

    def setoutputsize(self, size, column=None):
        pass

    def close(self):
        self._closed = True
        self._reset()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False
