// Type declarations of the JavaScript guest SDK (`import ... from 'aw'`). The WIT-level
// declarations it builds on are generated into ../types by `scripts/build-guest.sh js-types`.
/// <reference path="../types/flow.d.ts" />

export type Json = null | boolean | number | bigint | string | Json[] | { [key: string]: Json };
export type ErrorKind = import('auto-workflow:connectors/types@0.1.0').ErrorKind;

/** A classified failure of a host call or of a task. */
export class ConnectorError extends Error {
  constructor(message: string, options?: { code?: string; retryable?: boolean; kind?: ErrorKind });
  kind: ErrorKind;
  code?: string;
  retryable: boolean;
  /** Set on errors thrown by `TaskFuture.result()`. */
  task?: string;
  attempts?: number;
  limit?: string | null;
  cancelled?: boolean;
}
export class ConfigError extends ConnectorError {}
export class DeniedError extends ConnectorError {}
export class AuthError extends ConnectorError {}
export class NotFoundError extends ConnectorError {}
export class ConflictError extends ConnectorError {}
export class TimeoutError extends ConnectorError {}
export class TransientError extends ConnectorError {}
export class PermanentError extends ConnectorError {}
export class InvalidInputError extends ConnectorError {}
export class LimitError extends ConnectorError {}

/** Compact JSON with sorted keys, as every SDK writes results. */
export function dumps(value: unknown): string;

export type Param = null | undefined | boolean | number | bigint | string | Uint8Array | ArrayBuffer | Date
  | { [key: string]: Json } | Array<null | boolean | number | bigint | string | Uint8Array | Date>;
export type Row = Record<string, unknown>;
export interface StatementOptions { /** Seconds. */ timeout?: number }
export interface CopyOptions {
  columns?: string[];
  format?: 'text' | 'csv' | 'binary';
  header?: boolean;
  delimiter?: string;
  null?: string;
  quote?: string;
}
export interface TransactionOptions {
  isolation?: 'read committed' | 'repeatable read' | 'serializable';
  readOnly?: boolean;
  deferrable?: boolean;
}

declare class PgStatements {
  query(sql: string, params?: Param[], options?: StatementOptions): Row[];
  queryOne(sql: string, params?: Param[], options?: StatementOptions): Row | null;
  queryValue(sql: string, params?: Param[], options?: StatementOptions): unknown;
  execute(sql: string, params?: Param[], options?: StatementOptions): number;
  executeMany(sql: string, paramLists: Param[][], options?: StatementOptions): number;
  queryIter(sql: string, params?: Param[], options?: { size?: number }): Generator<Row, void, undefined>;
  copyFrom(table: string, data: string | Uint8Array | Iterable<string | Uint8Array>, options?: CopyOptions): number;
  copyTo(source: string, options?: CopyOptions): Uint8Array;
  copyToIter(source: string, options?: CopyOptions): Generator<Uint8Array, void, undefined>;
}

export namespace postgres {
  class Transaction extends PgStatements {
    commit(): void;
    rollback(): void;
    savepoint<T>(name: string, fn?: (tx: Transaction) => T): T | undefined;
    rollbackTo(name: string): void;
    release(name: string): void;
  }
  /** One server session for a `connection()` block; commit / rollback chain to the next transaction on it. */
  class Connection extends PgStatements {
    commit(): void;
    rollback(): void;
  }
  class Client extends PgStatements {
    transaction(options?: TransactionOptions): Transaction;
    transaction<T>(options: TransactionOptions, fn: (tx: Transaction) => T): T;
    transaction<T>(fn: (tx: Transaction) => T): T;
    connection<T>(fn: (conn: Connection) => T): T;
    reflect(schema?: string, tables?: string[]): Array<{
      schema: string; name: string; primary_key: string[];
      columns: Array<{ name: string; type: string; nullable: boolean; default: string | null }>;
    }>;
    close(): void;
  }
  function client(profile?: string): Client;
  function toParam(value: Param, index: number): import('auto-workflow:connectors/postgres@0.1.0').Value;
  function fromValue(value: import('auto-workflow:connectors/postgres@0.1.0').Value): unknown;
}

export interface PathInfo {
  name: string;
  is_directory: boolean;
  size: number;
  last_modified: string | null;
  etag: string | null;
  content_type: string | null;
}
export interface UploadOptions { contentType?: string; metadata?: Record<string, string>; overwrite?: boolean }

export namespace adls2 {
  class Writer {
    write(data: string | Uint8Array): void;
    close(): PathInfo;
    abort(): void;
  }
  class Client {
    createContainer(name: string, existOk?: boolean): boolean;
    deleteContainer(name: string): void;
    listContainers(prefix?: string): Array<{ name: string; last_modified: string | null; etag: string | null }>;
    makeDirs(container: string, path: string, existOk?: boolean): void;
    uploadBytes(container: string, path: string, data: string | Uint8Array, options?: UploadOptions): PathInfo;
    openWriter(container: string, path: string, options?: UploadOptions): Writer;
    uploadStream(container: string, path: string, chunks: Iterable<string | Uint8Array>, options?: UploadOptions): PathInfo;
    downloadBytes(container: string, path: string, range?: { offset?: number; length?: number }): Uint8Array;
    downloadStream(container: string, path: string, options?: { offset?: number; length?: number; chunkSize?: number }): Generator<Uint8Array, void, undefined>;
    listPaths(container: string, prefix?: string, options?: { recursive?: boolean }): Generator<PathInfo, void, undefined>;
    exists(container: string, path: string): boolean;
    properties(container: string, path: string): PathInfo & { metadata: Record<string, string> };
    deletePath(container: string, path: string, options?: { recursive?: boolean }): void;
    rename(container: string, from: string, to: string, options?: { overwrite?: boolean }): void;
    close(): void;
  }
  function client(profile?: string): Client;
}

export namespace config {
  function get(key: string, fallback?: string): string;
  function all(): Record<string, string>;
}

export namespace secrets {
  class Secret {
    readonly name: string;
    reveal(): string;
  }
  function get(name: string): Secret;
}

export namespace log {
  function trace(...parts: unknown[]): void;
  function debug(...parts: unknown[]): void;
  function info(...parts: unknown[]): void;
  function warn(...parts: unknown[]): void;
  function error(...parts: unknown[]): void;
}

export interface TaskOptions {
  retries?: number;
  /** First retry delay, seconds (default 0.2). */
  backoff?: number;
  backoffFactor?: number;
  /** Seconds (default 10). */
  backoffMax?: number;
  jitter?: boolean;
  /** Seconds per attempt. */
  timeout?: number;
  /** Seconds. */
  cacheTtl?: number;
  cacheKey?: string;
  priority?: number;
  description?: string;
}

export class TaskFuture<T = unknown> {
  readonly name: string;
  result(): T;
  cancel(): void;
}

export interface Task<A extends unknown[], T> {
  (...args: { [K in keyof A]: A[K] | TaskFuture<A[K]> }): TaskFuture<T>;
  options(overrides: TaskOptions): (...args: { [K in keyof A]: A[K] | TaskFuture<A[K]> }) => TaskFuture<T>;
  fn: (...args: A) => T;
  taskName: string;
}

export function task<A extends unknown[], T>(name: string, fn: (...args: A) => T, options?: TaskOptions): Task<A, T>;
export function task<A extends unknown[], T>(fn: (...args: A) => T, options?: TaskOptions): Task<A, T>;
export function flow<I, T>(fn: (input: I) => T): (input: I) => T;

/** The task attempt an instance runs; `taskKey` is the idempotency key of the task (the same
 *  for every attempt and every redelivery), `attemptKey` that of this attempt. */
export interface AttemptInfo {
  task: string;
  taskId: bigint;
  attempt: number;
  taskKey: string;
  attemptKey: string;
}

/** The task attempt this instance runs, or undefined in the flow itself. */
export function attemptInfo(): AttemptInfo | undefined;
export function gather<T>(futures: Array<TaskFuture<T> | T>): T[];
export function gather<T>(futures: Array<TaskFuture<T> | T>, options: { settled: true }):
  Array<{ ok: true; value: T } | { ok: false; error: ConnectorError }>;
