/**
 * The bench's native load generator (bench/loadgen.c) sends what bench/loadgen.ts sends and counts
 * what it counts: with one connection and the same seed, the same requests in the same order;
 * failures, non-200 answers and a server that closes after every answer counted as loadgen.ts does.
 * Skipped with a message where the machine has no C compiler (the bench then uses loadgen.ts).
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runLoad, type LoadOptions, type LoadResult } from '../bench/loadgen.js';
import { nativeLoadgen, runNativeLoad } from '../bench/native-loadgen.js';

const native = nativeLoadgen();
if ('reason' in native) process.stderr.write(`loadgen-native.test: skipped: ${native.reason}\n`);
const nativePath = 'path' in native ? native.path : '';

const OK_BODY = 'd8:completei1e10:incompletei0e8:intervali1800e5:peers0:e';
const FAILURE_BODY = 'd14:failure reason7:refusede';

interface Answering {
  /** Request lines in the order the server read them. */
  lines: string[];
  /** The whole request heads (request line and headers), in the same order. */
  heads: string[];
  port: number;
  server: Server;
}

let servers: Server[] = [];
afterEach(async () => {
  for (const s of servers) {
    s.close();
  }
  servers = [];
});

/**
 * An HTTP/1.1 server on loopback that answers each request by `answer(index)`: a body (200), or a
 * status with a body; with `closeAfter`, it closes the connection after every answer without saying so.
 */
async function answering(
  answer: (index: number) => { status: number; body: string },
  closeAfter = false,
  socketPath?: string,
): Promise<Answering> {
  const lines: string[] = [];
  const heads: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (let end = pending.indexOf('\r\n\r\n'); end !== -1; end = pending.indexOf('\r\n\r\n')) {
        lines.push(pending.toString('latin1', 0, pending.indexOf('\r\n')));
        heads.push(pending.toString('latin1', 0, end + 4));
        pending = pending.subarray(end + 4);
        const { status, body } = answer(lines.length - 1);
        socket.write(`HTTP/1.1 ${status} X\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        if (closeAfter) socket.end();
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  servers.push(server);
  if (socketPath !== undefined) server.listen(socketPath);
  else server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null) throw new Error('not listening');
  return { lines, heads, port: typeof address === 'string' ? 0 : address.port, server };
}

function options(port: number, overrides: Partial<LoadOptions> = {}): LoadOptions {
  return {
    host: '127.0.0.1',
    port,
    paths: 'passkey',
    connections: 1,
    warmup: 0,
    duration: 0.5,
    users: 20,
    torrents: 10,
    peers: 8,
    hotShare: 0.5,
    scrapeShare: 0.2,
    rate: 0,
    seed: 7,
    ...overrides,
  };
}

describe.skipIf(nativePath === '')('the native load generator', () => {
  it('sends the same requests in the same order as loadgen.ts for the same seed', async () => {
    const fromNode = await answering(() => ({ status: 200, body: OK_BODY }));
    const fromNative = await answering(() => ({ status: 200, body: OK_BODY }));
    const nodeResult = await runLoad(options(fromNode.port));
    const nativeResult = await runNativeLoad(nativePath, options(fromNative.port));

    const common = Math.min(fromNode.heads.length, fromNative.heads.length);
    expect(common).toBeGreaterThan(20);
    // Byte for byte: request line, headers and the blank line that ends them.
    expect(fromNative.heads.slice(0, common)).toEqual(fromNode.heads.slice(0, common));
    // The mix is there: starts, scrapes, completions and stops among the announces.
    const sent = fromNative.lines.slice(0, common).join('\n');
    for (const part of ['/scrape?info_hash=', '&event=started', '&event=completed', '&event=stopped', '&uploaded='])
      expect(sent).toContain(part);

    for (const result of [nodeResult, nativeResult]) {
      expect(result.errors).toBe(0);
      expect(result.failures).toBe(0);
      expect(result.responseBytes).toBe(OK_BODY.length);
    }
    expect(nativeResult.generator.kind).toBe('native');
    // Every answered request inside the window is counted, in the series as in the total.
    expect(nativeResult.requests).toBeGreaterThan(0);
    expect(nativeResult.requests).toBeLessThanOrEqual(fromNative.lines.length);
    expect(nativeResult.perSecondSeries.reduce((n, s) => n + s.count, 0)).toBe(nativeResult.requests);
  });

  it("connects to a Unix socket and sends a proxy's header line after Host, the requests otherwise the same", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hayate-loadgen-unix-'));
    try {
      const fromNode = await answering(() => ({ status: 200, body: OK_BODY }));
      const overUnix = await answering(() => ({ status: 200, body: OK_BODY }), false, join(dir, 'g.sock'));
      await runLoad(options(fromNode.port));
      const unixOptions = options(0, { host: `unix:${join(dir, 'g.sock')}`, header: 'X-Real-IP: 127.0.0.1' });
      const result = await runNativeLoad(nativePath, unixOptions);
      expect(result.errors).toBe(0);
      expect(result.requests).toBeGreaterThan(0);
      const common = Math.min(fromNode.heads.length, overUnix.heads.length);
      expect(common).toBeGreaterThan(20);
      const withHeader = fromNode.heads
        .slice(0, common)
        .map((h) => h.replace('Host: bench\r\n', 'Host: bench\r\nX-Real-IP: 127.0.0.1\r\n'));
      expect(overUnix.heads.slice(0, common)).toEqual(withHeader);
      await expect(runLoad(unixOptions)).rejects.toThrow(/use bench\/loadgen\.c/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('counts failure answers and non-200 answers as loadgen.ts does', async () => {
    // Every third answer a failure reason, every fifth a 503.
    const answer = (i: number): { status: number; body: string } =>
      i % 5 === 4 ? { status: 503, body: 'busy' } : i % 3 === 2 ? { status: 200, body: FAILURE_BODY } : { status: 200, body: OK_BODY };
    const server = await answering(answer);
    const result: LoadResult = await runNativeLoad(nativePath, options(server.port, { connections: 4 }));
    expect(result.requests).toBeGreaterThan(15);
    const answered = result.requests;
    // The window holds whole answers only, and the server's own counts bound them.
    let failures = 0;
    let errors = 0;
    for (let i = 0; i < server.lines.length; i++) {
      if (i % 5 === 4) errors++;
      else if (i % 3 === 2) failures++;
    }
    expect(result.failures).toBeGreaterThan(0);
    expect(result.errors).toBeGreaterThan(0);
    expect(result.failures).toBeLessThanOrEqual(failures);
    expect(result.errors).toBeLessThanOrEqual(errors);
    expect(result.failures + result.errors).toBeLessThan(answered);
    expect(result.firstFailure).toMatch(/failure reason|status 503/);
  });

  it('reconnects after each answer when the server closes without saying so, losing no request', async () => {
    const server = await answering(() => ({ status: 200, body: OK_BODY }), true);
    const connections = 2;
    const result = await runNativeLoad(nativePath, options(server.port, { connections }));
    expect(result.errors).toBe(0);
    expect(result.requests).toBeGreaterThan(0);
    // Every request the server read was answered, but for the one per connection sent before the
    // first close was learnt, which went again on a new connection.
    expect(result.allRequests).toBeLessThanOrEqual(server.lines.length);
    expect(result.allRequests).toBeGreaterThanOrEqual(server.lines.length - connections);
    // A connection a request: the first of each, then one after each close (warm-up 0: all counted).
    expect(result.connectsPerRequest).toBeGreaterThanOrEqual(1);
    expect(result.connectsPerRequest).toBeLessThanOrEqual(1 + (2 * connections) / result.requests + 0.001);
  });

  it('offers the rate it is given, counting latency from when each request was due', async () => {
    const server = await answering(() => ({ status: 200, body: OK_BODY }));
    const result = await runNativeLoad(nativePath, options(server.port, { connections: 4, rate: 200, duration: 1 }));
    expect(result.errors).toBe(0);
    // Never more than offered (200 requests/s for one second, plus one due at the window's edge per
    // connection), where loadgen.ts without a rate sends thousands to this server in a second.
    expect(result.requests).toBeLessThanOrEqual(204);
    expect(result.requests).toBeGreaterThan(100);
  });
});
