#!/usr/bin/env python3
"""The module-import gate of scripts/test.sh (issue 18): reads every `use` item of the
aw-runtime library (runtime/src, not the binary in src/bin) and fails when modules import each other around a circle, when `flow` imports
anything from `host`, or when `grants` imports a connector module.

An edge joins two sibling modules (children of the same parent): `a::b` using
`crate::a::c::x` is an edge `a::b -> a::c`. A child's use of its parent's own items is not an
edge (a module tree is not a circle). Test-only modules (`#[cfg(test)]`) are left out.
Macro input (bindgen's `with:` mapping in bindings.rs) is not a `use` item and is not read.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "runtime", "src")


def module_of(path):
    parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    return parts[:-1] if parts[-1] in ("mod", "lib", "main") else parts


def use_items(text):
    text = re.split(r"#\[cfg\(test\)\]\s*mod tests\s*\{", text)[0]
    for m in re.finditer(r"^\s*(?:pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", text, re.M):
        yield " ".join(m.group(1).split())


def targets(module, item):
    """The module paths one `use` item names (a brace list names several)."""
    head = re.match(r"(crate|self|super(?:::super)*)::", item)
    if not head:
        return []
    if head.group(1) == "crate":
        base = []
    elif head.group(1) == "self":
        base = list(module)
    else:
        base = module[: len(module) - head.group(1).count("super")]
    rest = item[head.end():]
    prefix = re.match(r"[\w:]*", rest).group(0).strip(":")
    path = base + [p for p in prefix.split("::") if p]
    found = [path]
    braces = re.search(r"\{(.*)\}", rest)
    if braces:
        for entry in braces.group(1).split(","):
            name = entry.strip().split("::")[0].split(" ")[0]
            if name and name != "self":
                found.append(path + [name])
    return found


def main():
    files = [os.path.join(d, f) for d, _, fs in os.walk(ROOT) for f in fs if f.endswith(".rs")]
    test_only = set()
    for f in files:
        for m in re.finditer(r"#\[cfg\(test\)\]\s*mod (\w+);", open(f).read()):
            test_only.add(tuple(module_of(f) + [m.group(1)]))
    edges = {}
    problems = []
    for f in files:
        module = module_of(f)
        # The aw-run binary (src/bin) is its own crate over the library's public items.
        if module[:1] == ["bin"] or any(tuple(module[: len(t)]) == t for t in test_only):
            continue
        for item in use_items(open(f).read()):
            for target in targets(module, item):
                if module[:1] == ["flow"] and target[:1] == ["host"]:
                    problems.append(f"{f}: flow imports from host: use {item}")
                if module[:1] == ["grants"] and target[:1] == ["host"]:
                    problems.append(f"{f}: grants imports a connector module: use {item}")
                for depth in range(1, min(len(module), len(target)) + 1):
                    a, b = module[:depth], target[:depth]
                    if a[:-1] != b[:-1]:
                        break
                    if a != b:
                        edges.setdefault("::".join(a), set()).add("::".join(b))
                        break
    # Circles: strongly connected components of more than one module.
    index, low, stack, on, circles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    for c in circles:
        problems.append("modules import each other around a circle: " + " <-> ".join(c))
    for p in problems:
        print(f"module-imports: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
