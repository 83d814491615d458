-- 0006: the trace each event was written in, kept with its outbox rows so that the relay
-- publishes it in that trace and every consumer continues it (one trace id from a request to
-- the consumers it set off). A W3C traceparent, or NULL for writes outside any trace (and for
-- rows written before this migration).
ALTER TABLE outbox ADD COLUMN traceparent text;
