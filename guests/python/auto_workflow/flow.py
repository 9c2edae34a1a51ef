"""`@flow`: the function builds the graph (calling tasks records invocations), then the host
runs it: every invocation is spawned at once behind the tasks whose results it takes
(`spawn-after`), so independent branches run in parallel up to the run's concurrency, and a
dynamic fan-out is expanded in the flow's instance as soon as its source's result is known.
`describe()`, `export_dot()` and `export_graph()` build the graph without running a task.

Like the package, the side-effect tasks a flow calls before the first task whose result it
returns run one after another, and the returned tasks wait for them (see
`build.order_side_effects`). The run's failure policy is `aw-run`'s (`--failure-policy`):
under `fail_fast` the first failed task's `TaskExecutionError` fails the flow, under
`continue` a failed task's result is its `TaskExecutionError`, and under `aggregate` the flow
fails with an `AggregateTaskError` listing every task that failed.
"""

import inspect
import json

from componentize_py_types import Err
from wit_world.imports import tasks as _tasks

from aw import flows as _aw_flows

from . import context, exceptions, values
from .build import BuildContext, TaskInvocation, collect_invocations, order_side_effects, replace_invocations
from .fanout import DynamicFanOut
from .task import decode, encode


class FailurePolicy:
    """The package's policy names; `aw-run --failure-policy` takes the same."""

    FAIL_FAST = "fail_fast"
    CONTINUE = "continue"
    AGGREGATE = "aggregate"


class _Outcome:
    """A joined invocation: its decoded result, or the package's error for its failure."""

    __slots__ = ("ok", "value", "skipped", "cancelled")

    def __init__(self, ok, value, skipped=False, cancelled=False):
        self.ok = ok
        self.value = value
        self.skipped = skipped
        self.cancelled = cancelled


def _join(invocations):
    """Waits for the spawned invocations (one host call) and keeps each one's outcome."""
    waiting = [inv for inv in invocations if inv.future is not None and inv.outcome is None]
    if waiting:
        results = _tasks.join_all([inv.future._handle for inv in waiting])
        for inv, result in zip(waiting, results):
            inv.outcome = _outcome(inv, result)
    return [inv.outcome for inv in invocations]


def _outcome(inv, result):
    if not isinstance(result, Err):
        return _Outcome(True, decode(result.value))
    failure = result.value
    cause = _aw_flows._task_error(inv.task_name, failure)
    error = exceptions.TaskExecutionError(inv.task_name, exceptions.from_task_failure(inv.task_name, cause))
    # A task that never started because a task it depends on failed (`upstream-failed`).
    skipped = failure.attempts == 0 and not failure.cancelled
    return _Outcome(False, error, skipped=skipped, cancelled=failure.cancelled)


class Flow:
    """A flow: `build_fn` builds its graph."""

    def __init__(self, name, build_fn):
        self.name = name
        self.build_fn = build_fn
        doc = (build_fn.__doc__ or "").strip()
        self.description = doc.splitlines()[0] if doc else None
        self.__doc__ = build_fn.__doc__

    def __call__(self, *args, **kwargs):
        return self.build_fn(*args, **kwargs)

    # --- the package's API -------------------------------------------------------------

    def run(self, *args, params=None, failure_policy=None, max_concurrency=None, **kwargs):
        """Builds and runs the flow in this run (`aw-run` sets the parameters, the failure
        policy and the concurrency of a run; the arguments here are accepted for the
        package's signature)."""
        return self._run(args, kwargs)

    def describe(self, *args, **kwargs):
        """The package's `describe()`: the graph as JSON data, without running a task, with
        every task the flow calls (the package's own leaves out those it does not return)."""
        return _describe(self.name, *self._graph(args, kwargs))

    def export_dot(self, *args, **kwargs):
        """The graph in Graphviz DOT, as the package's `export_dot()` draws it, plus the
        side-effect tasks."""
        return _dot(*self._graph(args, kwargs))

    def export_graph(self, *args, **kwargs):
        """`{node: {"upstream": [...], "downstream": [...]}}` for every task the flow calls."""
        return _adjacency(self._graph(args, kwargs)[0])

    # --- the runtime's side (aw.flows calls these) ------------------------------------------

    def run_input(self, input_text):
        """The `run` export: the flow's result as plain JSON."""
        args, kwargs = _arguments(self.build_fn, input_text)
        context._flow_override = self.name
        return json.dumps(values.plain(self._run(args, kwargs)), separators=(",", ":"), sort_keys=True,
                          ensure_ascii=False)

    def graph(self, input_text):
        """The `graph` export: `describe()`, `export_dot()` and `export_graph()` in one JSON."""
        args, kwargs = _arguments(self.build_fn, input_text)
        context._flow_override = self.name
        invocations, fanouts = self._graph(args, kwargs)
        return json.dumps({"describe": _describe(self.name, invocations, fanouts),
                           "dot": _dot(invocations, fanouts), "graph": _adjacency(invocations)},
                          separators=(",", ":"), ensure_ascii=False)

    # --- building and running ------------------------------------------------------------

    def _build(self, args, kwargs):
        with BuildContext() as bctx:
            structure = self.build_fn(*args, **kwargs)
        return bctx, structure

    def _graph(self, args, kwargs):
        """The invocations in the order the package lists them (those the flow returns, as
        met in its result, then the others as called), with the side-effect ordering, and the
        dynamic fan-outs."""
        bctx, structure = self._build(args, kwargs)
        invocations = list(bctx.invocations.values())
        order_side_effects(invocations, structure)
        returned = collect_invocations(structure)
        names = {inv.name for inv in returned}
        ordered = returned + [inv for inv in invocations if inv.name not in names]
        return ordered, list(bctx.dynamic_fanouts)

    def _run(self, args, kwargs):
        bctx, structure = self._build(args, kwargs)
        invocations = list(bctx.invocations.values())
        if not invocations:
            return structure
        order_side_effects(invocations, structure)
        groups = {}
        for n, (children, bound) in enumerate(bctx.static_groups, start=1):
            for child in children:
                groups[child.name] = _tasks.FanOut(f"static-fanout:{n}", bound)
        _Runner(bctx, groups).run(invocations)
        policy = context.get_context().failure_policy
        every = _join(list(bctx.invocations.values()))
        if policy != FailurePolicy.CONTINUE:
            failed = [o.value for o in every if not o.ok and not o.skipped and not o.cancelled]
            if failed and policy == FailurePolicy.AGGREGATE:
                raise exceptions.AggregateTaskError(failed)
            if failed:
                raise failed[0]
            stopped = next((o.value for o in every if not o.ok), None)
            if stopped is not None:
                raise stopped
        return replace_invocations(structure, {inv.name: inv.outcome.value for inv in bctx.invocations.values()})


class _Runner:
    """Spawns a built graph: each invocation once what it waits for is spawned, expanding
    dynamic fan-outs (in the flow's instance) when their sources' results are known."""

    def __init__(self, bctx, groups):
        self.bctx = bctx
        self.groups = groups
        self.policy = context.get_context().failure_policy

    def run(self, invocations):
        pending = list(invocations)
        fanouts = list(self.bctx.dynamic_fanouts)
        while pending or any(not f.expanded for f in fanouts):
            # In rounds, the highest priority first: the first task spawned may take a free
            # slot at once, so a round's order is the order its tasks start in.
            ready = [inv for inv in pending if self._ready(inv)]
            if ready:
                for inv in sorted(ready, key=lambda i: -int(i.definition.priority or 0)):
                    self._spawn(inv)
                spawned = {id(inv) for inv in ready}
                pending = [inv for inv in pending if id(inv) not in spawned]
                continue
            # Every dynamic fan-out is expanded, whether or not a task takes its results.
            fanout = next((f for f in fanouts if not f.expanded and self._expandable(f)), None)
            if fanout is None:
                names = [inv.name for inv in pending] + [f.id for f in fanouts if not f.expanded]
                raise exceptions.CycleDetectedError(names)
            before = len(self.bctx.invocations)
            fanout.expand(self._source_values(fanout))
            pending.extend(list(self.bctx.invocations.values())[before:])

    def _ready(self, inv):
        for dep in _dependencies(inv):
            if isinstance(dep, DynamicFanOut):
                if not dep.expanded or any(c.future is None for c in dep):
                    return False
            elif dep.future is None:
                return False
        return True

    def _expandable(self, fanout):
        source = fanout.source
        if isinstance(source, TaskInvocation):
            return source.future is not None
        return source.expanded and all(c.future is not None for c in source)

    def _source_values(self, fanout):
        """The items a dynamic fan-out expands over; none when its source failed (its
        consumers then wait for the failure, which the policy decides about)."""
        source = fanout.source
        parts = [source] if isinstance(source, TaskInvocation) else list(source)
        outcomes = _join(parts)
        failed = [o for o in outcomes if not o.ok]
        if failed:
            if self.policy == FailurePolicy.FAIL_FAST:
                raise next((o.value for o in failed if not o.cancelled), failed[0].value)
            fanout.failed_sources = [p for p, o in zip(parts, outcomes) if not o.ok]
            return []
        if isinstance(source, TaskInvocation):
            return outcomes[0].value
        return [o.value for o in outcomes]

    def _spawn(self, inv):
        after = []
        index = {}

        def slot(future):
            if id(future) not in index:
                index[id(future)] = len(after)
                after.append(future)
            return values.Placeholder(index[id(future)])

        placeholders = {}
        for dep in _dependencies(inv):
            if isinstance(dep, TaskInvocation):
                placeholders[dep.name] = slot(dep.future)
            else:
                for child in dep:
                    placeholders[child.name] = slot(child.future)
        args = replace_invocations(list(inv.args), placeholders)
        kwargs = replace_invocations(dict(inv.kwargs), placeholders)
        # Waits that put nothing in the input: the side-effect order, and the failed source
        # of an empty dynamic fan-out.
        for dep in inv.after:
            slot(dep.future)
        for dep in _dependencies(inv):
            if isinstance(dep, DynamicFanOut):
                for source in getattr(dep, "failed_sources", ()):
                    slot(source.future)
        key = None
        if not after:
            key = inv.definition.cache_key(*inv.args, **inv.kwargs)
        fan_out = self.groups.get(inv.name)
        if inv.fanout is not None:
            fan_out = _tasks.FanOut(inv.fanout.id, inv.fanout.max_concurrency)
        payload = encode({"args": args, "kwargs": kwargs})
        inv.future = _aw_flows.spawn(inv.task_name, payload, after, inv.definition.options(key, fan_out))


def _dependencies(inv):
    """The invocations and dynamic fan-outs whose results `inv`'s arguments hold."""
    found = []
    seen = set()

    def walk(obj, depth=0):
        if depth > 200:
            return
        if isinstance(obj, (TaskInvocation, DynamicFanOut)):
            if id(obj) not in seen:
                seen.add(id(obj))
                found.append(obj)
        elif isinstance(obj, (list, tuple, set, frozenset)):
            for item in obj:
                walk(item, depth + 1)
        elif isinstance(obj, dict):
            for k, v in obj.items():
                walk(k, depth + 1)
                walk(v, depth + 1)

    walk(inv.args)
    walk(inv.kwargs)
    return found


def _arguments(fn, input_text):
    """The build function's arguments for `aw-run --input`: none for no input, keyword
    arguments for an object whose keys it accepts, else the value as its one argument."""
    value = json.loads(input_text) if input_text and input_text.strip() else None
    if value is None:
        return (), {}
    params = inspect.signature(fn).parameters
    if isinstance(value, dict):
        takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in params.values())
        if takes_kwargs or all(k in params for k in value):
            return (), value
    return (value,), {}


def _effective_upstream(inv):
    return set(inv.upstream) | {dep.name for dep in inv.after}


def _top_level_fanouts(inv):
    return [a for a in list(inv.args) + list(inv.kwargs.values()) if isinstance(a, DynamicFanOut)]


def _transitive_consumers(invocations, direct):
    """For each fan-out id, every invocation downstream of its direct consumers."""
    consumers = {}
    for inv in invocations:
        for up in _effective_upstream(inv):
            consumers.setdefault(up, []).append(inv.name)
    reached = {}
    for fid, first in direct.items():
        seen = set()
        work = list(first)
        while work:
            cur = work.pop()
            if cur in seen:
                continue
            seen.add(cur)
            work.extend(n for n in consumers.get(cur, ()) if n not in seen)
        reached[fid] = seen
    return reached


def _describe(name, invocations, fanouts):
    info = {}
    for f in fanouts:
        source = f.source.name if isinstance(f.source, TaskInvocation) else f.source.id
        info[f.id] = {"id": f.id, "type": "dynamic_fanout", "task": f.definition.name, "source": source,
                      "max_concurrency": f.max_concurrency, "consumers": []}
    for inv in invocations:
        for f in _top_level_fanouts(inv):
            info[f.id]["consumers"].append(inv.name)
    reached = _transitive_consumers(invocations, {fid: i["consumers"] for fid, i in info.items()})
    nodes = []
    for inv in invocations:
        upstream = _effective_upstream(inv)
        for f in _top_level_fanouts(inv):
            if isinstance(f.source, TaskInvocation):
                upstream.discard(f.source.name)
            upstream.add(f.id)
        upstream.update(fid for fid, names in reached.items() if inv.name in names)
        d = inv.definition
        nodes.append({"id": inv.name, "task": inv.task_name, "upstream": sorted(upstream),
                      "persist": bool(d.persist), "run_in": d.run_in, "retries": d.retries})
    return {"flow": name, "nodes": nodes, "dynamic_fanouts": list(info.values()), "count": len(nodes),
            "dynamic_count": len(info)}


class _Dot:
    """Nodes (with attributes) and edges in the order they were added."""

    def __init__(self):
        self.nodes = {}

    def node(self, name, **attrs):
        if name not in self.nodes:
            self.nodes[name] = (attrs, [])

    def edge(self, up, down):
        self.node(up)
        self.node(down)
        if down not in self.nodes[up][1]:
            self.nodes[up][1].append(down)

    def text(self):
        lines = ["digraph G {"]
        for name, (attrs, downstream) in self.nodes.items():
            shown = ", ".join(f'{k}="{attrs[k]}"' for k in ("label", "shape", "color", "style") if attrs.get(k))
            if shown:
                lines.append(f'  "{name}" [{shown}];')
            elif not downstream:
                lines.append(f'  "{name}";')
        for name, (_, downstream) in self.nodes.items():
            lines.extend(f'  "{name}" -> "{d}";' for d in downstream)
        lines.append("}")
        return "\n".join(lines)


def _dot(invocations, fanouts):
    dot = _Dot()
    source_of = {}
    for f in fanouts:
        dot.node(f.id, label=f"fan_out({f.definition.name})", shape="diamond", color="lightblue")
    for f in fanouts:
        source_of[f.id] = f.source.name if isinstance(f.source, TaskInvocation) else f.source.id
        dot.edge(source_of[f.id], f.id)
    direct = {f.id: [] for f in fanouts}
    for inv in invocations:
        for f in _top_level_fanouts(inv):
            direct[f.id].append(inv.name)
    reached = _transitive_consumers(invocations, direct)
    ids = set(source_of)
    for inv in invocations:
        dot.node(inv.name)
        upstream = _effective_upstream(inv)
        included = set()
        for f in _top_level_fanouts(inv):
            if isinstance(f.source, TaskInvocation):
                upstream.discard(f.source.name)
            upstream.add(f.id)
            included.add(f.id)
            dot.edge(f.id, inv.name)
        for fid, names in reached.items():
            if inv.name in names:
                upstream.add(fid)
                included.add(fid)
        suppressed = set()
        for fid in included:
            cur = source_of.get(fid)
            while cur:
                suppressed.add(cur)
                cur = source_of.get(cur)
        for up in sorted(upstream - suppressed):
            if up not in ids:
                dot.edge(up, inv.name)
    return dot.text()


def _adjacency(invocations):
    up = {inv.name: _effective_upstream(inv) for inv in invocations}
    down = {name: set() for name in up}
    for name, ups in up.items():
        for u in ups:
            down.setdefault(u, set()).add(name)
            up.setdefault(u, set())
    return {name: {"upstream": sorted(up.get(name, ())), "downstream": sorted(down.get(name, ()))} for name in up}


def flow(_fn=None, *, name=None):
    """Defines a flow, bare (`@flow`) or named (`@flow(name="daily")`)."""

    def wrap(fn):
        f = Flow(name or fn.__name__, fn)
        _aw_flows.register_flow(f)
        return f

    return wrap(_fn) if _fn is not None else wrap
