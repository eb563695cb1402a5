//! A headless Chromium driven over the W3C WebDriver protocol (Debian's `chromium` and
//! `chromedriver`; `scripts/install-test-deps.sh` installs them). The protocol is JSON over
//! HTTP, and the tests need five of its commands, so this speaks it directly instead of
//! pulling in a WebDriver client crate.

use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where the browser binaries are, overridable for other distributions.
fn binary(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// A browser session. Call [`Browser::quit`] at the end; dropping it kills the driver.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

/// One WebDriver command: `method path` with an optional JSON body; the `value` of the reply.
async fn command(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("chromedriver at {addr}: {e}"))?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let (head, body) = tokio::time::timeout(Duration::from_secs(60), read_reply(&mut s))
        .await
        .map_err(|_| format!("chromedriver: no reply to {method} {path} in 60 s"))??;
    let v: Value = serde_json::from_str(&body)
        .map_err(|e| format!("chromedriver sent non-JSON ({e}): {head}"))?;
    if let Some(err) = v["value"]["error"].as_str() {
        return Err(format!(
            "{method} {path}: {err}: {}",
            v["value"]["message"].as_str().unwrap_or_default()
        ));
    }
    Ok(v["value"].clone())
}

/// Reads one reply: the head, then a body of `Content-Length` bytes (chromedriver keeps the
/// connection open even when asked to close it, so reading to EOF would hang), or chunks.
async fn read_reply(s: &mut tokio::net::TcpStream) -> Result<(String, String), String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let lower = head.to_ascii_lowercase();
            let length = lower
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            let chunked = lower.contains("transfer-encoding: chunked")
                || lower.contains("transfer-encoding:chunked");
            let have = buf.len() - end - 4;
            let done = match length {
                Some(len) => have >= len,
                None if chunked => buf.ends_with(b"0\r\n\r\n"),
                None => n == 0,
            };
            if done {
                let body = String::from_utf8_lossy(&buf[end + 4..]).to_string();
                let body = if chunked { dechunk(&body) } else { body };
                return Ok((head, body));
            }
        }
        if n == 0 {
            return Err("chromedriver closed the connection mid-reply".into());
        }
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a `width` x `height` window.
    pub async fn launch(width: u32, height: u32) -> Result<Browser, String> {
        let driver_bin = binary("SOLOMON_CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = binary("SOLOMON_CHROMIUM", "/usr/bin/chromium");
        for b in [&driver_bin, &chromium] {
            if !b.exists() {
                return Err(format!(
                    "{} not found: install Debian's chromium and chromium-driver \
                     (scripts/install-test-deps.sh, which the README's test command runs)",
                    b.display()
                ));
            }
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", driver_bin.display()))?;
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut browser = Browser {
            driver,
            addr,
            session: String::new(),
            _profile: profile,
        };
        let start = Instant::now();
        while command(addr, "GET", "/status", None).await.is_err() {
            if start.elapsed() > Duration::from_secs(20) {
                return Err("chromedriver did not start in 20 s".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The flags this machine needs: no sandbox as root, and no background network calls
        // (the closed network refuses them, many at a time).
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", browser._profile.path().display()),
            &format!("--window-size={width},{height}"),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let session = command(addr, "POST", "/session", Some(&caps)).await?;
        browser.session = session["sessionId"]
            .as_str()
            .ok_or("no session id")?
            .to_string();
        Ok(browser)
    }

    async fn cmd(&self, method: &str, what: &str, body: Option<&Value>) -> Result<Value, String> {
        let path = format!("/session/{}{what}", self.session);
        command(self.addr, method, &path, body).await
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) -> Result<(), String> {
        self.cmd("POST", "/url", Some(&json!({"url": url})))
            .await
            .map(|_| ())
    }

    /// Runs `script` (a function body: use `return`) in the page and returns its value.
    pub async fn eval(&self, script: &str) -> Result<Value, String> {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(&json!({"script": script, "args": []})),
        )
        .await
    }

    /// Polls `script` until it returns something truthy (not null, false, 0 or ""), and returns
    /// that; fails naming `what` after `timeout`.
    pub async fn wait_for(
        &self,
        what: &str,
        script: &str,
        timeout: Duration,
    ) -> Result<Value, String> {
        let start = Instant::now();
        loop {
            // A script that throws is "not yet": the dashboard draws its views from script
            // after the page has loaded, so an element may not exist on the first tries.
            let last_error = match self.eval(script).await {
                Ok(v) if truthy(&v) => return Ok(v),
                Ok(_) => None,
                Err(e) => Some(e),
            };
            if start.elapsed() > timeout {
                let why = last_error.map(|e| format!(" (last error: {e})"));
                return Err(format!(
                    "timed out after {timeout:?} waiting for {what}{}",
                    why.unwrap_or_default()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Resizes the window.
    pub async fn resize(&self, width: u32, height: u32) -> Result<(), String> {
        self.cmd(
            "POST",
            "/window/rect",
            Some(&json!({"width": width, "height": height})),
        )
        .await
        .map(|_| ())
    }

    /// Saves a PNG of the window as `<target>/screenshots/<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf, String> {
        let b64 = self.cmd("GET", "/screenshot", None).await?;
        let png = decode_base64(b64.as_str().ok_or("screenshot is not a string")?)?;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).map_err(|e| e.to_string())?;
        Ok(path)
    }

    /// Ends the session (closing Chromium) and stops the driver.
    pub async fn quit(mut self) {
        let _ = command(
            self.addr,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        )
        .await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `target/screenshots`: the tests' artifacts, beside the build output.
pub fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test binary>
    exe.ancestors()
        .nth(3)
        .map(|t| t.join("screenshots"))
        .unwrap_or_else(|| PathBuf::from("screenshots"))
}

fn decode_base64(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\n' | b'\r' => continue,
            _ => return Err(format!("bad base64 byte {c}")),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

/// JavaScript truthiness of a WebDriver result.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_decodes() {
        assert_eq!(
            super::decode_base64("aGVsbG8=").ok(),
            Some(b"hello".to_vec())
        );
        assert_eq!(super::decode_base64("aGk=").ok(), Some(b"hi".to_vec()));
        assert!(super::decode_base64("a*").is_err());
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(super::dechunk("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), "abcde");
    }
}
