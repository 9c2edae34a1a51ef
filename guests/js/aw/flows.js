// Tasks and the flow over the host's `tasks` interface. Calling a task spawns it: the host
// runs it in a fresh sandboxed instance of this component, concurrently, under its retry /
// timeout / cache options, and the call returns a TaskFuture at once; `.result()` joins it.
// A future passed as an argument to another task does not block the spawn: the host starts
// that task once the future's task has succeeded, with its result in place (`spawn-after`).
// A future returned by the flow is joined.
//
//   export const extract = task('extract', (day) => ..., { retries: 3, timeout: 30 });
//   flow((input) => input.days.map((d) => load(extract(d))));
import * as wit from 'auto-workflow:connectors/tasks@0.1.0';
import { call, dispose, fromWit, ConfigError, InvalidInputError } from './errors.js';
import { dumps } from './json.js';

const TASKS = new Map();
let FLOW = null;

const ms = (seconds) => (seconds == null ? undefined : BigInt(Math.round(seconds * 1000)));

/** WIT task options; times in seconds. */
function taskOptions(o = {}) {
  const known = ['retries', 'backoff', 'backoffFactor', 'backoffMax', 'jitter', 'timeout', 'cacheTtl', 'cacheKey', 'priority', 'description'];
  for (const key of Object.keys(o)) {
    if (!known.includes(key)) throw new InvalidInputError(`unknown task option '${key}' (known: ${known.join(', ')})`);
  }
  const anyBackoff = [o.backoff, o.backoffFactor, o.backoffMax, o.jitter].some((v) => v != null);
  return {
    retries: o.retries ?? undefined,
    backoff: anyBackoff ? {
      baseMs: Math.round((o.backoff ?? 0.2) * 1000),
      factor: o.backoffFactor ?? 2,
      maxMs: Math.round((o.backoffMax ?? 10) * 1000),
      jitter: o.jitter ?? true,
      addedJitterMs: 0,
    } : undefined,
    timeoutMs: ms(o.timeout),
    cacheTtlMs: ms(o.cacheTtl),
    cacheKey: o.cacheKey ?? undefined,
    priority: o.priority ?? undefined,
  };
}

function taskError(name, error) {
  const e = fromWit(error.error);
  Object.assign(e, { task: name, attempts: error.attempts, limit: error.limit ?? null, cancelled: error.cancelled });
  return e;
}

/** The key of the object the host puts where a failed dependency's result would be, under
 *  the `continue` failure policy: `{"$aw-error": {task, kind, message, ...}}`. */
const FAILED = '$aw-error';

/** JSON.parse reviver: a failed dependency's error (`continue`) becomes the error that joining
 *  it would have thrown. */
function upstreamFailures(_key, value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  const f = value[FAILED];
  if (keys.length !== 1 || keys[0] !== FAILED || f === null || typeof f !== 'object') return value;
  const error = { kind: f.kind, message: String(f.message ?? ''), code: f.code ?? undefined, retryable: false };
  return taskError(f.task, { error, attempts: f.attempts ?? 0, limit: f.limit, cancelled: !!f.cancelled });
}

/** A spawned task. */
export class TaskFuture {
  constructor(name, handle) { this.name = name; this.handle = handle; this.outcome = null; }

  settle(outcome) {
    if (this.outcome === null) {
      this.outcome = outcome;
      dispose(this.handle);
    }
  }

  /** Waits for the task; its value, or throws its error (with task, attempts, limit, cancelled). */
  result() {
    if (this.outcome === null) {
      try {
        this.settle({ ok: true, value: JSON.parse(this.handle.join()) });
      } catch (e) {
        if (!(e && e.payload && e.payload.error)) throw e;
        this.settle({ ok: false, value: taskError(this.name, e.payload) });
      }
    }
    if (this.outcome.ok) return this.outcome.value;
    throw this.outcome.value;
  }

  /** Cancels the task if it has not finished; `result()` then throws. */
  cancel() { if (this.outcome === null) this.handle.cancel(); }
  toJSON() { return this.result(); }
}

/** The key of the placeholder the host replaces with a dependency's result. */
const DEP = '$aw-dep';

/** `value` with every unsettled TaskFuture inside it (arrays, plain objects) replaced by a
 *  placeholder for its result, the futures collected in `after` (a Map from each to its index,
 *  in the order first met); settled ones by their result. */
function placeholders(value, after) {
  if (value instanceof TaskFuture) {
    if (value.outcome !== null) return value.result();
    if (!after.has(value)) after.set(value, after.size);
    return { [DEP]: after.get(value) };
  }
  if (Array.isArray(value)) return value.map((v) => placeholders(v, after));
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, placeholders(v, after)]));
  }
  return value;
}

/** Spawns task `name`: behind the futures among its arguments, if any, without waiting. */
function spawnTask(name, args, witOptions) {
  const after = new Map();
  const payload = dumps({ args: placeholders(args, after), kwargs: {} });
  const handle = after.size
    ? call(wit.spawnAfter, name, payload, [...after.keys()].map((f) => f.handle), witOptions)
    : call(wit.spawn, name, payload, witOptions);
  return new TaskFuture(name, handle);
}

/** `value` with every TaskFuture inside it (arrays, plain objects) replaced by its result. */
export function resolve(value) {
  if (value instanceof TaskFuture) return value.result();
  if (Array.isArray(value)) return value.map(resolve);
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v)]));
  }
  return value;
}

/** Waits for every future in one host call; results in order. Throws the first failure that
 *  is not a cancellation (a fail-fast's cause, not a sibling it stopped), else the first
 *  cancellation, unless `{ settled: true }`, which returns `{ ok, value | error }` records. */
export function gather(futures, { settled = false } = {}) {
  const pending = futures.filter((f) => f instanceof TaskFuture && f.outcome === null);
  if (pending.length) {
    wit.joinAll(pending.map((f) => f.handle)).forEach((r, i) => {
      pending[i].settle(r.tag === 'ok'
        ? { ok: true, value: JSON.parse(r.val) }
        : { ok: false, value: taskError(pending[i].name, r.val) });
    });
  }
  if (!settled) {
    const failed = futures.filter((f) => f instanceof TaskFuture && !f.outcome.ok).map((f) => f.outcome.value);
    if (failed.length) throw failed.find((e) => !e.cancelled) ?? failed[0];
  }
  return futures.map((f) => {
    if (!(f instanceof TaskFuture)) return settled ? { ok: true, value: f } : f;
    if (!settled) return f.result();
    return f.outcome.ok ? { ok: true, value: f.outcome.value } : { ok: false, error: f.outcome.value };
  });
}

/** The task attempt this instance runs, `{ task, taskId, attempt, taskKey, attemptKey }`, or
 *  undefined in the flow itself. `taskKey` is the same for every attempt of the task and every
 *  redelivery to another worker: key a committed side effect on it and it cannot happen twice. */
export function attemptInfo() {
  return wit.attemptInfo();
}

/** Registers a task: `task(name, fn, options)` or `task(namedFunction, options)`. Options
 *  (defaults for every spawn): retries, backoff (first delay, s), backoffFactor, backoffMax,
 *  jitter, timeout (s per attempt), cacheTtl (s), cacheKey, priority, description.
 *  Returns the spawning function; `.options({...})` gives one with other options and
 *  `.fn` the plain function. */
export function task(nameOrFn, fnOrOptions, maybeOptions) {
  const [name, fn, options] = typeof nameOrFn === 'string'
    ? [nameOrFn, fnOrOptions, maybeOptions ?? {}]
    : [nameOrFn.name, nameOrFn, fnOrOptions ?? {}];
  if (!name) throw new InvalidInputError('a task needs a name: task("name", fn) or task(function name() {...})');
  if (TASKS.has(name)) throw new InvalidInputError(`two tasks are called '${name}'`);
  taskOptions(options); // a wrong option name fails at build time
  const spawnWith = (witOptions) => (...args) => spawnTask(name, args, witOptions);
  const spawn = spawnWith(undefined);
  spawn.options = (overrides) => spawnWith(taskOptions({ ...options, ...overrides }));
  spawn.fn = fn;
  spawn.taskName = name;
  TASKS.set(name, { fn, options });
  return spawn;
}

/** Registers the component's flow: the function aw-run runs, called with the parsed JSON input. */
export function flow(fn) {
  if (FLOW) throw new InvalidInputError('a component has one flow');
  FLOW = fn;
  return fn;
}

export function runFlow(input) {
  if (!FLOW) throw new ConfigError('this component registers no flow: pass the function aw-run should run to flow()');
  return dumps(resolve(FLOW(JSON.parse(input || 'null'))));
}

export function runTask(name, input) {
  const t = TASKS.get(name);
  if (!t) throw new InvalidInputError(`this component has no task '${name}' (it has: ${[...TASKS.keys()].sort().join(', ')})`);
  const payload = JSON.parse(input || '{}', upstreamFailures);
  const args = payload && Array.isArray(payload.args) ? payload.args : [payload];
  return dumps(resolve(t.fn(...args)));
}

export function describeTasks() {
  return [...TASKS.entries()].map(([name, t]) => {
    const { description, ...rest } = t.options;
    return { name, description: description ?? undefined, options: taskOptions(rest) };
  });
}
