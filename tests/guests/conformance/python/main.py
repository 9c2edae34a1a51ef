"""The conformance scenarios (tests/guests/conformance/README.md) in Python, written the way
a Python user writes them (psycopg-style placeholders, context managers, native types).
Must return exactly what the Rust guest returns."""

import datetime
import decimal
import io
import uuid

from aw import ConnectorError, adls2, flow, postgres


def failure(fn):
    try:
        fn()
    except ConnectorError as e:
        return {"kind": e.kind, "code": e.code}
    raise RuntimeError("the call succeeded but should have failed")


def values(db):
    sent = [
        True, 12, 123456, 9007199254740993, 1.5, decimal.Decimal("12345678901234567890.123456789"),
        "héllo ☃", b"\x00\x01\x00\xff", {"a": [1, 2]}, uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        datetime.date(2024, 2, 29),
        datetime.datetime(2024, 2, 29, 12, 34, 56, 789012, tzinfo=datetime.timezone.utc), [1, None, 3], None,
    ]
    row = db.query_one(
        "SELECT %s::bool AS bool, %s::int2 AS int2, %s::int4 AS int4, %s::int8 AS int8, %s::float8 AS float8, "
        "%s::numeric AS numeric, %s::text AS text, %s::bytea AS bytea, %s::jsonb AS json, %s::uuid AS uuid, "
        "%s::date AS date, %s::timestamptz AS timestamptz, %s::int4[] AS array, %s::text AS null", sent)
    assert isinstance(row["numeric"], decimal.Decimal) and isinstance(row["uuid"], uuid.UUID)
    assert isinstance(row["timestamptz"], datetime.datetime) and row["timestamptz"] == sent[11]
    return {
        "bool": row["bool"], "int2": row["int2"], "int4": row["int4"], "int8": row["int8"],
        "float8": row["float8"], "numeric": str(row["numeric"]), "text": row["text"],
        "bytea_hex": row["bytea"].hex(), "json": row["json"], "uuid": str(row["uuid"]),
        "date": row["date"].isoformat(),
        "timestamptz": row["timestamptz"].astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "array": row["array"], "null": row["null"],
    }


def crud(db, p):
    t = f"{p}_items"
    db.execute(f"DROP TABLE IF EXISTS {t}")
    db.execute(f"CREATE TABLE {t} (id int4 PRIMARY KEY, name text NOT NULL, qty int4)")
    inserted = db.execute(f"INSERT INTO {t} VALUES (%s, %s, %s)", (1, "a", 10))
    many = db.executemany(f"INSERT INTO {t} VALUES (%(id)s, %(name)s, %(qty)s)", [
        {"id": 2, "name": "b", "qty": 20}, {"id": 3, "name": "c", "qty": None}, {"id": 4, "name": "d", "qty": 40}])
    rows = db.query(f"SELECT id, name, qty FROM {t} ORDER BY id")
    one = db.query_one(f"SELECT id, name, qty FROM {t} WHERE id = %s", (2,))
    count = db.query_value(f"SELECT count(*) FROM {t}")
    updated = db.execute(f"UPDATE {t} SET qty = coalesce(qty, 0) + 1")
    deleted = db.execute(f"DELETE FROM {t} WHERE id > %s", (2,))
    reflected = [{
        "name": info["name"], "primary_key": info["primary_key"],
        "columns": [{"name": c["name"], "type": c["type"], "nullable": c["nullable"]} for c in info["columns"]],
    } for info in db.reflect("public", [t])]
    return {"inserted": inserted, "inserted_many": many, "rows": rows, "one": one, "count": count,
            "updated": updated, "deleted": deleted, "reflect": reflected}


def ids(db, t):
    return [r["id"] for r in db.query(f"SELECT id FROM {t} ORDER BY id")]


def transactions(db, p):
    t = f"{p}_tx"
    db.execute(f"DROP TABLE IF EXISTS {t}")
    db.execute(f"CREATE TABLE {t} (id int4)")
    try:
        with db.transaction() as tx:
            tx.execute(f"INSERT INTO {t} VALUES (1)")
            raise KeyError("undo")  # leaving the block by an exception rolls back
    except KeyError:
        pass
    after_rollback = ids(db, t)

    with db.transaction(isolation="serializable") as tx:
        tx.execute(f"INSERT INTO {t} VALUES (1)")
        try:
            with tx.savepoint("s1"):
                tx.execute(f"INSERT INTO {t} VALUES (2)")
                raise KeyError("undo the savepoint only")
        except KeyError:
            pass
        tx.execute(f"INSERT INTO {t} VALUES (3)")
        isolation = tx.query_value("SELECT current_setting('transaction_isolation')")
    after_commit = ids(db, t)

    with db.transaction(readonly=True) as tx:
        read_only = failure(lambda: tx.execute(f"INSERT INTO {t} VALUES (4)"))
        tx.rollback()
    return {"after_rollback": after_rollback, "after_commit": after_commit, "isolation": isolation,
            "read_only_write": read_only, "after_read_only": ids(db, t)}


def stream(db):
    count = total = 0
    for row in db.query_iter("SELECT g AS n FROM generate_series(1, 100000) g", size=1000):
        count += 1
        total += row["n"]
    return {"rows": count, "sum": total}


def copy(db, p):
    t = f"{p}_copy"
    db.execute(f"DROP TABLE IF EXISTS {t}")
    db.execute(f"CREATE TABLE {t} (id int4, name text)")
    csv = "id,name\n" + "".join(f"{i},name {i}\n" for i in range(1, 1001))
    copied = db.copy_from(t, csv, columns=["id", "name"], format="csv", header=True, chunk_size=4096)
    buffer = io.BytesIO()
    rows = db.copy_to(t, buffer, columns=["id", "name"], format="csv")  # streamed into a file-like
    assert rows == 1000, rows
    table = buffer.getvalue()
    query = db.copy_to(f"SELECT id FROM {t} WHERE id <= 10 ORDER BY id", format="csv", header=True)
    return {"copied_in": copied, "table_lines": table.count(b"\n"), "table_bytes": len(table),
            "query_csv": query.decode()}


def errors(db, p):
    return {
        "syntax": failure(lambda: db.execute("SELEC 1")),
        "unique": failure(lambda: db.execute(f"INSERT INTO {p}_items VALUES (1, 'again', 0)")),
        "missing_table": failure(lambda: db.query(f"SELECT * FROM {p}_missing")),
        "denied_profile": failure(lambda: postgres.client("ungranted")),
        "denied_container": failure(lambda: adls2.client().exists("not-granted", "x")),
    }


def adls(container):
    lake = adls2.client()
    created = lake.create_container(container, exist_ok=True)
    lake.make_dirs(container, "a/b")
    upload = dict(content_type="text/plain", metadata={"origin": "conformance"}, overwrite=False)
    uploaded = lake.upload_bytes(container, "a/b/one.txt", b"hello world", **upload)
    again = failure(lambda: lake.upload_bytes(container, "a/b/one.txt", b"again", **upload))
    props = lake.properties(container, "a/b/one.txt")
    part = lake.download_bytes(container, "a/b/one.txt", offset=6, length=5)
    listing = sorted(p["name"] for p in lake.list_paths(container, "a", recursive=True))
    exists = [lake.exists(container, "a/b/one.txt"), lake.exists(container, "a/b/missing.txt")]
    lake.rename(container, "a/b/one.txt", "a/b/two.txt")
    renamed = [lake.exists(container, "a/b/one.txt"), lake.exists(container, "a/b/two.txt")]

    chunk = bytes(i % 251 for i in range(64 * 1024))
    with lake.open_writer(container, "big/data.bin") as writer:
        for _ in range(256):
            writer.write(chunk)
    size = total = 0
    for piece in lake.download_stream(container, "big/data.bin"):
        size += len(piece)
        total += sum(piece)
    lake.delete_path(container, "a", recursive=True)
    lake.delete_path(container, "big", recursive=True)
    gone = not lake.exists(container, "a/b/two.txt")
    lake.delete_container(container)
    return {
        "created": created, "uploaded_size": uploaded["size"], "overwrite_false": again,
        "content_type": props["content_type"], "metadata": props["metadata"], "range": part.decode(),
        "listing": listing, "exists": exists, "renamed": renamed, "big_size": writer.info["size"],
        "big_read": {"bytes": size, "sum": total}, "deleted": gone,
    }


@flow
def conformance(prefix, container):
    with postgres.client() as db:
        return {
            "values": values(db), "crud": crud(db, prefix), "transactions": transactions(db, prefix),
            "stream": stream(db), "copy": copy(db, prefix), "errors": errors(db, prefix),
            "adls": adls(container),
        }
