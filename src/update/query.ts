/**
 * The update API's request target, as Ocelot reads it and Gazelle writes it:
 *
 *   /<site password>/update?action=<name>&<key>=<value>…
 *
 * Values are percent-decoded byte by byte into latin1 strings (one char per
 * byte): info hashes are raw bytes (PHP's rawurlencode), several concatenated in
 * the bulk actions. '+' is a plus, not a space (rawurlencode never writes '+' for
 * a space; decoding it as one would corrupt a hash). A malformed escape is kept
 * literally. Names are matched exactly (Ocelot's); a repeated name keeps its last
 * value (Ocelot's map does the same).
 */
export interface UpdateTarget {
  /** The first path segment, as sent (not decoded). */
  password: string;
  params: Map<string, string>;
}

const UPDATE = '/update';

/** Hex digit values by char code (-1: not a hex digit). */
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) HEX[65 + i] = HEX[97 + i] = 10 + i;

/** Percent-decodes s[start, end) (one char per byte) to a latin1 string. */
export function percentDecode(s: string, start = 0, end = s.length): string {
  const first = s.indexOf('%', start);
  if (first === -1 || first >= end) return s.slice(start, end);
  const out = Buffer.allocUnsafe(end - start);
  let n = out.write(s.slice(start, first), 'latin1');
  for (let i = first; i < end; i++) {
    const c = s.charCodeAt(i) & 0xff;
    if (c === 37 && i + 2 < end) {
      const hi = HEX[s.charCodeAt(i + 1) & 0xff]!;
      const lo = HEX[s.charCodeAt(i + 2) & 0xff]!;
      if ((hi | lo) >= 0) {
        out[n++] = (hi << 4) | lo;
        i += 2;
        continue;
      }
    }
    out[n++] = c;
  }
  return out.toString('latin1', 0, n);
}

/**
 * Splits `/<password>/update?<query>` (a '#fragment' is not part of the query).
 * Returns undefined when the target is not of that shape.
 */
export function parseUpdateTarget(target: string): UpdateTarget | undefined {
  if (target.charCodeAt(0) !== 47 /* / */) return undefined;
  const slash = target.indexOf('/', 1);
  if (slash < 2 || !target.startsWith(UPDATE, slash)) return undefined;
  let end = target.indexOf('#', slash);
  if (end === -1) end = target.length;
  const after = slash + UPDATE.length;
  if (after !== end && target.charCodeAt(after) !== 63 /* ? */) return undefined;
  const params = new Map<string, string>();
  let at = after + 1;
  while (at < end) {
    let amp = target.indexOf('&', at);
    if (amp === -1 || amp > end) amp = end;
    if (amp > at) {
      let eq = target.indexOf('=', at);
      if (eq === -1 || eq > amp) eq = amp;
      params.set(percentDecode(target, at, eq), eq < amp ? percentDecode(target, eq + 1, amp) : '');
    }
    at = amp + 1;
  }
  return { password: target.slice(1, slash), params };
}
