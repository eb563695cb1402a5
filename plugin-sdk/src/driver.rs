//! Miner drivers: implement [`Driver`] and call [`register_driver!`](crate::register_driver).
//!
//! A driver gets the probe results for an address in [`Driver::identify`] and says how sure it
//! is that it handles that miner; [`Driver::poll`] then turns one poll into a [`MinerRecord`].
//! The only network a driver has is [`http`], [`http_get_json`], [`tcp_request`] and
//! [`cgminer_command`], and the host lets them reach only the miner of the current call.

use crate::cgminer::{self, CgminerError};
use crate::command_memo::{CommandMemo, KeptReply};
use crate::json::Json;
use crate::{MinerRecord, PluginInfo};

use serde_json::Value;
use std::collections::BTreeMap;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "driver",
        pub_export_macro: true,
        export_macro_name: "__export_driver_world",
        default_bindings_module: "solomon_plugin_sdk::driver::bindings",
        runtime_path: "solomon_plugin_sdk::__wit_bindgen::rt",
    });
}

use bindings::exports::solomon::plugin::miner_driver as wit;
use bindings::solomon::plugin::miner_io;

/// The miner a call is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// IP address or hostname.
    pub host: String,
    /// Port of the web / JSON API.
    pub http_port: u16,
    /// Port of the CGMiner-style RPC.
    pub rpc_port: u16,
}

impl Target {
    /// `http://host:port` for paths on the miner's web API.
    pub fn base_url(&self) -> String {
        self.url("")
    }

    /// `http://host:port` followed by `path`: one allocation of the right size (a poll makes
    /// one; `format!` of the base and then the path made three).
    pub fn url(&self, path: &str) -> String {
        use std::fmt::Write as _;
        let mut url = String::with_capacity(7 + self.host.len() + 6 + path.len());
        url.push_str("http://");
        url.push_str(&self.host);
        if self.http_port != 80 {
            let _ = write!(url, ":{}", self.http_port);
        }
        url.push_str(path);
        url
    }
}

/// What the host learnt about an address before any driver talked to it.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    /// The address probed.
    pub target: Option<Target>,
    /// Status of `GET /` on the HTTP port, if it answered.
    pub http_status: Option<u16>,
    /// Response headers (names lower-case).
    pub http_headers: Vec<(String, String)>,
    /// Body of `GET /` (capped by the host).
    pub http_body: Option<String>,
    /// Raw reply to `{"command":"version"}` on the RPC port.
    pub rpc_version: Option<String>,
    /// Raw reply to `{"command":"devdetails"}` on the RPC port.
    pub rpc_devdetails: Option<String>,
}

impl Probe {
    /// A response header by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.http_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `version` reply parsed leniently.
    pub fn rpc_version_json(&self) -> Option<Value> {
        self.rpc_version
            .as_deref()
            .and_then(|s| cgminer::parse(s.as_bytes()).ok())
    }

    /// The `devdetails` reply parsed leniently.
    pub fn rpc_devdetails_json(&self) -> Option<Value> {
        self.rpc_devdetails
            .as_deref()
            .and_then(|s| cgminer::parse(s.as_bytes()).ok())
    }

    /// Both RPC replies upper-cased, for the substring matching detection relies on.
    pub fn rpc_text_upper(&self) -> String {
        let mut s = self.rpc_version.clone().unwrap_or_default();
        s.push(' ');
        s.push_str(self.rpc_devdetails.as_deref().unwrap_or_default());
        s.to_ascii_uppercase()
    }
}

/// A driver's claim on a probed miner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification {
    /// 0..=100; the host picks the most confident driver.
    pub confidence: u8,
    /// `Bitaxe`, `Antminer`, ...
    pub make: String,
    /// Product, if known from the probe.
    pub model: Option<String>,
    /// Firmware family, if known.
    pub firmware: Option<String>,
}

/// Why a poll produced no record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PollError {
    /// Nothing answered.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// Answered, but not in time.
    #[error("timeout: {0}")]
    Timeout(String),
    /// Answered with something the driver cannot decode.
    #[error("malformed reply: {0}")]
    Malformed(String),
    /// Not a miner this driver handles.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The host refused an operation.
    #[error("denied: {0}")]
    Denied(String),
}

/// Why a network call to the miner failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IoError {
    /// The host refused: not the assigned miner.
    #[error("denied by host: {0}")]
    Denied(String),
    /// Connection refused, no route.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// No complete answer in time.
    #[error("timed out")]
    Timeout,
    /// The answer exceeded the host's cap (bytes).
    #[error("reply larger than {0} bytes")]
    TooLarge(u32),
    /// Not the expected protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// An HTTP status other than 2xx.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The body is not the JSON expected.
    #[error("invalid JSON: {0}")]
    Json(String),
}

impl From<miner_io::IoError> for IoError {
    fn from(e: miner_io::IoError) -> Self {
        match e {
            miner_io::IoError::Denied(s) => IoError::Denied(s),
            miner_io::IoError::Unreachable(s) => IoError::Unreachable(s),
            miner_io::IoError::Timeout => IoError::Timeout,
            miner_io::IoError::TooLarge(n) => IoError::TooLarge(n),
            miner_io::IoError::Protocol(s) => IoError::Protocol(s),
        }
    }
}

impl From<IoError> for PollError {
    fn from(e: IoError) -> Self {
        match e {
            IoError::Denied(s) => PollError::Denied(s),
            IoError::Unreachable(s) => PollError::Unreachable(s),
            IoError::Timeout => PollError::Timeout("no reply in time".into()),
            e @ (IoError::TooLarge(_)
            | IoError::Protocol(_)
            | IoError::Status(_)
            | IoError::Json(_)) => PollError::Malformed(e.to_string()),
        }
    }
}

impl From<CgminerError> for PollError {
    fn from(e: CgminerError) -> Self {
        match e {
            CgminerError::Status { .. } => PollError::Unsupported(e.to_string()),
            other => PollError::Malformed(other.to_string()),
        }
    }
}

/// An HTTP response from the miner.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers (names lower-case).
    pub headers: Vec<(String, String)>,
    /// Body bytes (capped by the host).
    pub body: Vec<u8>,
}

/// One HTTP request to the miner. `url` must point at the target's host.
pub fn http(
    method: &str,
    url: &str,
    body: &[u8],
    timeout_ms: u32,
) -> Result<HttpResponse, IoError> {
    let req = miner_io::HttpRequest {
        method: method.to_string(),
        url: url.to_string(),
        headers: vec![("accept".into(), "application/json".into())],
        body: body.to_vec(),
        timeout_ms,
    };
    let r = miner_io::http(&req)?;
    Ok(HttpResponse {
        status: r.status,
        headers: r.headers,
        body: r.body,
    })
}

/// `GET` a path on the target's web API and return the body (2xx only).
pub fn http_get_body(target: &Target, path: &str) -> Result<Vec<u8>, IoError> {
    let r = http("GET", &target.url(path), &[], 0)?;
    if !(200..300).contains(&r.status) {
        return Err(IoError::Status(r.status));
    }
    Ok(r.body)
}

/// `GET` a path on the target's web API and decode the JSON body (2xx only).
pub fn http_get_json(target: &Target, path: &str) -> Result<Value, IoError> {
    serde_json::from_slice(&http_get_body(target, path)?).map_err(|e| IoError::Json(e.to_string()))
}

/// Parses a reply body into a borrowed [`Json`] document, the cheap way to read a few fields.
pub fn parse_json(body: &[u8]) -> Result<Json<'_>, IoError> {
    Json::parse(body).map_err(|e| IoError::Json(e.to_string()))
}

/// One CGMiner-framed TCP exchange: send `payload`, read until the miner closes.
pub fn tcp_request(
    host: &str,
    port: u16,
    payload: &[u8],
    timeout_ms: u32,
) -> Result<Vec<u8>, IoError> {
    Ok(miner_io::tcp_request(host, port, payload, timeout_ms)?)
}

/// Sends one CGMiner command to the target's RPC port, parses the reply with the quirk-tolerant
/// parser and checks its status.
pub fn cgminer_command(
    target: &Target,
    command: &str,
    parameter: Option<&str>,
) -> Result<Value, PollError> {
    let raw = tcp_request(
        &target.host,
        target.rpc_port,
        &cgminer::request(command, parameter),
        0,
    )?;
    let v = cgminer::parse(&raw)?;
    cgminer::check_status(&v)?;
    Ok(v)
}

/// How long a static reply (`version`, `devdetails`) is reused before it is asked again.
const STATIC_MS: u64 = 600_000;

/// How long what was learnt about a miner is trusted.
const MEMO_MS: u64 = 3_600_000;

/// Sends `a+b+c` as one multi-command and splits the reply per command. Firmware that cannot
/// do multi-commands (stock Antminer S19) gets one connection per command instead. A command
/// that fails on its own is left out of the map, so a driver can still use the rest.
///
/// What it learns per miner (multi-commands refused, commands the firmware rejects) is
/// remembered in the plugin's state, so later polls skip the exchanges that cannot work:
/// fewer connections, less load on the miner.
pub fn cgminer_commands(
    target: &Target,
    commands: &[&str],
) -> Result<BTreeMap<String, Value>, PollError> {
    cgminer_commands_cached(target, commands, &[])
}

/// [`cgminer_commands`] for `live` commands plus `statics`, commands whose answer does not
/// change while the miner runs (`version`, `devdetails`): those are asked at most every ten
/// minutes and otherwise answered from the plugin's state. A stock Antminer, which needs a
/// connection per command, then needs three per poll instead of four, and a multi-command
/// reply is shorter.
pub fn cgminer_commands_cached(
    target: &Target,
    live: &[&str],
    statics: &[&str],
) -> Result<BTreeMap<String, Value>, PollError> {
    cgminer_read(target, live, statics, |replies| {
        replies
            .iter()
            .filter_map(|(c, v)| Some((c.to_string(), serde_json::to_value(v).ok()?)))
            .collect()
    })
}

/// The replies of one poll by command, each the envelope of that command, borrowed from the
/// replies' text.
pub type Replies<'a> = BTreeMap<&'a str, &'a Json<'a>>;

/// A command whose last reply a poll may reuse on firmware that needs a connection per command
/// (stock Antminer), when this poll's other replies show it cannot have changed in a way that
/// matters. With a multi-command it is asked at every poll: joining it costs no connection.
#[derive(Clone, Copy)]
pub struct Lazy<'a> {
    /// The command (`summary`).
    pub command: &'a str,
    /// The longest a kept reply is reused, ms.
    pub max_age_ms: u64,
    /// Whether the kept reply may be out of date, given this poll's other replies: when in
    /// doubt, say yes, and the command is asked.
    pub changed: fn(kept: &Json<'_>, replies: &Replies<'_>) -> bool,
}

/// What one poll asks: see [`cgminer_read_plan`].
#[derive(Clone, Copy, Default)]
pub struct Plan<'a> {
    /// Asked at every poll.
    pub live: &'a [&'a str],
    /// Asked at most every ten minutes, otherwise answered from the plugin's state.
    pub statics: &'a [&'a str],
    /// Asked at every poll unless the firmware needs a connection per command and
    /// [`Lazy::changed`] says the kept reply will do.
    pub lazy: Option<Lazy<'a>>,
}

/// [`cgminer_commands_cached`] for a hot path: `read` gets the replies as borrowed [`Json`],
/// each reply parsed once, and what it returns is the result.
pub fn cgminer_read<R>(
    target: &Target,
    live: &[&str],
    statics: &[&str],
    read: impl FnOnce(&Replies<'_>) -> R,
) -> Result<R, PollError> {
    let plan = Plan {
        live,
        statics,
        lazy: None,
    };
    cgminer_read_plan(target, &plan, |replies, _| read(replies))
}

/// [`cgminer_read`] with a [`Lazy`] command: `read` is also told whether the lazy command's
/// reply is a kept one (`true`), so the driver takes what can be stale from fresher replies.
pub fn cgminer_read_plan<R>(
    target: &Target,
    plan: &Plan<'_>,
    read: impl FnOnce(&Replies<'_>, bool) -> R,
) -> Result<R, PollError> {
    let key = format!("cgminer/{}:{}", target.host, target.rpc_port);
    let mut memo = crate::host::state::get(&key)
        .and_then(|stored| CommandMemo::decode(&stored))
        .unwrap_or_default();
    let now = crate::host::now_ms();
    let restarted = now.saturating_sub(memo.since_ms) > MEMO_MS;
    if restarted {
        memo = CommandMemo {
            since_ms: now,
            ..CommandMemo::default()
        };
    }
    let learnt_before = (memo.single, memo.skip.len());
    let refused = |c: &&str| memo.skip.iter().any(|s| s == c);
    let statics = plan.statics;
    let fresh = now.saturating_sub(memo.statics_ms) <= STATIC_MS
        && statics
            .iter()
            .filter(|c| !refused(c))
            .all(|c| memo.statics.contains_key(*c));
    // The lazy command's kept reply, when this poll may reuse it.
    let lazy = plan.lazy.filter(|l| !refused(&l.command));
    let lazy_kept: Option<String> = lazy.and_then(|l| {
        let k = memo.lazy.as_ref()?;
        (memo.single && k.command == l.command && now.saturating_sub(k.at_ms) < l.max_age_ms)
            .then(|| k.text.clone())
    });
    // Stored by this function as valid JSON: no quirk repairs needed.
    let lazy_kept_doc = lazy_kept
        .as_deref()
        .and_then(|text| Json::parse(text.as_bytes()).ok());
    let wanted: Vec<&str> = statics
        .iter()
        .filter(|_| !fresh)
        .chain(
            lazy.iter()
                .filter(|_| lazy_kept_doc.is_none())
                .map(|l| &l.command),
        )
        .chain(plan.live)
        .copied()
        .filter(|c| !refused(c))
        .collect();
    // Reused statics are copied out of the memo, which is written below while they are read.
    let kept: Vec<(&str, String)> = if fresh {
        statics
            .iter()
            .filter_map(|c| Some((*c, memo.statics.get(*c)?.clone())))
            .collect()
    } else {
        Vec::new()
    };

    // Every reply's text lives until `read` returns, so each is parsed once and borrowed.
    let exchange = |payload: &[u8]| tcp_request(&target.host, target.rpc_port, payload, 0);
    let fatal = |e: &IoError| {
        matches!(
            e,
            IoError::Unreachable(_) | IoError::Timeout | IoError::Denied(_)
        )
    };
    let joined = wanted.len() > 1 && !memo.single;
    let mut joined_raw = Vec::new();
    if joined {
        match exchange(&cgminer::request(&wanted.join("+"), None)) {
            Ok(raw) => joined_raw = raw,
            // Refused or not allowed: one command alone would be too.
            Err(e @ (IoError::Unreachable(_) | IoError::Denied(_))) => return Err(e.into()),
            // A timeout too falls back to one command per connection: firmware that cannot
            // join commands may hang on them instead of answering with an error.
            Err(_) => {}
        }
    }
    let mut joined_fix = String::new();
    let joined_doc = if joined_raw.is_empty() {
        None
    } else {
        cgminer::parse_json(&joined_raw, &mut joined_fix).ok()
    };
    let mut replies = Replies::new();
    if let Some(doc) = &joined_doc {
        // One envelope per command; one failing is left out.
        for c in &wanted {
            if let Some(part) = cgminer::multi_part(doc, c)
                && cgminer::check_status(part).is_ok()
            {
                replies.insert(c, part);
            }
        }
    }
    let mut first_err: Option<PollError> = None;
    let mut alone_raw: Vec<(&str, Vec<u8>)> = Vec::new();
    if replies.is_empty() {
        if joined {
            // The joined command was refused or unreadable: apart, now and from now on.
            memo.single = true;
        }
        for c in &wanted {
            match exchange(&cgminer::request(c, None)) {
                Ok(raw) => alone_raw.push((c, raw)),
                Err(e) if fatal(&e) => return Err(e.into()),
                Err(e) => {
                    first_err.get_or_insert(e.into());
                }
            }
        }
    }
    let mut alone_fix = vec![String::new(); alone_raw.len()];
    let mut alone_docs = Vec::with_capacity(alone_raw.len());
    for ((c, raw), fix) in alone_raw.iter().zip(alone_fix.iter_mut()) {
        match cgminer::parse_json(raw, fix) {
            Ok(doc) => alone_docs.push((*c, doc)),
            Err(e) => {
                first_err.get_or_insert(e.into());
            }
        }
    }
    for (c, doc) in &alone_docs {
        match cgminer::check_status(doc) {
            Ok(()) => {
                replies.insert(c, doc);
            }
            Err(e) => {
                // An error status: this firmware does not know the command.
                memo.skip.push((*c).to_string());
                first_err.get_or_insert(e.into());
            }
        }
    }
    // The kept lazy reply stands in only while the other replies say it is still true; a
    // late exchange that fails leaves the kept reply, a stale summary being better than none.
    let mut lazy_reused = false;
    let stale = |l: &Lazy<'_>, kept: &Json<'_>| !replies.is_empty() && (l.changed)(kept, &replies);
    let late_raw = match (lazy, &lazy_kept_doc) {
        (Some(l), Some(kept)) if stale(&l, kept) => {
            exchange(&cgminer::request(l.command, None)).ok()
        }
        _ => None,
    };
    let mut late_fix = String::new();
    let late_doc = late_raw
        .as_deref()
        .and_then(|raw| cgminer::parse_json(raw, &mut late_fix).ok())
        .filter(|doc| cgminer::check_status(doc).is_ok());
    if let (Some(l), Some(kept)) = (lazy, &lazy_kept_doc)
        && !replies.is_empty()
    {
        match &late_doc {
            Some(doc) => replies.insert(l.command, doc),
            None => {
                lazy_reused = true;
                replies.insert(l.command, kept)
            }
        };
    }
    let kept_docs: Vec<(&str, Json<'_>)> = kept
        .iter()
        .filter_map(|(c, text)| Some((*c, Json::parse(text.as_bytes()).ok()?)))
        .collect();
    let ok = !replies.is_empty() || first_err.is_none();
    let mut refreshed = false;
    if ok {
        if fresh {
            for (c, doc) in &kept_docs {
                replies.entry(c).or_insert(doc);
            }
        } else if !statics.is_empty() {
            memo.statics = statics
                .iter()
                .filter_map(|c| {
                    Some((
                        (*c).to_string(),
                        serde_json::to_string(replies.get(c)?).ok()?,
                    ))
                })
                .collect();
            memo.statics_ms = now;
            refreshed = true;
        }
        // A lazy reply asked on firmware that needs a connection per command is kept for the
        // next polls, if it could stand in for them: one that this poll's other replies
        // already call out of date (after a found block, say) would be asked again anyway,
        // and keeping it would be a state write at every poll.
        if let Some(l) = lazy
            && memo.single
            && !lazy_reused
            && let Some(doc) = replies.get(l.command)
        {
            let reusable = !(l.changed)(doc, &replies);
            let text = reusable.then(|| serde_json::to_string(doc).ok()).flatten();
            if text.is_some() || memo.lazy.is_some() {
                memo.lazy = text.map(|text| KeptReply {
                    command: l.command.to_string(),
                    text,
                    at_ms: now,
                });
                refreshed = true;
            }
        }
    }
    // Written only when something was learnt (or the memo restarted), not on every poll:
    // with thousands of miners a write per poll would be thousands of database writes.
    let learnt = (memo.single, memo.skip.len()) != learnt_before;
    if ok && (restarted || learnt || refreshed) {
        // Losing the memo only costs extra exchanges next time.
        let _ = crate::host::state::set(&key, memo.encode().as_bytes());
    }
    match first_err {
        Some(e) if replies.is_empty() => Err(e),
        _ => Ok(read(&replies, lazy_reused)),
    }
}

/// What a miner driver implements. Functions are associated (no `self`): keep memory between
/// calls in [`crate::host::state`], which survives restarts and reloads.
pub trait Driver {
    /// One line for humans, shown by `solomon plugin check` and the API. The plugin's name and
    /// version come from its crate (`CARGO_PKG_NAME` without `solomon-`, `CARGO_PKG_VERSION`).
    fn description() -> &'static str {
        ""
    }
    /// Whether and how confidently this driver handles the probed miner. No I/O: the host has
    /// already probed. The default claims nothing, so the driver is used only when a miner's
    /// config pins it.
    fn identify(_probe: &Probe) -> Option<Identification> {
        None
    }
    /// Polls the miner once.
    fn poll(target: &Target) -> Result<MinerRecord, PollError>;
}

#[doc(hidden)]
pub mod __glue {
    use super::*;
    use bindings::solomon::plugin::types as wt;

    pub fn target(t: wt::Target) -> Target {
        Target {
            host: t.host,
            http_port: t.http_port,
            rpc_port: t.rpc_port,
        }
    }

    pub fn info<D: Driver>(i: PluginInfo) -> wt::PluginInfo {
        wt::PluginInfo {
            name: i.name,
            version: i.version,
            description: i.description,
        }
    }

    pub fn identify<D: Driver>(p: wit::Probe) -> Option<wit::Identification> {
        let probe = Probe {
            target: Some(target(p.target)),
            http_status: p.http_status,
            http_headers: p.http_headers,
            http_body: p.http_body,
            rpc_version: p.rpc_version,
            rpc_devdetails: p.rpc_devdetails,
        };
        D::identify(&probe).map(|i| wit::Identification {
            confidence: i.confidence.min(100),
            make: i.make,
            model: i.model,
            firmware: i.firmware,
        })
    }

    pub fn poll<D: Driver>(
        info: PluginInfo,
        t: wt::Target,
    ) -> Result<wt::MinerRecord, wit::PollError> {
        match D::poll(&target(t)) {
            Ok(mut record) => {
                record.sanitize();
                if record.driver.is_empty() {
                    record.driver = format!("{}@{}", info.name, info.version);
                }
                Ok(to_wit(record))
            }
            Err(e) => Err(match e {
                PollError::Unreachable(s) => wit::PollError::Unreachable(s),
                PollError::Timeout(s) => wit::PollError::Timeout(s),
                PollError::Malformed(s) => wit::PollError::Malformed(s),
                PollError::Unsupported(s) => wit::PollError::Unsupported(s),
                PollError::Denied(s) => wit::PollError::Denied(s),
            }),
        }
    }
}

/// The record between the SDK and the contract.
mod wire {
    crate::__record_wire!(crate::driver::bindings::solomon::plugin::types);
}
use wire::to_wit;

/// Exports a [`Driver`] implementation as the plugin's `driver` world.
#[macro_export]
macro_rules! register_driver {
    ($driver:ty) => {
        #[doc(hidden)]
        pub struct __SolomonDriverExport;

        impl $crate::driver::bindings::exports::solomon::plugin::miner_driver::Guest for __SolomonDriverExport {
            fn info() -> $crate::driver::bindings::solomon::plugin::types::PluginInfo {
                $crate::driver::__glue::info::<$driver>($crate::plugin_info!(<$driver as $crate::driver::Driver>::description()))
            }
            fn identify(
                probe: $crate::driver::bindings::exports::solomon::plugin::miner_driver::Probe,
            ) -> ::core::option::Option<$crate::driver::bindings::exports::solomon::plugin::miner_driver::Identification> {
                $crate::driver::__glue::identify::<$driver>(probe)
            }
            fn poll(
                target: $crate::driver::bindings::solomon::plugin::types::Target,
            ) -> ::core::result::Result<
                $crate::driver::bindings::solomon::plugin::types::MinerRecord,
                $crate::driver::bindings::exports::solomon::plugin::miner_driver::PollError,
            > {
                $crate::driver::__glue::poll::<$driver>($crate::plugin_info!(""), target)
            }
        }

        // Only a WASM component exports these; natively (unit tests, benches) they would be
        // symbols named like `solomon:plugin/...#poll`, which native linkers reject.
        #[cfg(target_arch = "wasm32")]
        $crate::driver::bindings::__export_driver_world!(
            __SolomonDriverExport with_types_in $crate::driver::bindings
        );
    };
}

#[cfg(test)]
mod tests {
    use super::Target;

    #[test]
    fn a_url_names_the_port_unless_it_is_80() {
        let t = |http_port| Target {
            host: "10.0.0.5".into(),
            http_port,
            rpc_port: 4028,
        };
        assert_eq!(
            t(80).url("/api/system/info"),
            "http://10.0.0.5/api/system/info"
        );
        assert_eq!(t(8080).url("/api"), "http://10.0.0.5:8080/api");
        assert_eq!(t(8080).base_url(), "http://10.0.0.5:8080");
    }
}
