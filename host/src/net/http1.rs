//! HTTP/1.1 on the wire, client side: a request written in one piece, and a response read by
//! the framing rules of RFC 9112 §6.3 (no body, a length, chunked, or until the server closes).
//!
//! hyper's client made every poll of an AxeOS miner build a connection object, a channel pair
//! and fresh 8 KiB buffers, and take them apart again to keep the socket: about 8% of the
//! daemon's CPU at 10,000 miners, for one small `GET`. Here a poll is one write, reads into one
//! buffer, and a head parsed by httparse (the parser hyper itself uses).

use super::{HttpReply, NetError};
use bytes::Bytes;
use http::{Method, Request, header};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Largest response head (status line and headers), and largest trailer section, read.
const MAX_HEAD: usize = 64 * 1024;
/// Most headers a response may have (hyper's limit too); more is a protocol error.
const MAX_HEADERS: usize = 100;
/// Headers handed on in [`HttpReply`].
const KEPT_HEADERS: usize = 64;
/// Longest chunk-size line (with its extensions) or trailer line.
const MAX_LINE: usize = 4096;
/// First read buffer: an AxeOS `/api/system/info` reply, head and body, is 1.5-3 KB.
const FIRST_READ: usize = 4096;

/// `req` as bytes to send: request line, its headers, a `content-length` when there is a body
/// (or the method usually has one), and the body. The caller sets `host`; `content-length`
/// and `transfer-encoding` of its own are left out, since the framing is this function's.
pub fn encode(req: &Request<Bytes>) -> Vec<u8> {
    let body = req.body();
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut out = Vec::with_capacity(128 + body.len());
    out.extend_from_slice(req.method().as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in req.headers() {
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() || !matches!(*req.method(), Method::GET | Method::HEAD) {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// How a response's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// None: a `HEAD` answer, 1xx, 204, 304.
    Empty,
    /// `content-length` bytes.
    Length(u64),
    /// `transfer-encoding: chunked`.
    Chunked,
    /// Whatever comes until the server closes.
    Close,
}

/// A parsed response head.
#[derive(Debug)]
struct Head {
    status: u16,
    headers: Vec<(String, String)>,
    framing: Framing,
    /// HTTP/1.1, not `connection: close`, and a body whose end is marked.
    reusable: bool,
    /// Bytes of the head, blank line included.
    len: usize,
}

fn protocol(msg: impl Into<String>) -> NetError {
    NetError::Protocol(msg.into())
}

/// The head at the start of `buf`, or `None` if it is not all there yet.
fn parse_head(buf: &[u8], head_request: bool) -> Result<Option<Head>, NetError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut slots);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(protocol(format!("bad response head: {e}"))),
    };
    let status = resp
        .code
        .ok_or_else(|| protocol("response without a status"))?;
    let mut length: Option<u64> = None;
    let mut encoded = false;
    let mut chunked = false;
    let mut close = false;
    for h in resp.headers.iter() {
        let tokens = || h.value.split(|&b| b == b',').map(<[u8]>::trim_ascii);
        if h.name.eq_ignore_ascii_case("content-length") {
            for token in tokens() {
                let n = std::str::from_utf8(token)
                    .ok()
                    .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|t| t.parse::<u64>().ok())
                    .ok_or_else(|| {
                        protocol(format!(
                            "bad content-length {:?}",
                            String::from_utf8_lossy(h.value)
                        ))
                    })?;
                if length.is_some_and(|l| l != n) {
                    return Err(protocol("conflicting content-length headers"));
                }
                length = Some(n);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // The last coding of the last header decides (RFC 9112 §6.3).
            encoded = true;
            chunked = tokens()
                .next_back()
                .is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            close |= tokens().any(|t| t.eq_ignore_ascii_case(b"close"));
        }
    }
    let framing = if head_request || status / 100 == 1 || status == 204 || status == 304 {
        Framing::Empty
    } else if encoded {
        if chunked {
            Framing::Chunked
        } else {
            Framing::Close
        }
    } else {
        length.map_or(Framing::Close, Framing::Length)
    };
    // Both a coding and a length may be an attempt at request smuggling: answer it, then close.
    let reusable = resp.version == Some(1)
        && !close
        && framing != Framing::Close
        && !(encoded && length.is_some());
    let headers = resp
        .headers
        .iter()
        .take(KEPT_HEADERS)
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    Ok(Some(Head {
        status,
        headers,
        framing,
        reusable,
        len,
    }))
}

/// Reads more of the response into `buf`, growing it when full; 0 at end of stream.
async fn read_more<R: AsyncRead + Unpin>(io: &mut R, buf: &mut Vec<u8>) -> Result<usize, NetError> {
    if buf.len() == buf.capacity() {
        buf.reserve(buf.len().max(FIRST_READ));
    }
    io.read_buf(buf)
        .await
        .map_err(|e| protocol(format!("read failed: {e}")))
}

/// Whether `buf` holds the blank line that ends a head, looking from `from` on.
fn head_ends(buf: &[u8], from: usize) -> bool {
    let tail = &buf[from.saturating_sub(3)..];
    tail.windows(2).any(|w| w == b"\n\n") || tail.windows(3).any(|w| w == b"\n\r\n")
}

/// Reads and removes one head from the front of `buf`.
async fn read_head<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut Vec<u8>,
    head_request: bool,
) -> Result<Head, NetError> {
    // The head is parsed only once its end has come, so a peer sending it a byte at a time
    // costs a scan, not a parse per byte.
    let mut scanned = 0;
    loop {
        let head = match head_ends(buf, scanned) {
            true => parse_head(buf, head_request)?,
            false => None,
        };
        scanned = buf.len();
        // Checked for a whole head too, so the limit does not depend on how the bytes came.
        if head.as_ref().map_or(buf.len(), |h| h.len) > MAX_HEAD {
            return Err(protocol("response head larger than 64 KiB"));
        }
        if let Some(head) = head {
            buf.drain(..head.len);
            return Ok(head);
        }
        if read_more(io, buf).await? == 0 {
            return Err(protocol(if buf.is_empty() {
                "connection closed before a response"
            } else {
                "connection closed inside the response head"
            }));
        }
    }
}

/// Reads one response to a request sent on `io` (`head_request`: it was a `HEAD`): the reply,
/// and whether the connection may carry another request. Bodies over `max_body` bytes are
/// refused as [`NetError::TooLarge`].
pub async fn read_response<R: AsyncRead + Unpin>(
    io: &mut R,
    head_request: bool,
    max_body: usize,
) -> Result<(HttpReply, bool), NetError> {
    let mut buf = Vec::with_capacity(FIRST_READ);
    let head = loop {
        let head = read_head(io, &mut buf, head_request).await?;
        match head.status {
            101 => return Err(protocol("unexpected 101 Switching Protocols")),
            // An interim answer (100 Continue, 103 Early Hints): the real one follows.
            100..=199 => continue,
            _ => break head,
        }
    };
    let (body, leftover) = match head.framing {
        Framing::Empty => (Vec::new(), !buf.is_empty()),
        Framing::Length(n) => {
            if n > max_body as u64 {
                return Err(NetError::TooLarge(max_body));
            }
            let n = n as usize;
            buf.reserve_exact(n.saturating_sub(buf.len()));
            while buf.len() < n {
                if read_more(io, &mut buf).await? == 0 {
                    return Err(protocol(format!(
                        "connection closed {} bytes into a body of {n}",
                        buf.len()
                    )));
                }
            }
            let leftover = buf.len() > n;
            buf.truncate(n);
            (buf, leftover)
        }
        Framing::Close => {
            loop {
                if buf.len() > max_body {
                    return Err(NetError::TooLarge(max_body));
                }
                if read_more(io, &mut buf).await? == 0 {
                    break;
                }
            }
            (buf, false)
        }
        Framing::Chunked => read_chunked(io, buf, max_body).await?,
    };
    let reply = HttpReply {
        status: head.status,
        headers: head.headers,
        body,
    };
    Ok((reply, head.reusable && !leftover))
}

/// A chunked body's raw bytes, read as needed, with a cursor past those already decoded.
struct Raw<'a, R> {
    io: &'a mut R,
    buf: Vec<u8>,
    at: usize,
}

impl<R: AsyncRead + Unpin> Raw<'_, R> {
    /// Reads more, first dropping what is decoded so the buffer stays as small as a chunk.
    async fn fill(&mut self) -> Result<(), NetError> {
        if self.at > 0 {
            self.buf.drain(..self.at);
            self.at = 0;
        }
        match read_more(self.io, &mut self.buf).await? {
            0 => Err(protocol("connection closed inside a chunked body")),
            _ => Ok(()),
        }
    }

    /// The next line, without its line ending (CRLF, or a bare LF as lenient servers send).
    async fn line(&mut self) -> Result<Vec<u8>, NetError> {
        // Bytes of the line already searched: a line trickling in is scanned once, not again
        // from its start at every read.
        let mut searched = 0;
        loop {
            let rest = &self.buf[self.at..];
            if let Some(i) = rest[searched..].iter().position(|&b| b == b'\n') {
                let end = searched + i;
                let line = rest[..end]
                    .strip_suffix(b"\r")
                    .unwrap_or(&rest[..end])
                    .to_vec();
                self.at += end + 1;
                return Ok(line);
            }
            if rest.len() > MAX_LINE {
                return Err(protocol("chunk-size or trailer line longer than 4 KiB"));
            }
            searched = rest.len();
            self.fill().await?;
        }
    }

    /// `n` bytes of chunk data and the line ending after them, the data appended to `body`.
    async fn data(&mut self, n: usize, body: &mut Vec<u8>) -> Result<(), NetError> {
        while self.buf.len() - self.at < n + 1 {
            self.fill().await?;
        }
        body.extend_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        if self.buf[self.at] == b'\n' {
            self.at += 1;
            return Ok(());
        }
        while self.buf.len() - self.at < 2 {
            self.fill().await?;
        }
        if &self.buf[self.at..self.at + 2] != b"\r\n" {
            return Err(protocol("chunk data not followed by a line ending"));
        }
        self.at += 2;
        Ok(())
    }
}

/// The size at the start of a chunk-size line: hex digits, then nothing, or extensions after
/// `;` (ignored), with optional blanks before them.
fn chunk_size(line: &[u8]) -> Result<u64, NetError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let rest = line[digits..].trim_ascii_start();
    let size = std::str::from_utf8(&line[..digits])
        .ok()
        .filter(|d| !d.is_empty() && d.len() <= 16)
        .and_then(|d| u64::from_str_radix(d, 16).ok());
    match size {
        Some(n) if rest.is_empty() || rest[0] == b';' => Ok(n),
        _ => Err(protocol(format!(
            "bad chunk-size line {:?}",
            String::from_utf8_lossy(&line[..line.len().min(40)])
        ))),
    }
}

/// Decodes a chunked body whose first raw bytes are `buf`: the body, and whether bytes
/// followed its end.
async fn read_chunked<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: Vec<u8>,
    max_body: usize,
) -> Result<(Vec<u8>, bool), NetError> {
    let mut raw = Raw { io, buf, at: 0 };
    let mut body = Vec::new();
    loop {
        let size = chunk_size(&raw.line().await?)?;
        if size == 0 {
            break;
        }
        if size > (max_body - body.len()) as u64 {
            return Err(NetError::TooLarge(max_body));
        }
        raw.data(size as usize, &mut body).await?;
    }
    // Trailers, ignored, up to the blank line that ends the message.
    let mut trailers = 0;
    loop {
        let line = raw.line().await?;
        if line.is_empty() {
            break;
        }
        trailers += line.len();
        if trailers > MAX_HEAD {
            return Err(protocol("trailers larger than 64 KiB"));
        }
    }
    Ok((body, raw.buf.len() > raw.at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio::io::ReadBuf;

    /// A peer whose bytes arrive `step` at a time, then end of stream.
    struct Pieces {
        data: Vec<u8>,
        at: usize,
        step: usize,
    }

    impl AsyncRead for Pieces {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let n = self
                .step
                .min(self.data.len() - self.at)
                .min(buf.remaining());
            let at = self.at;
            buf.put_slice(&self.data[at..at + n]);
            self.at += n;
            Poll::Ready(Ok(()))
        }
    }

    /// Reads `data` as a response, arriving in pieces of 1, 2, 7, 64 bytes and in one piece;
    /// every split must give the same answer, which is returned.
    async fn read(data: &[u8], head: bool, max: usize) -> Result<(HttpReply, bool), NetError> {
        read_in(&[1, 2, 7, 64, 1 << 20], data, head, max).await
    }

    /// As [`read`], in pieces of each size of `steps`.
    async fn read_in(
        steps: &[usize],
        data: &[u8],
        head: bool,
        max: usize,
    ) -> Result<(HttpReply, bool), NetError> {
        let mut answers = Vec::new();
        for &step in steps {
            let mut io = Pieces {
                data: data.to_vec(),
                at: 0,
                step,
            };
            let got = read_response(&mut io, head, max).await;
            answers.push(got.map(|(r, keep)| (r.status, r.headers, r.body, keep)));
        }
        let first = answers[0].clone();
        for (a, step) in answers.iter().zip(steps) {
            assert_eq!(a, &first, "pieces of {step} bytes read otherwise");
        }
        first.map(|(status, headers, body, keep)| {
            (
                HttpReply {
                    status,
                    headers,
                    body,
                },
                keep,
            )
        })
    }

    /// The body and the keep verdict of `data` read as the answer to a `GET`.
    async fn got(data: &[u8]) -> (String, bool) {
        let r = read(data, false, 1024).await;
        let (body, keep) = body(&r);
        (body.to_string(), keep)
    }

    fn body(r: &Result<(HttpReply, bool), NetError>) -> (&str, bool) {
        match r {
            Ok((reply, keep)) => (std::str::from_utf8(&reply.body).expect("utf-8"), *keep),
            Err(e) => panic!("{e}"),
        }
    }

    fn error(r: Result<(HttpReply, bool), NetError>) -> String {
        match r {
            Err(NetError::Protocol(m)) => m,
            other => panic!("expected a protocol error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_reply_with_a_length_is_read_whole_however_it_arrives() {
        let data = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Empty:\r\nContent-Length: 11\r\n\r\n{\"a\":\"b c\"}";
        assert_eq!(got(data).await, ("{\"a\":\"b c\"}".into(), true));
        let (reply, _) = read(data, false, 1024).await.expect("read");
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.headers,
            [
                ("content-type".into(), "application/json".into()),
                ("x-empty".into(), String::new()),
                ("content-length".into(), "11".into()),
            ]
        );
    }

    #[tokio::test]
    async fn a_chunked_reply_is_decoded_past_extensions_trailers_and_bare_newlines() {
        assert_eq!(got(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n5;name=v\r\nhello\r\n6 ;x\r\n world\r\nA\r\n, 10 bytes\r\n0\r\nX-Trailer: y\r\n\r\n").await, ("hello world, 10 bytes".into(), true));
        assert_eq!(
            got(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\nabc\n0\n\n").await,
            ("abc".into(), true)
        );
    }

    #[tokio::test]
    async fn a_reply_without_a_length_is_read_until_the_close_and_its_connection_not_kept() {
        assert_eq!(
            got(b"HTTP/1.0 200 OK\r\n\r\nuntil the end").await,
            ("until the end".into(), false)
        );
        // An unknown final coding also ends at the close.
        assert_eq!(
            got(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nraw").await,
            ("raw".into(), false)
        );
    }

    #[tokio::test]
    async fn only_a_connection_the_reply_leaves_clean_is_kept() {
        assert_eq!(
            got(b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok")
                .await,
            ("ok".into(), false)
        );
        assert_eq!(
            got(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok").await,
            ("ok".into(), false)
        );
        // Bytes after the reply are seen when they come with it; later ones, when the kept
        // connection is next taken (`IdleConnections::take`).
        let one_piece = [1 << 20];
        let extra = read_in(
            &one_piece,
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1",
            false,
            64,
        )
        .await;
        assert_eq!(body(&extra), ("ok", false), "bytes after the reply");
        let extra_chunked = read_in(
            &one_piece,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nX",
            false,
            64,
        )
        .await;
        assert_eq!(
            body(&extra_chunked),
            ("ok", false),
            "bytes after the chunks"
        );
        let smuggling = read(
            b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
            false,
            64,
        )
        .await;
        assert_eq!(
            body(&smuggling),
            ("ok", false),
            "a coding wins over a length, once"
        );
    }

    #[tokio::test]
    async fn interim_replies_are_passed_over_and_some_replies_have_no_body() {
        let data = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(got(data).await, ("ok".into(), true));
        assert_eq!(read(data, false, 64).await.expect("read").0.status, 201);
        let head = read(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", true, 64).await;
        assert_eq!(body(&head), ("", true), "the answer to a HEAD has no body");
        for status in ["204 No Content", "304 Not Modified"] {
            let data = format!("HTTP/1.1 {status}\r\nContent-Length: 9\r\n\r\n");
            assert_eq!(body(&read(data.as_bytes(), false, 64).await), ("", true));
        }
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_too_large_and_one_at_the_limit_is_not() {
        let cases: [(&[u8], usize); 3] = [
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 5),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n",
                5,
            ),
            (b"HTTP/1.1 200 OK\r\n\r\nhello", 5),
        ];
        for (data, limit) in cases {
            assert_eq!(body(&read(data, false, limit).await).0, "hello");
            let over = read(data, false, limit - 1).await;
            assert!(
                matches!(over, Err(NetError::TooLarge(4))),
                "{:?}: {over:?}",
                String::from_utf8_lossy(data)
            );
        }
    }

    #[tokio::test]
    async fn a_malformed_or_cut_reply_is_a_clear_protocol_error() {
        let cases: [(&[u8], &str); 12] = [
            (b"", "closed before a response"),
            (
                b"HTTP/1.1 200 OK\r\nContent-",
                "closed inside the response head",
            ),
            (b"SSH-2.0-OpenSSH\r\n\r\n", "bad response head"),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n",
                "bad content-length",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                "bad content-length",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd",
                "conflicting",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc",
                "3 bytes into a body of 9",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                "bad chunk-size",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5x\r\nhello\r\n0\r\n\r\n",
                "bad chunk-size",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokay\r\n0\r\n\r\n",
                "not followed by a line ending",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
                "closed inside a chunked body",
            ),
            (
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
                "101",
            ),
        ];
        for (data, want) in cases {
            let got = error(read(data, false, 1024).await);
            assert!(
                got.contains(want),
                "{:?}: {got}",
                String::from_utf8_lossy(data)
            );
        }
        let huge = [
            &b"HTTP/1.1 200 OK\r\nX-Big: "[..],
            &[b'a'; MAX_HEAD],
            b"\r\nContent-Length: 2\r\n\r\nok",
        ]
        .concat();
        assert!(error(read(&huge, false, 1024).await).contains("larger than 64 KiB"));
        let many = format!(
            "HTTP/1.1 200 OK\r\n{}\r\n",
            "X-A: b\r\n".repeat(MAX_HEADERS + 1)
        );
        assert!(error(read(many.as_bytes(), false, 1024).await).contains("too many headers"));
        let long_line = [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;"[..],
            &[b'x'; MAX_LINE + 10],
        ]
        .concat();
        assert!(error(read(&long_line, false, 1024).await).contains("longer than 4 KiB"));
    }

    #[test]
    fn a_request_is_one_write_with_its_headers_and_the_framing_of_its_body() {
        let get = Request::get("/api/system/info?x=1")
            .header(header::HOST, "10.0.0.5:8080")
            .body(Bytes::new())
            .expect("request");
        assert_eq!(
            encode(&get),
            b"GET /api/system/info?x=1 HTTP/1.1\r\nhost: 10.0.0.5:8080\r\n\r\n"
        );
        let patch = Request::patch("/api/system")
            .header(header::HOST, "10.0.0.5")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, "999")
            .header(header::TRANSFER_ENCODING, "chunked")
            .body(Bytes::from_static(b"{\"fanspeed\":80}"))
            .expect("request");
        assert_eq!(
            String::from_utf8(encode(&patch)).expect("utf-8"),
            "PATCH /api/system HTTP/1.1\r\nhost: 10.0.0.5\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n{\"fanspeed\":80}"
        );
        let post = Request::post("/api/system/restart")
            .header(header::HOST, "10.0.0.5")
            .body(Bytes::new())
            .expect("request");
        assert!(
            String::from_utf8(encode(&post))
                .expect("utf-8")
                .ends_with("content-length: 0\r\n\r\n")
        );
    }
}
