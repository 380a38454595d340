/**
 * The cache files as checkpoints: `journal-checkpoint.json`, beside
 * torrent-cache.bin (which stays chihaya's format byte for byte), says which
 * journal position that file's peers reach and which file it describes.
 *
 * The position is taken before the cache writer's first snapshot: each swarm is
 * snapshotted later (the writer yields between torrents), so a peer in the file
 * reflects every record up to the position and maybe some after; replay sets
 * peers from records' absolute counters, so replaying those again changes nothing.
 */
import { open, rename, stat, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { TORRENT_CACHE_FILE } from '../cache/index.js';
import type { Logger } from '../log.js';
import { syncDir } from './journal.js';

export const CHECKPOINT_FILE = 'journal-checkpoint.json';

export interface Checkpoint {
  version: 1;
  /** Every journal record up to this sequence number is reflected in torrent-cache.bin. */
  position: number;
  /** The torrent-cache.bin it describes (a file restored by hand, or older, does not match). */
  torrentCache: { size: number; mtimeMs: number };
  /** Written at a clean stop, after every queue was flushed through `position`. */
  clean: boolean;
}

/** Writes the sidecar for the torrent-cache.bin now in `dir` (tmp + fsync + rename + directory fsync). */
export async function writeCheckpoint(dir: string, position: number, clean: boolean): Promise<Checkpoint> {
  const info = await stat(join(dir, TORRENT_CACHE_FILE));
  const checkpoint: Checkpoint = { version: 1, position, torrentCache: { size: info.size, mtimeMs: info.mtimeMs }, clean };
  const path = join(dir, CHECKPOINT_FILE);
  const tmp = `${path}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(checkpoint)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
  syncDir(dir);
  return checkpoint;
}

/**
 * The checkpoint that matches the torrent-cache.bin in `dir`, or undefined (no
 * sidecar, an unreadable one, or one describing another file: logged). Replay then
 * starts from the oldest journal record there is.
 */
export async function readCheckpoint(dir: string, logger: Logger): Promise<Checkpoint | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, CHECKPOINT_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      logger.warn({ err }, 'journal checkpoint unreadable: replaying the whole journal');
    return undefined;
  }
  let checkpoint: Checkpoint;
  try {
    // Untrusted until its shape is checked.
    const parsed = JSON.parse(text) as { version?: unknown; position?: unknown };
    if (parsed.version !== 1 || !Number.isSafeInteger(parsed.position) || (parsed.position as number) < 0) throw new Error('unknown shape');
    checkpoint = parsed as Checkpoint;
  } catch (err) {
    logger.warn({ file: CHECKPOINT_FILE, err }, 'journal checkpoint damaged: replaying the whole journal');
    return undefined;
  }
  try {
    const info = await stat(join(dir, TORRENT_CACHE_FILE));
    if (info.size !== checkpoint.torrentCache.size || info.mtimeMs !== checkpoint.torrentCache.mtimeMs) {
      logger.warn(
        { file: CHECKPOINT_FILE },
        `journal checkpoint describes another ${TORRENT_CACHE_FILE} (replaced by hand?): replaying the whole journal`,
      );
      return undefined;
    }
  } catch {
    return undefined;
  }
  return checkpoint;
}

/** Removes the sidecar (when the cache file it describes could not be loaded). */
export async function removeCheckpoint(dir: string): Promise<void> {
  await unlink(join(dir, CHECKPOINT_FILE)).catch(() => undefined);
}
