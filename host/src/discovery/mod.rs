//! Finding out what a miner is: probe an address once over HTTP and the CGMiner RPC, offer
//! the results to every driver's `identify`, and poll with the most confident driver. Also
//! scanning address ranges with bounded concurrency.

mod cidr;
mod probe;
mod scan;

pub use cidr::{CidrError, hosts_in};
pub use probe::{DiscoveryError, Found, ProbeConfig, detect, probe, probe_and_poll};
pub use scan::scan;
