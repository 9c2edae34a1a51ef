// Connector errors as exception classes, named like the Python SDK's (and the
// `auto_workflow` package's): kind, code (SQLSTATE / Azure code), message, retryable.

/** A classified failure of a host call or of a task. */
export class ConnectorError extends Error {
  constructor(message, { code, retryable, kind } = {}) {
    super(message);
    this.name = new.target.name;
    this.kind = kind ?? new.target.kind ?? 'permanent';
    this.code = code;
    this.retryable = retryable ?? (this.kind === 'transient' || this.kind === 'timeout');
  }

  /** The connection broke while a commit was in flight (SQLSTATE 08007): the server may have
   *  committed or not. Retry only work that is idempotent (README, Retries and idempotency). */
  get outcomeUnknown() { return this.code === '08007'; }
}
ConnectorError.kind = 'permanent';

const define = (name, kind) => {
  const cls = { [name]: class extends ConnectorError {} }[name];
  cls.kind = kind;
  return cls;
};
export const ConfigError = define('ConfigError', 'config');
export const DeniedError = define('DeniedError', 'denied');
export const AuthError = define('AuthError', 'auth');
export const NotFoundError = define('NotFoundError', 'not-found');
export const ConflictError = define('ConflictError', 'conflict');
export const TimeoutError = define('TimeoutError', 'timeout');
export const TransientError = define('TransientError', 'transient');
export const PermanentError = define('PermanentError', 'permanent');
export const InvalidInputError = define('InvalidInputError', 'invalid-input');
export const LimitError = define('LimitError', 'limit');

const BY_KIND = Object.fromEntries([ConfigError, DeniedError, AuthError, NotFoundError, ConflictError,
  TimeoutError, TransientError, PermanentError, InvalidInputError, LimitError].map((c) => [c.kind, c]));

/** The exception for a WIT `connector-error` record. */
export function fromWit(error) {
  const cls = BY_KIND[error.kind] ?? PermanentError;
  return new cls(error.message, { code: error.code, retryable: error.retryable });
}

/** True for Error objects, also those the engine raises from another realm. */
export const isError = (e) => e instanceof Error || (e !== null && typeof e === 'object' && typeof e.message === 'string' && typeof e.name === 'string');

/** The WIT `connector-error` record for anything a guest threw. */
export function toWit(error) {
  if (error instanceof ConnectorError) {
    return { kind: error.kind, message: error.message, code: error.code ?? undefined, retryable: !!error.retryable };
  }
  const message = isError(error) ? `${error.name}: ${error.message}` : `uncaught: ${String(error)}`;
  return { kind: 'permanent', message, code: undefined, retryable: false };
}

/** Calls a host function, turning its WIT error into the matching exception. */
export function call(fn, ...args) {
  try {
    return fn(...args);
  } catch (e) {
    if (e && typeof e === 'object' && 'payload' in e && e.payload && typeof e.payload.kind === 'string') {
      throw fromWit(e.payload);
    }
    throw e;
  }
}

/** Drops a WIT resource handle now instead of waiting for the garbage collector. */
export function dispose(resource) {
  resource[Symbol.dispose]?.();
}

/** Yields `pull()`'s results (WIT errors thrown) until it returns undefined, then disposes
 *  `resource`, also when the consumer stops early. */
export function* drain(resource, pull) {
  try {
    for (;;) {
      const item = call(pull);
      if (item === undefined) return;
      yield item;
    }
  } finally {
    dispose(resource);
  }
}
