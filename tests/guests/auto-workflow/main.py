"""The auto_workflow flows of tests/auto_workflow.rs, in one component: `aw-run --flow NAME`
picks one. Each module is a flow file written for the Python package, unchanged; the same
files run natively under auto-workflow 0.1.2 to record tests/fixtures/auto-workflow."""
import caching  # noqa: F401
import docs_example  # noqa: F401
import fanouts  # noqa: F401
import parallel  # noqa: F401
import persisting  # noqa: F401
import pg_etl  # noqa: F401
import policies  # noqa: F401
import priorities  # noqa: F401
import retries  # noqa: F401
import run_context  # noqa: F401
import timeouts  # noqa: F401
import typed_values  # noqa: F401
