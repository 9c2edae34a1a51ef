"""The Python `auto_workflow` package's programming model, for flows that `aw-run` runs in
the sandbox: `task`, `flow`, `fan_out`, `get_context`, `FailurePolicy` and the package's
exceptions and connectors, so that a flow file written for the package runs unchanged.

Every task call runs in its own sandboxed instance of the component, scheduled by the host
with the task's options; values passed between tasks keep their Python types (see
`values`). What cannot apply in a sandbox is accepted and documented in README ("The
auto_workflow package"): `run_in` (every task has an instance of its own), process pools,
middleware and event subscribers outside the instance.
"""

from . import artifacts  # noqa: F401 - registers ArtifactRef with the value encoding
from .context import RunContext, get_context
from .events import subscribe
from .fanout import fan_out
from .flow import FailurePolicy, Flow, flow
from .task import TaskDefinition, task

__version__ = "0.1.2+aw"

__all__ = [
    "task", "TaskDefinition", "flow", "Flow", "get_context", "RunContext", "fan_out", "FailurePolicy",
    "subscribe",
]
