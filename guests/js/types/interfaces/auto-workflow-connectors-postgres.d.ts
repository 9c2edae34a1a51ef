/// <reference path="./auto-workflow-connectors-types.d.ts" />
declare module 'auto-workflow:connectors/postgres@0.1.0' {
  /**
   * Opens the connector profile `profile` (none: the profile named like the run profile).
   * `denied` unless the run profile grants it; no I/O happens before that check.
   */
  export function open(profile: string | undefined): Client;
  export type ConnectorError = import('auto-workflow:connectors/types@0.1.0').ConnectorError;
  /**
   * One element of an array value (the same cases as `value`, without arrays).
   */
  export type Element = ElementNull | ElementBoolean | ElementInt16 | ElementInt32 | ElementInt64 | ElementFloat32 | ElementFloat64 | ElementNumeric | ElementText | ElementBytea | ElementJson | ElementUuid | ElementDate | ElementTime | ElementTimestamp | ElementTimestamptz | ElementInterval;
  export interface ElementNull {
    tag: 'null',
  }
  export interface ElementBoolean {
    tag: 'boolean',
    val: boolean,
  }
  export interface ElementInt16 {
    tag: 'int16',
    val: number,
  }
  export interface ElementInt32 {
    tag: 'int32',
    val: number,
  }
  export interface ElementInt64 {
    tag: 'int64',
    val: bigint,
  }
  export interface ElementFloat32 {
    tag: 'float32',
    val: number,
  }
  export interface ElementFloat64 {
    tag: 'float64',
    val: number,
  }
  /**
   * numeric / decimal, exact, in text form: "12.3400", "-0.5", "NaN".
   */
  export interface ElementNumeric {
    tag: 'numeric',
    val: string,
  }
  export interface ElementText {
    tag: 'text',
    val: string,
  }
  export interface ElementBytea {
    tag: 'bytea',
    val: Uint8Array,
  }
  /**
   * json or jsonb, as JSON text.
   */
  export interface ElementJson {
    tag: 'json',
    val: string,
  }
  /**
   * "0e1f2a3b-...".
   */
  export interface ElementUuid {
    tag: 'uuid',
    val: string,
  }
  /**
   * "2024-01-31".
   */
  export interface ElementDate {
    tag: 'date',
    val: string,
  }
  /**
   * "13:45:00.123456".
   */
  export interface ElementTime {
    tag: 'time',
    val: string,
  }
  /**
   * "2024-01-31T13:45:00.123456" (no time zone).
   */
  export interface ElementTimestamp {
    tag: 'timestamp',
    val: string,
  }
  /**
   * RFC 3339; results are in UTC: "2024-01-31T13:45:00.123456Z".
   */
  export interface ElementTimestamptz {
    tag: 'timestamptz',
    val: string,
  }
  /**
   * ISO 8601 duration: "P1Y2M3DT4H5M6.5S".
   */
  export interface ElementInterval {
    tag: 'interval',
    val: string,
  }
  /**
   * A parameter or column value. Types without a case here come back as `text` (their
   * text form); the column's type name says what they were.
   */
  export type Value = ValueNull | ValueBoolean | ValueInt16 | ValueInt32 | ValueInt64 | ValueFloat32 | ValueFloat64 | ValueNumeric | ValueText | ValueBytea | ValueJson | ValueUuid | ValueDate | ValueTime | ValueTimestamp | ValueTimestamptz | ValueInterval | ValueArray;
  export interface ValueNull {
    tag: 'null',
  }
  export interface ValueBoolean {
    tag: 'boolean',
    val: boolean,
  }
  export interface ValueInt16 {
    tag: 'int16',
    val: number,
  }
  export interface ValueInt32 {
    tag: 'int32',
    val: number,
  }
  export interface ValueInt64 {
    tag: 'int64',
    val: bigint,
  }
  export interface ValueFloat32 {
    tag: 'float32',
    val: number,
  }
  export interface ValueFloat64 {
    tag: 'float64',
    val: number,
  }
  export interface ValueNumeric {
    tag: 'numeric',
    val: string,
  }
  export interface ValueText {
    tag: 'text',
    val: string,
  }
  export interface ValueBytea {
    tag: 'bytea',
    val: Uint8Array,
  }
  export interface ValueJson {
    tag: 'json',
    val: string,
  }
  export interface ValueUuid {
    tag: 'uuid',
    val: string,
  }
  export interface ValueDate {
    tag: 'date',
    val: string,
  }
  export interface ValueTime {
    tag: 'time',
    val: string,
  }
  export interface ValueTimestamp {
    tag: 'timestamp',
    val: string,
  }
  export interface ValueTimestamptz {
    tag: 'timestamptz',
    val: string,
  }
  export interface ValueInterval {
    tag: 'interval',
    val: string,
  }
  /**
   * A one-dimensional array.
   */
  export interface ValueArray {
    tag: 'array',
    val: Array<Element>,
  }
  /**
   * A result column: its name and the server's type name ("int4", "_text", "jsonb").
   */
  export interface Column {
    name: string,
    typeName: string,
  }
  /**
   * A buffered result.
   */
  export interface RowSet {
    columns: Array<Column>,
    rows: Array<Array<Value>>,
  }
  /**
   * One row with its columns.
   */
  export interface Row {
    columns: Array<Column>,
    values: Array<Value>,
  }
  /**
   * What `run` returns: the rows of a statement that returns rows (none for one that does
   * not), and the server's count of the rows it affected or returned. DB-API cursors are
   * built on it: one call for any statement, with its `rowcount`.
   */
  export interface StatementResult {
    columns: Array<Column>,
    rows: Array<Array<Value>>,
    rowsAffected: bigint,
  }
  /**
   * Per-statement settings.
   */
  export interface StatementOptions {
    /**
     * Server-side statement timeout; applied to this statement only.
     */
    timeoutMs?: number,
  }
  /**
   * # Variants
   * 
   * ## `"read-committed"`
   * 
   * ## `"repeatable-read"`
   * 
   * ## `"serializable"`
   */
  export type Isolation = 'read-committed' | 'repeatable-read' | 'serializable';
  export interface TransactionOptions {
    /**
     * None: the server's default (read committed).
     */
    isolation?: Isolation,
    readOnly: boolean,
    /**
     * Only meaningful for serializable read-only transactions.
     */
    deferrable: boolean,
  }
  /**
   * # Variants
   * 
   * ## `"text"`
   * 
   * ## `"csv"`
   * 
   * ## `"binary"`
   */
  export type CopyKind = 'text' | 'csv' | 'binary';
  /**
   * COPY format. `header`, `delimiter`, `null-string` and `quote` apply to text / csv.
   */
  export interface CopyFormat {
    kind: CopyKind,
    header: boolean,
    delimiter?: string,
    nullString?: string,
    quote?: string,
  }
  /**
   * What `copy-out` reads: a table (with `columns`, or all of them) or a query.
   */
  export type CopyFrom = CopyFromTable | CopyFromQuery;
  export interface CopyFromTable {
    tag: 'table',
    val: string,
  }
  export interface CopyFromQuery {
    tag: 'query',
    val: string,
  }
  export interface ColumnInfo {
    name: string,
    typeName: string,
    nullable: boolean,
    'default'?: string,
  }
  export interface TableInfo {
    schema: string,
    name: string,
    columns: Array<ColumnInfo>,
    primaryKey: Array<string>,
  }
  /**
   * A batch of rows in the compact row encoding (README, "Compact row batches"): for each
   * row, for each column, a tag byte and its payload. One buffer per batch instead of a
   * value per cell, for guests that read millions of rows.
   */
  export interface EncodedRows {
    count: number,
    data: Uint8Array,
  }
  
  export class Client implements Disposable {
    /**
     * This type does not have a public constructor.
     */
    private constructor();
    query(sql: string, params: Array<Value>, options: StatementOptions | undefined): RowSet;
    queryOne(sql: string, params: Array<Value>, options: StatementOptions | undefined): Row | undefined;
    queryValue(sql: string, params: Array<Value>, options: StatementOptions | undefined): Value | undefined;
    execute(sql: string, params: Array<Value>, options: StatementOptions | undefined): bigint;
    /**
    * Any statement: its rows if it returns any (within the buffered-query limits) and its row count.
    */
    run(sql: string, params: Array<Value>, options: StatementOptions | undefined): StatementResult;
    /**
    * Runs `sql` once per parameter list, in one transaction on one connection, pipelined.
    */
    executeMany(sql: string, params: Array<Array<Value>>, options: StatementOptions | undefined): bigint;
    queryStream(sql: string, params: Array<Value>, batchRows: number): RowStream;
    copyIn(table: string, columns: Array<string>, format: CopyFormat): CopySink;
    copyOut(source: CopyFrom, columns: Array<string>, format: CopyFormat): CopySource;
    begin(options: TransactionOptions): Transaction;
    /**
    * Tables of `schema` (all of them when `tables` is empty) with columns and primary keys.
    */
    reflect(schema: string, tables: Array<string>): Array<TableInfo>;
    [Symbol.dispose](): void;
  }
  
  export class CopySink implements Disposable {
    /**
     * This type does not have a public constructor.
     */
    private constructor();
    write(data: Uint8Array): void;
    /**
    * Completes the copy; returns the number of rows copied.
    */
    finish(): bigint;
    [Symbol.dispose](): void;
  }
  
  export class CopySource implements Disposable {
    /**
     * This type does not have a public constructor.
     */
    private constructor();
    /**
    * The next chunk of data, or none at the end.
    */
    read(): Uint8Array | undefined;
    /**
    * Rows copied so far (all of them once `read` returned none).
    */
    rows(): bigint;
    [Symbol.dispose](): void;
  }
  
  export class RowStream implements Disposable {
    /**
     * This type does not have a public constructor.
     */
    private constructor();
    columns(): Array<Column>;
    /**
    * The next batch of rows, or none when the result is exhausted.
    */
    next(): Array<Array<Value>> | undefined;
    /**
    * The same, in the compact encoding. A stream is read with `next` or with
    * `next-encoded`, not both.
    */
    nextEncoded(): EncodedRows | undefined;
    [Symbol.dispose](): void;
  }
  
  export class Transaction implements Disposable {
    /**
     * This type does not have a public constructor.
     */
    private constructor();
    query(sql: string, params: Array<Value>, options: StatementOptions | undefined): RowSet;
    queryOne(sql: string, params: Array<Value>, options: StatementOptions | undefined): Row | undefined;
    queryValue(sql: string, params: Array<Value>, options: StatementOptions | undefined): Value | undefined;
    execute(sql: string, params: Array<Value>, options: StatementOptions | undefined): bigint;
    /**
    * Any statement: its rows if it returns any (within the buffered-query limits) and its row count.
    */
    run(sql: string, params: Array<Value>, options: StatementOptions | undefined): StatementResult;
    executeMany(sql: string, params: Array<Array<Value>>, options: StatementOptions | undefined): bigint;
    queryStream(sql: string, params: Array<Value>, batchRows: number): RowStream;
    copyIn(table: string, columns: Array<string>, format: CopyFormat): CopySink;
    copyOut(source: CopyFrom, columns: Array<string>, format: CopyFormat): CopySource;
    savepoint(name: string): void;
    rollbackTo(name: string): void;
    release(name: string): void;
    commit(): void;
    rollback(): void;
    /**
    * COMMIT AND CHAIN / ROLLBACK AND CHAIN: ends this transaction and at once begins the
    * next one, with the same options, on the same connection, so session state (`SET`,
    * temp tables) carries over. For DB-API connections pinned to one server session.
    */
    commitAndChain(): void;
    rollbackAndChain(): void;
    [Symbol.dispose](): void;
  }
}
