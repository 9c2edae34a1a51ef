// The `flow` world's exports, dispatching to the guest's flow and tasks. A thrown error
// becomes a classified WIT error (aw-run exits 1) and its stack goes to stderr, which the
// host logs (scrubbed of secret values). Errors are thrown as plain records: the
// component model's lowering aborts on a thrown Error object.
import { runFlow, runTask as runOneTask, describeTasks } from './flows.js';
import { InvalidInputError, isError, toWit } from './errors.js';

function guarded(fn) {
  try {
    return fn();
  } catch (e) {
    console.error(isError(e) ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : `uncaught: ${String(e)}`);
    throw toWit(e);
  }
}

export const run = (input) => guarded(() => runFlow(input));
export const runTask = (name, input) => guarded(() => runOneTask(name, input));
export const describe = () => describeTasks();
// A JavaScript component's flow is its one `run`, which spawns its tasks as it runs.
export const flows = () => [];
export const graph = () => guarded(() => {
  throw new InvalidInputError('this flow spawns its tasks as it runs, so its graph is known only from a run: draw one with aw-run graph EVENTS.jsonl from a run\'s --events');
});
