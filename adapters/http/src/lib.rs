//! REST adapter (being built).
