// A JavaScript probe for tests/polyglot.rs: limits, exceptions, secrets and tasks, chosen by
// the input's `mode`.
import { NotFoundError, TransientError, flow, gather, log, postgres, secrets, task } from 'aw';

const flaky = task('flaky', (n) => {
  throw new TransientError(`attempt failed for ${n}`, { code: 'X-FLAKY' });
}, { retries: 2, backoff: 0.01, jitter: false });

const double = task('double', (n) => n * 2, { description: 'Doubles a number.' });

const total = task('total', (values) => values.reduce((a, b) => a + b, 0));

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

flow(({ mode, bytes = 0, rows = 0 }) => {
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
    case 'bench-select':
      return benchSelect(rows);
    case 'bench-stream':
      return benchStream(rows);
    case 'tasks': {
      const doubled = gather([1, 2, 3, 4, 5].map((n) => double(n)));
      const summed = total([double(10), double(11)]).result(); // futures inside arguments are joined
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
