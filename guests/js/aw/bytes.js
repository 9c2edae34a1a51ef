// Byte buffers. Typed arrays made by the component bindings come from another realm than the
// guest's own globals, so `instanceof Uint8Array` is not a test for them: these helpers are.

const encoder = new TextEncoder();

/** True for any typed array or DataView, whichever realm made it. */
export const isBytes = (value) => ArrayBuffer.isView(value);

const isArrayBuffer = (value) => Object.prototype.toString.call(value) === '[object ArrayBuffer]';

/** `data` (a string, typed array, ArrayBuffer or array of byte values) as a Uint8Array. */
export function toBytes(data) {
  if (typeof data === 'string') return encoder.encode(data);
  if (isBytes(data)) return data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(isArrayBuffer(data) ? data : Array.from(data));
}

/** Lower-case hex of a byte buffer. */
export function hex(bytes) {
  return Array.from(toBytes(bytes), (b) => b.toString(16).padStart(2, '0')).join('');
}

export { isArrayBuffer };
