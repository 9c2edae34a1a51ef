"""The component entry point componentize-py builds: the `flow` world's exports, which
dispatch to the guest's `@flow` and `@task` functions. The build imports the guest's
`main` module here, so its decorators have registered everything before the snapshot.

An exception escaping the guest becomes a classified error (exit 1 from aw-run), and its
traceback goes to stderr, which the host logs (scrubbed of secret values).
"""

import sys
import traceback

import wit_world
from componentize_py_types import Err

import main  # noqa: F401 - the guest's module; registers its tasks and flow
from aw import errors, flows

# SQLAlchemy, when scripts/build-guest.sh bundled it (the guest's sources mention it, or
# AW_PY_SQLALCHEMY=1), is imported now, at build time, so that it is in the snapshot: a run
# that uses it does not pay for the import. Without it the helpers raise an ImportError that
# says how to bundle it.
try:
    import sqlalchemy  # noqa: F401
except ImportError:
    pass
else:
    from aw import _sqla  # noqa: F401


def _guarded(function, *args):
    try:
        return function(*args)
    except Exception as exc:  # noqa: BLE001 - everything becomes a classified error
        if not getattr(exc, "aw_reported", False):  # its traceback is on stderr already
            traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()
        raise Err(errors.to_wit(exc)) from None


class WitWorld(wit_world.WitWorld):
    def run(self, input):
        return _guarded(flows.run_flow, input)

    def run_task(self, name, input):
        return _guarded(flows.run_task, name, input)

    def describe(self):
        return flows.describe()

    def flows(self):
        return flows.flows()

    def graph(self, flow, input):
        return _guarded(flows.graph, flow, input)
