import { DualStack } from '../accounting/sink.js';
import type { PeerV6 } from '../store/peer.js';

/**
 * Crediting a dual-stack client's running totals once (SPEC §13, docs/ipv6.md).
 *
 * A client on a dual-stack host announces once per address family, with the same peer_id
 * and the same running totals (BEP 7; libtorrent, Transmission 4). Both announces update one
 * peer. What the peer's swarm keeps as its `uploaded`/`downloaded` is the highest total
 * credited so far (H); each family's own last report is kept too (PeerV6.last).
 *
 * For a report `x` of one counter by family f:
 * - x ≥ H: the client's total grew; credit x − H, H = x. The other family's report of the
 *   same total then credits 0 — whichever arrives first.
 * - x < H and x < f's own last report: f's counter went backwards: the client reset its
 *   counters. As for a single-stack peer (SPEC §5: negative deltas clamp to 0) nothing is
 *   credited and x is the new baseline (H = x); the other family's last report belongs to
 *   the totals before the reset and is forgotten, so its next report is not taken for a
 *   second reset.
 * - otherwise x < H: a report the other family has overtaken (sent earlier, arrived later,
 *   or the second of a pair after a reset): credit 0, H stays. Such a report is "stale":
 *   its `left` and event do not move the peer between seeders and leechers either.
 *
 * Each family's announces reach the tracker in the order the client sent them (one HTTP
 * request at a time per family); the two families may interleave in any order. A peer that
 * only ever announces over one family gets exactly chihaya's single-stack deltas.
 */
export interface DualReport {
  /** Raw bytes to credit. */
  rawUp: number;
  rawDown: number;
  /** The new highest totals (what the swarm keeps as the peer's counters). */
  uploaded: number;
  downloaded: number;
  /** A report the other family has overtaken: keep the peer's left and seeding state. */
  stale: boolean;
  /** Per counter, what the report did to PeerV6.last (DualStack's stale and reset bits), for the crash journal's replay. */
  bits: number;
}

/** Where family f's totals sit in PeerV6.last. */
const OWN = [0, 0, 0, 0, 0, 2, 2] as const;

/**
 * Applies one announce's totals (`uploaded`, `downloaded`, bytes) made over `family` (4 or 6)
 * to a peer whose credited totals are `highUp`/`highDown`; updates `v6.last` and writes the
 * outcome into `out` (a scratch object: the announce path is synchronous). Pure otherwise.
 */
export function dualStackReport(
  v6: PeerV6,
  family: 4 | 6,
  uploaded: number,
  downloaded: number,
  highUp: number,
  highDown: number,
  out: DualReport,
): DualReport {
  const own = OWN[family];
  const other = 2 - own;
  const last = v6.last;
  let stale = false;
  let bits = 0;

  // uploaded
  if (uploaded >= highUp) {
    out.rawUp = uploaded - highUp;
    out.uploaded = uploaded;
  } else if (last[own]! >= 0 && uploaded < last[own]!) {
    out.rawUp = 0;
    out.uploaded = uploaded;
    last[other] = -1;
    bits |= DualStack.upReset;
  } else {
    out.rawUp = 0;
    out.uploaded = highUp;
    stale = true;
    bits |= DualStack.upStale;
  }
  last[own] = uploaded;

  // downloaded
  if (downloaded >= highDown) {
    out.rawDown = downloaded - highDown;
    out.downloaded = downloaded;
  } else if (last[own + 1]! >= 0 && downloaded < last[own + 1]!) {
    out.rawDown = 0;
    out.downloaded = downloaded;
    last[other + 1] = -1;
    bits |= DualStack.downReset;
  } else {
    out.rawDown = 0;
    out.downloaded = highDown;
    stale = true;
    bits |= DualStack.downStale;
  }
  last[own + 1] = downloaded;

  out.stale = stale;
  out.bits = bits;
  return out;
}

/**
 * A new PeerV6 for a peer first seen now. `family` is the announce's; `uploaded`/`downloaded`
 * what it reported (the baseline for a new peer, or the peer's credited totals when an IPv4
 * peer gains an IPv6 endpoint: then the IPv4 side's last report is those totals).
 */
export function newPeerV6(
  addr16: string,
  port: number,
  seen6: number,
  seen4: number,
  lastFamily: 0 | 4 | 6,
  uploaded: number,
  downloaded: number,
): PeerV6 {
  const last = [-0.5, -1, -1, -1]; // a double first: the array keeps unboxed double elements
  last[0] = -1;
  if (lastFamily !== 0) {
    last[OWN[lastFamily]] = uploaded;
    last[OWN[lastFamily] + 1] = downloaded;
  }
  return { addr: addr16, port, seen6, seen4, last };
}
