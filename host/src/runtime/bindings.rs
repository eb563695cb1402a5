//! Host-side bindings of the two worlds in `wit/`. Interfaces both worlds import are generated
//! once (in `driver`) and reused by `rule`, so one host implementation serves both.

/// The `driver` world.
pub mod driver {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "driver",
        imports: { default: async },
        exports: { default: async },
    });
}

/// The `alert-rule` world.
pub mod rule {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "alert-rule",
        imports: { default: async },
        exports: { default: async },
        with: {
            "solomon:plugin/types": super::driver::solomon::plugin::types,
            "solomon:plugin/log": super::driver::solomon::plugin::log,
            "solomon:plugin/clock": super::driver::solomon::plugin::clock,
            "solomon:plugin/plugin-state": super::driver::solomon::plugin::plugin_state,
        },
    });
}

pub use driver::solomon::plugin::{clock, log, miner_io, plugin_state, types};
pub use rule::solomon::plugin::store;
