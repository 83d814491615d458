-- 0005: the audit log's query (filters by task, event type and time; pages by position).
--
-- The task an entry is about, taken from the event itself: a stored generated column, so the
-- append statement is unchanged (a replica still running the previous version keeps appending
-- during a rolling upgrade) and rows written before get theirs here. Adding it rewrites the
-- table once.
ALTER TABLE audit_log
    ADD COLUMN task_id bigint GENERATED ALWAYS AS ((event #>> '{data,id}')::bigint) STORED;

-- Every page is one user's entries newest first by (occurred_at, seq), the position a page
-- starts after (`(occurred_at, seq) < (...)`, an index condition). audit_log_user_recent (0001)
-- serves the log unfiltered and the since/until range; these two serve the task and event
-- type filters in the same order (both together use the task's, whose entries are few).
CREATE INDEX audit_log_user_task ON audit_log (user_id, task_id, occurred_at DESC, seq DESC);
CREATE INDEX audit_log_user_type ON audit_log (user_id, event_type, occurred_at DESC, seq DESC);
