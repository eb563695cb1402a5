//! `solomon bench`: measured figures printed for people, never asserted (the machines are
//! shared and noisy).
//!
//! - `drivers`: one poll through the real path (socket -> WASM driver -> record), a fresh
//!   `solomon probe` process, and a /24 scan.
//! - `daemon`: the whole daemon against a simulated fleet of 1,000 and 10,000 miners in a
//!   separate process: polls per second, CPU per poll, change-to-WebSocket latency, RSS.
//! - `storage`: a fleet's history in fast-forward under a fake clock, hour by simulated hour:
//!   RSS and files as the database grows.
//! - `rules`: each built-in alert rule's CPU per event, in process, with sled-backed state.
//! - `ws-clients`: the WebSocket clients of `daemon`, which runs them as a child process.

mod clients;
mod daemon;
mod drivers;
mod proc;
mod rules;
mod storage;

/// Options of `solomon bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_parser = ["drivers", "daemon", "rules", "storage", "ws-clients"])]
    pub what: String,
    /// `drivers`: polls per miner kind (enough that a figure varies by a few µs between runs).
    #[arg(long, default_value_t = 10_000)]
    pub polls: usize,
    /// `drivers`: fresh `solomon probe` processes to time.
    #[arg(long, default_value_t = 20)]
    pub processes: usize,
    /// `daemon`, `storage`: fleet sizes to run, one after the other (`rules`: the first).
    #[arg(long = "miners", default_values_t = [1000, 10000])]
    pub fleets: Vec<usize>,
    /// `storage`: simulated hours of history to write.
    #[arg(long, default_value_t = 24)]
    pub hours: u64,
    /// `storage`: raw retention in hours (default: the daemon's 7 days), to reach the daily
    /// roll-up of raw history sooner.
    #[arg(long)]
    pub raw_retention_hours: Option<u64>,
    /// `daemon`, `storage`: seconds between polls of each miner.
    #[arg(long, default_value_t = 5)]
    pub poll_seconds: u64,
    /// `daemon`: seconds of each measured window.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// `daemon`: after the first window, this many seconds more of polling with RSS read every
    /// 10 s. A big fleet's memory settles only once its in-memory heads fill and sealing
    /// starts (about 100 s at 10,000 miners), after a 30 s window.
    #[arg(long, default_value_t = 0)]
    pub steady_seconds: u64,
    /// `daemon`: WebSocket clients subscribed to the fleet.
    #[arg(long, default_value_t = 100)]
    pub clients: usize,
    /// `daemon`: run without the built-in alert rules, to see what they cost.
    #[arg(long)]
    pub no_rules: bool,
    /// `daemon`: a new connection for every HTTP request (`keep_connections = false`), to see
    /// what keeping them saves.
    #[arg(long)]
    pub no_keep_connections: bool,
    /// `daemon`: sled's page cache in MiB (`[storage] cache_mib`; default the daemon's), to
    /// weigh memory against the CPU of reading plugin state and history from disk.
    #[arg(long)]
    pub cache_mib: Option<u64>,
    /// `daemon`: plugin state mirrored in memory, MiB (`[storage] state_mirror_mib`; default
    /// the daemon's; 0: none), to weigh its memory against the CPU of reading state from sled.
    #[arg(long)]
    pub state_mirror_mib: Option<u64>,
    /// `ws-clients`: the daemon to connect to (set by `daemon`).
    #[arg(long, hide = true)]
    pub addr: Option<std::net::SocketAddr>,
}

/// Runs the chosen benchmark.
pub async fn bench(args: BenchArgs) -> anyhow::Result<i32> {
    match args.what.as_str() {
        "daemon" => daemon::bench(&args).await,
        "storage" => storage::bench(&args).await,
        "rules" => rules::bench(&args).await,
        "ws-clients" => {
            let addr = args
                .addr
                .ok_or_else(|| anyhow::anyhow!("ws-clients needs --addr"))?;
            clients::run(addr, args.clients, args.seconds).await
        }
        _ => drivers::bench(&args).await,
    }
}
