//! Solomon's end-to-end tests, in one binary.
//!
//! Every file here links the whole host (wasmtime and Cranelift included). As separate test
//! binaries they took fourteen links (~470 MB each with full debug info); as modules of one
//! binary they take one (126 MB with the workspace's line-tables-only debug info). Run one area with a filter, e.g. `cargo test -p solomon-tests --test e2e dashboard::`.

mod api;
mod connections;
mod crash;
mod daemon;
mod dashboard;
mod drivers;
mod engine;
mod hub;
mod notify;
mod plugins;
mod reload;
mod rules;
mod run;
mod sandbox;
mod state;
