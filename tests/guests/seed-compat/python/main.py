"""The seed document's Postgres patterns, written as a user of the Python `auto_workflow`
package writes them, for tests/seed_compat.rs (issue 15). The input's `mode` picks one; the
test checks the database afterwards with SQL of its own."""

from aw import flow, postgres


def tx_commit(table):
    # The document's transaction example, verbatim but for the table.
    with postgres.client("default") as db:
        with db.transaction(isolation="serializable"):
            db.execute(f"INSERT INTO {table}(v) VALUES (1)")
            db.executemany(f"INSERT INTO {table}(v) VALUES (%s)", [(2,), (3,)])
            # `client(p)` again is the same client, so it joins the block too.
            postgres.client("default").execute(f"INSERT INTO {table}(v) VALUES (%s)", (4,))
            inside = db.query_value(f"SELECT count(*) FROM {table}")
    return {"inside": inside}


def tx_raise(table):
    db = postgres.client("default")
    try:
        with db.transaction():
            db.execute(f"INSERT INTO {table}(v) VALUES (1)")
            db.copy_from(table, "2\n3\n", columns=["v"], format="text")
            raise ValueError("undo the block")
    except ValueError:
        pass
    return {"after": db.query_value(f"SELECT count(*) FROM {table}")}


def tx_nested(table):
    db = postgres.client("default")
    me = "SELECT txid_current() AS txid, xact_start::text AS started FROM pg_stat_activity WHERE pid = pg_backend_pid()"
    try:
        with db.transaction(isolation="repeatable read"):
            outer = db.query_one(me)
            with db.transaction():
                db.execute(f"INSERT INTO {table}(v) VALUES (1)")
                inner = db.query_one(me)
            after_inner = db.query_one(me)
            raise KeyError("the outer block decides")
    except KeyError:
        pass
    return {"same_transaction": outer == inner == after_inner,
            "after": db.query_value(f"SELECT count(*) FROM {table}")}


def connection_scoped(table):
    db = postgres.client("default")
    with db.connection() as conn:
        conn.execute("SET search_path TO pg_temp, public")
        conn.execute("CREATE TEMP TABLE scratch (v int)")
        conn.execute("INSERT INTO scratch VALUES (1), (2)")
        conn.commit()  # ends a transaction, keeps the session
        conn.execute(f"INSERT INTO {table}(v) SELECT v FROM scratch")
        cur = conn.cursor()
        cur.execute("SELECT current_setting('search_path') AS path, (SELECT count(*) FROM scratch) AS n")
        inside = cur.fetchone()  # a dict row, as the package's connection() gave
    return {
        "inside": [inside["path"], inside["n"]],
        "after_path": db.query_value("SELECT current_setting('search_path')"),
        "after_temp": db.query_value("SELECT to_regclass('pg_temp.scratch')::text"),
        "copied": db.query_value(f"SELECT count(*) FROM {table}"),
    }


def void():
    return {"slept": postgres.client("default").query_value("select pg_sleep(0.01)")}


def server():
    return postgres.client("default").query_one(
        "SELECT current_database() AS db, current_user AS usr, inet_server_port() AS port")


def orm(table):
    from sqlalchemy import ForeignKey, Integer, String, func, select
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

    class Base(DeclarativeBase):
        pass

    class Team(Base):
        __tablename__ = f"{table}_team"
        id: Mapped[int] = mapped_column(Integer, primary_key=True)
        name: Mapped[str] = mapped_column(String(50), unique=True)
        members: Mapped[list["Member"]] = relationship(back_populates="team")

    class Member(Base):
        __tablename__ = f"{table}_member"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50))
        team_id: Mapped[int] = mapped_column(ForeignKey(f"{table}_team.id"))
        team: Mapped[Team] = relationship(back_populates="members")

    db = postgres.client("default")
    engine = db.sqlalchemy_engine()
    Base.metadata.create_all(engine)
    with db.sqlalchemy_session() as session:
        red = Team(name="red")
        session.add_all([red, Team(name="blue"), Member(name="ann", team=red), Member(name="bob", team=red)])
    try:
        with db.sqlalchemy_session() as session:
            session.add(Team(name="green"))
            session.flush()
            raise RuntimeError("roll the session back")
    except RuntimeError:
        pass
    with db.sqlalchemy_session() as session:
        names = session.scalars(select(Member.name).join(Team).where(Team.name == "red").order_by(Member.name)).all()
        teams = session.scalar(select(func.count()).select_from(Team))
        raw = session.execute(f"SELECT count(*) FROM {table}_member").scalar()
    md = db.sqlalchemy_reflect(schema="public", only=[f"{table}_member"])
    reflected = md.tables[f"public.{table}_member"]
    return {
        "names": list(names), "teams": teams, "raw": raw, "url": str(engine.url),
        "reflected": {c.name: type(c.type).__name__ for c in reflected.columns},
        "foreign_keys": sorted(fk.target_fullname for fk in reflected.foreign_keys),
    }


def dbapi(table):
    from aw import dbapi

    conn = dbapi.connect("default")
    cur = conn.cursor()
    cur.execute(f"INSERT INTO {table}(v) VALUES (%s), (%s)", (10, 20))
    inserted = cur.rowcount
    cur.execute(f"SELECT v FROM {table} WHERE v > %(low)s ORDER BY v", {"low": 5})
    described = [(d[0], d[1] == dbapi.NUMBER) for d in cur.description]
    rows = cur.fetchall()
    conn.rollback()
    cur.executemany(f"INSERT INTO {table}(v) VALUES (%s)", [(1,), (2,), (3,)])
    many = cur.rowcount
    conn.commit()
    try:
        cur.execute("SELECT * FROM no_such_table_here")
        error = None
    except dbapi.ProgrammingError as e:
        error = {"class": type(e).__name__, "sqlstate": e.sqlstate, "kind": e.kind}
    conn.close()
    return {"inserted": inserted, "described": described, "rows": rows, "many": many, "error": error}


def fetch():
    db = postgres.client("default")
    sql = "SELECT g AS n FROM generate_series(1, 5) g ORDER BY g"
    return {"one": db.query(sql, fetch="one"), "many": db.query(sql, fetch="many", size=2),
            "all": len(db.query(sql))}


MODES = {"tx-commit": tx_commit, "tx-raise": tx_raise, "tx-nested": tx_nested, "connection": connection_scoped,
         "orm": orm, "dbapi": dbapi}


@flow
def run(mode, table=None):
    if mode == "void":
        return void()
    if mode == "server":
        return server()
    if mode == "fetch":
        return fetch()
    return MODES[mode](table)
