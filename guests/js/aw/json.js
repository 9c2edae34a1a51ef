// JSON in the same compact, key-sorted form the Rust SDK (serde_json) and the Python SDK
// write, so that a result is the same text whichever language produced it.

import { hex, isBytes } from './bytes.js';

function encode(value, out) {
  if (value === null || value === undefined) return out.push('null');
  switch (typeof value) {
    case 'bigint': return out.push(value.toString());
    case 'number': return out.push(Number.isFinite(value) ? JSON.stringify(value) : 'null');
    case 'boolean': case 'string': return out.push(JSON.stringify(value));
    default: break;
  }
  if (typeof value.toJSON === 'function') return encode(value.toJSON(), out);
  if (isBytes(value)) return out.push(JSON.stringify(hex(value)));
  if (Array.isArray(value)) {
    out.push('[');
    value.forEach((v, i) => { if (i) out.push(','); encode(v, out); });
    return out.push(']');
  }
  out.push('{');
  let first = true;
  for (const key of Object.keys(value).sort()) {
    if (value[key] === undefined || typeof value[key] === 'function') continue;
    if (!first) out.push(',');
    first = false;
    out.push(JSON.stringify(key), ':');
    encode(value[key], out);
  }
  return out.push('}');
}

/** `value` as compact JSON with sorted keys (bigints as plain numbers). */
export function dumps(value) {
  const out = [];
  encode(value, out);
  return out.join('');
}

export const loads = (text) => JSON.parse(text);
