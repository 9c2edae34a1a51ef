// Configuration values the run profile exposes (`[profiles.<name>.config]`).
import * as wit from 'auto-workflow:connectors/config@0.1.0';
import { call, DeniedError } from './errors.js';

/** The value of `key`; `fallback` when given and the key is not exposed, else DeniedError. */
export function get(key, fallback) {
  try {
    return call(wit.get, key);
  } catch (e) {
    if (e instanceof DeniedError && arguments.length > 1) return fallback;
    throw e;
  }
}

/** Every exposed key and value, as an object. */
export function all() {
  return Object.fromEntries(wit.getAll());
}
