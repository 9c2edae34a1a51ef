// PostgreSQL through the host's connection pools, in JavaScript idiom (node-postgres style
// `$1` placeholders, rows as plain objects):
//
//   const db = postgres.client();
//   const rows = db.query('select id, name from users where id = $1', [123]);
//
// The guest never sees the DSN or the password: it names a connector profile.
import * as wit from 'auto-workflow:connectors/postgres@0.1.0';
import { isArrayBuffer, isBytes, toBytes } from './bytes.js';
import { call, dispose, drain, InvalidInputError, PermanentError } from './errors.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function scalar(value, index) {
  if (value === null || value === undefined) return { tag: 'null' };
  switch (typeof value) {
    case 'boolean': return { tag: 'boolean', val: value };
    case 'bigint':
      return value >= INT64_MIN && value <= INT64_MAX ? { tag: 'int64', val: value } : { tag: 'numeric', val: value.toString() };
    case 'number':
      return Number.isSafeInteger(value) ? { tag: 'int64', val: BigInt(value) } : { tag: 'float64', val: value };
    case 'string': return { tag: 'text', val: value };
    default: break;
  }
  if (isBytes(value) || isArrayBuffer(value)) return { tag: 'bytea', val: toBytes(value) };
  if (value instanceof Date) return { tag: 'timestamptz', val: value.toISOString() };
  if (typeof value === 'object' && !Array.isArray(value)) return { tag: 'json', val: JSON.stringify(value) };
  throw new InvalidInputError(`parameter $${index}: cannot send a ${typeof value} to PostgreSQL`);
}

/** A parameter as a WIT value (`index` is 1-based, for messages). */
export function toParam(value, index) {
  return Array.isArray(value) ? { tag: 'array', val: value.map((v) => scalar(v, index)) } : scalar(value, index);
}

const params = (values) => (values ?? []).map((v, i) => toParam(v, i + 1));

/** A column's JS value: int64 as a number when it fits exactly (else a bigint), numeric as
 *  its exact text, json parsed, bytea a Uint8Array, dates and times as their ISO text. */
export function fromValue(value) {
  switch (value.tag) {
    case 'null': return null;
    case 'int64': {
      const n = Number(value.val);
      return Number.isSafeInteger(n) ? n : value.val;
    }
    case 'json': return JSON.parse(value.val);
    case 'array': return value.val.map(fromValue);
    default: return value.val;
  }
}

function rowObject(columns, values) {
  const row = {};
  for (let i = 0; i < columns.length; i += 1) row[columns[i].name] = fromValue(values[i]);
  return row;
}

// The compact batch encoding of `row-stream.next-encoded` (README, "Compact row batches").
const TAG_NULL = 0;
const TAG_BOOL = 1;
const TAG_INT = 2;
const TAG_FLOAT = 3;
const TAG_TEXT = 4;
const TAG_BYTES = 5;
const TAG_ARRAY = 6;
const textDecoder = new TextDecoder();

/** How a text or array cell of a column of type `typeName` becomes the value `query` gives. */
function cellDecoder(typeName) {
  const json = typeName === 'json' || typeName === 'jsonb';
  const parseElement = typeName === '_json' || typeName === '_jsonb'
    ? (e) => (e === null ? null : JSON.parse(e))
    : typeName === '_bytea' ? (e) => (e === null ? null : Uint8Array.from(e)) : null;
  return {
    text: json ? (s) => JSON.parse(s) : (s) => s,
    array: (s) => (parseElement ? JSON.parse(s).map(parseElement) : JSON.parse(s)),
  };
}

/** The rows of one encoded batch, as objects. */
function* decodeBatch(batch, names, cells) {
  const { data } = batch;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let at = 0;
  for (let r = 0; r < batch.count; r += 1) {
    const row = {};
    for (let c = 0; c < names.length; c += 1) {
      const tag = data[at];
      at += 1;
      let value;
      if (tag === TAG_NULL) {
        value = null;
      } else if (tag === TAG_BOOL) {
        value = data[at] !== 0;
        at += 1;
      } else if (tag === TAG_INT) {
        const n = view.getInt32(at + 4, true) * 4294967296 + view.getUint32(at, true);
        value = Number.isSafeInteger(n) ? n : view.getBigInt64(at, true);
        at += 8;
      } else if (tag === TAG_FLOAT) {
        value = view.getFloat64(at, true);
        at += 8;
      } else {
        const length = view.getUint32(at, true);
        const bytes = data.subarray(at + 4, at + 4 + length);
        at += 4 + length;
        if (tag === TAG_BYTES) value = bytes.slice();
        else if (tag === TAG_TEXT) value = cells[c].text(textDecoder.decode(bytes));
        else if (tag === TAG_ARRAY) value = cells[c].array(textDecoder.decode(bytes));
        else throw new PermanentError(`unknown cell tag ${tag} in a row batch`);
      }
      row[names[c]] = value;
    }
    yield row;
  }
}

const statementOptions = (opts) => (opts?.timeout == null ? undefined : { timeoutMs: Math.round(opts.timeout * 1000) });

function copyFormat({ format = 'csv', header = false, delimiter, null: nullString, quote } = {}) {
  if (!['text', 'csv', 'binary'].includes(format)) throw new InvalidInputError(`unknown COPY format '${format}': use text, csv or binary`);
  return { kind: format, header, delimiter, nullString, quote };
}

const isQuery = (source) => /^\s*(select|with|values|table)\b|^\s*\(/i.test(source);

/** Statements shared by a client and a transaction (`this.handle` is the WIT resource). */
class Statements {
  /** All rows as objects (bounded by the host's buffered-query limits; use queryIter for big results). */
  query(sql, values, opts) {
    const result = call(() => this.handle.query(sql, params(values), statementOptions(opts)));
    return result.rows.map((row) => rowObject(result.columns, row));
  }

  /** The first row, or null. */
  queryOne(sql, values, opts) {
    const row = call(() => this.handle.queryOne(sql, params(values), statementOptions(opts)));
    return row === undefined ? null : rowObject(row.columns, row.values);
  }

  /** The first column of the first row, or null. */
  queryValue(sql, values, opts) {
    const value = call(() => this.handle.queryValue(sql, params(values), statementOptions(opts)));
    return value === undefined ? null : fromValue(value);
  }

  /** Rows affected. */
  execute(sql, values, opts) {
    return Number(call(() => this.handle.execute(sql, params(values), statementOptions(opts))));
  }

  /** Runs `sql` once per parameter list, pipelined in one transaction; total rows affected. */
  executeMany(sql, valueLists, opts) {
    if (valueLists.length === 0) return 0;
    return Number(call(() => this.handle.executeMany(sql, valueLists.map(params), statementOptions(opts))));
  }

  /** A generator of row objects pulled from a server-side cursor `size` rows at a time. Rows
   *  travel in the compact batch encoding (one buffer per batch) and are decoded here into the
   *  same values `query` gives; int8[] columns, whose big elements that encoding would round,
   *  come as WIT values instead. */
  * queryIter(sql, values, { size = 1000 } = {}) {
    const stream = call(() => this.handle.queryStream(sql, params(values), size));
    const columns = stream.columns();
    if (columns.some((c) => c.typeName === '_int8')) {
      for (const batch of drain(stream, () => stream.next())) {
        for (const row of batch) yield rowObject(columns, row);
      }
      return;
    }
    const cells = columns.map((c) => cellDecoder(c.typeName));
    const names = columns.map((c) => c.name);
    for (const batch of drain(stream, () => stream.nextEncoded())) {
      yield* decodeBatch(batch, names, cells);
    }
  }

  /** COPY `table` FROM STDIN. `data`: a string, bytes, or an iterable of chunks. Returns rows copied.
   *  Options: columns, format (text | csv | binary), header, delimiter, null, quote. */
  copyFrom(table, data, opts = {}) {
    const sink = call(() => this.handle.copyIn(table, opts.columns ?? [], copyFormat(opts)));
    try {
      const chunks = typeof data === 'string' || isBytes(data) ? [data] : data;
      for (const chunk of chunks) {
        const bytes = toBytes(chunk);
        for (let at = 0; at < bytes.length; at += 1 << 20) {
          call(() => sink.write(bytes.subarray(at, at + (1 << 20))));
        }
      }
      return Number(call(() => sink.finish()));
    } finally {
      dispose(sink);
    }
  }

  /** A generator of byte chunks of COPY (table or query) TO STDOUT. */
  copyToIter(source, opts = {}) {
    const what = isQuery(source) ? { tag: 'query', val: source } : { tag: 'table', val: source };
    const src = call(() => this.handle.copyOut(what, opts.columns ?? [], copyFormat(opts)));
    return drain(src, () => src.read());
  }

  /** COPY (table or query) TO STDOUT, all of it as one Uint8Array. */
  copyTo(source, opts = {}) {
    const chunks = [...this.copyToIter(source, opts)];
    const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) { out.set(c, at); at += c.length; }
    return out;
  }
}

/** A transaction pinned to one pooled connection; disposing it unfinished rolls back. While
 *  it is open, the statements of the client that began it run in it too, and that client's
 *  `transaction()` returns it again (a nested block issues no second BEGIN). */
export class Transaction extends Statements {
  constructor(handle, owner) { super(); this.handle = handle; this.owner = owner; this.done = false; this.depth = 0; }
  end() {
    this.done = true;
    if (this.owner && this.owner.tx === this) this.owner.tx = null;
  }
  commit() { this.end(); try { call(() => this.handle.commit()); } finally { dispose(this.handle); } }
  rollback() { this.end(); try { call(() => this.handle.rollback()); } finally { dispose(this.handle); } }
  rollbackTo(name) { call(() => this.handle.rollbackTo(name)); }
  release(name) { call(() => this.handle.release(name)); }

  /** A savepoint. With `fn`: released when `fn` returns, rolled back to (undoing its writes,
   *  keeping the transaction) when it throws, and the error rethrown. */
  savepoint(name, fn) {
    call(() => this.handle.savepoint(name));
    if (!fn) return undefined;
    let result;
    try {
      result = fn(this);
    } catch (e) {
      this.rollbackTo(name);
      throw e;
    }
    this.release(name);
    return result;
  }

  /** Runs `fn(this)` as a block: the outermost block commits when it returns and rolls back
   *  when it throws; a nested one leaves both to the outermost. */
  run(fn) {
    this.depth += 1;
    let result;
    try {
      result = fn(this);
    } catch (e) {
      this.depth -= 1;
      if (this.depth === 0 && !this.done) this.rollback();
      throw e;
    }
    this.depth -= 1;
    if (this.depth === 0 && !this.done) this.commit();
    return result;
  }

  [Symbol.dispose]() { if (!this.done) { this.end(); dispose(this.handle); } }
}

const pinnedOptions = { isolation: undefined, readOnly: false, deferrable: false };

/** A handle on a connector profile's pool; each statement checks a connection out, except
 *  while a transaction this client began is open: then they run in it. */
export class Client extends Statements {
  constructor(handle, profile) { super(); this.pool = handle; this.profile = profile; this.tx = null; }

  get handle() { return this.tx === null ? this.pool : this.tx.handle; }

  /** A transaction. `opts`: isolation ('read committed' | 'repeatable read' | 'serializable'),
   *  readOnly, deferrable. With `fn`: commits when `fn` returns, rolls back when it throws.
   *  Inside an open transaction of this client, that one is used (its options stay). */
  transaction(opts = {}, fn) {
    if (typeof opts === 'function') { fn = opts; opts = {}; }
    let tx = this.tx;
    if (tx === null) {
      const isolation = opts.isolation == null ? undefined : String(opts.isolation).toLowerCase().replace(/[ _]/g, '-');
      if (isolation !== undefined && !['read-committed', 'repeatable-read', 'serializable'].includes(isolation)) {
        throw new InvalidInputError(`unknown isolation '${opts.isolation}': use read committed, repeatable read or serializable`);
      }
      tx = new Transaction(call(() => this.pool.begin({ isolation, readOnly: !!opts.readOnly, deferrable: !!opts.deferrable })), this);
      this.tx = tx;
    }
    return fn ? tx.run(fn) : tx;
  }

  /** `fn(conn)` on one server session (session settings and temp tables last for the block,
   *  and not beyond it): commits when `fn` returns, rolls back when it throws. `conn` has the
   *  statement methods and `commit()` / `rollback()`, which end the current transaction and
   *  begin the next on the same session. Inside an open transaction of this client, runs in it. */
  connection(fn) {
    if (this.tx !== null) return this.tx.run(fn);
    const tx = new Transaction(call(() => this.pool.begin(pinnedOptions)));
    const conn = Object.create(tx);
    conn.commit = () => call(() => tx.handle.commitAndChain());
    conn.rollback = () => call(() => tx.handle.rollbackAndChain());
    let result;
    try {
      result = fn(conn);
    } catch (e) {
      if (!tx.done) tx.rollback();
      throw e;
    }
    if (!tx.done) tx.commit();
    return result;
  }

  /** Tables of `schema` (all, or those named) with columns and primary keys. */
  reflect(schema = 'public', tables = []) {
    return call(() => this.pool.reflect(schema, tables)).map((t) => ({
      schema: t.schema,
      name: t.name,
      primary_key: t.primaryKey,
      columns: t.columns.map((c) => ({ name: c.name, type: c.typeName, nullable: c.nullable, default: c.default ?? null })),
    }));
  }

  close() {
    if (clients.get(this.profile) === this) clients.delete(this.profile);
    if (this.tx !== null) { const tx = this.tx; this.tx = null; tx[Symbol.dispose](); }
    dispose(this.pool);
  }

  [Symbol.dispose]() { this.close(); }
}

// One client per profile, as the Python package's registry kept one: `client(p)` inside a
// transaction block of `client(p)` is the same client, so its statements join the block.
const clients = new Map();

/** The client of connector profile `profile` (undefined = the one named like the run
 *  profile); the same object until it is closed. */
export function client(profile) {
  const key = profile ?? undefined;
  let made = clients.get(key);
  if (made === undefined) {
    made = new Client(call(wit.open, key), key);
    clients.set(key, made);
  }
  return made;
}
