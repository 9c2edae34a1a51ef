"""SQLAlchemy 2.x on the host's Postgres pools: the `postgresql+aw` dialect over `aw.dbapi`,
and the `auto_workflow` package's helpers (`sqlalchemy_engine`, `sqlalchemy_sessionmaker`,
`sqlalchemy_session`, `sqlalchemy_reflect`) that `postgres.Client` exposes.

The engine URL is `postgresql+aw://<connector profile>`: it names a profile, never a server
or a credential. The host pools connections, so the engine does not (NullPool): a session's
connection is a host transaction that ends with the session's commit or rollback.
"""

import contextlib

import sqlalchemy
from sqlalchemy import pool as _pool
from sqlalchemy import types as _types
from sqlalchemy.dialects import registry as _registry
from sqlalchemy.dialects.postgresql import INTERVAL, JSON, JSONB
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.engine import interfaces as _interfaces
from sqlalchemy.orm import sessionmaker as _sessionmaker


# Parameters carry a cast (`$1::INTEGER`), as the psycopg dialect renders them, so the server
# knows each parameter's type even where the statement does not say (`SELECT $1`, VALUES
# lists of insertmanyvalues); the host converts each value to that type.
def _casting(base):
    return type(f"_Aw{base.__name__}", (base,), {"render_bind_cast": True})


class _AwJSON(JSON):
    render_bind_cast = True


class _AwJSONB(JSONB):
    render_bind_cast = True


class AwDialect(PGDialect):
    """PostgreSQL through `aw.dbapi`: the statements SQLAlchemy compiles run on the host's
    pool for the connector profile the URL names."""

    driver = "aw"
    supports_statement_cache = True
    default_paramstyle = "pyformat"
    bind_typing = _interfaces.BindTyping.RENDER_CASTS
    supports_sane_rowcount = True
    supports_sane_multi_rowcount = True
    # SQLAlchemy writes JSON text; the SDK hands back parsed JSON values.
    supports_native_json_serialization = False
    supports_native_json_deserialization = True
    dialect_injects_custom_json_deserializer = True

    colspecs = dict(PGDialect.colspecs)
    colspecs.update({
        _types.String: _casting(_types.String),
        _types.Integer: _casting(_types.Integer),
        _types.SmallInteger: _casting(_types.SmallInteger),
        _types.BigInteger: _casting(_types.BigInteger),
        _types.Boolean: _casting(_types.Boolean),
        _types.Date: _casting(_types.Date),
        _types.DateTime: _casting(_types.DateTime),
        _types.Time: _casting(_types.Time),
        _types.NullType: _casting(_types.NullType),
        _types.JSON: _AwJSON,
        JSON: _AwJSON,
        JSONB: _AwJSONB,
        INTERVAL: _casting(INTERVAL),
    })

    @classmethod
    def import_dbapi(cls):
        from . import dbapi
        return dbapi

    def create_connect_args(self, url):
        profile = url.host or url.query.get("profile") or None
        if url.password or url.username:
            raise sqlalchemy.exc.ArgumentError(
                "postgresql+aw:// URLs name a connector profile only (postgresql+aw://default); "
                "the host holds the credentials")
        return [], {"profile": profile}

    def get_isolation_level_values(self, dbapi_connection):
        return ("AUTOCOMMIT", "SERIALIZABLE", "READ UNCOMMITTED", "READ COMMITTED", "REPEATABLE READ")

    def set_isolation_level(self, dbapi_connection, level):
        # Applied when the connection begins its next host transaction (no SQL COMMIT behind
        # the host's back).
        dbapi_connection.autocommit = level == "AUTOCOMMIT"
        dbapi_connection.isolation_level = None if level == "AUTOCOMMIT" else level

    def get_isolation_level(self, dbapi_connection):
        if dbapi_connection.autocommit:
            return "AUTOCOMMIT"
        cursor = dbapi_connection.cursor()
        cursor.execute("show transaction isolation level")
        level = cursor.fetchone()[0]
        cursor.close()
        return level.upper()

    def set_readonly(self, connection, value):
        connection.read_only = bool(value)

    def get_readonly(self, connection):
        return connection.read_only

    def set_deferrable(self, connection, value):
        connection.deferrable = bool(value)

    def get_deferrable(self, connection):
        return connection.deferrable

    def do_ping(self, dbapi_connection):
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        return True


dialect = AwDialect
_registry.register("postgresql.aw", __name__, "AwDialect")


def url_for(profile):
    """The engine URL of a connector profile (no credential in it)."""
    return "postgresql+aw://" + (profile or "")


def engine(client, engine_kwargs):
    """The client's engine; one per client for the default arguments, as the package cached it."""
    kwargs = dict(engine_kwargs)
    kwargs.pop("future", None)  # SQLAlchemy 2.x is always "future"
    default = not kwargs
    if default and client._sa_engine is not None:
        return client._sa_engine
    kwargs.setdefault("poolclass", _pool.NullPool)
    made = sqlalchemy.create_engine(url_for(client._profile), **kwargs)
    if default:
        client._sa_engine = made
    return made


def sessionmaker(client, session_kwargs):
    kwargs = dict(session_kwargs)
    kwargs.setdefault("expire_on_commit", True)
    return _sessionmaker(bind=engine(client, {}), **kwargs)


@contextlib.contextmanager
def session(client, session_kwargs):
    """A session that commits when the block ends normally and rolls back when it raises (a
    failing commit raises too: nothing is silently lost)."""
    made = sessionmaker(client, session_kwargs)()
    execute = made.execute

    def execute_text(statement, *args, **kwargs):
        if isinstance(statement, str):
            statement = sqlalchemy.text(statement)
        return execute(statement, *args, **kwargs)

    made.execute = execute_text
    try:
        yield made
    except BaseException:
        made.rollback()
        raise
    else:
        made.commit()
    finally:
        made.close()


def reflect(client, schema, only):
    metadata = sqlalchemy.MetaData()
    metadata.reflect(bind=engine(client, {}), schema=schema, only=only)
    return metadata
