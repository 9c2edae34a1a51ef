/// <reference path="./auto-workflow-connectors-types.d.ts" />
declare module 'auto-workflow:connectors/artifacts@0.1.0' {
  /**
   * Stores `data` and returns its new key. Fails (`limit`) when a memory store would hold
   * more than the run's memory limit, and (`invalid-input`) for data holding a granted
   * secret's value, which the host never writes anywhere.
   */
  export function put(data: Uint8Array): string;
  /**
   * The data stored under `key` (`not-found` when there is none).
   */
  export function get(key: string): Uint8Array;
  export type ConnectorError = import('auto-workflow:connectors/types@0.1.0').ConnectorError;
}
