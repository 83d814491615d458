-- 0003: stop notifying from inside write transactions.
--
-- A transaction that has called NOTIFY takes a database-wide lock at commit, held until the
-- commit is durable, so all such commits are serialised and lose group commit. Measured on the
-- local stack (fsync on, 8 clients, two inserts per transaction): 5735 tps without NOTIFY,
-- 2338 tps with it. The store now wakes its own relay in-process after each commit and tells
-- the other processes with a coalesced NOTIFY from its listening connection (src/store.rs).
DROP TRIGGER IF EXISTS outbox_written ON outbox;
DROP FUNCTION IF EXISTS outbox_notify();
