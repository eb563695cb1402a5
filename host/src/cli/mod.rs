//! The `solomon` command line. Each subcommand lives in its own file.

mod bench;
mod compile_plugin;
mod demo;
mod format;
mod plugin_check;
pub mod plugins;
mod ports;
mod probe;
mod run;
mod scan;
mod simulate;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Monitor Bitcoin solo miners (Bitaxe, NerdQAxe, Antminer, Whatsminer, Avalon, Braiins, LuxOS).
#[derive(Debug, Parser)]
#[command(name = "solomon", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: load plugins and serve the HTTP API.
    Run(run::RunArgs),
    /// Run the daemon on a simulated fleet (no miners needed).
    Demo(demo::DemoArgs),
    /// Detect one miner and poll it once.
    Probe(probe::ProbeArgs),
    /// Find every miner in an address range.
    Scan(scan::ScanArgs),
    /// Serve a simulated fleet on loopback.
    Simulate(simulate::SimulateArgs),
    /// Measure polling, probing and scanning against the simulator.
    Bench(bench::BenchArgs),
    /// Work with plugin files.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Compile the component on stdin into a plugin cache (what the daemon runs in a child
    /// process, so that the compiler never shares its memory).
    #[command(hide = true)]
    CompilePlugin(compile_plugin::CompilePluginArgs),
}

/// `solomon plugin ...`
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Validate component files against the plugin worlds and print their name, version, world.
    Check {
        /// `.wasm` files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print one JSON object per file.
        #[arg(long)]
        json: bool,
    },
    /// Write the built-in plugins to a folder as `.wasm` files (to inspect or check them).
    ExportBuiltin {
        /// Folder to write to (created if missing).
        dir: PathBuf,
    },
}

/// Runs the parsed command; the exit code is the process's.
pub async fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Run(args) => run::run(args).await.map(|()| 0),
        Command::Demo(args) => demo::demo(args).await,
        Command::Probe(args) => probe::probe(args).await,
        Command::Scan(args) => scan::scan(args).await,
        Command::Simulate(args) => simulate::simulate(args).await,
        Command::Bench(args) => bench::bench(args).await,
        Command::CompilePlugin(args) => Ok(compile_plugin::compile_plugin(&args)),
        Command::Plugin(PluginCommand::Check { files, json }) => {
            plugin_check::check(&files, json).await
        }
        Command::Plugin(PluginCommand::ExportBuiltin { dir }) => {
            plugin_check::export_builtin(&dir).map(|()| 0)
        }
    }
}
