"""Azure Data Lake Storage Gen2 (and Blob storage) through clients the host holds.

    lake = adls2.client()
    lake.upload_bytes("raw", "2024/orders.csv", data, content_type="text/csv")

The guest names a connector profile; it never sees the connection string, key, SAS or token.
"""

from wit_world.imports import adls2 as _adls

from ._wit import Handle, call, drain


def _info(info):
    return {
        "name": info.name, "is_directory": info.is_directory, "size": info.size,
        "last_modified": info.last_modified, "etag": info.etag, "content_type": info.content_type,
    }


def _upload_options(content_type, metadata, overwrite):
    return _adls.UploadOptions(content_type, sorted((metadata or {}).items()), bool(overwrite))


def _range(offset, length):
    if offset is None and length is None:
        return None
    return _adls.ByteRange(int(offset or 0), None if length is None else int(length))


class Writer:
    """A streamed upload (file-like `write`). Nothing is visible until `close()`; leaving a
    `with` block by an exception aborts the upload."""

    def __init__(self, handle):
        self._h = handle
        self.info = None

    def write(self, data):
        if isinstance(data, str):
            data = data.encode()
        call(self._h.write, bytes(data))
        return len(data)

    def close(self):
        """Completes the upload; returns the file's info."""
        if self.info is None:
            self.info = _info(call(self._h.finish))
            self._h.__exit__(None, None, None)
        return self.info

    def abort(self):
        try:
            call(self._h.abort)
        finally:
            self._h.__exit__(None, None, None)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        elif self.info is None:
            self.abort()
        return False


class Client(Handle):
    """A client for one ADLS Gen2 connector profile."""

    def __init__(self, handle):
        self._h = handle

    def create_container(self, name, exist_ok=True):
        """True if it was created; False if it existed (`ConflictError` unless `exist_ok`)."""
        return call(self._h.create_container, name, bool(exist_ok))

    def delete_container(self, name):
        call(self._h.delete_container, name)

    def list_containers(self, prefix=None):
        return [{"name": c.name, "last_modified": c.last_modified, "etag": c.etag}
                for c in call(self._h.list_containers, prefix)]

    def make_dirs(self, container, path, exist_ok=True):
        call(self._h.make_dirs, container, path, bool(exist_ok))

    def upload_bytes(self, container, path, data, content_type=None, metadata=None, overwrite=True):
        """Writes `data` (bytes or str) at `path`; returns the file's info."""
        if isinstance(data, str):
            data = data.encode()
        options = _upload_options(content_type, metadata, overwrite)
        return _info(call(self._h.upload, container, path, bytes(data), options))

    def open_writer(self, container, path, content_type=None, metadata=None, overwrite=True):
        """A `Writer` for a streamed upload of any size in bounded host memory."""
        options = _upload_options(content_type, metadata, overwrite)
        return Writer(call(self._h.open_writer, container, path, options))

    def upload_stream(self, container, path, chunks, content_type=None, metadata=None, overwrite=True):
        """Uploads an iterable of byte chunks (or a file-like object) as one file."""
        with self.open_writer(container, path, content_type, metadata, overwrite) as writer:
            if hasattr(chunks, "read"):
                while True:
                    chunk = chunks.read(1 << 22)
                    if not chunk:
                        break
                    writer.write(chunk)
            else:
                for chunk in chunks:
                    writer.write(chunk)
        return writer.info

    def download_bytes(self, container, path, offset=None, length=None):
        return call(self._h.download, container, path, _range(offset, length))

    def download_stream(self, container, path, offset=None, length=None, chunk_size=None):
        """A generator of byte chunks; a file replaced while it is read raises `ConflictError`."""
        reader = call(self._h.open_reader, container, path, _range(offset, length), chunk_size)
        return drain(reader, reader.read)

    def list_paths(self, container, prefix=None, recursive=False):
        """A generator of path dicts (`name`, `is_directory`, `size`, ...), page by page."""
        stream = call(self._h.list_paths, container, prefix, bool(recursive))
        for page in drain(stream, stream.next):
            for info in page:
                yield _info(info)

    def exists(self, container, path):
        return call(self._h.exists, container, path)

    def properties(self, container, path):
        """The path's info plus `metadata` (a dict)."""
        props = call(self._h.properties, container, path)
        info = _info(props.info)
        info["metadata"] = dict(props.metadata)
        return info

    def delete_path(self, container, path, recursive=False):
        call(self._h.delete_path, container, path, bool(recursive))

    def rename(self, container, source, destination, overwrite=False):
        call(self._h.rename, container, source, destination, bool(overwrite))


def client(profile=None):
    """A client for connector profile `profile` (None = the one named like the run profile)."""
    return Client(call(_adls.open, profile))
