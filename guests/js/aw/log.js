// Log lines into the host's log, tagged with the component (secrets are scrubbed).
import { log } from 'auto-workflow:connectors/log@0.1.0';

const emit = (level) => (...parts) => log(level, parts.map((p) => (typeof p === 'string' ? p : String(p))).join(' '));
export const trace = emit('trace');
export const debug = emit('debug');
export const info = emit('info');
export const warn = emit('warn');
export const error = emit('error');
