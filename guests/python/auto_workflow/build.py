"""Building a flow's graph: while a `@flow` function runs, calling a task records an
invocation (named `task:N`, N counting per task from 1) instead of running it, and an
invocation passed as an argument, anywhere inside lists, tuples, sets and dicts, makes it a
dependency. Nothing runs until the function has returned."""

_current = []


class TaskInvocation:
    """One call of a task in a flow's graph; stands for its result until the flow runs."""

    __slots__ = ("name", "task_name", "definition", "args", "kwargs", "upstream", "after", "future", "outcome",
                 "fanout")

    def __init__(self, name, definition, args, kwargs):
        self.name = name
        self.task_name = definition.name
        self.definition = definition
        self.args = args
        self.kwargs = kwargs
        #: Every invocation found in its arguments, and theirs (the package's `upstream`).
        self.upstream = set()
        #: Invocations it must wait for although its input does not hold their results (the
        #: ordering of side-effect tasks).
        self.after = []
        #: The spawned task (`aw.TaskFuture`), once the flow runs, and its outcome once joined.
        self.future = None
        self.outcome = None
        #: The dynamic fan-out it is a child of.
        self.fanout = None

    def __hash__(self):
        return hash(self.name)

    def __eq__(self, other):
        return self is other

    def __repr__(self):
        return f"<TaskInvocation {self.name} ({self.task_name})>"


class BuildContext:
    """The invocations one build of a flow records, in the order they were made."""

    def __init__(self):
        self.invocations = {}
        self._counters = {}
        self.dynamic_fanouts = []
        #: Static fan-outs with a `max_concurrency`: (their invocations, the bound).
        self.static_groups = []

    def register(self, definition, args, kwargs):
        n = self._counters.get(definition.name, 0) + 1
        self._counters[definition.name] = n
        inv = TaskInvocation(f"{definition.name}:{n}", definition, args, kwargs)
        for dep in iter_invocations((args, kwargs)):
            inv.upstream.add(dep.name)
        self.invocations[inv.name] = inv
        return inv

    def __enter__(self):
        _current.append(self)
        return self

    def __exit__(self, *exc):
        _current.pop()
        return False


def current_build_context():
    """The build in progress, or None outside a flow's build."""
    return _current[-1] if _current else None


def iter_invocations(obj, _depth=0):
    """Every invocation inside `obj`, each followed by those inside its own arguments; a
    dynamic fan-out stands for its source (and its children, once expanded)."""
    from .fanout import DynamicFanOut

    if _depth > 200:
        return
    d = _depth + 1
    if isinstance(obj, TaskInvocation):
        yield obj
        for item in obj.args:
            yield from iter_invocations(item, d)
        for item in obj.kwargs.values():
            yield from iter_invocations(item, d)
    elif isinstance(obj, DynamicFanOut):
        yield from iter_invocations(obj.source, d)
        for child in obj:
            yield from iter_invocations(child, d)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for item in obj:
            yield from iter_invocations(item, d)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from iter_invocations(k, d)
            yield from iter_invocations(v, d)


def collect_invocations(structure):
    """The distinct invocations inside `structure`, in the order first met."""
    seen = {}
    for inv in iter_invocations(structure):
        seen.setdefault(inv.name, inv)
    return list(seen.values())


def replace_invocations(structure, results, _depth=0):
    """`structure` with every invocation replaced by `results[its name]` (containers keep
    their types)."""
    from .fanout import DynamicFanOut

    d = _depth + 1
    if isinstance(structure, TaskInvocation):
        return results[structure.name]
    if isinstance(structure, DynamicFanOut):
        return [replace_invocations(c, results, d) for c in structure]
    if isinstance(structure, list):
        return [replace_invocations(s, results, d) for s in structure]
    if isinstance(structure, tuple):
        return tuple(replace_invocations(s, results, d) for s in structure)
    if isinstance(structure, (set, frozenset)):
        return type(structure)(replace_invocations(s, results, d) for s in structure)
    if isinstance(structure, dict):
        return {replace_invocations(k, results, d): replace_invocations(v, results, d)
                for k, v in structure.items()}
    return structure


def order_side_effects(invocations, structure):
    """The package's ordering of side-effect tasks (those the flow does not return): the
    ones called before the first returned task run one after another in the order they were
    called (each that has no dependency of its own waits for the one before), and every
    returned task without a dependency waits for the last of them. Side-effect tasks called
    after the first returned one are not ordered."""
    returned = {inv.name for inv in collect_invocations(structure)}
    prefix = []
    for inv in invocations:
        if inv.name in returned:
            break
        prefix.append(inv)
    if not returned or not prefix or len(prefix) == len(invocations):
        return
    for prev, cur in zip(prefix, prefix[1:]):
        if not cur.upstream and not cur.after:
            cur.after.append(prev)
    last = prefix[-1]
    for inv in invocations:
        if inv.name in returned and not inv.upstream and not inv.after:
            inv.after.append(last)
