"""get_context() in the flow and in a task: the same run, flow name and params."""
from auto_workflow import flow, get_context, task


@task
def seen_by_task():
    ctx = get_context()
    return {"run_id": ctx.run_id, "flow": ctx.flow_name, "params": ctx.params}


@task
def compare(seen, flow_run_id, flow_params):
    return {"same_run": seen["run_id"] == flow_run_id, "flow": seen["flow"], "params": seen["params"],
            "flow_params": flow_params, "run_id_length": len(flow_run_id)}


@flow
def context_flow():
    ctx = get_context()
    return compare(seen_by_task(), ctx.run_id, ctx.params)
