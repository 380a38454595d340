/**
 * The few bencoded shapes a tracker sends, written directly into Buffers.
 * Byte strings in this project are latin1 JS strings (one char per byte), so
 * their bencoded length is their string length.
 */

/** `<len>:<bytes>` for a latin1 byte string. */
export function bstr(bytes: string): string {
  return `${bytes.length}:${bytes}`;
}

/** `<len>:<text>` for text, measured in UTF-8 bytes. Returned as latin1 (ready for Buffer.from(x, 'latin1')). */
export function btext(text: string): string {
  const utf8 = Buffer.from(text, 'utf8').toString('latin1');
  return `${utf8.length}:${utf8}`;
}

/**
 * `d14:failure reason<len>:<text>8:intervali<seconds>ee`; the interval is left out when 0.
 * The reason is a latin1 byte string: a quoted peer_id goes back byte for byte.
 */
export function failureBody(reason: string, interval: number): Buffer {
  const head = `d14:failure reason${bstr(reason)}`;
  return Buffer.from(interval > 0 ? `${head}8:intervali${interval}ee` : `${head}e`, 'latin1');
}

/** Pre-encoded failures for reasons that never vary. */
export class FailureCache {
  private readonly cache = new Map<string, Buffer>();

  get(reason: string, interval: number): Buffer {
    const key = `${interval}\u0000${reason}`;
    let body = this.cache.get(key);
    if (body === undefined) {
      body = failureBody(reason, interval);
      if (this.cache.size < 64) this.cache.set(key, body);
    }
    return body;
  }
}
