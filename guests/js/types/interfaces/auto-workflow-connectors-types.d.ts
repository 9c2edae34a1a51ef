declare module 'auto-workflow:connectors/types@0.1.0' {
  /**
   * Why a call failed, so a guest (or a flow's retry policy) can react without
   * parsing messages.
   * # Variants
   * 
   * ## `"config"`
   * 
   * The host's configuration for this capability is missing or wrong.
   * ## `"denied"`
   * 
   * The run profile does not grant this capability; the message names the grant to add.
   * ## `"auth"`
   * 
   * The remote system rejected the credentials.
   * ## `"not-found"`
   * 
   * The named object (table, path, key) does not exist.
   * ## `"conflict"`
   * 
   * The operation conflicts with existing state (unique key, existing path).
   * ## `"timeout"`
   * 
   * A deadline passed (statement timeout, pool wait, connect timeout).
   * ## `"transient"`
   * 
   * A failure that may go away on retry (connection reset, serialization failure).
   * ## `"permanent"`
   * 
   * A failure that will not go away on retry.
   * ## `"invalid-input"`
   * 
   * The guest passed a value the host or the remote system cannot accept.
   * ## `"limit"`
   * 
   * A run limit (rows, bytes, connections) was reached.
   */
  export type ErrorKind = 'config' | 'denied' | 'auth' | 'not-found' | 'conflict' | 'timeout' | 'transient' | 'permanent' | 'invalid-input' | 'limit';
  /**
   * A classified failure of a host call, or of a task.
   */
  export interface ConnectorError {
    kind: ErrorKind,
    /**
     * Human-readable; never contains credentials or secret values.
     */
    message: string,
    /**
     * The remote system's own code where it has one (SQLSTATE, Azure error code).
     */
    code?: string,
    /**
     * True when retrying the same call may succeed.
     */
    retryable: boolean,
  }
}
