-- Stoa schema version 3: room aliases and the public room directory.

-- Local room aliases. The primary key answers "where does this alias point" and makes
-- creation atomic (INSERT … ON CONFLICT DO NOTHING); the index lists a room's aliases
-- in alias order. No foreign key to `rooms`: an alias may name a room we are not in.
CREATE TABLE room_aliases (
    alias    text COLLATE "C" PRIMARY KEY,
    room_id  text COLLATE "C" NOT NULL,
    creator  text COLLATE "C" NOT NULL
);
CREATE INDEX room_aliases_by_room ON room_aliases (room_id, alias);

-- Rooms published in the public room directory; the primary key pages them by room ID.
CREATE TABLE public_rooms (
    room_id  text COLLATE "C" PRIMARY KEY
);
