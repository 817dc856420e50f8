//! One file per command; `main.rs` only parses and dispatches.

pub(crate) mod classify;
pub(crate) mod eval;
pub(crate) mod flags;
pub(crate) mod model;
pub(crate) mod reproduce;
pub(crate) mod serve;
