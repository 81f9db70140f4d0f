//! exec (being built).
