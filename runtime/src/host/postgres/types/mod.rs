//! Postgres types whose binary wire format has no ready-made Rust mapping here: exact numeric
//! and interval. Each converts between the wire format and the text form the WIT uses.

pub mod interval;
pub mod numeric;
