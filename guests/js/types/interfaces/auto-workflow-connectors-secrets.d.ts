/// <reference path="./auto-workflow-connectors-types.d.ts" />
declare module 'auto-workflow:connectors/secrets@0.1.0' {
  /**
   * The secret called `name`; `denied` unless the run profile lists it.
   */
  export function get(name: string): Secret;
  export type ConnectorError = import('auto-workflow:connectors/types@0.1.0').ConnectorError;
  
  export class Secret implements Disposable {
    /**
     * This type does not have a public constructor.
     */
    private constructor();
    /**
    * The secret's value. The host scrubs it from every log line, error and result.
    */
    reveal(): string;
    [Symbol.dispose](): void;
  }
}
