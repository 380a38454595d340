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
    /** With `announce.ipv6` on, an announce from an IPv6 address: its 16 bytes (latin1); `ip` is then 0. */
    addr6?: string,
  ): void;
}

export const noRecorder: AnnounceRecorder = {
  record() {},
};
