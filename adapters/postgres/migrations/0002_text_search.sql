-- 0002: indexes for the text filter (`title ILIKE '%text%' OR description ILIKE '%text%'`).
--
-- pg_trgm ships with Debian's postgresql-15 (the contrib modules are part of that package) and
-- is a trusted extension, so the database owner may create it. Where it is missing, or the role
-- may not create it, the filter still works: it scans the user's tasks (found through the
-- user_id indexes) with a plain ILIKE, which is fine for per-user task counts.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        RAISE NOTICE 'pg_trgm is not available; the text filter scans without an index';
        RETURN;
    END IF;
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'cannot create pg_trgm (%); the text filter scans without an index', SQLERRM;
        RETURN;
    END;
    CREATE INDEX tasks_title_trgm       ON tasks USING gin (title gin_trgm_ops);
    CREATE INDEX tasks_description_trgm ON tasks USING gin (description gin_trgm_ops);
END
$$;
