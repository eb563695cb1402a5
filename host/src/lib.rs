//! # solomon-host
//!
//! The Solomon daemon as a library: the WASM plugin runtime that runs miner drivers and alert
//! rules in a sandbox, the host side of the plugin contract, and the daemon's services.
//! The `solomon` binary is a thin command line over it.

pub mod alerts;
pub mod builtin;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod discovery;
pub mod hashing;
pub mod host_api;
pub mod hub;
pub mod manager;
pub mod memory;
pub mod net;
pub mod notify;
pub mod registry;
pub mod runtime;
pub mod server;
pub mod simulate;
pub mod state;
pub mod storage;
