-- Stoa schema version 1: accounts, devices and their tokens, profiles, account data,
-- filters, user-interactive auth sessions and stream position sequences.
--
-- Conventions: Matrix IDs are text with COLLATE "C" so that ORDER BY matches the byte
-- order the embedded adapter and the trait contracts use; token hashes are bytea;
-- timestamps are bigint milliseconds since the Unix epoch.

CREATE TABLE users (
    user_id        text COLLATE "C" PRIMARY KEY,
    password_hash  text,
    is_admin       boolean NOT NULL,
    is_guest       boolean NOT NULL,
    deactivated    boolean NOT NULL,
    created_at_ms  bigint NOT NULL
);

CREATE TABLE registration_token_uses (
    token  text COLLATE "C" PRIMARY KEY,
    uses   bigint NOT NULL CHECK (uses >= 0)
);

-- One row per device, holding its one token set.
CREATE TABLE devices (
    user_id                      text COLLATE "C" NOT NULL,
    device_id                    text COLLATE "C" NOT NULL,
    display_name                 text,
    last_seen_ip                 text,
    last_seen_ts_ms              bigint,
    created_at_ms                bigint NOT NULL,
    access_token_hash            bytea NOT NULL,
    access_expires_at_ms         bigint,
    refresh_token_hash           bytea,
    -- The refresh token the last refresh replaced, accepted until retired.
    previous_refresh_token_hash  bytea,
    PRIMARY KEY (user_id, device_id)
);
CREATE UNIQUE INDEX devices_by_access_token ON devices (access_token_hash);
CREATE INDEX devices_by_refresh_token ON devices (refresh_token_hash)
    WHERE refresh_token_hash IS NOT NULL;
CREATE INDEX devices_by_previous_refresh_token ON devices (previous_refresh_token_hash)
    WHERE previous_refresh_token_hash IS NOT NULL;

CREATE TABLE profiles (
    user_id      text COLLATE "C" PRIMARY KEY,
    displayname  text,
    avatar_url   text
);

-- The current value of each entry. `room_id` is '' for global account data (no room ID
-- is empty), so it can be part of the primary key. `position` is where the entry last
-- changed: the index on (user_id, position) is the change log `/sync` range-scans, and
-- an entry changed twice is in it once, at its last position.
CREATE TABLE account_data (
    user_id     text COLLATE "C" NOT NULL,
    room_id     text COLLATE "C" NOT NULL,
    event_type  text COLLATE "C" NOT NULL,
    content     text NOT NULL,
    position    bigint NOT NULL,
    PRIMARY KEY (user_id, room_id, event_type)
);
-- The trailing columns order entries sharing a position, so the ORDER BY of a change page
-- is the index order and LIMIT stops the scan early.
CREATE INDEX account_data_changes ON account_data (user_id, position, room_id, event_type);

CREATE TABLE filters (
    user_id    text COLLATE "C" NOT NULL,
    filter_id  text COLLATE "C" NOT NULL,
    filter     text NOT NULL,
    PRIMARY KEY (user_id, filter_id)
);

CREATE TABLE uia_sessions (
    session_id     text COLLATE "C" PRIMARY KEY,
    purpose        text NOT NULL,
    completed      text[] NOT NULL,
    data           text NOT NULL,
    expires_at_ms  bigint NOT NULL
);
CREATE INDEX uia_sessions_by_expiry ON uia_sessions (expires_at_ms);

-- One sequence per stream: nextval never hands a value out twice, even to concurrent
-- transactions or after a crash, which is exactly the contract of reserve_position.
CREATE SEQUENCE stream_events AS bigint MINVALUE 1 START 1;
CREATE SEQUENCE stream_account_data AS bigint MINVALUE 1 START 1;
CREATE SEQUENCE stream_receipts AS bigint MINVALUE 1 START 1;
CREATE SEQUENCE stream_to_device AS bigint MINVALUE 1 START 1;
CREATE SEQUENCE stream_device_lists AS bigint MINVALUE 1 START 1;
CREATE SEQUENCE stream_typing AS bigint MINVALUE 1 START 1;
CREATE SEQUENCE stream_presence AS bigint MINVALUE 1 START 1;
CREATE SEQUENCE stream_push_rules AS bigint MINVALUE 1 START 1;
