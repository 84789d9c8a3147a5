//! Whole-system tests, in one binary (each test binary links the whole app).
//!
//! - [`signal`]: the signaling server over real TLS on loopback.
//! - [`cli`]: the `haven` command line as scripts and operators use it.

mod cli;
mod signal;
