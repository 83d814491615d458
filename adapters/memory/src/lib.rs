//! In-memory adapters (being built).
