export { CacheFormatError } from './binary.js';
export {
  CacheWriter,
  readCacheFiles,
  writeCacheFiles,
  type CacheReadOptions,
  type CacheReadResult,
  type CacheWriteOptions,
  type CacheWriteResult,
} from './cache.js';
export { TORRENT_CACHE_FILE, USER_CACHE_FILE } from './format.js';
