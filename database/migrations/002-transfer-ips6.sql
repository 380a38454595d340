-- hayate migration 002: IPv6 address history (docs/ipv6.md).
--
-- Needed only with "announce": {"ipv6": true}; hayate refuses to start with IPv6 on
-- while this table is missing. Additive: chihaya's tables are not touched, and chihaya
-- (which never announces IPv6) ignores this table. Safe to run more than once.
--
--   mariadb chihaya < database/migrations/002-transfer-ips6.sql
--
-- transfer_ips6 is transfer_ips for announces made from IPv6 addresses: the same columns,
-- with the address as 16 bytes in network order (MariaDB: INET6_NTOA(ip) shows it as text;
-- from 10.5 the column can be read as an INET6 value with CAST(ip AS INET6)).
-- Bytes a dual-stack client transfers are credited once, to the row of the address whose
-- announce first reported them: SUM over transfer_ips and transfer_ips6 together equals
-- users_main.rawup/rawdl.

CREATE TABLE IF NOT EXISTS `transfer_ips6` (
  `last_announce` int(10) unsigned NOT NULL DEFAULT 0,
  `starttime` int(10) unsigned NOT NULL DEFAULT 0,
  `uid` int(10) unsigned NOT NULL DEFAULT 0,
  `fid` int(10) unsigned NOT NULL DEFAULT 0,
  `ip` binary(16) NOT NULL,
  `client_id` mediumint(8) unsigned NOT NULL DEFAULT 0,
  `uploaded` bigint(20) unsigned NOT NULL DEFAULT 0,
  `downloaded` bigint(20) unsigned NOT NULL DEFAULT 0,
  `port` smallint(5) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (`uid`, `fid`, `ip`, `client_id`),
  KEY `ip` (`ip`),
  KEY `last_announce` (`last_announce`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
