//! The plugins shipped in `plugins/`, compiled to components by `build.rs` and embedded in the
//! binary, so a fresh install has every driver and rule without any files to copy.

/// One embedded plugin.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinPlugin {
    /// Crate name without the `solomon-` prefix (`driver-axeos`).
    pub name: &'static str,
    /// The component bytes.
    pub wasm: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));
