"""Artifacts: results of `persist=True` tasks, kept by the host in the run's artifact store
(its memory for the run by default, or a directory with `artifact_store = "filesystem"` and
`artifact_store_path`, as the package's configuration names them). A persisted task's
dependents receive an `ArtifactRef`; `get_store().get(ref)` reads the value back, with its
Python types, in any instance of the run (and, from a directory, in later runs)."""

from wit_world.imports import artifacts as _artifacts

from aw._wit import call

from . import values


class ArtifactRef:
    """A stored result, by key."""

    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key

    def __repr__(self):
        return f"ArtifactRef(key={self.key!r})"

    def __eq__(self, other):
        return isinstance(other, ArtifactRef) and other.key == self.key

    def __hash__(self):
        return hash(self.key)

    def __aw_encode__(self):
        return "artifact", self.key


values.EXTRA_DECODERS["artifact"] = ArtifactRef


class HostArtifactStore:
    """The run's artifact store, in the host."""

    def put(self, value):
        """Stores `value`; returns its `ArtifactRef`."""
        from .task import encode

        return ArtifactRef(call(_artifacts.put, encode(value).encode("utf-8")))

    def get(self, ref):
        """The value stored under `ref` (an `ArtifactRef` or its key)."""
        from .task import decode

        key = ref.key if isinstance(ref, ArtifactRef) else str(ref)
        return decode(bytes(call(_artifacts.get, key)).decode("utf-8"))


_STORE = HostArtifactStore()


def get_store():
    """The run's artifact store."""
    return _STORE
