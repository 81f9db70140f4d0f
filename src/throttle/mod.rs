//! throttle (being built).
