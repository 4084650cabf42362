//! A real HTTP/1.1 server on 127.0.0.1 that serves a store folder and misbehaves on purpose, request by
//! request, as the test's rule says. Hand-written on std::net so every byte and every close is ours.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most bytes an endless body sends before the server gives up on its own (bounded test traffic).
pub const ENDLESS_LIMIT: u64 = 256 * 1024 * 1024;

/// A request as the rule sees it.
#[derive(Debug, Clone)]
pub struct Req {
    /// Path without the leading slash, e.g. `latest.json`.
    pub path: String,
    /// The start of a `Range: bytes=N-` header.
    pub range_from: Option<u64>,
    /// The `If-None-Match` header.
    pub if_none_match: Option<String>,
    /// How many requests for this path came before this one.
    pub n: usize,
}

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Serve the file properly: ETag, 304, Range → 206, 404 when absent.
    Serve,
    /// Answer with this status (and a Retry-After header if given), no body.
    Status(u16, Option<String>),
    /// Declare the full length, send only the first `n` bytes of the (ranged) body, then close.
    Truncate(u64),
    /// Send `n` bytes, then reset the connection (RST).
    Reset(u64),
    /// Send the body in `chunk`-byte pieces with `every` between them.
    Drip { chunk: usize, every: Duration },
    /// Send `n` bytes, go silent for `pause`, then close.
    Stall(u64, Duration),
    /// Send the full body under this Content-Length.
    WrongLength(u64),
    /// Send these bytes instead of the file (200, correct Content-Length).
    Body(Vec<u8>),
    /// Send these bytes instead of the file with chunked encoding (no Content-Length).
    Chunked(Vec<u8>),
    /// A chunked body that never ends (until the client leaves or [`ENDLESS_LIMIT`]).
    Endless,
    /// 302 to this path.
    Redirect(String),
}

type Rule = dyn Fn(&Req) -> Behaviour + Send + Sync;

/// A running server; stops when dropped.
pub struct FaultServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    rule: Arc<Mutex<Arc<Rule>>>,
    log: Arc<Mutex<Vec<Req>>>,
    sent: Arc<AtomicU64>,
}

impl FaultServer {
    /// Serves `root` on an ephemeral port of 127.0.0.1.
    pub fn start(root: PathBuf) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let rule: Arc<Mutex<Arc<Rule>>> = Arc::new(Mutex::new(Arc::new(|_: &Req| Behaviour::Serve)));
        let log = Arc::new(Mutex::new(Vec::new()));
        let sent = Arc::new(AtomicU64::new(0));
        let counts = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
        let (stop2, rule2, log2, sent2) = (stop.clone(), rule.clone(), log.clone(), sent.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (root, rule, log, sent, counts) =
                    (root.clone(), rule2.lock().unwrap().clone(), log2.clone(), sent2.clone(), counts.clone());
                std::thread::spawn(move || {
                    let _ = handle(conn, &root, rule.as_ref(), &log, &sent, &counts);
                });
            }
        });
        FaultServer { addr, stop, rule, log, sent }
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Replaces the rule for the requests that follow, and clears the request log.
    pub fn set_rule(&self, rule: impl Fn(&Req) -> Behaviour + Send + Sync + 'static) {
        *self.rule.lock().unwrap() = Arc::new(rule);
        self.log.lock().unwrap().clear();
        self.sent.store(0, Ordering::SeqCst);
    }

    /// The requests served since the last rule change.
    pub fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }

    /// Body bytes sent since the last rule change.
    pub fn body_bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn handle(
    mut conn: TcpStream,
    root: &std::path::Path,
    rule: &Rule,
    log: &Mutex<Vec<Req>>,
    sent: &AtomicU64,
    counts: &Mutex<HashMap<String, usize>>,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_string();
    let n = {
        let mut c = counts.lock().unwrap();
        let e = c.entry(path.clone()).or_insert(0);
        *e += 1;
        *e - 1
    };
    let req = Req {
        range_from: headers
            .get("range")
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.split('-').next())
            .and_then(|s| s.parse().ok()),
        if_none_match: headers.get("if-none-match").cloned(),
        path,
        n,
    };
    log.lock().unwrap().push(req.clone());
    let behaviour = rule(&req);
    let file = std::fs::read(root.join(&req.path)).ok();
    let etag = file.as_ref().map(|f| format!("\"{:x}-{}\"", fnv(f), f.len()));

    let head = |status: &str, extra: &str| format!("HTTP/1.1 {status}\r\nConnection: close\r\n{extra}\r\n");
    let send_body = |conn: &mut TcpStream, body: &[u8]| -> std::io::Result<()> {
        conn.write_all(body)?;
        sent.fetch_add(body.len() as u64, Ordering::SeqCst);
        Ok(())
    };
    if let Behaviour::Status(code, retry_after) = &behaviour {
        let extra = retry_after.as_ref().map(|r| format!("Retry-After: {r}\r\n")).unwrap_or_default();
        return conn.write_all(head(&format!("{code} Fault"), &format!("{extra}Content-Length: 0\r\n")).as_bytes());
    }
    if let Behaviour::Redirect(to) = &behaviour {
        return conn.write_all(head("302 Found", &format!("Location: /{to}\r\nContent-Length: 0\r\n")).as_bytes());
    }
    if let Behaviour::Endless = &behaviour {
        conn.write_all(head("200 OK", "Transfer-Encoding: chunked\r\n").as_bytes())?;
        let chunk = vec![0x5a; 64 * 1024];
        let framed = [format!("{:x}\r\n", chunk.len()).into_bytes(), chunk, b"\r\n".to_vec()].concat();
        while sent.load(Ordering::SeqCst) < ENDLESS_LIMIT {
            send_body(&mut conn, &framed)?;
        }
        return Ok(());
    }
    if let Behaviour::Chunked(body) | Behaviour::Body(body) = &behaviour {
        if matches!(behaviour, Behaviour::Chunked(_)) {
            conn.write_all(head("200 OK", "Transfer-Encoding: chunked\r\n").as_bytes())?;
            for c in body.chunks(16 * 1024) {
                send_body(
                    &mut conn,
                    &[format!("{:x}\r\n", c.len()).into_bytes(), c.to_vec(), b"\r\n".to_vec()].concat(),
                )?;
            }
            return conn.write_all(b"0\r\n\r\n");
        }
        conn.write_all(head("200 OK", &format!("Content-Length: {}\r\n", body.len())).as_bytes())?;
        return send_body(&mut conn, body);
    }
    let Some(file) = file else {
        return conn.write_all(head("404 Not Found", "Content-Length: 0\r\n").as_bytes());
    };
    let etag = etag.unwrap_or_default();
    if req.if_none_match.as_deref() == Some(etag.as_str()) {
        return conn.write_all(head("304 Not Modified", &format!("ETag: {etag}\r\n")).as_bytes());
    }
    let from = req.range_from.unwrap_or(0).min(file.len() as u64) as usize;
    let body = &file[from..];
    let (status, range) = if req.range_from.is_some() {
        (
            "206 Partial Content",
            format!("Content-Range: bytes {from}-{}/{}\r\n", file.len().saturating_sub(1), file.len()),
        )
    } else {
        ("200 OK", String::new())
    };
    let declared = match behaviour {
        Behaviour::WrongLength(n) => n,
        _ => body.len() as u64,
    };
    conn.write_all(head(status, &format!("ETag: {etag}\r\n{range}Content-Length: {declared}\r\n")).as_bytes())?;
    match behaviour {
        Behaviour::Truncate(n) => send_body(&mut conn, &body[..(n as usize).min(body.len())]),
        Behaviour::Reset(n) => {
            send_body(&mut conn, &body[..(n as usize).min(body.len())])?;
            conn.flush()?;
            // Linger 0 turns the close into a reset.
            socket2::SockRef::from(&conn).set_linger(Some(Duration::ZERO))?;
            drop(conn);
            Ok(())
        }
        Behaviour::Drip { chunk, every } => {
            for c in body.chunks(chunk.max(1)) {
                send_body(&mut conn, c)?;
                std::thread::sleep(every);
            }
            Ok(())
        }
        Behaviour::Stall(n, pause) => {
            send_body(&mut conn, &body[..(n as usize).min(body.len())])?;
            let until = Instant::now() + pause;
            // Hold the connection open and silent; a client that gave up closes it meanwhile.
            let mut probe = [0u8; 1];
            conn.set_read_timeout(Some(Duration::from_millis(50)))?;
            while Instant::now() < until {
                if let Ok(0) = conn.read(&mut probe) {
                    break;
                }
            }
            Ok(())
        }
        _ => send_body(&mut conn, body),
    }
}

/// A cheap content hash for ETags (FNV-1a).
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100000001b3))
}
