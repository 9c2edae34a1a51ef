// The seed document's transaction patterns in JavaScript, for tests/seed_compat.rs (issue
// 15): the same modes as the Python guest beside it, the same results.
import { flow, postgres } from 'aw';

const me = 'SELECT txid_current() AS txid, xact_start::text AS started FROM pg_stat_activity WHERE pid = pg_backend_pid()';

const modes = {
  'tx-commit': (table) => {
    const db = postgres.client('default');
    let inside;
    db.transaction({ isolation: 'serializable' }, () => {
      db.execute(`INSERT INTO ${table}(v) VALUES (1)`);
      db.executeMany(`INSERT INTO ${table}(v) VALUES ($1)`, [[2], [3]]);
      postgres.client('default').execute(`INSERT INTO ${table}(v) VALUES ($1)`, [4]);
      inside = db.queryValue(`SELECT count(*) FROM ${table}`);
    });
    db.close();
    return { inside };
  },
  'tx-raise': (table) => {
    const db = postgres.client('default');
    try {
      db.transaction(() => {
        db.execute(`INSERT INTO ${table}(v) VALUES (1)`);
        db.copyFrom(table, '2\n3\n', { columns: ['v'], format: 'text' });
        throw new Error('undo the block');
      });
    } catch (e) {
      if (e.message !== 'undo the block') throw e;
    }
    return { after: db.queryValue(`SELECT count(*) FROM ${table}`) };
  },
  'tx-nested': (table) => {
    const db = postgres.client('default');
    let outer; let inner; let afterInner;
    try {
      db.transaction({ isolation: 'repeatable read' }, () => {
        outer = db.queryOne(me);
        db.transaction(() => {
          db.execute(`INSERT INTO ${table}(v) VALUES (1)`);
          inner = db.queryOne(me);
        });
        afterInner = db.queryOne(me);
        throw new Error('the outer block decides');
      });
    } catch (e) {
      if (e.message !== 'the outer block decides') throw e;
    }
    const same = JSON.stringify(outer) === JSON.stringify(inner) && JSON.stringify(inner) === JSON.stringify(afterInner);
    return { same_transaction: same, after: db.queryValue(`SELECT count(*) FROM ${table}`) };
  },
  connection: (table) => {
    const db = postgres.client('default');
    const inside = db.connection((conn) => {
      conn.execute('SET search_path TO pg_temp, public');
      conn.execute('CREATE TEMP TABLE scratch (v int)');
      conn.execute('INSERT INTO scratch VALUES (1), (2)');
      conn.commit();
      conn.execute(`INSERT INTO ${table}(v) SELECT v FROM scratch`);
      return conn.queryOne("SELECT current_setting('search_path') AS path, (SELECT count(*) FROM scratch) AS n");
    });
    return {
      inside: [inside.path, inside.n],
      after_path: db.queryValue("SELECT current_setting('search_path')"),
      after_temp: db.queryValue("SELECT to_regclass('pg_temp.scratch')::text"),
      copied: db.queryValue(`SELECT count(*) FROM ${table}`),
    };
  },
  void: () => ({ slept: postgres.client('default').queryValue('select pg_sleep(0.01)') }),
};

flow(({ mode, table }) => modes[mode](table));
