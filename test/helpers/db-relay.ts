import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP relay on 127.0.0.1:`port` to the MariaDB at `target`: a database that is "down"
 * (nothing listening on the port) until the test opens the relay, and "down" again when it
 * closes it (every relayed connection cut), always on the same address.
 */
export function openDbRelay(port: number, target: URL): Promise<{ close(): Promise<void> }> {
  return relay(port, target, (client, upstream) => client.pipe(upstream).pipe(client));
}

/** A relay whose server can be frozen: connections stay open and queries are sent, but no answer comes back. */
export interface FreezableRelay {
  close(): Promise<void>;
  /** From now on nothing MariaDB sends reaches the clients (a SIGSTOPped server, a lost network). */
  freeze(): void;
  /** Delivers what was held, and everything after it. */
  thaw(): void;
}

/** openDbRelay with freeze() and thaw(). */
export async function openFreezableRelay(port: number, target: URL): Promise<FreezableRelay> {
  let frozen = false;
  const answers = new Map<Socket, Socket>(); // upstream → client
  const relayed = await relay(port, target, (client, upstream) => {
    client.pipe(upstream);
    answers.set(upstream, client);
    upstream.on('close', () => answers.delete(upstream));
    if (frozen) upstream.pause();
    else upstream.pipe(client);
  });
  return {
    close: () => relayed.close(),
    freeze() {
      frozen = true;
      for (const [upstream, client] of answers) {
        upstream.unpipe(client);
        upstream.pause();
      }
    },
    thaw() {
      frozen = false;
      for (const [upstream, client] of answers) upstream.pipe(client);
    },
  };
}

/**
 * Listens on 127.0.0.1:`port`; each connection gets its own to `target` and `join` moves the
 * bytes between them. close() cuts every relayed connection and stops listening.
 */
function relay(port: number, target: URL, join: (client: Socket, upstream: Socket) => void): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port || 3306), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    // A side that goes takes the other with it. pipe() alone ends the far side only on a clean
    // end: a client that dies with a reset (a SIGKILLed tracker with unread bytes) would leave its
    // MariaDB connection open, holding its transaction's row locks until the relay closed.
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    join(client, upstream);
  });
  return new Promise((resolve, reject) => {
    // The port was free when the test chose it; if something took it since, fail, do not hang.
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () =>
      resolve({
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      }),
    );
  });
}

/** Where a cut falls: before the COMMIT reaches MariaDB (it rolls back), or after MariaDB answered it (committed, answer lost). */
export type CommitCut = 'before' | 'after';

/** A COM_QUERY packet's payload for COMMIT (command byte 0x03, then the text). */
const COMMIT_QUERY = Buffer.concat([Buffer.from([0x03]), Buffer.from('COMMIT')]);

/**
 * A TCP relay to MariaDB that reads the client's MySQL packets (3-byte length, sequence
 * byte, payload) and, while armed, cuts the connection at each COMMIT: `before` drops the
 * packet and closes both sides (the server rolls the transaction back), `after` forwards it,
 * waits for the server's answer and closes both sides instead of forwarding it (the
 * transaction is committed and the client cannot know). `cuts` counts the COMMITs cut.
 */
export function openCommitCutter(
  port: number,
  target: URL,
): Promise<{ arm(cut: CommitCut | undefined): void; cuts: number; close(): Promise<void> }> {
  const state: { armed: CommitCut | undefined; cuts: number } = { armed: undefined, cuts: 0 };
  const relayed = relay(port, target, (client, upstream) => {
    const cut = (): void => {
      client.destroy();
      upstream.destroy();
    };
    let answerLost = false;
    upstream.on('data', (chunk: Buffer) => {
      if (answerLost) cut();
      else client.write(chunk);
    });
    let pending = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4) {
        const size = pending.readUIntLE(0, 3) + 4;
        if (pending.length < size) break;
        const packet = pending.subarray(0, size);
        pending = pending.subarray(size);
        if (state.armed !== undefined && packet.subarray(4).equals(COMMIT_QUERY)) {
          state.cuts++;
          if (state.armed === 'before') {
            cut();
            return;
          }
          answerLost = true;
        }
        upstream.write(packet);
      }
    });
  });
  return relayed.then((server) => ({
    arm: (cut: CommitCut | undefined) => {
      state.armed = cut;
    },
    get cuts() {
      return state.cuts;
    },
    close: () => server.close(),
  }));
}
