// pg-demo in JavaScript: the `auto_workflow` package's end-to-end example (set up a table,
// insert 0..4, sum them: 10) as tasks of a flow, with the same output as the Rust example.
import { config, flow, log, postgres, task } from 'aw';

const setup = task('setup', (table) => {
  const db = postgres.client();
  db.execute(`DROP TABLE IF EXISTS ${table}`);
  db.execute(`CREATE TABLE ${table} (id serial PRIMARY KEY, value int4 NOT NULL)`);
  return table;
});

const insert = task('insert', (table, values) => postgres.client()
  .executeMany(`INSERT INTO ${table} (value) VALUES ($1)`, values.map((v) => [v])));

const total = task('total', (table) => postgres.client().queryValue(`SELECT sum(value)::int8 FROM ${table}`));

flow(() => {
  const table = config.get('table');
  const ready = setup(table); // passing a future waits for it
  const inserted = insert(ready, [0, 1, 2, 3, 4]).result();
  const sum = total(table).result();
  log.info(`inserted ${inserted} rows into ${table}; sum = ${sum}`);
  return { inserted, sum };
});
