//! A run (`authbulk run`, `authbulk export`): job rows or enumerated targets, through the planner
//! and the executor, into the report. Called by the CLI with a validated config.

pub mod confirm;
pub mod exclude;
