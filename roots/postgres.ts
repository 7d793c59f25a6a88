/**
 * `cano-rx/postgres`: the distributed checkpoint store and run table on PostgreSQL through `pg` (an
 * optional peer dependency: `npm install pg`). A separate entry because it needs Node; the main entry,
 * `cano-rx`, runs in browsers too.
 *
 * @example
 * import { createRuntime } from 'cano-rx'
 * import { postgresCheckpoints } from 'cano-rx/postgres'
 * const store = postgresCheckpoints({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' })
 * const runtime = createRuntime({ store, workflows: {} })
 * @since 0.2.0
 */
export {
  postgresCheckpoints,
  type PostgresCheckpointsOptions,
  type PostgresPool,
} from './stores/postgresCheckpoints.js'
