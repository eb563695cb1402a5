//! `solomon:plugin/miner-io`: HTTP and CGMiner-style TCP to the miner of the current call only.
//!
//! The target is set by the runtime just before a driver call and cleared after it (as Zed's
//! extension host sets the active worktree), so one pooled instance can serve many miners and a
//! driver can never reach an address it was not given. A denial is a WIT error, not a trap.

use super::BoundaryLimits;
use crate::net::{self, IdleConnections, NetError};
use crate::runtime::bindings::miner_io::{Host, HttpRequest, HttpResponse, IoError};
use crate::runtime::bindings::types::Target;
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::HasData;

/// What the miner-io interface sees.
pub struct MinerIoCtx {
    /// The miner the current call may reach; `None` outside driver `poll` calls.
    pub(crate) target: Option<Target>,
    limits: BoundaryLimits,
    /// Connections kept between calls, shared by every instance.
    connections: Arc<IdleConnections>,
    /// Wall time spent waiting in these host calls during the current guest call; the CPU
    /// budget excludes it.
    pub(crate) io_time: Duration,
}

impl MinerIoCtx {
    /// No target until the runtime sets one for a call.
    pub fn new(limits: BoundaryLimits, connections: Arc<IdleConnections>) -> Self {
        MinerIoCtx {
            target: None,
            limits,
            connections,
            io_time: Duration::ZERO,
        }
    }

    fn timeout(&self, requested_ms: u32) -> Duration {
        let ms = if requested_ms == 0 {
            self.limits.io_timeout_ms
        } else {
            requested_ms.min(self.limits.io_timeout_max_ms)
        };
        Duration::from_millis(u64::from(ms))
    }

    /// The target's host if `host` names it; the error says why not.
    fn authorize(&self, host: &str) -> Result<String, IoError> {
        let Some(target) = &self.target else {
            return Err(IoError::Denied("no miner is assigned to this call".into()));
        };
        if normalize_host(host) != normalize_host(&target.host) {
            return Err(IoError::Denied(format!(
                "{host} is not this call's miner ({})",
                target.host
            )));
        }
        Ok(target.host.clone())
    }
}

fn normalize_host(h: &str) -> String {
    h.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// `HasData` marker projecting the store onto [`MinerIoCtx`].
pub struct MinerIoApi;

impl HasData for MinerIoApi {
    type Data<'a> = &'a mut MinerIoCtx;
}

fn io_error(e: NetError) -> IoError {
    match e {
        NetError::Unreachable(s) => IoError::Unreachable(s),
        NetError::Timeout => IoError::Timeout,
        NetError::TooLarge(n) => IoError::TooLarge(n as u32),
        NetError::Protocol(s) => IoError::Protocol(s),
    }
}

impl Host for MinerIoCtx {
    async fn http(&mut self, req: HttpRequest) -> Result<HttpResponse, IoError> {
        let uri: http::Uri = req
            .url
            .parse()
            .map_err(|e| IoError::Protocol(format!("bad URL {:?}: {e}", req.url)))?;
        if uri.scheme_str() != Some("http") {
            return Err(IoError::Protocol(format!(
                "only http:// URLs are supported, got {:?}",
                req.url
            )));
        }
        let host = self.authorize(uri.host().unwrap_or_default())?;
        if req.body.len() > self.limits.request_bytes {
            return Err(IoError::TooLarge(self.limits.request_bytes as u32));
        }
        let method = http::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| IoError::Protocol(format!("bad method {:?}", req.method)))?;
        let port = uri.port_u16().unwrap_or(80);
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        let mut builder = http::Request::builder().method(method).uri(path).header(
            http::header::HOST,
            uri.authority().map_or(host.as_str(), |a| a.as_str()),
        );
        for (k, v) in req.headers.iter().take(32) {
            // AxeOS answers 401 to any request with a non-private Origin; never send one.
            if k.eq_ignore_ascii_case("origin") || k.eq_ignore_ascii_case("host") {
                continue;
            }
            builder = builder.header(k.as_str(), v.as_str());
        }
        let request = builder
            .body(Bytes::from(req.body))
            .map_err(|e| IoError::Protocol(e.to_string()))?;
        let timeout = self.timeout(req.timeout_ms);
        let started = Instant::now();
        let result = net::http_reusing(
            &self.connections,
            &host,
            port,
            request,
            self.limits.response_bytes,
            timeout,
        )
        .await;
        self.io_time += started.elapsed();
        result
            .map(|r| HttpResponse {
                status: r.status,
                headers: r.headers,
                body: r.body,
            })
            .map_err(io_error)
    }

    async fn tcp_request(
        &mut self,
        host: String,
        port: u16,
        payload: Vec<u8>,
        timeout_ms: u32,
    ) -> Result<Vec<u8>, IoError> {
        let host = self.authorize(&host)?;
        if payload.len() > self.limits.request_bytes {
            return Err(IoError::TooLarge(self.limits.request_bytes as u32));
        }
        let timeout = self.timeout(timeout_ms);
        let started = Instant::now();
        let result =
            net::tcp_request(&host, port, &payload, self.limits.response_bytes, timeout).await;
        self.io_time += started.elapsed();
        result.map_err(io_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(target: Option<&str>) -> MinerIoCtx {
        let mut c = MinerIoCtx::new(BoundaryLimits::default(), Arc::default());
        c.target = target.map(|h| Target {
            host: h.into(),
            http_port: 80,
            rpc_port: 4028,
        });
        c
    }

    #[test]
    fn only_the_assigned_miner_is_reachable() {
        assert!(ctx(Some("10.0.0.5")).authorize("10.0.0.5").is_ok());
        assert!(ctx(Some("Miner.Local")).authorize("miner.local").is_ok());
        assert!(ctx(Some("::1")).authorize("[::1]").is_ok());
        assert!(matches!(
            ctx(Some("10.0.0.5")).authorize("10.0.0.6"),
            Err(IoError::Denied(_))
        ));
        assert!(matches!(
            ctx(None).authorize("10.0.0.5"),
            Err(IoError::Denied(_))
        ));
    }

    #[tokio::test]
    async fn denied_before_any_connection() {
        let mut c = ctx(Some("127.0.0.1"));
        let req = HttpRequest {
            method: "GET".into(),
            url: "http://127.0.0.2:9/".into(),
            headers: vec![],
            body: vec![],
            timeout_ms: 0,
        };
        assert!(matches!(c.http(req).await, Err(IoError::Denied(_))));
        let req = HttpRequest {
            method: "GET".into(),
            url: "https://127.0.0.1/".into(),
            headers: vec![],
            body: vec![],
            timeout_ms: 0,
        };
        assert!(matches!(c.http(req).await, Err(IoError::Protocol(_))));
        assert!(matches!(
            c.tcp_request("8.8.8.8".into(), 4028, vec![], 0).await,
            Err(IoError::Denied(_))
        ));
    }
}
