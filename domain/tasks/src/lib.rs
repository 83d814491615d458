//! Use cases (being built).
