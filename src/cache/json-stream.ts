/**
 * A streaming reader for JSON documents shaped as one big object (`cc restore`'s
 * input: torrent-cache.json is `{"<info hash>": {...}, ...}`): text is pushed in
 * chunks and each top-level member is handed over as (key, value) as soon as it is
 * complete, so memory holds one member at a time however big the file.
 *
 * Numbers are kept as their exact text (JsonNumber): a 64-bit counter written by
 * Go (`18446744073709551615`) must not be rounded through a double. Objects have no
 * prototype, and a repeated key is an error (a hand-edited dump with two records
 * for one torrent is a mistake to report, not one to resolve silently).
 */

/** A number literal, exactly as written. */
export class JsonNumber {
  constructor(readonly text: string) {}
}

export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/** Bad JSON; `line` is 1-based. */
export class JsonSyntaxError extends Error {
  constructor(
    readonly detail: string,
    readonly line: number,
  ) {
    super(`line ${line}: ${detail}`);
    this.name = 'JsonSyntaxError';
  }
}

type Frame =
  | { kind: 'object'; value: JsonObject; key: string | undefined; expect: 'key' | 'colon' | 'value' | 'next'; count: number }
  | { kind: 'array'; value: JsonValue[]; expect: 'value' | 'next'; count: number };

const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

export class JsonObjectStream {
  private pending = '';
  private readonly stack: Frame[] = [];
  private started = false;
  private finished = false;
  private line = 1;

  /** `onMember` gets each top-level member; it may throw to stop the parse. */
  constructor(private readonly onMember: (key: string, value: JsonValue, line: number) => void) {}

  write(chunk: string): void {
    this.pending = this.pending.length === 0 ? chunk : this.pending + chunk;
    this.pending = this.pending.slice(this.consume(this.pending, false));
  }

  /** Ends the input: throws when the document is incomplete. */
  end(): void {
    const used = this.consume(this.pending, true);
    this.pending = this.pending.slice(used);
    if (!this.finished) throw new JsonSyntaxError(this.started ? 'unexpected end of input' : 'empty input (expected an object)', this.line);
  }

  private fail(detail: string): never {
    throw new JsonSyntaxError(detail, this.line);
  }

  /** Consumes whole tokens of `text`; returns how many characters were used. */
  private consume(text: string, final: boolean): number {
    let i = 0;
    const n = text.length;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0d) {
        i++;
        continue;
      }
      if (c === 0x0a) {
        this.line++;
        i++;
        continue;
      }
      if (this.finished) this.fail(`unexpected ${JSON.stringify(text[i])} after the end of the document`);
      if (c === 0x22 /* " */) {
        let j = i + 1;
        while (j < n) {
          const d = text.charCodeAt(j);
          if (d === 0x5c /* \ */) j += 2;
          else if (d === 0x22) break;
          else j++;
        }
        if (j >= n) {
          if (final) this.fail('unterminated string');
          return i;
        }
        let s: string;
        try {
          s = JSON.parse(text.slice(i, j + 1)) as string;
        } catch {
          this.fail(`invalid string ${text.slice(i, Math.min(j + 1, i + 60))}`);
        }
        i = j + 1;
        this.string(s);
        continue;
      }
      if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
        let j = i + 1;
        while (j < n && /[0-9eE.+-]/.test(text[j]!)) j++;
        if (j >= n && !final) return i;
        const literal = text.slice(i, j);
        if (!NUMBER.test(literal)) this.fail(`invalid number ${literal}`);
        i = j;
        this.value(new JsonNumber(literal));
        continue;
      }
      if (c === 0x74 || c === 0x66 || c === 0x6e /* t f n */) {
        const word = c === 0x74 ? 'true' : c === 0x66 ? 'false' : 'null';
        if (n - i < word.length && !final) return i;
        if (text.startsWith(word, i)) {
          i += word.length;
          this.value(word === 'true' ? true : word === 'false' ? false : null);
          continue;
        }
      }
      i++;
      switch (c) {
        case 0x7b /* { */:
          this.open({ kind: 'object', value: Object.create(null) as JsonObject, key: undefined, expect: 'key', count: 0 });
          break;
        case 0x5b /* [ */:
          this.open({ kind: 'array', value: [], expect: 'value', count: 0 });
          break;
        case 0x7d /* } */:
        case 0x5d /* ] */:
          this.close(c === 0x7d ? 'object' : 'array');
          break;
        case 0x3a /* : */: {
          const top = this.stack[this.stack.length - 1];
          if (top?.kind !== 'object' || top.expect !== 'colon') this.fail('unexpected ":"');
          top.expect = 'value';
          break;
        }
        case 0x2c /* , */: {
          const top = this.stack[this.stack.length - 1];
          if (top === undefined || top.expect !== 'next') this.fail('unexpected ","');
          top.expect = top.kind === 'object' ? 'key' : 'value';
          if (top.kind === 'object') top.key = undefined;
          break;
        }
        default:
          this.fail(`unexpected ${JSON.stringify(text[i - 1])}`);
      }
    }
    return i;
  }

  private string(s: string): void {
    const top = this.stack[this.stack.length - 1];
    if (top?.kind === 'object' && top.expect === 'key') {
      if (this.stack.length > 1 && s in top.value) this.fail(`repeated key ${JSON.stringify(s)}`);
      top.key = s;
      top.expect = 'colon';
      return;
    }
    this.value(s);
  }

  private open(frame: Frame): void {
    if (!this.started) {
      if (frame.kind !== 'object') this.fail('expected an object');
      this.started = true;
      this.stack.push(frame);
      return;
    }
    this.expectValue();
    this.stack.push(frame);
  }

  private close(kind: 'object' | 'array'): void {
    const top = this.stack[this.stack.length - 1];
    if (top === undefined || top.kind !== kind) this.fail(`unexpected "${kind === 'object' ? '}' : ']'}"`);
    // A closing bracket right after a value, or on an empty container (not after a trailing comma).
    if (top.expect !== 'next' && !(top.count === 0 && (top.expect === 'key' || top.expect === 'value'))) {
      this.fail(`unexpected "${kind === 'object' ? '}' : ']'}"`);
    }
    this.stack.pop();
    if (this.stack.length === 0) {
      this.finished = true;
      return;
    }
    this.value(top.value);
  }

  private seenTopKeys = new Set<string>();

  /** Checks a value may come here (after ':' or '[' or ','). */
  private expectValue(): void {
    const top = this.stack[this.stack.length - 1];
    if (top === undefined) this.fail('expected an object');
    if (top.expect !== 'value') this.fail('unexpected value');
  }

  private value(v: JsonValue): void {
    if (!this.started) this.fail('expected an object');
    const top = this.stack[this.stack.length - 1]!;
    if (top.expect !== 'value') this.fail('unexpected value');
    top.expect = 'next';
    top.count++;
    if (top.kind === 'array') {
      top.value.push(v);
      return;
    }
    const key = top.key!;
    if (this.stack.length === 1) {
      if (this.seenTopKeys.has(key)) this.fail(`repeated key ${JSON.stringify(key)}`);
      this.seenTopKeys.add(key);
      this.onMember(key, v, this.line);
      return;
    }
    top.value[key] = v;
  }
}
