import { pgAvailable } from './helpers/pg.js';

/** Says once, loudly, whether the PostgreSQL half of the suite runs. */
export default async function setup() {
  const ok = await pgAvailable();
  const required = process.env.TRIPLINE_TEST_PG === 'required';
  if (!ok && required)
    throw new Error('TRIPLINE_TEST_PG=required but PostgreSQL is not reachable at 127.0.0.1:5432');
  if (!ok) {
    process.stdout.write(
      '\n*** PostgreSQL not reachable at 127.0.0.1:5432: PostgreSQL tests are SKIPPED. ' +
        'Start it (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) to run them. ***\n\n',
    );
  }
}
