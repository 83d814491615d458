-- 0007: reminders the notification service gave up on (they reached the dead-letter topic),
-- one row per reminder.due event, written with the reminder.failed event's outbox row. Kept
-- apart from `notifications`, the feed of what was delivered.
CREATE TABLE notification_failures (
    event_id  uuid        PRIMARY KEY,
    user_id   text        NOT NULL,
    task_id   bigint      NOT NULL,
    failed_at timestamptz NOT NULL,
    event     jsonb       NOT NULL
);
