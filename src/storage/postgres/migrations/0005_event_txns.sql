-- Reverse lookup of transaction IDs: which transaction an event was sent with, for
-- `unsigned.transaction_id` on the sender's own device.
CREATE INDEX txn_ids_by_event ON txn_ids (event_id);
