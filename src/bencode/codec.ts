/**
 * A strict bencode codec for the `bencode` tool: byte strings stay bytes, integers
 * of any size stay exact (bigint), dict order is kept as read. (The `bencode` npm
 * package turns integers into doubles, so it cannot promise an exact round trip.)
 */

export type BValue = Uint8Array | bigint | BValue[] | BDict;

/** A dict as its entries in file order (keys are byte strings). */
export interface BDict {
  entries: [Uint8Array, BValue][];
}

export class BencodeError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at byte ${offset}`);
    this.name = 'BencodeError';
  }
}

const MAX_DEPTH = 1000;

export function isDict(v: BValue): v is BDict {
  return typeof v === 'object' && !(v instanceof Uint8Array) && !Array.isArray(v);
}

/** Decodes exactly one value; trailing bytes are an error. */
export function decodeBencode(data: Uint8Array): BValue {
  let pos = 0;

  const fail = (message: string, at = pos): never => {
    throw new BencodeError(message, at);
  };

  const digits = (end: number, what: string): bigint => {
    const start = pos;
    let negative = false;
    if (data[pos] === 0x2d) {
      negative = true;
      pos++;
    }
    const first = pos;
    while (pos < data.length && data[pos]! >= 0x30 && data[pos]! <= 0x39) pos++;
    if (pos === first) fail(`expected digits in ${what}`);
    if (pos >= data.length) fail(`truncated ${what}`);
    if (data[pos] !== end) fail(`unexpected byte 0x${data[pos]!.toString(16)} in ${what}`);
    const text = Buffer.from(data.subarray(first, pos)).toString('latin1');
    if (text.length > 1 && text[0] === '0') fail(`leading zero in ${what}`, start);
    if (negative && text === '0') fail(`negative zero in ${what}`, start);
    pos++; // the terminator
    const value = BigInt(text);
    return negative ? -value : value;
  };

  const string = (): Uint8Array => {
    const at = pos;
    const length = digits(0x3a, 'string length');
    if (length < 0n) fail('negative string length', at);
    if (length > BigInt(data.length - pos)) fail(`truncated string: ${length} bytes claimed, ${data.length - pos} left`, at);
    const bytes = data.subarray(pos, pos + Number(length));
    pos += Number(length);
    return bytes;
  };

  const value = (depth: number): BValue => {
    if (depth > MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH}`);
    if (pos >= data.length) fail('truncated: expected a value');
    const c = data[pos]!;
    if (c === 0x69) {
      pos++;
      return digits(0x65, 'integer');
    }
    if (c === 0x6c) {
      pos++;
      const list: BValue[] = [];
      for (;;) {
        if (pos >= data.length) fail('truncated list');
        if (data[pos] === 0x65) break;
        list.push(value(depth + 1));
      }
      pos++;
      return list;
    }
    if (c === 0x64) {
      pos++;
      const entries: [Uint8Array, BValue][] = [];
      for (;;) {
        if (pos >= data.length) fail('truncated dict');
        if (data[pos] === 0x65) break;
        if (data[pos]! < 0x30 || data[pos]! > 0x39) fail('dict key is not a string');
        const key = string();
        entries.push([key, value(depth + 1)]);
      }
      pos++;
      return { entries };
    }
    if (c >= 0x30 && c <= 0x39) return string();
    return fail(`unexpected byte 0x${c.toString(16)}`);
  };

  if (data.length === 0) fail('empty input', 0);
  const result = value(0);
  if (pos !== data.length) fail(`${data.length - pos} trailing bytes after the value`);
  return result;
}

/** Encodes a value; dict entries are written in the order given. */
export function encodeBencode(root: BValue): Buffer {
  const parts: Uint8Array[] = [];
  const ascii = (text: string) => parts.push(Buffer.from(text, 'latin1'));
  const walk = (v: BValue): void => {
    if (typeof v === 'bigint') {
      ascii(`i${v}e`);
    } else if (v instanceof Uint8Array) {
      ascii(`${v.length}:`);
      parts.push(v);
    } else if (Array.isArray(v)) {
      ascii('l');
      for (const item of v) walk(item);
      ascii('e');
    } else {
      ascii('d');
      for (const [key, item] of v.entries) {
        walk(key);
        walk(item);
      }
      ascii('e');
    }
  };
  walk(root);
  return Buffer.concat(parts);
}

/** Byte-wise comparison, for bencode's sorted-keys rule. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}
