-- 0001: tasks, the transactional outbox and the consumers' ledgers.
--
-- Applied once, inside one transaction, under an advisory lock (see src/migrate.rs). Never edit
-- an applied migration: its checksum is recorded and start-up refuses a changed one. Add a new
-- numbered file instead.

-- Tasks: every field of todo_model::Task. Ids come from an identity column (positive, in
-- insertion order); revision is the optimistic-concurrency token (a u32, so bigint).
CREATE TABLE tasks (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id                 text        NOT NULL,
    title                   text        NOT NULL,
    description             text,
    completed               boolean     NOT NULL DEFAULT false,
    priority_id             smallint    CHECK (priority_id BETWEEN 1 AND 4),
    due_date                timestamptz,
    tags                    text[]      NOT NULL DEFAULT '{}',
    recurrence_frequency    text        CHECK (recurrence_frequency IN ('daily', 'weekly', 'monthly')),
    recurrence_interval     integer     CHECK (recurrence_interval >= 1),
    reminder_offset_minutes integer     NOT NULL CHECK (reminder_offset_minutes >= 0),
    series_id               uuid,
    series_occurrence       bigint      CHECK (series_occurrence >= 0),
    series_anchor_day       smallint    CHECK (series_anchor_day BETWEEN 1 AND 31),
    revision                bigint      NOT NULL DEFAULT 0,
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL,
    CONSTRAINT tasks_recurrence_whole
        CHECK ((recurrence_frequency IS NULL) = (recurrence_interval IS NULL)),
    CONSTRAINT tasks_series_whole
        CHECK ((series_id IS NULL) = (series_occurrence IS NULL)
           AND (series_id IS NULL) = (series_anchor_day IS NULL)),
    -- One task per occurrence of a series: the next instance of a recurring task is created at
    -- most once however many consumers or sweeps race to create it. Tasks outside a series
    -- (NULLs) never collide.
    CONSTRAINT tasks_series_occurrence_key UNIQUE (series_id, series_occurrence)
);

-- One index per listing filter, each led by user_id since every listing is one user's.
-- Default listing (sort by created_at) and the completed filter:
CREATE INDEX tasks_user_created   ON tasks (user_id, created_at, id);
CREATE INDEX tasks_user_completed ON tasks (user_id, completed, created_at, id);
-- priority filter and sort:
CREATE INDEX tasks_user_priority  ON tasks (user_id, priority_id, id);
-- due_before / due_after filters and the due-date sort:
CREATE INDEX tasks_user_due       ON tasks (user_id, due_date, id);
-- tag filter (`tags @> ARRAY[$tag]`):
CREATE INDEX tasks_tags           ON tasks USING gin (tags);
-- The reminder sweep: open tasks with a due date, by due date (partial, so it stays small).
CREATE INDEX tasks_open_due       ON tasks (due_date, id) WHERE NOT completed AND due_date IS NOT NULL;
-- The recurrence sweep: open recurring tasks, by due date. Its "next occurrence exists?" probe
-- uses the unique (series_id, series_occurrence) index.
CREATE INDEX tasks_open_recurring ON tasks (due_date, id) WHERE NOT completed AND recurrence_frequency IS NOT NULL;

-- The outbox: events committed with the writes they describe, waiting to be published. One row
-- per topic; `id` gives the order. Rows are deleted once the bus accepted them.
CREATE TABLE outbox (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    text        NOT NULL,
    topic      text        NOT NULL CHECK (topic IN ('task-events', 'task-updates', 'reminders')),
    kind       text        NOT NULL CHECK (kind IN ('task', 'reminder')),
    event_id   uuid        NOT NULL,
    payload    jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- A user's lane, oldest first (drains publish each user's rows in order).
CREATE INDEX outbox_user_lane ON outbox (user_id, id);

-- Wake the relays (LISTEN todo_outbox) when rows are written. NOTIFY is sent at commit, so a
-- relay never wakes for rows it cannot see yet.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('todo_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_written AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Consumers' inbox: (consumer, event) pairs already processed, written in the transaction of
-- the consumer's side effect.
CREATE TABLE consumer_inbox (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Reminders raised: one per task and due date, whoever raises it.
CREATE TABLE reminder_ledger (
    task_id     bigint      NOT NULL,
    due_date    timestamptz NOT NULL,
    event_id    uuid        NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, due_date)
);

-- The audit trail: each task event once.
CREATE TABLE audit_log (
    seq         bigint GENERATED ALWAYS AS IDENTITY,
    event_id    uuid        PRIMARY KEY,
    user_id     text        NOT NULL,
    event_type  text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    event       jsonb       NOT NULL
);
CREATE INDEX audit_log_user_recent ON audit_log (user_id, occurred_at DESC, seq DESC);

-- Delivered reminders: each reminder.due event once.
CREATE TABLE notifications (
    seq          bigint GENERATED ALWAYS AS IDENTITY,
    event_id     uuid        PRIMARY KEY,
    user_id      text        NOT NULL,
    task_id      bigint      NOT NULL,
    delivered_at timestamptz NOT NULL,
    event        jsonb       NOT NULL
);
CREATE INDEX notifications_user_recent ON notifications (user_id, seq DESC);
