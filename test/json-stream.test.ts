/**
 * The streaming reader behind `cc restore` (src/cache/json-stream.ts): whatever the
 * chunking, it hands over the same members JSON.parse sees, keeps number literals exact,
 * and rejects what is not JSON with the line.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonNumber, JsonObjectStream, JsonSyntaxError, type JsonValue } from '../src/cache/json-stream.js';

/** Members as plain JSON values (numbers through their text). */
function parseChunks(chunks: string[]): [string, unknown][] {
  const members: [string, unknown][] = [];
  const plain = (v: JsonValue): unknown =>
    v instanceof JsonNumber
      ? Number(v.text)
      : Array.isArray(v)
        ? v.map(plain)
        : v !== null && typeof v === 'object'
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
          : v;
  const stream = new JsonObjectStream((key, value) => members.push([key, plain(value)]));
  for (const c of chunks) stream.write(c);
  stream.end();
  return members;
}

function split(text: string, cuts: number[]): string[] {
  const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const out: string[] = [];
  let from = 0;
  for (const c of at) {
    out.push(text.slice(from, c));
    from = c;
  }
  out.push(text.slice(from));
  return out;
}

describe('JsonObjectStream', () => {
  it('hands over the members JSON.parse sees, however the text is cut into chunks', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.string(), fc.jsonValue()), { selector: ([k]) => k, maxLength: 8 }),
        fc.constantFrom(undefined, 1, '\t', '  '),
        fc.array(fc.nat(), { maxLength: 12 }),
        (entries, indent, cuts) => {
          const doc = Object.fromEntries(entries);
          const text = JSON.stringify(doc, null, indent);
          const expected = Object.entries(JSON.parse(text) as Record<string, unknown>);
          const normal = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown; // -0 and 0 alike
          expect(normal(parseChunks(split(text, cuts)))).toEqual(normal(expected));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps number literals exact (64-bit counters)', () => {
    let seen: JsonValue | undefined;
    const s = new JsonObjectStream((_, v) => (seen = v));
    s.write('{"a": {"Left": 18446744073709551615, "x": -9223372036854775808, "f": 1e-7}}');
    s.end();
    const v = seen as Record<string, JsonNumber>;
    expect([v['Left']!.text, v['x']!.text, v['f']!.text]).toEqual(['18446744073709551615', '-9223372036854775808', '1e-7']);
  });

  it('rejects what is not JSON, naming the line', () => {
    const cases: [string, string][] = [
      ['{"a": 1,\n}', 'line 2: unexpected "}"'],
      ['{"a" 1}', 'line 1: unexpected value'],
      ['{"a": [1 2]}', 'line 1: unexpected value'],
      ['{"a": 01}', 'line 1: invalid number 01'],
      ['{"a": tru}', 'line 1: unexpected "t"'],
      ['{"a": "x\n"}', 'line 1: invalid string'],
      ['{"a": {"b": 1, "b": 2}}', 'line 1: repeated key "b"'],
      ['{"a": 1}\n\n{', 'line 3: unexpected "{" after the end of the document'],
      ['{"a": {', 'line 1: unexpected end of input'],
      ['', 'line 1: empty input (expected an object)'],
      ['[1]', 'line 1: expected an object'],
    ];
    for (const [text, message] of cases) {
      const s = new JsonObjectStream(() => undefined);
      let error: unknown;
      try {
        s.write(text);
        s.end();
      } catch (err) {
        error = err;
      }
      expect(error, text).toBeInstanceOf(JsonSyntaxError);
      expect((error as Error).message, text).toContain(message);
    }
  });
});
