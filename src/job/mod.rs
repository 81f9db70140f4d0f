//! Job files: reading CSV, JSON and JSON Lines, header aliases, value parsing, validation, and
//! the operation model ([`op`]) that the planner consumes.

pub mod op;

pub use op::{
    Action, DefaultMethod, MethodType, Operation, PhoneSelector, PhoneType, Selector, TapParams,
};
