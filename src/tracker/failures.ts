/** Announce and scrape failure reasons (SPEC §4) with their intervals, in seconds. */
export const Failure = {
  invalidPasskey: ['Your passkey is invalid', 3600],
  missingInfoHash: ['Malformed request - missing info_hash', 3600],
  multipleInfoHash: ['Malformed request - can only announce singular info_hash', 3600],
  missingPeerId: ['Malformed request - missing peer_id', 3600],
  invalidPeerId: ['Malformed request - invalid peer_id', 3600],
  missingPort: ['Malformed request - missing port', 3600],
  invalidPort: ['Malformed request - invalid port', 3600],
  missingUploaded: ['Malformed request - missing uploaded', 3600],
  invalidUploaded: ['Malformed request - invalid uploaded', 3600],
  missingDownloaded: ['Malformed request - missing downloaded', 3600],
  invalidDownloaded: ['Malformed request - invalid downloaded', 3600],
  missingLeft: ['Malformed request - missing left', 3600],
  invalidLeft: ['Malformed request - invalid left', 3600],
  unknownTorrent: ['This torrent does not exist', 300],
  downloadDisabled: ['Your download privileges are disabled', 3600],
  scrapeWithoutInfoHash: ['Unsupported request - must provide at least one info_hash', 0],
  internalError: ['Internal tracker error, please try again later', 300],
  /** Before the first load (cache files or database) an unknown passkey proves nothing: retry soon. */
  notReady: ['Tracker is starting up, please try again shortly', 30],
} as const satisfies Record<string, readonly [string, number]>;

export const wellKnownPort = (port: number): [string, number] => [
  `Unacceptable request - port must be outside of well-known range (port: ${port})`,
  3600,
];
export const notIPv4 = (address: string): [string, number] => [`Invalid IPv4 address (ip: ${address})`, 3600];
export const clientNotApproved = (peerId: string): [string, number] => [`Your client is not approved (peer_id: ${peerId})`, 3600];
export const torrentGone = (status: number, left: number | bigint): [string, number] => [
  `This torrent does not exist (status: ${status}, left: ${left})`,
  900,
];
/** A torrent the site deleted (Ocelot's wording); '' when it gave no reason. Long interval: it is not coming back. */
export const unregisteredTorrent = (reason: string): [string, number] => [
  reason === '' ? 'Unregistered torrent' : `Unregistered torrent: ${reason}`,
  3600,
];
