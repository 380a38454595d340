-- hayate's own table (chihaya's tables are untouched): per accounting queue, the
-- announce-journal position its last committed flush round covers. Additive:
-- chihaya ignores it. hayate creates it at start when it may (CREATE privilege);
-- otherwise the DBA runs this file once:
--   mariadb -u <owner> <database> < database/migrations/001-hayate-journal-positions.sql
-- See docs/crash-safety.md.
CREATE TABLE IF NOT EXISTS hayate_journal_positions (
  queue VARCHAR(32) NOT NULL,
  position BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (queue)
) ENGINE=InnoDB DEFAULT CHARSET=ascii;
