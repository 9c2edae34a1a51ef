// Azure Data Lake Storage Gen2 (and Blob storage) through clients the host holds:
//
//   const lake = adls2.client();
//   lake.uploadBytes('raw', '2024/orders.csv', csv, { contentType: 'text/csv' });
//
// The guest names a connector profile; it never sees the connection string, key, SAS or token.
import * as wit from 'auto-workflow:connectors/adls2@0.1.0';
import { toBytes } from './bytes.js';
import { call, dispose, drain } from './errors.js';


const info = (i) => ({
  name: i.name,
  is_directory: i.isDirectory,
  size: Number(i.size),
  last_modified: i.lastModified ?? null,
  etag: i.etag ?? null,
  content_type: i.contentType ?? null,
});

const uploadOptions = ({ contentType, metadata = {}, overwrite = true } = {}) => ({
  contentType,
  metadata: Object.entries(metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  overwrite,
});

const byteRange = ({ offset, length } = {}) => (offset == null && length == null
  ? undefined
  : { offset: BigInt(offset ?? 0), length: length == null ? undefined : BigInt(length) });

/** A streamed upload. Nothing is visible until `close()`; `abort()` discards it. */
export class Writer {
  constructor(handle) { this.handle = handle; this.info = null; }
  write(data) { call(() => this.handle.write(toBytes(data))); }
  close() {
    if (this.info === null) {
      this.info = info(call(() => this.handle.finish()));
      dispose(this.handle);
    }
    return this.info;
  }
  abort() {
    try { call(() => this.handle.abort()); } finally { dispose(this.handle); }
  }
}

/** A client for one ADLS Gen2 connector profile. */
export class Client {
  constructor(handle) { this.handle = handle; }

  /** True if created; false if it existed (ConflictError unless `existOk`). */
  createContainer(name, existOk = true) { return call(() => this.handle.createContainer(name, existOk)); }
  deleteContainer(name) { call(() => this.handle.deleteContainer(name)); }
  listContainers(prefix) {
    return call(() => this.handle.listContainers(prefix ?? undefined))
      .map((c) => ({ name: c.name, last_modified: c.lastModified ?? null, etag: c.etag ?? null }));
  }
  makeDirs(container, path, existOk = true) { call(() => this.handle.makeDirs(container, path, existOk)); }

  /** Writes `data` (string or bytes) at `path`. Options: contentType, metadata, overwrite. */
  uploadBytes(container, path, data, opts) {
    return info(call(() => this.handle.upload(container, path, toBytes(data), uploadOptions(opts))));
  }

  /** A Writer for a streamed upload of any size in bounded host memory. */
  openWriter(container, path, opts) {
    return new Writer(call(() => this.handle.openWriter(container, path, uploadOptions(opts))));
  }

  /** Uploads an iterable of chunks as one file; aborts if the iterable throws. */
  uploadStream(container, path, chunks, opts) {
    const writer = this.openWriter(container, path, opts);
    try {
      for (const chunk of chunks) writer.write(chunk);
    } catch (e) {
      writer.abort();
      throw e;
    }
    return writer.close();
  }

  /** The file's bytes (or a range: `{offset, length}`). */
  downloadBytes(container, path, range) {
    return call(() => this.handle.download(container, path, byteRange(range)));
  }

  /** A generator of byte chunks; a file replaced while it is read throws ConflictError. */
  downloadStream(container, path, { offset, length, chunkSize } = {}) {
    const reader = call(() => this.handle.openReader(container, path, byteRange({ offset, length }), chunkSize));
    return drain(reader, () => reader.read());
  }

  /** A generator of path objects (name, is_directory, size, ...), page by page. */
  * listPaths(container, prefix, { recursive = false } = {}) {
    const stream = call(() => this.handle.listPaths(container, prefix ?? undefined, recursive));
    for (const page of drain(stream, () => stream.next())) {
      for (const entry of page) yield info(entry);
    }
  }

  exists(container, path) { return call(() => this.handle.exists(container, path)); }

  /** The path's info plus `metadata` (an object). */
  properties(container, path) {
    const props = call(() => this.handle.properties(container, path));
    return { ...info(props.info), metadata: Object.fromEntries(props.metadata) };
  }

  deletePath(container, path, { recursive = false } = {}) { call(() => this.handle.deletePath(container, path, recursive)); }
  rename(container, from, to, { overwrite = false } = {}) { call(() => this.handle.rename(container, from, to, overwrite)); }
  close() { dispose(this.handle); }
  [Symbol.dispose]() { this.close(); }
}

/** A client for connector profile `profile` (undefined = the one named like the run profile). */
export function client(profile) {
  return new Client(call(wit.open, profile ?? undefined));
}
