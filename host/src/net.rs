//! The host's two network exchanges with miners: one HTTP/1.1 request, and one CGMiner-style
//! TCP request read to EOF. Used by the `miner-io` host interface and by auto-detection.
//! Every exchange is bounded in time and size.

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why an exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// Could not connect.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// No complete answer in time.
    #[error("timed out")]
    Timeout,
    /// The answer exceeded the cap.
    #[error("reply larger than {0} bytes")]
    TooLarge(usize),
    /// Not the expected protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct HttpReply {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-case (at most 64).
    pub headers: Vec<(String, String)>,
    /// Body (capped).
    pub body: Vec<u8>,
}

async fn connect(host: &str, port: u16) -> Result<TcpStream, NetError> {
    let stream = TcpStream::connect((host, port))
        .await
        .map_err(|e| NetError::Unreachable(e.to_string()))?;
    // Small request/response exchanges: don't wait for Nagle.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Sends `req` to `host:port` and reads the response, within `timeout`.
pub async fn http(
    host: &str,
    port: u16,
    req: hyper::Request<Full<Bytes>>,
    max_body: usize,
    timeout: Duration,
) -> Result<HttpReply, NetError> {
    tokio::time::timeout(timeout, http_inner(host, port, req, max_body))
        .await
        .unwrap_or(Err(NetError::Timeout))
}

async fn http_inner(
    host: &str,
    port: u16,
    req: hyper::Request<Full<Bytes>>,
    max_body: usize,
) -> Result<HttpReply, NetError> {
    let stream = connect(host, port).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| NetError::Protocol(e.to_string()))?;
    // The connection task ends when the exchange is done or the sender is dropped.
    let conn_task = tokio::spawn(conn);
    let result = async {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| NetError::Protocol(e.to_string()))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .take(64)
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = Limited::new(resp.into_body(), max_body)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    NetError::TooLarge(max_body)
                } else {
                    NetError::Protocol(e.to_string())
                }
            })?
            .to_bytes()
            .to_vec();
        Ok(HttpReply {
            status,
            headers,
            body,
        })
    }
    .await;
    conn_task.abort();
    result
}

/// `GET path` on `host:port`; no `Origin` header (AxeOS refuses non-private origins).
pub async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    max_body: usize,
    timeout: Duration,
) -> Result<HttpReply, NetError> {
    let authority = if port == 80 {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    let req = hyper::Request::builder()
        .method(hyper::Method::GET)
        .uri(path)
        .header(hyper::header::HOST, authority)
        .body(Full::new(Bytes::new()))
        .map_err(|e| NetError::Protocol(e.to_string()))?;
    http(host, port, req, max_body, timeout).await
}

/// CGMiner framing: connect, send `payload`, read until the peer closes, within `timeout`.
pub async fn tcp_request(
    host: &str,
    port: u16,
    payload: &[u8],
    max_reply: usize,
    timeout: Duration,
) -> Result<Vec<u8>, NetError> {
    tokio::time::timeout(timeout, async {
        let mut stream = connect(host, port).await?;
        stream
            .write_all(payload)
            .await
            .map_err(|e| NetError::Protocol(format!("write failed: {e}")))?;
        let mut reply = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = stream
                .read(&mut buf)
                .await
                .map_err(|e| NetError::Protocol(format!("read failed: {e}")))?;
            if n == 0 {
                return Ok(reply);
            }
            if reply.len() + n > max_reply {
                return Err(NetError::TooLarge(max_reply));
            }
            reply.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap_or(Err(NetError::Timeout))
}
