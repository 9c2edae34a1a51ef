"""`fan_out(task, items)`: one invocation of `task` per item. Over a list it is static (the
invocations are made at once); over a task's result (an invocation) or over another fan-out
it is dynamic: a `DynamicFanOut` placeholder that the flow expands once that result is known,
and that downstream tasks receive as the list of its children's results. `max_concurrency`
bounds how many of one fan-out's tasks run at once."""

from .build import TaskInvocation, current_build_context


class DynamicFanOut(list):
    """A fan-out over a result not known while the graph is built; a list of its children
    once expanded."""

    def __init__(self, definition, source, max_concurrency, ctx):
        super().__init__()
        self.definition = definition
        self.source = source
        self.max_concurrency = max_concurrency
        self.ctx = ctx
        self.expanded = False
        #: Its id in the graph (`fanout:N`, N from 1 in build order).
        self.id = None

    def expand(self, values):
        """Registers one child per value (once)."""
        if self.expanded:
            return
        for value in values:
            child = self.ctx.register(self.definition, (value,), {})
            child.fanout = self
            self.append(child)
        self.expanded = True

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other

    def __repr__(self):
        return f"<DynamicFanOut {self.id} of {self.definition.name}>"


def fan_out(task_def, iterable, *, max_concurrency=None):
    """One invocation of `task_def` per item of `iterable` (static), or per item of a task's
    result or of another fan-out's results (dynamic)."""
    if max_concurrency is not None and (not isinstance(max_concurrency, int) or max_concurrency < 1):
        raise ValueError(f"fan_out max_concurrency must be a positive whole number, not {max_concurrency!r}")
    ctx = current_build_context()
    if ctx is None:
        return [task_def(item) for item in iterable]
    if isinstance(iterable, (TaskInvocation, DynamicFanOut)):
        placeholder = DynamicFanOut(task_def, iterable, max_concurrency, ctx)
        ctx.dynamic_fanouts.append(placeholder)
        placeholder.id = f"fanout:{len(ctx.dynamic_fanouts)}"
        return placeholder
    children = [task_def(item) for item in iterable]
    if max_concurrency is not None:
        ctx.static_groups.append((children, max_concurrency))
    return children
