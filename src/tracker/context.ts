import type { AccountingSink } from '../accounting/sink.js';
import type { Config } from '../config/config.js';
import { ClientAddressRules } from '../protocol/address.js';
import type { AnnounceRecorder } from '../recorder/recorder.js';
import type { Store } from '../store/store.js';
import { FailureCache } from './bencode.js';

/** What announce and scrape read and write: passed in, never global. */
export interface TrackerContext {
  store: Store;
  config: Config;
  accounting: AccountingSink;
  recorder: AnnounceRecorder;
  /** Uniform in [0, 1): peer sampling and interval drift. */
  random: () => number;
  failures: FailureCache;
  /** Which address a peer gets (ip parameter, proxy headers, socket), from config.http. */
  addresses: ClientAddressRules;
  /** Successful announces by the family of the announcing address (plain numbers: metrics read them). */
  announcesByFamily: { ipv4: number; ipv6: number };
}

export function createContext(
  parts: Omit<TrackerContext, 'failures' | 'random' | 'addresses' | 'announcesByFamily'> & {
    random?: () => number;
    addresses?: ClientAddressRules;
  },
): TrackerContext {
  const { proxy_header, trusted_proxies } = parts.config.http;
  return {
    random: Math.random,
    failures: new FailureCache(),
    addresses: new ClientAddressRules(proxy_header, trusted_proxies),
    announcesByFamily: { ipv4: 0, ipv6: 0 },
    ...parts,
  };
}
