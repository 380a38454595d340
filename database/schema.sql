-- hayate / chihaya schema: the tables a Gazelle-style site shares with the tracker.
-- Loads into an empty database with the plain client: mariadb DBNAME < database/schema.sql

CREATE TABLE approved_clients
(
    id       MEDIUMINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    peer_id  VARCHAR(42)          NOT NULL,
    archived TINYINT(1) DEFAULT 0 NOT NULL
);

CREATE TABLE mod_core
(
    mod_option  VARCHAR(121) NOT NULL PRIMARY KEY,
    mod_setting INT(12)      NOT NULL
);

CREATE TABLE torrent_group_freeleech
(
    ID             INT(10) AUTO_INCREMENT PRIMARY KEY,
    GroupID        INT(10)                 NOT NULL,
    Type           ENUM ('anime', 'music') NOT NULL,
    DownMultiplier FLOAT DEFAULT 1         NOT NULL,
    UpMultiplier   FLOAT DEFAULT 1         NOT NULL,
    CONSTRAINT GroupID UNIQUE (GroupID, Type)
);

CREATE TABLE torrents
(
    ID             INT(10) AUTO_INCREMENT PRIMARY KEY,
    GroupID        INT(10)                 NOT NULL,
    TorrentType    ENUM ('anime', 'music') NOT NULL,
    info_hash      BLOB                    NOT NULL,
    Leechers       INT(6)       DEFAULT 0  NOT NULL,
    Seeders        INT(6)       DEFAULT 0  NOT NULL,
    last_action    INT          DEFAULT 0  NOT NULL,
    Snatched       INT UNSIGNED DEFAULT 0  NOT NULL,
    DownMultiplier FLOAT        DEFAULT 1  NOT NULL,
    UpMultiplier   FLOAT        DEFAULT 1  NOT NULL,
    Status         INT          DEFAULT 0  NOT NULL,
    CONSTRAINT InfoHash UNIQUE (info_hash(20))
);

CREATE TABLE transfer_history
(
    uid           INT               NOT NULL,
    fid           INT               NOT NULL,
    uploaded      BIGINT  DEFAULT 0 NOT NULL,
    downloaded    BIGINT  DEFAULT 0 NOT NULL,
    seeding       TINYINT DEFAULT 0 NOT NULL,
    seedtime      INT(30) DEFAULT 0 NOT NULL,
    activetime    INT(30) DEFAULT 0 NOT NULL,
    hnr           TINYINT DEFAULT 0 NOT NULL,
    remaining     BIGINT  DEFAULT 0 NOT NULL,
    active        TINYINT DEFAULT 0 NOT NULL,
    starttime     INT     DEFAULT 0 NOT NULL,
    last_announce INT     DEFAULT 0 NOT NULL,
    snatched      INT     DEFAULT 0 NOT NULL,
    snatched_time INT     DEFAULT 0 NOT NULL,
    PRIMARY KEY (uid, fid)
);

CREATE TABLE transfer_ips
(
    last_announce INT UNSIGNED       DEFAULT 0 NOT NULL,
    starttime     INT UNSIGNED       DEFAULT 0 NOT NULL,
    uid           INT UNSIGNED       NOT NULL,
    fid           INT UNSIGNED       NOT NULL,
    ip            INT UNSIGNED       NOT NULL,
    client_id     MEDIUMINT UNSIGNED NOT NULL,
    uploaded      BIGINT UNSIGNED    DEFAULT 0 NOT NULL,
    downloaded    BIGINT UNSIGNED    DEFAULT 0 NOT NULL,
    port          SMALLINT UNSIGNED ZEROFILL DEFAULT 0 NOT NULL,
    PRIMARY KEY (uid, fid, ip, client_id)
);

CREATE TABLE users_main
(
    ID              INT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    Uploaded        BIGINT UNSIGNED      DEFAULT 0   NOT NULL,
    Downloaded      BIGINT UNSIGNED      DEFAULT 0   NOT NULL,
    Enabled         ENUM ('0', '1', '2') DEFAULT '0' NOT NULL,
    torrent_pass    CHAR(32)                         NOT NULL,
    rawup           BIGINT UNSIGNED      DEFAULT 0   NOT NULL,
    rawdl           BIGINT UNSIGNED      DEFAULT 0   NOT NULL,
    DownMultiplier  FLOAT                DEFAULT 1   NOT NULL,
    UpMultiplier    FLOAT                DEFAULT 1   NOT NULL,
    DisableDownload TINYINT(1)           DEFAULT 0   NOT NULL,
    TrackerHide     TINYINT(1)           DEFAULT 0   NOT NULL
);
