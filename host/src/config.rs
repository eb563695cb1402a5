//! The daemon's configuration file (TOML; see `examples/solomon.toml`). Errors name the file,
//! the line and the key, so a typo is found at once.

mod storage;

pub use storage::StorageSection;

use crate::storage::MinerConfig;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Not valid TOML, an unknown key, or a value of the wrong type.
    #[error("{path}:{line}: {key}{message}")]
    Syntax {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// `key: ` when known.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// Well-formed but wrong (a bad address, a duplicate miner).
    #[error("{path}: {key}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address of the HTTP API.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Where the database and caches live.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Extra folders of `.wasm` plugins.
    #[serde(default)]
    pub plugin_dirs: Vec<PathBuf>,
    /// Built-in plugins not to load, by name (`rule-pool-changed`).
    #[serde(default)]
    pub disable_builtin: Vec<String>,
    /// Polling defaults.
    #[serde(default)]
    pub defaults: Defaults,
    /// API tokens and origins.
    #[serde(default)]
    pub auth: Auth,
    /// How alerts behave.
    #[serde(default)]
    pub alerts: AlertsSection,
    /// History retention and sled's cache.
    #[serde(default)]
    pub storage: StorageSection,
    /// Each rule's settings, `[rules.<plugin name>]`, with per-miner overrides in
    /// `[rules.<plugin name>.miners.<miner id>]`.
    #[serde(default)]
    pub rules: std::collections::BTreeMap<String, toml::Table>,
    /// The miners, `[[miner]]` tables.
    #[serde(default, rename = "miner")]
    pub miners: Vec<MinerConfig>,
    /// Notification channels, `[[notify]]` tables.
    #[serde(default)]
    pub notify: Vec<crate::notify::Channel>,
}

/// `[defaults]`: how miners are polled.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Seconds between polls of each miner.
    #[serde(default = "default_poll_seconds")]
    pub poll_seconds: u64,
    /// Longest wait for one request to a miner, ms.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    /// Consecutive failed polls before a miner is shown offline.
    #[serde(default = "default_offline_after")]
    pub offline_after: u32,
    /// Polls running at once across the fleet.
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent: usize,
    /// A miner that reports a hashrate but accepts no share for `stall_intervals` expected
    /// share intervals, and at least this many minutes, is shown `idle` (stalled).
    #[serde(default = "default_stall_minutes")]
    pub stall_minutes: f64,
    /// Expected share intervals (pool difficulty x 2^32 / hashrate) without a share before a
    /// miner counts as stalled.
    #[serde(default = "default_stall_intervals")]
    pub stall_intervals: f64,
    /// Keep each HTTP miner's connection open between polls (AxeOS allows it); false opens a
    /// new connection for every request.
    #[serde(default = "default_keep_connections")]
    pub keep_connections: bool,
    /// Threads that run polling, drivers and alert rules, apart from the threads that serve
    /// the API. One thread polls 10,000 miners every 5 s with most of it idle; tasks that
    /// wake each other on one thread skip the cross-thread wake-ups that cost more than the
    /// work they hand over.
    #[serde(default = "default_poll_threads")]
    pub poll_threads: usize,
}

/// `[alerts]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSection {
    /// Minutes after an alert fired during which it is not reported again if it flaps.
    #[serde(default = "default_cooldown_minutes")]
    pub cooldown_minutes: u64,
}

impl Default for AlertsSection {
    fn default() -> Self {
        AlertsSection {
            cooldown_minutes: default_cooldown_minutes(),
        }
    }
}

fn default_cooldown_minutes() -> u64 {
    15
}

impl Config {
    /// The alert engine's configuration.
    pub fn alert_config(&self) -> crate::alerts::AlertConfig {
        crate::alerts::AlertConfig {
            cooldown: std::time::Duration::from_secs(self.alerts.cooldown_minutes * 60),
            rules: self
                .rules
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default()))
                .collect(),
            notify: self.notify.clone(),
        }
    }
}

/// `[auth]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// Bearer tokens accepted by the API. With none, the daemon makes up one per start and
    /// logs it.
    #[serde(default)]
    pub tokens: Vec<String>,
    /// Require a token for reads too (API, `/metrics`, WebSocket).
    #[serde(default)]
    pub protect_reads: bool,
    /// Web origins besides the daemon's own allowed to open the WebSocket.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            poll_seconds: default_poll_seconds(),
            timeout_ms: default_timeout_ms(),
            offline_after: default_offline_after(),
            max_concurrent: default_max_concurrent(),
            stall_minutes: default_stall_minutes(),
            stall_intervals: default_stall_intervals(),
            keep_connections: default_keep_connections(),
            poll_threads: default_poll_threads(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("solomon-data")
}
fn default_poll_seconds() -> u64 {
    10
}
fn default_timeout_ms() -> u32 {
    5_000
}
fn default_offline_after() -> u32 {
    2
}
fn default_max_concurrent() -> usize {
    256
}
fn default_stall_minutes() -> f64 {
    10.0
}
fn default_stall_intervals() -> f64 {
    10.0
}
fn default_keep_connections() -> bool {
    true
}
fn default_poll_threads() -> usize {
    1
}

impl Config {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text, &shown)
    }

    /// Parses and validates `text` (named `path` in errors).
    pub fn parse(text: &str, path: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            let line = text[..offset.min(text.len())].matches('\n').count() + 1;
            // The key is what stands before `=` on the offending line, when there is one.
            let key = text
                .lines()
                .nth(line - 1)
                .and_then(|l| l.split_once('='))
                .map(|(k, _)| format!("{}: ", k.trim()))
                .unwrap_or_default();
            ConfigError::Syntax {
                path: path.to_string(),
                line,
                key,
                message: e.message().trim().to_string(),
            }
        })?;
        let invalid = |key: String, message: String| ConfigError::Invalid {
            path: path.to_string(),
            key,
            message,
        };
        let d = &config.defaults;
        for (key, bad, why) in [
            ("poll_seconds", d.poll_seconds == 0, "must be at least 1"),
            (
                "timeout_ms",
                !(100..=60_000).contains(&d.timeout_ms),
                "must be 100 to 60000",
            ),
            ("offline_after", d.offline_after == 0, "must be at least 1"),
            (
                "max_concurrent",
                d.max_concurrent == 0,
                "must be at least 1",
            ),
            (
                "poll_threads",
                !(1..=64).contains(&d.poll_threads),
                "must be 1 to 64",
            ),
            (
                "stall_minutes",
                !(d.stall_minutes.is_finite() && d.stall_minutes >= 0.0),
                "must be a number of minutes, 0 or more",
            ),
            (
                "stall_intervals",
                !(d.stall_intervals.is_finite() && d.stall_intervals > 0.0),
                "must be more than 0",
            ),
        ] {
            if bad {
                return Err(invalid(format!("defaults.{key}"), why.into()));
            }
        }
        if let Some((key, why)) = config.storage.invalid() {
            return Err(invalid(format!("storage.{key}"), why.into()));
        }
        if let Some(i) = config.auth.tokens.iter().position(|t| t.trim().len() < 16) {
            return Err(invalid(
                format!("auth.tokens[{i}]"),
                "a token must be at least 16 characters (try `openssl rand -hex 16`)".into(),
            ));
        }
        let builtin: Vec<&str> = crate::builtin::BUILTIN_PLUGINS
            .iter()
            .map(|b| b.name)
            .collect();
        if let Some((i, name)) = config
            .disable_builtin
            .iter()
            .enumerate()
            .find(|(_, n)| !builtin.contains(&n.as_str()))
        {
            return Err(invalid(
                format!("disable_builtin[{i}]"),
                format!(
                    "{name:?} is not a built-in plugin; they are: {}",
                    builtin.join(", ")
                ),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, c) in config.notify.iter().enumerate() {
            c.validate()
                .map_err(|e| invalid(format!("notify[{i}]"), e))?;
            if !names.insert(c.name.clone()) {
                return Err(invalid(
                    format!("notify[{i}].name"),
                    format!("{:?} is used by an earlier channel", c.name),
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, m) in config.miners().into_iter().enumerate() {
            m.validate()
                .map_err(|e| invalid(format!("miner[{i}]"), e))?;
            if !seen.insert(m.id.clone()) {
                return Err(invalid(
                    format!("miner[{i}].id"),
                    format!("{:?} is used by an earlier miner", m.id),
                ));
            }
        }
        Ok(config)
    }

    /// The miners, with the host as id where none was given.
    pub fn miners(&self) -> Vec<MinerConfig> {
        self.miners
            .iter()
            .map(|m| MinerConfig {
                id: if m.id.is_empty() {
                    m.host.clone()
                } else {
                    m.id.clone()
                },
                ..m.clone()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_built_in_plugins_can_be_disabled() {
        let c = Config::parse("disable_builtin = [\"rule-pool-changed\"]", "s.toml")
            .expect("a built-in rule");
        assert_eq!(c.disable_builtin, ["rule-pool-changed"]);
        let e = Config::parse(
            "disable_builtin = [\"rule-overheat\", \"rule-typo\"]",
            "s.toml",
        )
        .expect_err("not a built-in plugin")
        .to_string();
        assert!(
            e.contains("disable_builtin[1]") && e.contains("rule-typo"),
            "{e}"
        );
        assert!(e.contains("driver-axeos"), "lists the names: {e}");
    }

    #[test]
    fn a_full_file() {
        let c = Config::parse(include_str!("../../examples/solomon.toml"), "solomon.toml")
            .expect("the example is valid");
        assert_eq!(c.defaults.poll_seconds, 10);
        assert!(c.defaults.keep_connections);
        assert!(
            !Config::parse("[defaults]\nkeep_connections = false\n", "a.toml")
                .expect("valid")
                .defaults
                .keep_connections
        );
        assert_eq!(c.auth.tokens.len(), 1);
        let alerts = c.alert_config();
        assert_eq!(alerts.cooldown.as_secs(), 15 * 60);
        assert_eq!(c.storage, StorageSection::default());
        assert_eq!(
            solomon_plugin_sdk::rule_config::RuleConfig::parse(&alerts.rule_json("rule-hot-chip"))
                .for_miner("garage-s19")
                .to_string(),
            r#"{"cooldown_minutes":30,"max_chip_c":85,"samples":3}"#
        );
        assert_eq!(
            alerts.cooldown_for("rule-hot-chip", "garage-s19"),
            std::time::Duration::from_secs(30 * 60)
        );
        assert_eq!(alerts.notify.len(), 2);
        assert_eq!(
            alerts.notify[1].secret.as_deref(),
            Some("another-long-secret")
        );
        let m = c.miners();
        assert_eq!(m[0].id, "10.0.0.50");
        assert_eq!(
            (m[1].id.as_str(), m[1].rpc_port, m[1].driver.as_deref()),
            ("garage-s19", 4028, Some("driver-cgminer"))
        );
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = Config::parse(
            "listen = \"127.0.0.1:8080\"\n\n[defaults]\npoll_seconds = \"ten\"\n",
            "a.toml",
        )
        .expect_err("wrong type");
        let s = e.to_string();
        assert!(s.starts_with("a.toml:4: poll_seconds: "), "{s}");
        let e = Config::parse("lisen = \"127.0.0.1:8080\"\n", "a.toml").expect_err("unknown key");
        assert!(
            e.to_string().starts_with("a.toml:1: lisen: ")
                && e.to_string().contains("unknown field"),
            "{e}"
        );
        let e = Config::parse(
            "[[miner]]\nhost = \"10.0.0.1\"\n[[miner]]\nhost = \"10.0.0.1\"\n",
            "a.toml",
        )
        .expect_err("duplicate");
        assert_eq!(
            e.to_string(),
            "a.toml: miner[1].id: \"10.0.0.1\" is used by an earlier miner"
        );
        let e =
            Config::parse("[[miner]]\nhost = \"not a host/\"\n", "a.toml").expect_err("bad host");
        assert!(
            e.to_string().contains("miner[0]") && e.to_string().contains("not an address"),
            "{e}"
        );
        assert!(Config::parse("listen = \"nowhere\"\n", "a.toml").is_err());
        assert!(Config::parse("[defaults]\npoll_seconds = 0\n", "a.toml").is_err());
        let e = Config::parse("[defaults]\ntimeout_ms = 5\n", "a.toml").expect_err("tiny");
        assert_eq!(
            e.to_string(),
            "a.toml: defaults.timeout_ms: must be 100 to 60000"
        );
        let e = Config::parse("[defaults]\npoll_threads = 0\n", "a.toml").expect_err("none");
        assert_eq!(
            e.to_string(),
            "a.toml: defaults.poll_threads: must be 1 to 64"
        );
        assert_eq!(
            Config::parse("", "a.toml")
                .expect("empty")
                .defaults
                .poll_threads,
            1
        );
        let e = Config::parse("[storage]\nraw_days = 0\n", "a.toml").expect_err("no raw");
        assert_eq!(
            e.to_string(),
            "a.toml: storage.raw_days: must be 1 to 3650 days"
        );
        let e = Config::parse("[auth]\ntokens = [\"short\"]\n", "a.toml").expect_err("short");
        assert!(e.to_string().starts_with("a.toml: auth.tokens[0]: "), "{e}");
        let e = Config::parse(
            "[[notify]]\nname = \"tg\"\nkind = \"telegram\"\ntoken = \"1:a\"\n",
            "a.toml",
        )
        .expect_err("no chat");
        assert_eq!(
            e.to_string(),
            "a.toml: notify[0]: telegram needs `token` (the bot's) and `chat_id`"
        );
        let e = Config::parse("[[notify]]\nname = \"x\"\nkind = \"pager\"\n", "a.toml")
            .expect_err("unknown kind");
        assert!(e.to_string().starts_with("a.toml:3: kind: "), "{e}");
        let twice = "[[notify]]\nname = \"x\"\nkind = \"ntfy\"\nurl = \"https://ntfy.sh/a\"\n";
        let e = Config::parse(&twice.repeat(2), "a.toml").expect_err("duplicate");
        assert_eq!(
            e.to_string(),
            "a.toml: notify[1].name: \"x\" is used by an earlier channel"
        );
    }
}
