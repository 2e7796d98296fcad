//! The correlator's reads and writes, set-based: the state a decision of
//! [`aurora_correlation`] reads, loaded in a few queries ([`load`]), and the plan it answers,
//! written with one multi-row statement per kind of row ([`write`]).

mod load;
mod write;

pub use load::{Loaded, ProcessedAlert, load};
pub use write::{Written, write};
