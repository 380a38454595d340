import type { Socket } from 'node:net';

/**
 * Holds announce answers until what they depend on is safe: the crash journal's
 * records of the announces they answer (src/journal/). Answers written between
 * hold() and release() stay in the corked socket until the records are written
 * (and synced, when configured); `after` then runs for the socket.
 */
export interface AnswerGate {
  /** Before answers are written to `socket` (corks it). */
  hold(socket: Socket): void;
  /** The answers are written (into the corked socket): let them out once safe, then call `after`. */
  release(socket: Socket, after: (socket: Socket) => void): void;
  /** Writes what is outstanding now, synchronously: for answers that cannot be held (Node's HTTP server, fastify). */
  writeNow(): void;
}
