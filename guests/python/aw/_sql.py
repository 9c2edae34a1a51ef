"""DB-API placeholders (`%s`, `%(name)s`, `%%`) to PostgreSQL's `$n`, so queries written
for the `auto_workflow` package (psycopg style) run unchanged. Quoted strings, quoted
identifiers, dollar-quoted bodies and comments are left alone."""

from .errors import InvalidInputError


def _skip_quoted(sql, i):
    """Index after the literal, identifier or comment that starts at `i`, or `i`."""
    ch = sql[i]
    if ch in "'\"":
        j = i + 1
        while j < len(sql):
            if sql[j] == ch:
                if j + 1 < len(sql) and sql[j + 1] == ch:
                    j += 2
                    continue
                return j + 1
            j += 1
        return len(sql)
    if sql.startswith("--", i):
        j = sql.find("\n", i)
        return len(sql) if j < 0 else j + 1
    if sql.startswith("/*", i):
        j = sql.find("*/", i + 2)
        return len(sql) if j < 0 else j + 2
    if ch == "$":
        end = sql.find("$", i + 1)
        tag = sql[i:end + 1] if end > 0 else ""
        if tag and (tag == "$$" or tag[1:-1].replace("_", "a").isalnum() and not tag[1].isdigit()):
            close = sql.find(tag, end + 1)
            return len(sql) if close < 0 else close + len(tag)
    return i


_POSITIONAL = {}


def translate(sql, params):
    """(`sql` with `$n` placeholders, the parameter list in order)."""
    if params is None:
        return sql, []
    named = isinstance(params, dict)
    if not named:
        # A loop runs the same statement many times: translate each text once.
        cached = _POSITIONAL.get(sql)
        if cached is None:
            cached = _translate(sql, params, False)
            if len(_POSITIONAL) < 256:
                _POSITIONAL[sql] = cached
        text, count = cached
        params = list(params)
        if count and count != len(params):
            raise InvalidInputError(f"the query has {count} placeholders but {len(params)} parameters were given")
        return text, params
    return _translate(sql, params, True)


def _translate(sql, params, named):
    """Named: (text, parameters in placeholder order). Positional: (text, placeholder count)."""
    out, order, names = [], [], {}
    i, positional = 0, 0
    while i < len(sql):
        j = _skip_quoted(sql, i)
        if j != i:
            out.append(sql[i:j])
            i = j
            continue
        ch = sql[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        nxt = sql[i + 1:i + 2]
        if nxt == "%":
            out.append("%")
            i += 2
        elif nxt == "s" and not named:
            positional += 1
            out.append(f"${positional}")
            i += 2
        elif nxt == "(" and named:
            close = sql.find(")s", i)
            if close < 0:
                raise InvalidInputError(f"unterminated %(name)s placeholder at offset {i}")
            name = sql[i + 2:close]
            if name not in params:
                raise InvalidInputError(f"no parameter named {name!r}")
            if name not in names:
                order.append(params[name])
                names[name] = len(order)
            out.append(f"${names[name]}")
            i = close + 2
        else:
            out.append(ch)
            i += 1
    if named:
        return "".join(out), order
    return "".join(out), positional
