-- Rooms a user forgot, and reports to the server's operators.
CREATE TABLE forgotten_rooms (
    user_id text COLLATE "C" NOT NULL,
    room_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (user_id, room_id)
);

CREATE TABLE reports (
    id             bigserial PRIMARY KEY,
    reporter       text COLLATE "C" NOT NULL,
    room_id        text COLLATE "C" NOT NULL,
    event_id       text COLLATE "C",
    reason         text,
    received_at_ms bigint NOT NULL
);
