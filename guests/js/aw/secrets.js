// Secrets the run profile grants by name; a missing or ungranted one throws.
import * as wit from 'auto-workflow:connectors/secrets@0.1.0';
import { call } from './errors.js';

/** A secret held by the host: prints as `***`; `reveal()` gives the value. */
export class Secret {
  #handle;
  constructor(name, handle) { this.name = name; this.#handle = handle; }
  reveal() { return this.#handle.reveal(); }
  toString() { return '***'; }
  toJSON() { return '***'; }
}

/** The secret `name`; DeniedError unless the run profile lists it. */
export function get(name) {
  return new Secret(name, call(wit.get, name));
}
