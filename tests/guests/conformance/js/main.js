// The conformance scenarios (tests/guests/conformance/README.md) in JavaScript, written the
// way a JS user writes them ($n placeholders, callbacks for transactions, generators for
// streams). Must return exactly what the Rust guest returns.
import { ConnectorError, adls2, flow, postgres } from 'aw';

function failure(fn) {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConnectorError) return { kind: e.kind, code: e.code ?? null };
    throw e;
  }
  throw new Error('the call succeeded but should have failed');
}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

function values(db) {
  const sent = [
    true, 12, 123456, 9007199254740993n, 1.5, '12345678901234567890.123456789', 'héllo ☃',
    new Uint8Array([0, 1, 0, 255]), { a: [1, 2] }, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-02-29',
    '2024-02-29T12:34:56.789012Z', [1, null, 3], null,
  ];
  const row = db.queryOne(
    'SELECT $1::bool AS bool, $2::int2 AS int2, $3::int4 AS int4, $4::int8 AS int8, $5::float8 AS float8, '
    + '$6::numeric AS numeric, $7::text AS text, $8::bytea AS bytea, $9::jsonb AS json, $10::uuid AS uuid, '
    + '$11::date AS date, $12::timestamptz AS timestamptz, $13::int4[] AS array, $14::text AS null', sent,
  );
  if (typeof row.int8 !== 'bigint') throw new Error('an int8 beyond 2^53 must come back as a bigint');
  return { ...row, bytea: undefined, bytea_hex: hex(row.bytea) };
}

function crud(db, p) {
  const t = `${p}_items`;
  db.execute(`DROP TABLE IF EXISTS ${t}`);
  db.execute(`CREATE TABLE ${t} (id int4 PRIMARY KEY, name text NOT NULL, qty int4)`);
  const inserted = db.execute(`INSERT INTO ${t} VALUES ($1, $2, $3)`, [1, 'a', 10]);
  const many = db.executeMany(`INSERT INTO ${t} VALUES ($1, $2, $3)`, [[2, 'b', 20], [3, 'c', null], [4, 'd', 40]]);
  const rows = db.query(`SELECT id, name, qty FROM ${t} ORDER BY id`);
  const one = db.queryOne(`SELECT id, name, qty FROM ${t} WHERE id = $1`, [2]);
  const count = db.queryValue(`SELECT count(*) FROM ${t}`);
  const updated = db.execute(`UPDATE ${t} SET qty = coalesce(qty, 0) + 1`);
  const deleted = db.execute(`DELETE FROM ${t} WHERE id > $1`, [2]);
  const reflect = db.reflect('public', [t]).map((info) => ({
    name: info.name,
    primary_key: info.primary_key,
    columns: info.columns.map((c) => ({ name: c.name, type: c.type, nullable: c.nullable })),
  }));
  return { inserted, inserted_many: many, rows, one, count, updated, deleted, reflect };
}

const ids = (db, t) => db.query(`SELECT id FROM ${t} ORDER BY id`).map((r) => r.id);

function transactions(db, p) {
  const t = `${p}_tx`;
  db.execute(`DROP TABLE IF EXISTS ${t}`);
  db.execute(`CREATE TABLE ${t} (id int4)`);
  try {
    db.transaction((tx) => {
      tx.execute(`INSERT INTO ${t} VALUES (1)`);
      throw new RangeError('undo'); // a throwing callback rolls back
    });
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
  }
  const afterRollback = ids(db, t);

  const isolation = db.transaction({ isolation: 'serializable' }, (tx) => {
    tx.execute(`INSERT INTO ${t} VALUES (1)`);
    try {
      tx.savepoint('s1', () => {
        tx.execute(`INSERT INTO ${t} VALUES (2)`);
        throw new RangeError('undo the savepoint only');
      });
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
    }
    tx.execute(`INSERT INTO ${t} VALUES (3)`);
    return tx.queryValue("SELECT current_setting('transaction_isolation')");
  });
  const afterCommit = ids(db, t);

  const tx = db.transaction({ readOnly: true });
  const readOnly = failure(() => tx.execute(`INSERT INTO ${t} VALUES (4)`));
  tx.rollback();
  return {
    after_rollback: afterRollback, after_commit: afterCommit, isolation,
    read_only_write: readOnly, after_read_only: ids(db, t),
  };
}

function stream(db) {
  let rows = 0;
  let sum = 0;
  for (const row of db.queryIter('SELECT g AS n FROM generate_series(1, 100000) g', [], { size: 1000 })) {
    rows += 1;
    sum += row.n;
  }
  return { rows, sum };
}

function copy(db, p) {
  const t = `${p}_copy`;
  db.execute(`DROP TABLE IF EXISTS ${t}`);
  db.execute(`CREATE TABLE ${t} (id int4, name text)`);
  const lines = ['id,name\n'];
  for (let i = 1; i <= 1000; i += 1) lines.push(`${i},name ${i}\n`);
  const copiedIn = db.copyFrom(t, lines, { columns: ['id', 'name'], format: 'csv', header: true });
  const table = db.copyTo(t, { columns: ['id', 'name'], format: 'csv' });
  const query = db.copyTo(`SELECT id FROM ${t} WHERE id <= 10 ORDER BY id`, { format: 'csv', header: true });
  return {
    copied_in: copiedIn,
    table_lines: table.filter((b) => b === 10).length,
    table_bytes: table.length,
    query_csv: new TextDecoder().decode(query),
  };
}

function errors(db, p) {
  return {
    syntax: failure(() => db.execute('SELEC 1')),
    unique: failure(() => db.execute(`INSERT INTO ${p}_items VALUES (1, 'again', 0)`)),
    missing_table: failure(() => db.query(`SELECT * FROM ${p}_missing`)),
    denied_profile: failure(() => postgres.client('ungranted')),
    denied_container: failure(() => adls2.client().exists('not-granted', 'x')),
  };
}

function adls(container) {
  const lake = adls2.client();
  const created = lake.createContainer(container, true);
  lake.makeDirs(container, 'a/b');
  const upload = { contentType: 'text/plain', metadata: { origin: 'conformance' }, overwrite: false };
  const uploaded = lake.uploadBytes(container, 'a/b/one.txt', 'hello world', upload);
  const again = failure(() => lake.uploadBytes(container, 'a/b/one.txt', 'again', upload));
  const props = lake.properties(container, 'a/b/one.txt');
  const part = new TextDecoder().decode(lake.downloadBytes(container, 'a/b/one.txt', { offset: 6, length: 5 }));
  const listing = [...lake.listPaths(container, 'a', { recursive: true })].map((e) => e.name).sort();
  const exists = [lake.exists(container, 'a/b/one.txt'), lake.exists(container, 'a/b/missing.txt')];
  lake.rename(container, 'a/b/one.txt', 'a/b/two.txt');
  const renamed = [lake.exists(container, 'a/b/one.txt'), lake.exists(container, 'a/b/two.txt')];

  const chunk = new Uint8Array(64 * 1024);
  for (let i = 0; i < chunk.length; i += 1) chunk[i] = i % 251;
  const writer = lake.openWriter(container, 'big/data.bin');
  for (let i = 0; i < 256; i += 1) writer.write(chunk);
  const big = writer.close();
  let bytes = 0;
  let sum = 0;
  for (const piece of lake.downloadStream(container, 'big/data.bin')) {
    bytes += piece.length;
    for (let i = 0; i < piece.length; i += 1) sum += piece[i];
  }
  lake.deletePath(container, 'a', { recursive: true });
  lake.deletePath(container, 'big', { recursive: true });
  const gone = !lake.exists(container, 'a/b/two.txt');
  lake.deleteContainer(container);
  return {
    created, uploaded_size: uploaded.size, overwrite_false: again, content_type: props.content_type,
    metadata: props.metadata, range: part, listing, exists, renamed, big_size: big.size,
    big_read: { bytes, sum }, deleted: gone,
  };
}

flow(({ prefix, container }) => {
  const db = postgres.client();
  return {
    values: values(db), crud: crud(db, prefix), transactions: transactions(db, prefix),
    stream: stream(db), copy: copy(db, prefix), errors: errors(db, prefix), adls: adls(container),
  };
});
