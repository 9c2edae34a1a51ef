// auto-workflow's JavaScript guest SDK: tasks and flows in JavaScript, run by aw-run as
// sandboxed WebAssembly components, with the host's Postgres and ADLS Gen2 connectors.
//
//   import { postgres, adls2, config, secrets, log, task, flow } from 'aw';
//
// The guest's module is evaluated when the component is built (componentize-js snapshots
// it): keep connector calls inside functions, not at module level.
export * as postgres from './postgres.js';
export * as adls2 from './adls2.js';
export * as config from './config.js';
export * as secrets from './secrets.js';
export * as log from './log.js';
export { task, flow, gather, attemptInfo, TaskFuture } from './flows.js';
export { dumps } from './json.js';
export {
  ConnectorError, ConfigError, DeniedError, AuthError, NotFoundError, ConflictError, TimeoutError,
  TransientError, PermanentError, InvalidInputError, LimitError,
} from './errors.js';
