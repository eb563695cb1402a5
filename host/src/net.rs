//! The host's two network exchanges with miners: one HTTP/1.1 request (on a connection kept
//! from the last one when it may be), and one CGMiner-style TCP request read to EOF. Used by
//! the `miner-io` host interface and by auto-detection. Every exchange is bounded in time and
//! size.

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod fd_limit;
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

/// [`connect`] for HTTP, where a request may go out in more than one write (head, then body)
/// and Nagle would hold the second until the first is acknowledged.
async fn connect_nodelay(host: &str, port: u16) -> Result<TcpStream, NetError> {
    let stream = connect(host, port).await?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Sends `req` to `host:port` on a new connection and reads the response, within `timeout`.
pub async fn http(
    host: &str,
    port: u16,
    req: hyper::Request<Full<Bytes>>,
    max_body: usize,
    timeout: Duration,
) -> Result<HttpReply, NetError> {
    tokio::time::timeout(timeout, async {
        let stream = connect_nodelay(host, port).await?;
        exchange(stream, req, max_body)
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
    req: hyper::Request<Full<Bytes>>,
    max_body: usize,
    timeout: Duration,
) -> Result<HttpReply, NetError> {
    if !matches!(*req.method(), hyper::Method::GET | hyper::Method::HEAD) {
        return http(host, port, req, max_body, timeout).await;
    }
    tokio::time::timeout(timeout, async {
        if let Some(stream) = idle.take(host, port) {
            // The peer may have closed the session just as it was taken: then the request
            // fails before any reply, and goes again on a new connection. A reply too large
            // would be as large again.
            match exchange(stream, duplicate(&req), max_body).await {
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
        let stream = connect_nodelay(host, port).await?;
        let (reply, kept) = exchange(stream, req, max_body).await?;
        if let Some(s) = kept {
            idle.put(host, port, s);
        }
        Ok(reply)
    })
    .await
    .unwrap_or(Err(NetError::Timeout))
}

/// A copy of `req` to send again (the body is reference-counted, not copied).
fn duplicate(req: &hyper::Request<Full<Bytes>>) -> hyper::Request<Full<Bytes>> {
    let mut copy = hyper::Request::new(req.body().clone());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    copy
}

/// Whether the connection may carry another request after `resp`: HTTP/1.1, not closed by the
/// server, and a body whose end is marked (not "read until the server closes").
fn reusable<B>(resp: &hyper::Response<B>) -> bool {
    let headers = resp.headers();
    let closes = headers.get_all(hyper::header::CONNECTION).iter().any(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .to_ascii_lowercase()
            .contains("close")
    });
    resp.version() == hyper::Version::HTTP_11
        && !closes
        && (headers.contains_key(hyper::header::CONTENT_LENGTH)
            || headers.contains_key(hyper::header::TRANSFER_ENCODING))
}

/// One request and its response on `stream`; the stream back if it can carry another.
async fn exchange(
    stream: TcpStream,
    req: hyper::Request<Full<Bytes>>,
    max_body: usize,
) -> Result<(HttpReply, Option<TcpStream>), NetError> {
    let (mut sender, mut conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| NetError::Protocol(e.to_string()))?;
    let request = async move {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| NetError::Protocol(e.to_string()))?;
        let status = resp.status().as_u16();
        let keep = reusable(&resp);
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
        // `sender` is dropped here: the connection then finishes once it is idle again.
        Ok((
            HttpReply {
                status,
                headers,
                body,
            },
            keep,
        ))
    };
    // The connection is driven here rather than spawned: one task less per request, and it
    // ends without shutting the socket, so the socket can be kept.
    let (result, finished) = tokio::join!(
        request,
        std::future::poll_fn(|cx| conn.poll_without_shutdown(cx))
    );
    let (reply, keep) = result?;
    let kept = (keep && finished.is_ok())
        .then(|| conn.into_parts())
        .filter(|parts| parts.read_buf.is_empty())
        .map(|parts| parts.io.into_inner());
    Ok((reply, kept))
}

/// A `GET path` request for `host:port`, with no `Origin` header (AxeOS refuses non-private
/// origins).
pub fn get_request(
    host: &str,
    port: u16,
    path: &str,
) -> Result<hyper::Request<Full<Bytes>>, NetError> {
    let authority = if port == 80 {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    hyper::Request::builder()
        .method(hyper::Method::GET)
        .uri(path)
        .header(hyper::header::HOST, authority)
        .body(Full::new(Bytes::new()))
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
