/// <reference path="./interfaces/auto-workflow-connectors-adls2.d.ts" />
/// <reference path="./interfaces/auto-workflow-connectors-artifacts.d.ts" />
/// <reference path="./interfaces/auto-workflow-connectors-config.d.ts" />
/// <reference path="./interfaces/auto-workflow-connectors-log.d.ts" />
/// <reference path="./interfaces/auto-workflow-connectors-postgres.d.ts" />
/// <reference path="./interfaces/auto-workflow-connectors-secrets.d.ts" />
/// <reference path="./interfaces/auto-workflow-connectors-tasks.d.ts" />
/// <reference path="./interfaces/auto-workflow-connectors-types.d.ts" />
declare module 'auto-workflow:connectors/flow@0.1.0' {
  export type ConnectorError = import('auto-workflow:connectors/types@0.1.0').ConnectorError;
  export type TaskSpec = import('auto-workflow:connectors/tasks@0.1.0').TaskSpec;
  export type FlowSpec = import('auto-workflow:connectors/tasks@0.1.0').FlowSpec;
  export type * as AutoWorkflowConnectorsAdls2010 from 'auto-workflow:connectors/adls2@0.1.0'; // import auto-workflow:connectors/adls2@0.1.0
  export type * as AutoWorkflowConnectorsArtifacts010 from 'auto-workflow:connectors/artifacts@0.1.0'; // import auto-workflow:connectors/artifacts@0.1.0
  export type * as AutoWorkflowConnectorsConfig010 from 'auto-workflow:connectors/config@0.1.0'; // import auto-workflow:connectors/config@0.1.0
  export type * as AutoWorkflowConnectorsLog010 from 'auto-workflow:connectors/log@0.1.0'; // import auto-workflow:connectors/log@0.1.0
  export type * as AutoWorkflowConnectorsPostgres010 from 'auto-workflow:connectors/postgres@0.1.0'; // import auto-workflow:connectors/postgres@0.1.0
  export type * as AutoWorkflowConnectorsSecrets010 from 'auto-workflow:connectors/secrets@0.1.0'; // import auto-workflow:connectors/secrets@0.1.0
  export type * as AutoWorkflowConnectorsTasks010 from 'auto-workflow:connectors/tasks@0.1.0'; // import auto-workflow:connectors/tasks@0.1.0
  export type * as AutoWorkflowConnectorsTypes010 from 'auto-workflow:connectors/types@0.1.0'; // import auto-workflow:connectors/types@0.1.0
  /**
  * Runs the flow. `input` and the `ok` value are JSON documents.
  */
  export function run(input: string): string;
  /**
  * Runs task `name` (one attempt) with JSON `input`.
  */
  export function runTask(name: string, input: string): string;
  /**
  * The tasks this component offers and their default options, without running anything.
  */
  export function describe(): Array<TaskSpec>;
  /**
  * The flows this component defines (`aw-run --flow` picks one); empty for a component
  * whose `run` is its one flow and names none.
  */
  export function flows(): Array<FlowSpec>;
  /**
  * The graph flow `name` builds for JSON `input`, without running a task, as JSON:
  * `{"describe": {...}, "dot": "...", "graph": {...}}` (`aw-run describe`). An error for a
  * flow that spawns its tasks as it runs.
  */
  export function graph(name: string, input: string): string;
  export type Result<T, E> = { tag: 'ok', val: T } | { tag: 'err', val: E };
}
