/**
 * `cano-rx/sqlite`: the embedded checkpoint store, one SQLite file through `better-sqlite3@12` (an
 * optional peer dependency: `npm install better-sqlite3@12`). A separate entry because it needs Node
 * (`node:fs`, `node:path` and a native driver); the main entry, `cano-rx`, runs in browsers too.
 *
 * @example
 * import { task, workflow } from 'cano-rx'
 * import { sqliteCheckpoints } from 'cano-rx/sqlite'
 * const flow = workflow<'Charge' | 'Done'>()({
 *   checkpoints: sqliteCheckpoints('.cano/checkpoints.db'),
 *   exits: ['Done'],
 *   states: { Charge: task(async () => 'Done' as const) },
 * })
 * @since 0.2.0
 */
export { sqliteCheckpoints, type SqliteCheckpointsOptions } from './stores/sqliteCheckpoints.js'
