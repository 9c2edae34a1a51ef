"""PostgreSQL through the host's connection pools, in the `auto_workflow` package's idiom.

    with postgres.client() as db:
        rows = db.query("select id, name from users where id = %s", (123,))   # list of dicts

Placeholders are psycopg style (`%s`, `%(name)s`) or PostgreSQL's own (`$1`). The guest
never sees the DSN or the password: it names a connector profile, the host holds the pool.
"""

from wit_world.imports import postgres as _pg

from . import _pgvalues
from ._sql import translate
from ._wit import Handle, call, drain
from .errors import InvalidInputError

_ISOLATION = {
    None: None,
    "read committed": _pg.Isolation.READ_COMMITTED,
    "repeatable read": _pg.Isolation.REPEATABLE_READ,
    "serializable": _pg.Isolation.SERIALIZABLE,
}
_COPY_KINDS = {"text": _pg.CopyKind.TEXT, "csv": _pg.CopyKind.CSV, "binary": _pg.CopyKind.BINARY}


def _options(timeout):
    """Per-statement options; `timeout` in seconds."""
    return None if timeout is None else _pg.StatementOptions(int(timeout * 1000))


def _format(format, header, delimiter, null, quote):
    kind = _COPY_KINDS.get(str(format).lower())
    if kind is None:
        raise InvalidInputError(f"unknown COPY format {format!r}: use text, csv or binary")
    return _pg.CopyFormat(kind, bool(header), delimiter, null, quote)


def _names(columns):
    return [c.name for c in columns]


class _Statements:
    """Statements shared by a client and a transaction (`self._h` is the WIT resource)."""

    def query(self, sql, params=None, *, fetch="all", size=None, timeout=None):
        """All rows as a list of dicts (bounded by the host's buffered-query limits; use
        `query_iter` for big results). As in the package, `fetch="one"` gives the first row
        (or None) and `fetch="many"` the first `size` rows (default 1)."""
        if fetch == "one":
            return self.query_one(sql, params, timeout=timeout)
        if fetch not in ("all", "many"):
            raise InvalidInputError(f"unknown fetch {fetch!r}: use all, one or many")
        sql, values = translate(sql, params)
        result = call(self._h.query, sql, _pgvalues.params(values), _options(timeout))
        names = _names(result.columns)
        rows = result.rows if fetch == "all" else result.rows[:max(int(size or 1), 0)]
        return [_pgvalues.row_dict(names, row) for row in rows]

    def query_one(self, sql, params=None, *, timeout=None):
        """The first row as a dict, or None."""
        sql, values = translate(sql, params)
        row = call(self._h.query_one, sql, _pgvalues.params(values), _options(timeout))
        return None if row is None else _pgvalues.row_dict(_names(row.columns), row.values)

    def query_value(self, sql, params=None, *, timeout=None):
        """The first column of the first row, or None."""
        sql, values = translate(sql, params)
        value = call(self._h.query_value, sql, _pgvalues.params(values), _options(timeout))
        return None if value is None else _pgvalues.from_value(value)

    def execute(self, sql, params=None, *, timeout=None):
        """Rows affected."""
        sql, values = translate(sql, params)
        return call(self._h.execute, sql, _pgvalues.params(values), _options(timeout))

    def executemany(self, sql, seq_of_params, *, timeout=None):
        """Runs `sql` once per parameter set, pipelined in one transaction; total rows affected."""
        translated, batches = sql, []
        for params in seq_of_params:
            translated, values = translate(sql, params)
            batches.append(_pgvalues.params(values))
        if not batches:
            return 0
        return call(self._h.execute_many, translated, batches, _options(timeout))

    execute_many = executemany

    def query_iter(self, sql, params=None, size=1000):
        """A generator of dict rows, pulled from a server-side cursor `size` rows at a time:
        host memory stays bounded whatever the result's size."""
        sql, values = translate(sql, params)
        stream = call(self._h.query_stream, sql, _pgvalues.params(values), int(size))
        names = _names(stream.columns())
        for batch in drain(stream, stream.next):
            for row in batch:
                yield _pgvalues.row_dict(names, row)

    def copy_from(self, table, data, columns=None, format="csv", *, header=False, delimiter=None,
                  null=None, quote=None, chunk_size=1 << 20):
        """COPY `table` FROM STDIN. `data`: bytes, str, a file-like object with `read`, or an
        iterable of bytes / str chunks. Returns the number of rows copied."""
        sink = call(self._h.copy_in, table, list(columns or ()), _format(format, header, delimiter, null, quote))
        try:
            for chunk in _chunks(data, chunk_size):
                call(sink.write, chunk)
            return call(sink.finish)
        finally:
            sink.__exit__(None, None, None)

    def copy_to(self, source, dest=None, columns=None, format="csv", *, header=False, delimiter=None,
                null=None, quote=None):
        """COPY a table (a name) or a query (text starting with SELECT, WITH, VALUES, TABLE
        or a parenthesis) TO STDOUT. With `dest` (anything with `write`), the
        data is streamed into it and the row count returned; without, returns the bytes."""
        what = _pg.CopyFrom_Query(source) if _is_query(source) else _pg.CopyFrom_Table(source)
        src = call(self._h.copy_out, what, list(columns or ()), _format(format, header, delimiter, null, quote))
        if dest is None:
            return b"".join(drain(src, src.read))
        rows = []
        for chunk in drain(src, src.read, lambda: rows.append(src.rows())):
            dest.write(chunk)
        return rows[0]

    def copy_to_iter(self, source, columns=None, format="csv", **options):
        """COPY TO STDOUT as a generator of byte chunks."""
        what = _pg.CopyFrom_Query(source) if _is_query(source) else _pg.CopyFrom_Table(source)
        fmt = _format(format, options.get("header", False), options.get("delimiter"),
                      options.get("null"), options.get("quote"))
        src = call(self._h.copy_out, what, list(columns or ()), fmt)
        return drain(src, src.read)


def _is_query(source):
    head = source.lstrip().split(None, 1)[0].lower() if source.strip() else ""
    return head in ("select", "with", "values", "table") or source.lstrip().startswith("(")


def _chunks(data, chunk_size):
    if isinstance(data, str):
        data = data.encode()
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data)
        for i in range(0, len(data), chunk_size):
            yield data[i:i + chunk_size]
        return
    if hasattr(data, "read"):
        while True:
            chunk = data.read(chunk_size)
            if not chunk:
                return
            yield chunk.encode() if isinstance(chunk, str) else bytes(chunk)
    for chunk in data:
        yield chunk.encode() if isinstance(chunk, str) else bytes(chunk)


class Transaction(_Statements):
    """A transaction pinned to one pooled connection. As a context manager it commits when
    the outermost block ends normally and rolls back when it raises.

    While it is open, the statement methods of the client that began it run in it too
    (`with db.transaction(): db.execute(...)`, as the `auto_workflow` package documents), and
    `db.transaction()` returns this same transaction: a nested block issues no second BEGIN and
    commits nothing of its own."""

    def __init__(self, handle, owner=None):
        self._h = handle
        self._owner = owner
        self._done = False
        self._depth = 0

    def _end(self):
        self._done = True
        if self._owner is not None and self._owner._tx is self:
            self._owner._tx = None

    def commit(self):
        self._end()
        call(self._h.commit)

    def rollback(self):
        self._end()
        call(self._h.rollback)

    def savepoint(self, name):
        """A savepoint. As a context manager: released when the block ends normally, rolled
        back to (undoing the block's writes, keeping the transaction) when it raises."""
        call(self._h.savepoint, name)
        return _Savepoint(self, name)

    def rollback_to(self, name):
        call(self._h.rollback_to, name)

    def release(self, name):
        call(self._h.release, name)

    def __enter__(self):
        self._depth += 1
        return self

    def __exit__(self, exc_type, exc, tb):
        self._depth -= 1
        if self._depth > 0:
            return False  # a nested block: the outermost one commits or rolls back
        try:
            if not self._done:
                if exc_type is None:
                    self.commit()
                else:
                    self.rollback()
        finally:
            self._end()
            self._h.__exit__(None, None, None)
        return False


class _Savepoint:
    def __init__(self, tx, name):
        self._tx, self.name = tx, name

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self._tx.release(self.name)
        else:
            self._tx.rollback_to(self.name)
        return False


class Client(_Statements, Handle):
    """A handle on a connector profile's pool; each statement checks a connection out, except
    while a transaction this client began is open: then its statements run in that
    transaction."""

    def __init__(self, handle, profile=None):
        self._client = handle
        self._profile = profile
        self._tx = None
        self._sa_engine = None

    @property
    def _h(self):
        tx = self._tx
        return self._client if tx is None else tx._h

    def transaction(self, isolation=None, readonly=False, deferrable=False):
        """A transaction (context manager). `isolation`: "read committed", "repeatable read"
        or "serializable" (also with underscores, as the package spelled them). Inside an open
        transaction of this client, returns that one (no second BEGIN; its options stay)."""
        if self._tx is not None:
            return self._tx
        key = None if isolation is None else str(isolation).lower().replace("_", " ")
        if key not in _ISOLATION:
            raise InvalidInputError(f"unknown isolation {isolation!r}: use read committed, repeatable read or serializable")
        options = _pg.TransactionOptions(_ISOLATION[key], bool(readonly), bool(deferrable))
        self._tx = Transaction(call(self._client.begin, options), self)
        return self._tx

    begin = transaction

    def connection(self):
        """A DB-API connection pinned to one server session for connection-scoped work (`SET`,
        temp tables), as a context manager: it commits when the block ends normally and rolls
        back when it raises, and the session is reset before the connection is reused. Rows
        are dicts, as the package's `connection()` gave. Inside an open transaction of this
        client, it runs in that transaction (which then commits or rolls back as a whole)."""
        from . import dbapi
        return dbapi.Connection._for_block(self)

    def reflect(self, schema="public", tables=None):
        """Tables of `schema` (all, or those named) as dicts with columns and primary key."""
        infos = call(self._client.reflect, schema, list(tables or ()))
        return [{
            "schema": t.schema, "name": t.name, "primary_key": list(t.primary_key),
            "columns": [{"name": c.name, "type": c.type_name, "nullable": c.nullable, "default": c.default}
                        for c in t.columns],
        } for t in infos]

    # SQLAlchemy helpers, as the package had them; the engine's URL names the connector
    # profile and holds no credential.
    def sqlalchemy_engine(self, **engine_kwargs):
        """A SQLAlchemy 2.x Engine over this profile's host pool (`postgresql+aw://<profile>`)."""
        return _sqlalchemy().engine(self, engine_kwargs)

    def sqlalchemy_sessionmaker(self, **session_kwargs):
        return _sqlalchemy().sessionmaker(self, session_kwargs)

    def sqlalchemy_session(self, **session_kwargs):
        """A context manager yielding a SQLAlchemy Session: commits when the block ends
        normally, rolls back when it raises; plain `str` SQL given to `session.execute` is
        wrapped in `text()`."""
        return _sqlalchemy().session(self, session_kwargs)

    def sqlalchemy_reflect(self, *, schema=None, only=None):
        """A SQLAlchemy MetaData with the tables of `schema` (all, or those in `only`)
        reflected; keys are "schema.table" when `schema` is given."""
        return _sqlalchemy().reflect(self, schema, only)

    def close(self):
        """Drops the handle (a transaction still open is rolled back) and forgets the client."""
        if _CLIENTS.get(self._profile) is self:
            del _CLIENTS[self._profile]
        if self._tx is not None:
            tx, self._tx = self._tx, None
            tx._done = True
            tx._h.__exit__(None, None, None)
        self._client.__exit__(None, None, None)


def _sqlalchemy():
    """The SDK's SQLAlchemy module (imported at build time when SQLAlchemy is bundled)."""
    try:
        from . import _sqla
    except ImportError as e:
        raise ImportError("this component was built without SQLAlchemy: scripts/build-guest.sh bundles it "
                          "when the guest's sources mention sqlalchemy, or with AW_PY_SQLALCHEMY=1") from e
    return _sqla


# One client per profile, as the package's registry kept one: `client(p)` inside a
# transaction block of `client(p)` is the same client, so its statements join the block.
_CLIENTS = {}


def client(profile=None):
    """The client of connector profile `profile` (None = the one named like the run
    profile); the same object until it is closed."""
    cached = _CLIENTS.get(profile)
    if cached is None:
        cached = _CLIENTS[profile] = Client(call(_pg.open, profile), profile)
    return cached


connect = client
