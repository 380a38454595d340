import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

/** A request line a client sent, seen on its way to the server. */
export interface TappedRequest {
  method: string;
  /** The request target as sent (latin1). */
  target: string;
}

export interface RequestTap {
  port: number;
  close(): Promise<void>;
}

/**
 * A TCP relay on `host` in front of a server on host:targetPort that hands
 * `onRequest` the request line of every request clients send (bodiless requests, as BitTorrent
 * clients' announces are). It watches the bytes on the wire, so it sees every
 * request whichever path inside the server answers it.
 */
export async function startRequestTap(host: string, targetPort: number, onRequest: (request: TappedRequest) => void): Promise<RequestTap> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect({ host, port: targetPort });
    sockets.add(client).add(upstream);
    let pending = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (let end = pending.indexOf('\r\n\r\n'); end !== -1; end = pending.indexOf('\r\n\r\n')) {
        const line = pending.toString('latin1', 0, pending.indexOf('\r\n'));
        const [method = '', target = ''] = line.split(' ');
        onRequest({ method, target });
        pending = pending.subarray(end + 4);
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    for (const s of [client, upstream]) {
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      s.on('close', () => sockets.delete(s));
    }
  });
  server.listen(0, host);
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('request tap: no port');
  return {
    port: address.port,
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
