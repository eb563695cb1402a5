//! Serving the simulated miners: one HTTP listener per AxeOS miner, one TCP listener per
//! CGMiner-family miner, each on its own loopback address, plus scenario control.

use super::miner::{Kind, Scenario, SimMiner};
use super::{axeos, cgminer};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How to lay out a simulated fleet.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// AxeOS miners.
    pub axeos: usize,
    /// CGMiner-family miners (families in rotation: Antminer, Whatsminer, Avalon, Braiins, LuxOS).
    pub cgminer: usize,
    /// Address of the first miner; the others follow (127.0.1.1, 127.0.1.2, ...).
    pub first_ip: Ipv4Addr,
    /// HTTP port every AxeOS miner listens on.
    pub http_port: u16,
    /// RPC port every CGMiner miner listens on.
    pub rpc_port: u16,
    /// Delay of the `slow` scenario.
    pub slow_delay: Duration,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            axeos: 4,
            cgminer: 4,
            first_ip: Ipv4Addr::new(127, 0, 1, 1),
            http_port: 8081,
            rpc_port: 4028,
            slow_delay: Duration::from_secs(6),
        }
    }
}

/// A running simulated fleet. Dropping it stops every listener.
pub struct Fleet {
    miners: Vec<Arc<SimMiner>>,
    config: FleetConfig,
    tasks: Vec<JoinHandle<()>>,
}

fn nth_ip(first: Ipv4Addr, n: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(first).wrapping_add(n as u32))
}

impl Fleet {
    /// Binds every miner's listener and starts serving.
    pub async fn start(config: FleetConfig) -> std::io::Result<Fleet> {
        let mut miners = Vec::new();
        let mut tasks = Vec::new();
        for i in 0..config.axeos + config.cgminer {
            let kind = if i < config.axeos {
                Kind::Axeos
            } else {
                Kind::CGMINER[(i - config.axeos) % Kind::CGMINER.len()]
            };
            let ip = nth_ip(config.first_ip, i);
            let miner = Arc::new(SimMiner::new(i, kind, ip));
            let port = if kind.is_http() {
                config.http_port
            } else {
                config.rpc_port
            };
            let addr = SocketAddr::from((ip, port));
            let first = TcpListener::bind(addr)
                .await
                .map_err(|e| std::io::Error::new(e.kind(), format!("cannot bind {addr}: {e}")))?;
            let (m, delay) = (miner.clone(), config.slow_delay);
            tasks.push(tokio::spawn(accept_loop(m, first, addr, delay)));
            miners.push(miner);
        }
        Ok(Fleet {
            miners,
            config,
            tasks,
        })
    }

    /// Every simulated miner.
    pub fn miners(&self) -> &[Arc<SimMiner>] {
        &self.miners
    }

    /// The layout.
    pub fn config(&self) -> &FleetConfig {
        &self.config
    }

    /// Sets the scenario of miner `index`; false if there is no such miner.
    pub fn set_scenario(&self, index: usize, scenario: Scenario) -> bool {
        match self.miners.get(index) {
            Some(m) => {
                m.set_scenario(scenario);
                true
            }
            None => false,
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Serves connections; while the miner is `offline` the port is closed, so connections are
/// refused as for a switched-off miner.
async fn accept_loop(m: Arc<SimMiner>, first: TcpListener, addr: SocketAddr, delay: Duration) {
    let mut listener = Some(first);
    loop {
        if m.scenario() == Scenario::Offline {
            listener = None;
            m.changed.notified().await;
            continue;
        }
        let l = match listener.take() {
            Some(l) => l,
            None => match TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(_) => {
                    // The old socket may linger a moment after an offline spell.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        tokio::select! {
            accepted = l.accept() => {
                if let Ok((stream, _)) = accepted {
                    let m = m.clone();
                    tokio::spawn(async move {
                        let _ = if m.kind.is_http() { serve_http(&m, stream, delay).await } else { serve_rpc(&m, stream, delay).await };
                    });
                }
            }
            () = m.changed.notified() => {}
        }
        listener = Some(l);
    }
}

/// Answers HTTP requests on one connection until the client closes it: ESP-IDF's httpd keeps a
/// session open after a reply. A miner gone offline drops its open sessions as well. Requests
/// are read head only (enough for a GET); one with a body is answered and the session closed.
async fn serve_http(m: &SimMiner, mut stream: TcpStream, delay: Duration) -> std::io::Result<()> {
    let mut buf = vec![0u8; 4096];
    let mut n = 0;
    loop {
        let end = loop {
            if let Some(at) = buf[..n].windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if n == buf.len() {
                return Ok(());
            }
            let r = stream.read(&mut buf[n..]).await?;
            if r == 0 {
                return Ok(());
            }
            n += r;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        buf.copy_within(end..n, 0);
        n -= end;
        if m.scenario() == Scenario::Offline {
            return Ok(());
        }
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let has_body = head
            .lines()
            .any(|l| l.starts_with("content-length:") && l[15..].trim() != "0");
        let close = has_body || head.contains("connection: close");
        if m.scenario() == Scenario::Slow {
            tokio::time::sleep(delay).await;
        }
        let (status, ctype, body) = match path.as_str() {
            "/api/system/info" => {
                let r = m.read();
                let body = if m.scenario() == Scenario::Malformed {
                    "{\"hashRate\": 12".to_string()
                } else {
                    axeos::system_info(m, &r)
                };
                ("200 OK", "application/json", body)
            }
            "/" => ("200 OK", "text/html", axeos::INDEX_HTML.to_string()),
            _ => ("404 Not Found", "text/plain", "not found".to_string()),
        };
        let connection = if close { "Connection: close\r\n" } else { "" };
        let resp = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{connection}\r\n{body}",
            body.len()
        );
        stream.write_all(resp.as_bytes()).await?;
        if close {
            return stream.shutdown().await;
        }
    }
}

/// One CGMiner exchange: read the request, answer, close (NUL-terminated, as cgminer does).
async fn serve_rpc(m: &SimMiner, mut stream: TcpStream, delay: Duration) -> std::io::Result<()> {
    let mut buf = vec![0u8; 4096];
    let mut n = 0;
    // A request is one JSON object; wait until it is complete (or the client stops sending).
    loop {
        let r = tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buf[n..])).await;
        match r {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(k)) => {
                n += k;
                if serde_json::from_slice::<serde_json::Value>(&buf[..n]).is_ok() || n == buf.len()
                {
                    break;
                }
            }
            Ok(Err(e)) => return Err(e),
        }
    }
    if m.scenario() == Scenario::Slow {
        tokio::time::sleep(delay).await;
    }
    let r = m.read();
    let mut reply = cgminer::reply(m, &r, &buf[..n]);
    match m.scenario() {
        Scenario::Malformed => reply = "\u{1}\u{2}garbage, not json at all".to_string(),
        Scenario::Quirky => reply = cgminer::quirky(&reply),
        _ => {}
    }
    let mut bytes = reply.into_bytes();
    bytes.push(0);
    stream.write_all(&bytes).await?;
    stream.shutdown().await
}
