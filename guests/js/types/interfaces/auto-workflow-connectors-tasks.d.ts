/// <reference path="./auto-workflow-connectors-types.d.ts" />
declare module 'auto-workflow:connectors/tasks@0.1.0' {
  /**
   * Queues task `name` with JSON `input`. Fails (`limit`) beyond the run's `max_total_tasks`
   * or spawn depth, and (`invalid-input`) for a name `describe` does not list.
   */
  export function spawn(name: string, input: string, options: TaskOptions | undefined): TaskHandle;
  /**
   * Queues task `name` to start once every task in `after` has succeeded, without the
   * caller waiting: a future passed as an argument. In `input`, each JSON object of the one
   * key `$aw-dep` (`{"$aw-dep": 0}`) stands for the result of `after[0]` and is replaced by
   * it before the task starts (the key is reserved in such inputs). If one of them fails for
   * good, the task does not run: its error (`permanent`) names the failed task; except
   * under the `continue` failure policy, where it runs with `{"$aw-error": {"task", "id",
   * "kind", "message", "code", "attempts", "limit", "cancelled"}}` in place of that result. Fails
   * (`invalid-input`) for an index past `after` or an input that is not JSON, and like
   * `spawn` otherwise.
   */
  export function spawnAfter(name: string, input: string, after: Array<TaskHandle>, options: TaskOptions | undefined): TaskHandle;
  /**
   * Waits for every handle; results in the same order.
   */
  export function joinAll(handles: Array<TaskHandle>): Array<Result<string, TaskError>>;
  /**
   * The run this instance belongs to.
   */
  export function runInfo(): RunContext;
  /**
   * The task attempt this instance runs; none for the flow's own instance.
   */
  export function attemptInfo(): AttemptContext | undefined;
  export type ConnectorError = import('auto-workflow:connectors/types@0.1.0').ConnectorError;
  /**
   * Delay before attempt n+1: base * factor^(n-1), capped at max, optionally jittered.
   */
  export interface Backoff {
    baseMs: number,
    factor: number,
    maxMs: number,
    /**
     * Each delay is drawn between half of it and all of it.
     */
    jitter: boolean,
    /**
     * Then a delay drawn between 0 and this is added (the Python package's
     * `retry_jitter`); 0 adds none.
     */
    addedJitterMs: number,
  }
  /**
   * The fan-out a task was spawned in: its tasks are one group of the run's graph.
   */
  export interface FanOut {
    /**
     * The group's id, the same for every task of the fan-out (`fanout:1`); at most 200
     * bytes.
     */
    id: string,
    /**
     * At most this many of the group's tasks run at once (none: the run's limit only).
     */
    maxConcurrency?: number,
  }
  /**
   * How a task runs; every field is optional (none = the default, or the task's default
   * from `describe`).
   */
  export interface TaskOptions {
    /**
     * Further attempts after the first (default 0).
     */
    retries?: number,
    /**
     * Default: 200 ms base, factor 2, 10 s max, jitter.
     */
    backoff?: Backoff,
    /**
     * Wall-clock limit of one attempt (default: the run profile's timeout).
     */
    timeoutMs?: bigint,
    /**
     * Keep a successful result this long for identical spawns (default: no caching).
     */
    cacheTtlMs?: bigint,
    /**
     * Default: a hash of the component, the task name and the input.
     */
    cacheKey?: string,
    /**
     * Among tasks waiting for a slot, higher runs first (default 0).
     */
    priority?: number,
    /**
     * The fan-out the task belongs to (none: it belongs to none).
     */
    fanOut?: FanOut,
  }
  /**
   * Why a task failed for good.
   */
  export interface TaskError {
    /**
     * The last attempt's error; its kind is the connector's when a connector caused it.
     */
    error: ConnectorError,
    attempts: number,
    /**
     * `timeout`, `memory` or `fuel` when a limit ended the last attempt.
     */
    limit?: string,
    /**
     * Cancelled by `cancel`, by the fail-fast policy or by Ctrl-C.
     */
    cancelled: boolean,
  }
  /**
   * The run an instance belongs to: the same in every instance of one run.
   */
  export interface RunContext {
    /**
     * A UUID made for the run.
     */
    runId: string,
    /**
     * The flow `aw-run` runs: `--flow`, or the component's only flow (none for a
     * component whose `flows` lists none).
     */
    flow?: string,
    /**
     * `--params`: a JSON object (`{}` when none were given).
     */
    params: string,
    /**
     * When the run started, in milliseconds since the Unix epoch.
     */
    startedMs: bigint,
    /**
     * The run's failure policy: `fail_fast`, `continue` or `aggregate`.
     */
    failurePolicy: string,
  }
  /**
   * A flow a component defines, as its `flows` export lists it.
   */
  export interface FlowSpec {
    name: string,
    description?: string,
  }
  /**
   * A task as `describe` lists it.
   */
  export interface TaskSpec {
    name: string,
    description?: string,
    options: TaskOptions,
  }
  /**
   * The task attempt an instance runs.
   */
  export interface AttemptContext {
    /**
     * The task's name.
     */
    task: string,
    /**
     * The task's id in the run: its spawn sequence number.
     */
    taskId: bigint,
    /**
     * The attempt's number, from 1 (a retry is the next one).
     */
    attempt: number,
    /**
     * `<run-id>.<task-id>`: the same for every attempt of the task and every redelivery
     * of an attempt to another machine. Key a committed side effect on it (a unique
     * column, an idempotent upsert, a blob name) and a retry or a redelivery cannot do
     * it twice.
     */
    taskKey: string,
    /**
     * `<run-id>.<task-id>.<attempt>`: the same on every delivery of this one attempt.
     */
    attemptKey: string,
  }
  export type Result<T, E> = { tag: 'ok', val: T } | { tag: 'err', val: E };
  
  export class TaskHandle implements Disposable {
    /**
     * This type does not have a public constructor.
     */
    private constructor();
    /**
    * Waits for the task's result (the JSON text its `run-task` returned).
    */
    join(): string;
    /**
    * Cancels the task if it has not finished (a running attempt is interrupted and its
    * open transactions roll back); `join` then returns a cancelled error.
    */
    cancel(): void;
    name(): string;
    [Symbol.dispose](): void;
  }
}
