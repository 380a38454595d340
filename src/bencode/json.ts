/**
 * The bencode <-> JSON mapping of the `bencode` tool. Lossless both ways:
 * - integers: JSON numbers while within ±(2^53 − 1), else {"$int": "<decimal>"};
 * - byte strings: JSON strings when they are valid UTF-8, else {"$hex": "<hex>"};
 * - lists: arrays;
 * - dicts: JSON objects when every key is valid UTF-8 and the keys are in bencode's
 *   byte order without duplicates; otherwise (and for a dict whose only key is
 *   "$int", "$hex" or "$dict", which would read as one of these forms)
 *   {"$dict": [[key, value], ...]} in file order, keys as strings or {"$hex"}.
 * Encoding sorts plain objects' keys by their UTF-8 bytes, as bencode requires.
 */
import { BencodeError, compareBytes, isDict, type BDict, type BValue } from './codec.js';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const RESERVED = new Set(['$int', '$hex', '$dict']);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Bad JSON input for encoding: names the JSON path. */
export class JsonMappingError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'JsonMappingError';
  }
}

function textOf(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Indented JSON text for a bencode value (written by hand so dict order is kept). */
export function bencodeToJsonText(value: BValue, indent = '  '): string {
  const out: string[] = [];
  const write = (v: BValue, pad: string): void => {
    const inner = pad + indent;
    if (typeof v === 'bigint') {
      out.push(v <= MAX_SAFE && v >= -MAX_SAFE ? v.toString() : `{ "$int": "${v}" }`);
    } else if (v instanceof Uint8Array) {
      out.push(bytesJson(v));
    } else if (Array.isArray(v)) {
      if (v.length === 0) return void out.push('[]');
      out.push('[\n');
      v.forEach((item, i) => {
        out.push(inner);
        write(item, inner);
        out.push(i < v.length - 1 ? ',\n' : '\n');
      });
      out.push(`${pad}]`);
    } else if (plainObjectOk(v)) {
      if (v.entries.length === 0) return void out.push('{}');
      out.push('{\n');
      v.entries.forEach(([key, item], i) => {
        out.push(`${inner}${JSON.stringify(textOf(key)!)}: `);
        write(item, inner);
        out.push(i < v.entries.length - 1 ? ',\n' : '\n');
      });
      out.push(`${pad}}`);
    } else {
      const deeper = inner + indent;
      out.push(`{\n${inner}"$dict": [\n`);
      v.entries.forEach(([key, item], i) => {
        out.push(`${deeper}[${bytesJson(key)}, `);
        write(item, deeper);
        out.push(i < v.entries.length - 1 ? '],\n' : ']\n');
      });
      out.push(`${inner}]\n${pad}}`);
    }
  };
  write(value, '');
  return out.join('');
}

function bytesJson(bytes: Uint8Array): string {
  const text = textOf(bytes);
  return text !== undefined ? JSON.stringify(text) : `{ "$hex": "${Buffer.from(bytes).toString('hex')}" }`;
}

function plainObjectOk(dict: BDict): boolean {
  const { entries } = dict;
  for (let i = 0; i < entries.length; i++) {
    if (textOf(entries[i]![0]) === undefined) return false;
    if (i > 0 && compareBytes(entries[i - 1]![0], entries[i]![0]) >= 0) return false;
  }
  if (entries.length === 1 && RESERVED.has(textOf(entries[0]![0])!)) return false;
  return true;
}

/** Maps parsed JSON (JSON.parse output) to a bencode value; throws JsonMappingError. */
export function jsonToBencode(json: unknown, path = '$'): BValue {
  if (typeof json === 'number') {
    if (!Number.isSafeInteger(json)) {
      throw new JsonMappingError(
        `${json} is not an integer bencode can hold exactly (write integers beyond 2^53 as {"$int": "<decimal>"})`,
        path,
      );
    }
    return BigInt(json);
  }
  if (typeof json === 'string') return stringBytes(json, path);
  if (Array.isArray(json)) return json.map((item, i) => jsonToBencode(item, `${path}[${i}]`));
  if (json !== null && typeof json === 'object') {
    const keys = Object.keys(json);
    const record = json as Record<string, unknown>;
    if (keys.length === 1 && RESERVED.has(keys[0]!)) return special(keys[0]!, record[keys[0]!], path);
    const entries: [Uint8Array, BValue][] = keys.map((key) => [stringBytes(key, path), jsonToBencode(record[key], `${path}.${key}`)]);
    entries.sort((a, b) => compareBytes(a[0], b[0]));
    return { entries };
  }
  throw new JsonMappingError(`${json === null ? 'null' : typeof json} has no bencode form`, path);
}

function special(kind: string, body: unknown, path: string): BValue {
  if (kind === '$int') {
    if (typeof body !== 'string' || !/^-?\d+$/.test(body)) throw new JsonMappingError('"$int" needs a decimal string', path);
    return BigInt(body);
  }
  if (kind === '$hex') {
    if (typeof body !== 'string' || !/^(?:[0-9a-fA-F]{2})*$/.test(body)) {
      throw new JsonMappingError('"$hex" needs a string of hex digit pairs', path);
    }
    return new Uint8Array(Buffer.from(body, 'hex'));
  }
  if (!Array.isArray(body)) throw new JsonMappingError('"$dict" needs an array of [key, value] pairs', path);
  return {
    entries: body.map((pair, i): [Uint8Array, BValue] => {
      const at = `${path}.$dict[${i}]`;
      if (!Array.isArray(pair) || pair.length !== 2) throw new JsonMappingError('expected a [key, value] pair', at);
      const key = jsonToBencode(pair[0], `${at}[0]`);
      if (!(key instanceof Uint8Array)) throw new JsonMappingError('a dict key must be a string or {"$hex"}', `${at}[0]`);
      return [key, jsonToBencode(pair[1], `${at}[1]`)];
    }),
  };
}

function stringBytes(text: string, path: string): Uint8Array {
  // A lone surrogate has no UTF-8 form; encoding it would silently become U+FFFD.
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text)) {
    throw new JsonMappingError('string holds a lone surrogate (use {"$hex": ...} for raw bytes)', path);
  }
  return new Uint8Array(Buffer.from(text, 'utf8'));
}

export { BencodeError, isDict };
