/**
 * Receives every successful announce (SPEC §9). The announce path calls it
 * synchronously; an implementation must buffer and write off the hot path.
 */
export interface AnnounceRecorder {
  record(
    now: number,
    torrentId: number,
    userId: number,
    ip: number,
    port: number,
    event: string,
    uploaded: number | bigint,
    downloaded: number | bigint,
    left: number | bigint,
  ): void;
}

export const noRecorder: AnnounceRecorder = {
  record() {},
};
