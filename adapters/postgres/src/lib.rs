//! PostgreSQL adapter (being built).
