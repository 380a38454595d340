/**
 * Gazelle's deletion reasons as delete_torrent sends them: `reason=<code>`, the
 * codes of Ocelot's enum (ocelot.h), -1 (or none) for no reason. An announce on
 * the deleted torrent then reads `Unregistered torrent: <text>`.
 */
const GAZELLE_REASONS: readonly string[] = [
  'Dupe', // 0
  'Trump',
  'Bad File Names',
  'Bad Folder Names',
  'Bad Tags',
  'Disallowed Format', // 5
  'Discs Missing',
  'Discography',
  'Edited Log',
  'Inaccurate Bitrate',
  'Low Bitrate', // 10
  'Mutt Rip',
  'Disallowed Source',
  'Encode Errors',
  'Specifically Banned',
  'Tracks Missing', // 15
  'Transcode',
  'Unapproved Cassette',
  'Unsplit Album',
  'User Compilation',
  'Wrong Format', // 20
  'Wrong Media',
  'Audience Recording', // 22
];

/** The longest free-text reason accepted (it goes into every failure answer on that torrent). */
export const MAX_REASON_LENGTH = 200;

/**
 * The text for a `reason` parameter: a Gazelle code, or (hayate's addition, for
 * sites without Gazelle's codes) the text itself. '' for none, -1 or an unknown
 * code (Ocelot answers plain `Unregistered torrent` then too). Returns undefined
 * for text hayate will not put in an answer (control bytes, over 200 bytes).
 */
export function deletionReason(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return '';
  if (/^-?\d{1,9}$/.test(value)) return GAZELLE_REASONS[Number(value)] ?? '';
  if (value.length > MAX_REASON_LENGTH) return undefined;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return undefined;
  }
  return value;
}
