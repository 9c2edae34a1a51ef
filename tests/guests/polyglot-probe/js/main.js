// A JavaScript probe for tests/polyglot.rs: limits, exceptions, secrets and tasks, chosen by
// the input's `mode`.
import {
  ConflictError, ConnectorError, NotFoundError, PermanentError, TimeoutError, TransientError, adls2, config, dumps, flow,
  attemptInfo, gather, log, postgres, secrets, task,
} from 'aw';

const flaky = task('flaky', (n) => {
  throw new TransientError(`attempt failed for ${n}`, { code: 'X-FLAKY' });
}, { retries: 2, backoff: 0.01, jitter: false });

// Its first attempt fails; the second returns the attempt's identity and idempotency keys.
const keys = task('keys', () => {
  const info = attemptInfo();
  if (info.attempt === 1) throw new TransientError('the first attempt fails on purpose');
  return {
    task: info.task, task_id: Number(info.taskId), attempt: info.attempt, task_key: info.taskKey, attempt_key: info.attemptKey,
  };
}, { retries: 1, backoff: 0.01, jitter: false });

const double = task('double', (n) => n * 2, { description: 'Doubles a number.' });

const total = task('total', (values) => values.reduce((a, b) => a + b, 0));

// Holds a pooled connection for `secs` (a pool of one makes a sibling time out).
const hold = task('hold', (secs) => {
  postgres.client().queryValue('SELECT pg_sleep($1)', [secs]);
  return secs;
});

// Sleeps `secs` in Postgres, then returns a few numbers made from `i`.
const extract = task('extract', (i, secs) => {
  postgres.client().queryValue('SELECT pg_sleep($1)', [secs]);
  return [i, i * 10, i * 100];
});

const load = task('load', (rows) => 1000 + rows.reduce((a, b) => a + b, 0));

const boom = task('boom', (n) => {
  throw new PermanentError(`bad ${n}`);
});

// What it was handed for its dependency: under `continue`, the failure as an error.
const inspectDep = task('inspect_dep', (value) => (value instanceof ConnectorError
  ? { failed_task: value.task, kind: value.kind, message: value.message, attempts: value.attempts, cancelled: value.cancelled }
  : { value }));

const spin = task('spin', () => {
  for (;;) { /* until cancelled */ }
});

// Task options, cancellation, gather with a failure, config defaults (the Python probe matches).
function sdkFlows() {
  const withOptions = double.options({ retries: 1, timeout: 30, priority: 5 })(5).result();
  const running = spin();
  running.cancel();
  let cancelled = null;
  try {
    running.result();
  } catch (e) {
    if (!(e instanceof ConnectorError)) throw e;
    cancelled = { cancelled: e.cancelled, task: e.task };
  }
  // Last: under the default fail-fast policy, flaky's failure cancels the rest of the run.
  const gathered = gather([double(1), flaky(2)], { settled: true });
  return {
    outcome_unknown: [new ConnectorError('lost', { code: '08007' }).outcomeUnknown, new TransientError('x').outcomeUnknown],
    gathered: gathered.map((g) => (g.ok ? g.value : g.error.kind)),
    with_options: withOptions,
    cancelled,
    config_default: config.get('missing', 'fallback'),
    config_all: config.all(),
  };
}

// `rows` round trips of `SELECT $1::int8` (runtime/benches/polyglot.rs).
function benchSelect(rows) {
  const db = postgres.client();
  let sum = 0;
  for (let i = 0; i < rows; i += 1) sum += db.queryValue('SELECT $1::int8', [i]);
  return { sum };
}

// A `rows`-row query-stream with a 100-character text column (runtime/benches/polyglot.rs).
function benchStream(rows) {
  const db = postgres.client();
  let count = 0;
  let sum = 0;
  const sql = "SELECT g::int8 AS n, repeat('x', 100) AS pad FROM generate_series(1, $1::int8) g";
  for (const row of db.queryIter(sql, [rows], { size: 5000 })) {
    count += 1;
    sum += row.n;
  }
  return { count, sum };
}

const kindOf = (fn) => {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConnectorError) return e.kind;
    throw e;
  }
  return null;
};

// SDK paths the conformance suite does not take; the Python probe returns the same.
function sdkExtras(table, container) {
  const out = {};
  const db = postgres.client();
  const text = (bytes) => new TextDecoder().decode(bytes);
  db.execute(`DROP TABLE IF EXISTS ${table}`);
  db.execute(`CREATE TABLE ${table} (id int4, name text)`);
  out.copy_from_file = db.copyFrom(table, '1\ta\n2\tb\n3\tc\n', { format: 'text' });
  out.copy_from_chunks = db.copyFrom(table, [new TextEncoder().encode('4,d\n'), '5,e\n'], { columns: ['id', 'name'] });
  out.copy_to_chunks = [...db.copyToIter(`SELECT id FROM ${table} ORDER BY id`)].map(text).join('');
  out.executemany_empty = db.executeMany(`INSERT INTO ${table} VALUES ($1, $2)`, []);
  out.query_one_none = db.queryOne(`SELECT * FROM ${table} WHERE id = $1`, [99]);
  try {
    db.query('SELECT pg_sleep(5)', [], { timeout: 0.2 });
    out.timeout = null;
  } catch (e) {
    if (!(e instanceof TimeoutError)) throw e;
    out.timeout = { kind: e.kind, code: e.code };
  }
  out.tx_settings = db.transaction({ isolation: 'REPEATABLE READ', readOnly: true, deferrable: true }, (tx) => tx.queryOne(
    "SELECT current_setting('transaction_isolation') AS iso, current_setting('transaction_read_only') AS ro",
  ));
  db.execute(`DROP TABLE ${table}`);
  // A stream gives what a buffered query gives, for every kind of cell.
  const every = "SELECT g AS i, g::int8 * 4294967296 * 4096 AS big, g % 2 = 0 AS b, g / 4.0 AS num, g::float4 / 8 AS f, "
    + "'t' || g AS t, NULL::text AS n, decode('00ff', 'hex') AS by, jsonb_build_object('g', g) AS j, "
    + "ARRAY[g, NULL] AS arr, ARRAY['{\"a\": 1}'::jsonb] AS jarr, ARRAY[decode('01', 'hex')] AS barr "
    + 'FROM generate_series(1, 3) g';
  const streamed = [...db.queryIter(every, [], { size: 2 })];
  const bigArrays = "SELECT ARRAY[g::int8 * 9007199254740993] AS bigarr FROM generate_series(1, 3) g";
  out.stream_matches_query = streamed.length === 3 && dumps(streamed) === dumps(db.query(every))
    && dumps([...db.queryIter(bigArrays, [], { size: 2 })]) === dumps(db.query(bigArrays));

  const lake = adls2.client();
  lake.createContainer(container);
  out.listed = lake.listContainers(container).map((c) => c.name);
  out.streamed = lake.uploadStream(container, 's/data.txt', [new TextEncoder().encode('abc'), 'def', 'ghi'], { contentType: 'text/plain' }).size;
  out.ranged_stream = [...lake.downloadStream(container, 's/data.txt', { offset: 2, length: 5, chunkSize: 2 })].map(text).join('');
  try {
    lake.uploadStream(container, 's/aborted.txt', (function* chunks() {
      yield 'never visible';
      throw new RangeError('abort the upload');
    }()));
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
  }
  out.aborted_exists = lake.exists(container, 's/aborted.txt');
  lake.uploadBytes(container, 's/other.txt', 'x');
  out.rename_conflict = kindOf(() => lake.rename(container, 's/other.txt', 's/data.txt'));
  lake.rename(container, 's/other.txt', 's/data.txt', { overwrite: true });
  out.after_rename = text(lake.downloadBytes(container, 's/data.txt'));
  out.missing = kindOf(() => lake.properties(container, 's/none.txt'));
  lake.deleteContainer(container);
  return out;
}

flow(({ mode, bytes = 0, rows = 0, table, container }) => {
  switch (mode) {
    case 'echo':
      return { mode };
    case 'loop':
      for (;;) { /* spin */ }
    case 'alloc':
      return { allocated: new Uint8Array(bytes).length };
    case 'secret-leak': {
      const token = secrets.get('api-token').reveal();
      log.info(`the secret is ${token}`);
      throw new TypeError(`failing with the secret ${token} in the message`);
    }
    case 'not-found':
      throw new NotFoundError('no such partition', { code: 'P-404' });
    case 'missing-secret':
      return secrets.get('not-granted').reveal();
    case 'sdk-flows':
      return sdkFlows();
    case 'sdk-extras':
      return sdkExtras(table, container);
    case 'bench-select':
      return benchSelect(rows);
    case 'bench-stream':
      return benchStream(rows);
    case 'fail-fast-pool':
      // One holder gets the only connection, the other times out waiting: gather throws that
      // timeout, not the cancellation of the holder it caused.
      return gather([hold(5), hold(5)]);
    case 'continue-dep':
      return inspectDep(boom(3));
    case 'extract-load':
      // Each load is queued behind its extract (a future as an argument): the extracts run at once.
      return gather([0, 1, 2, 3, 4, 5].map((i) => load(extract(i, 0.5))));
    case 'keys':
      return { flow: attemptInfo() ?? null, task: keys().result() };
    case 'tasks': {
      const doubled = gather([1, 2, 3, 4, 5].map((n) => double(n)));
      const summed = total([double(10), double(11)]).result(); // queued behind the doubles
      let failed = null;
      try {
        flaky(7).result();
      } catch (e) {
        if (!(e instanceof TransientError)) throw e;
        failed = { kind: e.kind, code: e.code, attempts: e.attempts, task: e.task };
      }
      return { doubled, summed, flaky: failed };
    }
    default:
      throw new RangeError(`unknown mode ${mode}`);
  }
});
