-- Stoa schema version 2: rooms — events, state groups, current state, forward
-- extremities, transaction IDs and memberships.
--
-- Every read of the RoomStore trait is a primary-key probe or one index range scan; the
-- comment above each index names the read it serves.

CREATE TABLE rooms (
    room_id              text COLLATE "C" PRIMARY KEY,
    room_version         text NOT NULL,
    creator              text COLLATE "C" NOT NULL,
    created_at_position  bigint NOT NULL
);

-- One row per event, whatever its status. The JSON is stored as received (canonical
-- text); the other columns are copies of its fields, for indexes and filters.
CREATE TABLE events (
    event_id     text COLLATE "C" PRIMARY KEY,
    room_id      text COLLATE "C" NOT NULL,
    -- NULL for outliers and rejected events, which are not in the Events stream.
    position     bigint,
    status       text NOT NULL
                 CHECK (status IN ('accepted', 'outlier', 'rejected', 'soft_failed')),
    sender       text COLLATE "C" NOT NULL,
    event_type   text COLLATE "C" NOT NULL,
    state_key    text COLLATE "C",
    json         text NOT NULL,
    redacted_by  text COLLATE "C"
);
-- Timeline pages in both directions: an index range scan on (room_id, position), read
-- forwards or backwards, stopped by LIMIT. Unique, because a position names one event.
CREATE UNIQUE INDEX events_timeline ON events (room_id, position) WHERE position IS NOT NULL;

-- The state before and after each event (equal for non-state events).
CREATE TABLE event_state_groups (
    event_id      text COLLATE "C" PRIMARY KEY,
    state_before  bigint NOT NULL,
    state_after   bigint NOT NULL
);

-- A redaction whose target we have not seen yet: applied when the target arrives.
CREATE TABLE pending_redactions (
    target_id     text COLLATE "C" NOT NULL,
    redaction_id  text COLLATE "C" NOT NULL,
    room_id       text COLLATE "C" NOT NULL,
    PRIMARY KEY (target_id, redaction_id)
);

-- A state group is its parent's state plus its own delta; `depth` counts its ancestors
-- so chains can be kept short without walking them.
CREATE TABLE state_groups (
    id      bigint PRIMARY KEY,
    parent  bigint REFERENCES state_groups (id),
    depth   integer NOT NULL CHECK (depth >= 0)
);
-- A NULL event_id removes the key from the parent's state.
CREATE TABLE state_group_deltas (
    group_id    bigint NOT NULL REFERENCES state_groups (id),
    event_type  text COLLATE "C" NOT NULL,
    state_key   text COLLATE "C" NOT NULL,
    event_id    text COLLATE "C",
    PRIMARY KEY (group_id, event_type, state_key)
);
-- The next state group ID to hand out. One row: an UPDATE … RETURNING on it reserves a
-- consecutive range atomically, which a sequence (one value per nextval) cannot.
CREATE TABLE state_group_id_counter (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    next_id    bigint NOT NULL CHECK (next_id >= 1)
);
INSERT INTO state_group_id_counter (next_id) VALUES (1);

CREATE TABLE current_state (
    room_id     text COLLATE "C" NOT NULL,
    event_type  text COLLATE "C" NOT NULL,
    state_key   text COLLATE "C" NOT NULL,
    event_id    text COLLATE "C" NOT NULL,
    PRIMARY KEY (room_id, event_type, state_key)
);

-- A room's forward extremities, replaced as a whole by each batch that changes them and
-- read back in the order the batch gave them (`ordinal`).
CREATE TABLE forward_extremities (
    room_id   text COLLATE "C" NOT NULL,
    ordinal   integer NOT NULL,
    event_id  text COLLATE "C" NOT NULL,
    PRIMARY KEY (room_id, ordinal)
);

CREATE TABLE txn_ids (
    user_id    text COLLATE "C" NOT NULL,
    device_id  text COLLATE "C" NOT NULL,
    txn_id     text COLLATE "C" NOT NULL,
    event_id   text COLLATE "C" NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);

-- Each user's current membership per room. The primary key pages a room's members by
-- user ID; the second index does so for one membership; the third lists a user's rooms.
CREATE TABLE memberships (
    room_id     text COLLATE "C" NOT NULL,
    user_id     text COLLATE "C" NOT NULL,
    membership  text NOT NULL,
    event_id    text COLLATE "C" NOT NULL,
    position    bigint NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX memberships_by_room_membership ON memberships (room_id, membership, user_id);
CREATE UNIQUE INDEX memberships_by_user ON memberships (user_id, room_id);

-- Every membership record ever written, for `/sync`'s "which rooms changed for me":
-- the primary key is the per-user change log in position order.
CREATE TABLE membership_changes (
    user_id     text COLLATE "C" NOT NULL,
    position    bigint NOT NULL,
    room_id     text COLLATE "C" NOT NULL,
    membership  text NOT NULL,
    event_id    text COLLATE "C" NOT NULL,
    PRIMARY KEY (user_id, position, room_id)
);
