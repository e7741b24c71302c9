-- Stoa schema version 4: event relations (edits, reactions, threads, references) and
-- thread roots by latest activity. (Version 3 is the room directory.)
--
-- Rows are written in the transaction that stores the relating event. Every read of the
-- RelationStore trait is one index range scan; the comment above each index names it.

-- One row per relating event (an event relates to at most one parent).
CREATE TABLE relations (
    event_id    text COLLATE "C" PRIMARY KEY,
    room_id     text COLLATE "C" NOT NULL,
    parent_id   text COLLATE "C" NOT NULL,
    rel_type    text COLLATE "C" NOT NULL,
    event_type  text COLLATE "C" NOT NULL,
    sender      text COLLATE "C" NOT NULL,
    position    bigint NOT NULL
);
-- `/relations` without a relation type: a parent's relations by position.
CREATE INDEX relations_by_parent ON relations (parent_id, position);
-- `/relations` with a type, the newest relation of a type, and the count (an index-only
-- scan over the parent's rows of that type).
CREATE INDEX relations_by_type ON relations (parent_id, rel_type, position);
-- `/relations` with a relation type and an event type.
CREATE INDEX relations_by_event_type ON relations (parent_id, rel_type, event_type, position);
-- A sender's newest relation (latest edit) and "did they already react".
CREATE INDEX relations_by_sender ON relations (parent_id, rel_type, sender, position);

-- One row per thread root: its newest `m.thread` relation. Upserted by each batch with
-- thread events, keeping the highest position.
CREATE TABLE threads (
    root_id          text COLLATE "C" PRIMARY KEY,
    room_id          text COLLATE "C" NOT NULL,
    latest_position  bigint NOT NULL,
    latest_event_id  text COLLATE "C" NOT NULL
);
-- `/threads`: a room's roots, most recently active first, paged by position.
CREATE INDEX threads_by_activity ON threads (room_id, latest_position);
