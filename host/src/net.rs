//! The host's two network exchanges with miners: one HTTP/1.1 request (on a connection kept
//! from the last one when it may be; the wire format is in `http1`), and one CGMiner-style TCP
//! request read to EOF. Used by the `miner-io` host interface and by auto-detection. Every
//! exchange is bounded in time and size.

use bytes::Bytes;
use http::{Method, Request, header};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod fd_limit;
mod http1;
mod idle;
pub use fd_limit::{idle_connection_budget, open_files_limit, raise_open_files_limit};
pub use idle::IdleConnections;

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
    TcpStream::connect((host, port))
        .await
        .map_err(|e| NetError::Unreachable(e.to_string()))
}

/// Sends `req` to `host:port` on a new connection and reads the response, within `timeout`.
pub async fn http(
    host: &str,
    port: u16,
    req: Request<Bytes>,
    max_body: usize,
    timeout: Duration,
) -> Result<HttpReply, NetError> {
    let wire = http1::encode(&req);
    let head = req.method() == Method::HEAD;
    tokio::time::timeout(timeout, async {
        let stream = connect(host, port).await?;
        exchange(stream, &wire, head, max_body)
            .await
            .map(|(reply, _)| reply)
    })
    .await
    .unwrap_or(Err(NetError::Timeout))
}

/// As [`http`], over the connection kept in `idle` from the last exchange with `host:port` when
/// there is one, and keeping this one there when the reply allows. Only `GET` and `HEAD` reuse
/// a connection: a request that fails on a reused connection is sent again on a new one, which
/// is safe only for a request that changes nothing.
pub async fn http_reusing(
    idle: &IdleConnections,
    host: &str,
    port: u16,
    req: Request<Bytes>,
    max_body: usize,
    timeout: Duration,
) -> Result<HttpReply, NetError> {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return http(host, port, req, max_body, timeout).await;
    }
    let wire = http1::encode(&req);
    let head = req.method() == Method::HEAD;
    tokio::time::timeout(timeout, async {
        if let Some(stream) = idle.take(host, port) {
            // The peer may have closed the session just as it was taken: then the request
            // fails before any reply, and goes again on a new connection. A reply too large
            // would be as large again.
            match exchange(stream, &wire, head, max_body).await {
                Ok((reply, kept)) => {
                    if let Some(s) = kept {
                        idle.put(host, port, s);
                    }
                    return Ok(reply);
                }
                Err(e @ NetError::TooLarge(_)) => return Err(e),
                Err(e) => tracing::trace!(host, port, "kept connection failed ({e}); reconnecting"),
            }
        }
        let stream = connect(host, port).await?;
        let (reply, kept) = exchange(stream, &wire, head, max_body).await?;
        if let Some(s) = kept {
            idle.put(host, port, s);
        }
        Ok(reply)
    })
    .await
    .unwrap_or(Err(NetError::Timeout))
}

/// Sends the encoded request `wire` on `stream` and reads the response; the stream back if it
/// can carry another request.
async fn exchange(
    mut stream: TcpStream,
    wire: &[u8],
    head: bool,
    max_body: usize,
) -> Result<(HttpReply, Option<TcpStream>), NetError> {
    stream
        .write_all(wire)
        .await
        .map_err(|e| NetError::Protocol(format!("write failed: {e}")))?;
    let (reply, reusable) = http1::read_response(&mut stream, head, max_body).await?;
    Ok((reply, reusable.then_some(stream)))
}

/// A `GET path` request for `host:port`, with no `Origin` header (AxeOS refuses non-private
/// origins).
pub fn get_request(host: &str, port: u16, path: &str) -> Result<Request<Bytes>, NetError> {
    let authority = if port == 80 {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(header::HOST, authority)
        .body(Bytes::new())
        .map_err(|e| NetError::Protocol(e.to_string()))
}

/// `GET path` on `host:port` on a new connection.
pub async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    max_body: usize,
    timeout: Duration,
) -> Result<HttpReply, NetError> {
    http(
        host,
        port,
        get_request(host, port, path)?,
        max_body,
        timeout,
    )
    .await
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
        // One write of a small payload on a new connection: Nagle never holds it, so no
        // TCP_NODELAY (a system call per exchange, two or three per stock Antminer poll).
        let mut stream = connect(host, port).await?;
        stream
            .write_all(payload)
            .await
            .map_err(|e| NetError::Protocol(format!("write failed: {e}")))?;
        // Read straight into the reply, one byte past the limit to tell "too large".
        let mut reply = Vec::with_capacity(4096.min(max_reply.saturating_add(1)));
        (&mut stream)
            .take((max_reply as u64).saturating_add(1))
            .read_to_end(&mut reply)
            .await
            .map_err(|e| NetError::Protocol(format!("read failed: {e}")))?;
        if reply.len() > max_reply {
            return Err(NetError::TooLarge(max_reply));
        }
        Ok(reply)
    })
    .await
    .unwrap_or(Err(NetError::Timeout))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A server on 127.0.0.1 that reads a request and answers `reply`, then closes.
    async fn answering(reply: Vec<u8>) -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = l.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let reply = reply.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    let _ = s.read(&mut buf).await;
                    let _ = s.write_all(&reply).await;
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn a_tcp_reply_is_read_to_its_end_up_to_the_limit() {
        let reply: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let port = answering(reply.clone()).await;
        let t = Duration::from_secs(5);
        let got = tcp_request("127.0.0.1", port, b"{}", reply.len(), t).await;
        assert_eq!(
            got.ok(),
            Some(reply.clone()),
            "a reply of exactly the limit"
        );
        let over = tcp_request("127.0.0.1", port, b"{}", reply.len() - 1, t).await;
        assert!(
            matches!(over, Err(NetError::TooLarge(n)) if n == reply.len() - 1),
            "{over:?}"
        );
        let empty = answering(Vec::new()).await;
        let got = tcp_request("127.0.0.1", empty, b"{}", 10, t).await;
        assert_eq!(got.ok(), Some(Vec::new()));
    }
}
