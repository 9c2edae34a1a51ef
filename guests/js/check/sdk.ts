// Compiles only if the SDK declarations (aw/index.d.ts) describe the API the examples use.
import { postgres, adls2, config, task, flow, gather, ConnectorError } from 'aw';
const double = task('double', (n: number) => n * 2, { retries: 2 });
flow((input: { n: number }) => {
  const db = postgres.client();
  const rows = db.query('select $1::int4 as n', [input.n]);
  const lake = adls2.client();
  lake.uploadBytes('c', 'p', 'x', { contentType: 'text/plain' });
  try { db.execute('x'); } catch (e) { if (e instanceof ConnectorError) void [e.kind, e.code]; }
  return { rows, doubled: gather([double(1), double(2)]), table: config.get('table', 'fallback') };
});
