/// <reference path="./auto-workflow-connectors-types.d.ts" />
declare module 'auto-workflow:connectors/adls2@0.1.0' {
  /**
   * A client for connector profile `profile` (none = the one named like the run profile).
   */
  export function open(profile: string | undefined): Client;
  export type ConnectorError = import('auto-workflow:connectors/types@0.1.0').ConnectorError;
  /**
   * Part of a file: `length` none = to the end.
   */
  export interface ByteRange {
    offset: bigint,
    length?: bigint,
  }
  /**
   * How a file is written.
   */
  export interface UploadOptions {
    /**
     * The Content-Type stored with the file; none = application/octet-stream.
     */
    contentType?: string,
    /**
     * User metadata (names are case-insensitive ASCII identifiers).
     */
    metadata: Array<[string, string]>,
    /**
     * False: fail with `conflict` if the path exists, atomically (the store checks it).
     */
    overwrite: boolean,
  }
  /**
   * One entry of a listing, or a file's properties.
   */
  export interface PathInfo {
    /**
     * The full path inside the container, without a trailing slash.
     */
    name: string,
    isDirectory: boolean,
    /**
     * Bytes; 0 for directories.
     */
    size: bigint,
    /**
     * RFC 3339, UTC.
     */
    lastModified?: string,
    etag?: string,
    contentType?: string,
  }
  /**
   * A path's properties and its user metadata.
   */
  export interface PathProperties {
    info: PathInfo,
    metadata: Array<[string, string]>,
  }
  /**
   * A container (a file system, on hierarchical-namespace accounts).
   */
  export interface ContainerInfo {
    name: string,
    lastModified?: string,
    etag?: string,
  }
  
  export class Client implements Disposable {
    /**
     * This type does not have a public constructor.
     */
    private constructor();
    /**
    * True if it was created; false if it existed and `exist-ok` (else `conflict`).
    */
    createContainer(name: string, existOk: boolean): boolean;
    deleteContainer(name: string): void;
    /**
    * Containers whose names start with `prefix` (all of them: pages are followed).
    */
    listContainers(prefix: string | undefined): Array<ContainerInfo>;
    /**
    * Creates the directory and its missing parents. An existing directory is `conflict`
    * unless `exist-ok`; an existing file on the way is always `conflict`.
    */
    makeDirs(container: string, path: string, existOk: boolean): void;
    upload(container: string, path: string, data: Uint8Array, options: UploadOptions): PathInfo;
    openWriter(container: string, path: string, options: UploadOptions): Writer;
    download(container: string, path: string, range: ByteRange | undefined): Uint8Array;
    /**
    * `chunk-size` none = the profile's `block_size`.
    */
    openReader(container: string, path: string, range: ByteRange | undefined, chunkSize: number | undefined): Reader;
    /**
    * The entries under directory `prefix` (none = the container's root); `recursive`
    * descends into subdirectories.
    */
    listPaths(container: string, prefix: string | undefined, recursive: boolean): ListStream;
    /**
    * False only when the path does not exist; auth and network failures are errors.
    */
    exists(container: string, path: string): boolean;
    properties(container: string, path: string): PathProperties;
    /**
    * A non-empty directory without `recursive` is `conflict`.
    */
    deletePath(container: string, path: string, recursive: boolean): void;
    /**
    * Atomic on the `dfs` dialect; copy then delete on `blob`. An existing `to` is
    * `conflict` unless `overwrite`.
    */
    rename(container: string, from: string, to: string, overwrite: boolean): void;
    [Symbol.dispose](): void;
  }
  
  export class ListStream implements Disposable {
    /**
     * This type does not have a public constructor.
     */
    private constructor();
    next(): Array<PathInfo> | undefined;
    [Symbol.dispose](): void;
  }
  
  export class Reader implements Disposable {
    /**
     * This type does not have a public constructor.
     */
    private constructor();
    read(): Uint8Array | undefined;
    [Symbol.dispose](): void;
  }
  
  export class Writer implements Disposable {
    /**
     * This type does not have a public constructor.
     */
    private constructor();
    write(data: Uint8Array): void;
    finish(): PathInfo;
    abort(): void;
    [Symbol.dispose](): void;
  }
}
