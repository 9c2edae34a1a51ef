/// <reference path="./auto-workflow-connectors-types.d.ts" />
declare module 'auto-workflow:connectors/config@0.1.0' {
  /**
   * The value of `key`; `denied` when the run profile does not expose that key.
   */
  export function get(key: string): string;
  /**
   * Every key/value pair the run profile exposes, sorted by key.
   */
  export function getAll(): Array<[string, string]>;
  export type ConnectorError = import('auto-workflow:connectors/types@0.1.0').ConnectorError;
}
