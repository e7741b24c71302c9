-- End-to-end encryption: device and cross-signing keys, one-time and fallback keys,
-- signatures, to-device queues, device-list changes, key backups and dehydrated devices.
CREATE TABLE device_keys (
    user_id   text COLLATE "C" NOT NULL,
    device_id text COLLATE "C" NOT NULL,
    json      text NOT NULL,
    PRIMARY KEY (user_id, device_id)
);

CREATE TABLE one_time_keys (
    user_id   text COLLATE "C" NOT NULL,
    device_id text COLLATE "C" NOT NULL,
    key_id    text COLLATE "C" NOT NULL,
    algorithm text COLLATE "C" NOT NULL,
    seq       bigserial,
    json      text NOT NULL,
    PRIMARY KEY (user_id, device_id, key_id)
);
CREATE INDEX one_time_keys_claim ON one_time_keys (user_id, device_id, algorithm, seq);

CREATE TABLE fallback_keys (
    user_id   text COLLATE "C" NOT NULL,
    device_id text COLLATE "C" NOT NULL,
    algorithm text COLLATE "C" NOT NULL,
    key_id    text COLLATE "C" NOT NULL,
    json      text NOT NULL,
    used      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (user_id, device_id, algorithm)
);

CREATE TABLE cross_signing_keys (
    user_id text COLLATE "C" NOT NULL,
    kind    text COLLATE "C" NOT NULL,
    json    text NOT NULL,
    PRIMARY KEY (user_id, kind)
);

CREATE TABLE key_signatures (
    target_user   text COLLATE "C" NOT NULL,
    target_key_id text COLLATE "C" NOT NULL,
    signer        text COLLATE "C" NOT NULL,
    signer_key_id text COLLATE "C" NOT NULL,
    signature     text NOT NULL,
    PRIMARY KEY (target_user, target_key_id, signer, signer_key_id)
);

CREATE TABLE to_device (
    user_id    text COLLATE "C" NOT NULL,
    device_id  text COLLATE "C" NOT NULL,
    position   bigint NOT NULL,
    idx        integer NOT NULL,
    json       text NOT NULL,
    PRIMARY KEY (user_id, device_id, position, idx)
);

CREATE TABLE to_device_txns (
    sender        text COLLATE "C" NOT NULL,
    sender_device text COLLATE "C" NOT NULL,
    txn_id        text COLLATE "C" NOT NULL,
    position      bigint NOT NULL,
    PRIMARY KEY (sender, sender_device, txn_id)
);

CREATE TABLE device_list_changes (
    user_id  text COLLATE "C" PRIMARY KEY,
    position bigint NOT NULL
);
CREATE INDEX device_list_changes_position ON device_list_changes (position);

CREATE TABLE backup_versions (
    user_id   text COLLATE "C" NOT NULL,
    version   bigint NOT NULL,
    algorithm text NOT NULL,
    auth_data text NOT NULL,
    etag      bigint NOT NULL DEFAULT 0,
    deleted   boolean NOT NULL DEFAULT false,
    PRIMARY KEY (user_id, version)
);

CREATE TABLE backup_keys (
    user_id    text COLLATE "C" NOT NULL,
    version    bigint NOT NULL,
    room_id    text COLLATE "C" NOT NULL,
    session_id text COLLATE "C" NOT NULL,
    json       text NOT NULL,
    PRIMARY KEY (user_id, version, room_id, session_id)
);

CREATE TABLE dehydrated_devices (
    user_id     text COLLATE "C" PRIMARY KEY,
    device_id   text COLLATE "C" NOT NULL,
    device_data text NOT NULL
);
