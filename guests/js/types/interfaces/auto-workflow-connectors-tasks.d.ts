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
   * good, the task does not run: its error (`permanent`) names the failed task. Fails
   * (`invalid-input`) for an index past `after` or an input that is not JSON, and like
   * `spawn` otherwise.
   */
  export function spawnAfter(name: string, input: string, after: Array<TaskHandle>, options: TaskOptions | undefined): TaskHandle;
  /**
   * Waits for every handle; results in the same order.
   */
  export function joinAll(handles: Array<TaskHandle>): Array<Result<string, TaskError>>;
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
   * A task as `describe` lists it.
   */
  export interface TaskSpec {
    name: string,
    description?: string,
    options: TaskOptions,
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
