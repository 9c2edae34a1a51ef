"""Runs every case of tests/guests/auto-workflow/cases.json under the Python auto-workflow 0.1.2 package, natively, and
writes what it gave to tests/fixtures/auto-workflow/<case>.json: the flow's result (as plain
JSON, converted the way aw-run prints results) or its exception (type, message, the failed
tasks), and the answers of the case's `after` queries.

Run through scripts/record-auto-workflow-fixtures.sh, which starts a throwaway PostgreSQL and
sets the connector profiles `default` and `example` (AUTO_WORKFLOW_CONNECTORS_POSTGRES_*) and
AW_RECORD_ADMIN_DSN for the `reset` and `after` statements.
"""

import importlib
import importlib.util
import json
import os
import pathlib
import sys

import psycopg

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = ROOT / "tests" / "guests" / "auto-workflow"
OUT = ROOT / "tests" / "fixtures" / "auto-workflow"

# aw-run's conversion of a result to JSON (guests/python/auto_workflow/values.py imports only
# the standard library), so both sides are compared in one form.
_spec = importlib.util.spec_from_file_location("aw_values", ROOT / "guests" / "python" / "auto_workflow" / "values.py")
aw_values = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(aw_values)


def admin(statements):
    answers = []
    with psycopg.connect(os.environ["AW_RECORD_ADMIN_DSN"], autocommit=True) as db:
        for sql in statements:
            row = db.execute(sql).fetchone() if sql.lstrip().upper().startswith("SELECT") else db.execute(sql)
            if sql.lstrip().upper().startswith("SELECT"):
                answers.append(aw_values.plain(row[0]) if row else None)
    return answers


def failure(exc):
    errors = getattr(exc, "errors", None)
    failed = [e.task_name for e in errors] if errors is not None else (
        [exc.task_name] if hasattr(exc, "task_name") else [])
    return {"type": type(exc).__name__, "message": str(exc), "failed": sorted(failed)}


def run_case(case):
    admin(case.get("reset", []))
    module = importlib.import_module(case["module"])
    flow = getattr(module, case["flow"])
    try:
        result = flow.run(params=case.get("params"), failure_policy=case.get("failure_policy", "fail_fast"),
                          max_concurrency=case.get("max_concurrency"), **case.get("input", {}))
        outcome = {"result": aw_values.plain(result)}
    except Exception as exc:  # noqa: BLE001 - the exception is what is recorded
        outcome = {"error": failure(exc)}
    outcome["after"] = admin(case.get("after", []))
    if case.get("describe"):
        # What `aw-run describe --format json|dot` is compared with (no task runs).
        outcome["describe"] = flow.describe(**case.get("input", {}))
        outcome["dot"] = flow.export_dot(**case.get("input", {}))
    return outcome


def main():
    sys.path.insert(0, str(HERE))
    os.environ.setdefault("AUTO_WORKFLOW_DISABLE_STRUCTURED_LOGS", "1")
    cases = json.loads((HERE / "cases.json").read_text())
    wanted = set(sys.argv[1:])
    OUT.mkdir(parents=True, exist_ok=True)
    for case in cases:
        if wanted and case["name"] not in wanted:
            continue
        outcome = run_case(case)
        outcome = {"case": case["name"], "recorded_with": "auto-workflow 0.1.2", **outcome}
        (OUT / f"{case['name']}.json").write_text(json.dumps(outcome, indent=2, sort_keys=True) + "\n")
        print(f"{case['name']}: {json.dumps(outcome.get('result', outcome.get('error')))[:150]}")


if __name__ == "__main__":
    main()
