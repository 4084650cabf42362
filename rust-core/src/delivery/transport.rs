//! Getting bytes from a store: `http(s)://` through the app's HTTP client ([`HttpClient`], on Android
//! `HttpURLConnection`) or, on hosts without one, reqwest (rustls); or `file://`. Conditional GET of the
//! manifest, streamed downloads hashed on the way and cut off past the declared size, resume with `Range`
//! after a dropped connection, retries with exponential backoff and jitter that honour `Retry-After`,
//! connect and idle-read timeouts, bounded redirects — the same rules whichever client carries the bytes.

use super::cancel::CancelHandle;
use super::http::{HttpBody, HttpClient, HttpFailure, HttpRequest, header};
use super::manifest::{MAX_MANIFEST_BYTES, hex};
use super::{DeliveryError, Result};
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

const NOT_MODIFIED: u16 = 304;
const OK: u16 = 200;
const PARTIAL_CONTENT: u16 = 206;
const RANGE_NOT_SATISFIABLE: u16 = 416;
/// Most bytes asked of an app client's body per call (one FFI crossing each).
const APP_READ_BYTES: usize = 64 * 1024;
const USER_AGENT: &str = concat!("hapticmat-core/", env!("CARGO_PKG_VERSION"));

/// Timeouts, retries and limits of the network side.
#[derive(Debug, Clone, PartialEq)]
pub struct TransportConfig {
    /// Longest wait for a TCP/TLS connection.
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of a response (a stalled connection is dropped, then resumed).
    pub idle_timeout: Duration,
    /// Most redirects followed for one request.
    pub max_redirects: usize,
    /// Most tries of one request in a row that bring no new bytes.
    pub max_attempts: u32,
    /// First backoff delay; doubles with every failed try.
    pub backoff_base: Duration,
    /// Longest backoff delay.
    pub backoff_max: Duration,
    /// A `Retry-After` longer than this ends the check instead of blocking it.
    pub max_retry_after: Duration,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_redirects: 5,
            max_attempts: 5,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

/// Where a store is.
#[derive(Debug, Clone)]
enum Base {
    Http(Url),
    File(PathBuf),
}

/// The answer to a conditional manifest request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ManifestFetch {
    /// 304 to a conditional request: the manifest has the ETag we sent (never returned for an
    /// unconditional request: that 304 is an error).
    NotModified,
    /// New bytes, and their ETag if the server gave one.
    Fetched { bytes: Vec<u8>, etag: Option<String> },
}

/// Something worth telling a listener about while bytes move.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TransferEvent {
    /// Bytes of the model received so far.
    Progress { received: u64, total: u64 },
    /// A try failed; the next one starts after `delay`.
    Retrying { attempt: u32, delay: Duration, reason: String },
}

/// What carries HTTP requests.
enum Client {
    /// The app's client: blocking calls, run on tokio's blocking threads.
    App(Arc<dyn HttpClient>),
    /// reqwest with rustls and webpki's roots (hosts; not compiled for Android).
    #[cfg(not(target_os = "android"))]
    Reqwest(reqwest::Client),
    /// No client: `file://` stores only (Android without an app client).
    #[cfg(target_os = "android")]
    Missing,
}

/// A response whichever client brought it: status, headers, and the body still to read.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Body,
}

enum Body {
    /// `None` only while a read is under way on a blocking thread (or after one timed out).
    App(Option<Box<dyn HttpBody>>),
    #[cfg(not(target_os = "android"))]
    Reqwest(reqwest::Response),
}

impl Response {
    fn content_length(&self) -> Option<u64> {
        header(&self.headers, "content-length")?.parse().ok()
    }
}

/// A client bound to one store.
pub(crate) struct Transport {
    base: Base,
    client: Client,
    cfg: TransportConfig,
}

impl Transport {
    /// A transport for `base_url` (`http://`, `https://` or `file://`; the manifest is `<base>/latest.json`)
    /// that sends HTTP through `http` when given, else reqwest (hosts only: on Android an `http(s)` store
    /// needs the app's client).
    pub(crate) fn new(base_url: &str, cfg: TransportConfig, http: Option<Arc<dyn HttpClient>>) -> Result<Self> {
        let mut url = Url::parse(base_url).map_err(|e| DeliveryError::Config(format!("base URL: {e}")))?;
        if !url.path().ends_with('/') {
            // Join relative keys under the base, not beside its last segment.
            url.set_path(&format!("{}/", url.path()));
        }
        let base = match url.scheme() {
            "http" | "https" => Base::Http(url),
            "file" => {
                Base::File(url.to_file_path().map_err(|()| DeliveryError::Config("file URL has no local path".into()))?)
            }
            other => return Err(DeliveryError::Config(format!("unsupported URL scheme {other:?}"))),
        };
        let client = match http {
            Some(app) => Client::App(app),
            #[cfg(not(target_os = "android"))]
            None => Client::Reqwest(reqwest_client(&cfg)?),
            #[cfg(target_os = "android")]
            None => match base {
                Base::Http(ref url) => {
                    return Err(DeliveryError::Config(format!(
                        "{} is an HTTP store, and this build reads HTTP only through the app's client: pass one \
                         (the AAR's ModelUpdates.open does)",
                        redact(url)
                    )));
                }
                Base::File(_) => Client::Missing,
            },
        };
        Ok(Transport { base, client, cfg })
    }

    /// The store's address for logs (no credentials, no query).
    pub(crate) fn describe(&self) -> String {
        match &self.base {
            Base::Http(u) => redact(u),
            Base::File(p) => format!("file://{}", p.display()),
        }
    }

    /// Fetches `key` (the manifest), conditionally on `etag`, refusing more than the manifest limit.
    pub(crate) async fn fetch_manifest(
        &self,
        key: &str,
        etag: Option<&str>,
        cancel: &CancelHandle,
        events: &mut (dyn FnMut(TransferEvent) + Send),
    ) -> Result<ManifestFetch> {
        match &self.base {
            Base::File(dir) => {
                let path = dir.join(key);
                let mut bytes = Vec::new();
                let f = std::fs::File::open(&path).map_err(|e| file_error(&path, e))?;
                f.take(MAX_MANIFEST_BYTES as u64 + 1).read_to_end(&mut bytes).map_err(|e| file_error(&path, e))?;
                if bytes.len() > MAX_MANIFEST_BYTES {
                    return Err(DeliveryError::TooLarge { what: "manifest", limit: MAX_MANIFEST_BYTES as u64 });
                }
                Ok(ManifestFetch::Fetched { bytes, etag: None })
            }
            Base::Http(base) => {
                let url = join(base, key)?;
                let mut failures = 0;
                loop {
                    cancel.check()?;
                    match self.get_manifest_once(&url, etag).await {
                        Ok(r) => return Ok(r),
                        Err(e) if e.is_transient() => {
                            failures += 1;
                            let delay = self.retry_delay(failures, &e)?;
                            log::warn!("manifest {}: {e}; retry {failures} in {delay:?}", redact(&url));
                            events(TransferEvent::Retrying { attempt: failures, delay, reason: e.to_string() });
                            cancel.sleep(delay).await?;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }

    async fn get_manifest_once(&self, url: &Url, etag: Option<&str>) -> Result<ManifestFetch> {
        let headers = etag.map(|tag| ("If-None-Match".to_string(), tag.to_string())).into_iter().collect();
        let mut resp = self.send(url, headers).await?;
        if resp.status == NOT_MODIFIED {
            // "Not modified" means something only as the answer to a conditional request; unasked, it
            // would let a store (or anyone in the path) freeze the device on what it has, unchecked.
            if etag.is_none() {
                return Err(DeliveryError::NotModifiedRefused(format!(
                    "{} answered 304 to a request that was not conditional (no If-None-Match sent)",
                    redact(url)
                )));
            }
            return Ok(ManifestFetch::NotModified);
        }
        check_status(&resp, url)?;
        let too_large = DeliveryError::TooLarge { what: "manifest", limit: MAX_MANIFEST_BYTES as u64 };
        if resp.content_length().is_some_and(|n| n > MAX_MANIFEST_BYTES as u64) {
            return Err(too_large);
        }
        let etag = header(&resp.headers, "etag").map(str::to_string);
        let mut bytes = Vec::new();
        while let Some(chunk) = self.next_chunk(&mut resp).await? {
            if bytes.len() + chunk.len() > MAX_MANIFEST_BYTES {
                return Err(too_large);
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(ManifestFetch::Fetched { bytes, etag })
    }

    /// Downloads `key` into `sink` until it holds exactly `size` bytes, resuming and retrying as needed.
    pub(crate) async fn download(
        &self,
        key: &str,
        size: u64,
        sink: &mut Sink,
        cancel: &CancelHandle,
        events: &mut (dyn FnMut(TransferEvent) + Send),
    ) -> Result<()> {
        match &self.base {
            Base::File(dir) => copy_file(&dir.join(key), size, sink, cancel, events),
            Base::Http(base) => {
                let url = join(base, key)?;
                let mut failures = 0;
                while sink.len() < size {
                    cancel.check()?;
                    let before = sink.len();
                    let result = self.get_object_once(&url, size, sink, events).await;
                    if sink.len() > before {
                        // Progress earns a fresh set of tries: a flaky link that keeps moving gets there.
                        failures = 0;
                    }
                    let e = match result {
                        Ok(()) if sink.len() == size => break,
                        Ok(()) => DeliveryError::Network(format!("response ended at byte {} of {size}", sink.len())),
                        Err(e) if e.is_transient() => e,
                        Err(e) => return Err(e),
                    };
                    failures += 1;
                    let delay = self.retry_delay(failures, &e)?;
                    log::warn!("model {}: {e}; retry {failures} from byte {} in {delay:?}", redact(&url), sink.len());
                    events(TransferEvent::Retrying { attempt: failures, delay, reason: e.to_string() });
                    cancel.sleep(delay).await?;
                }
                Ok(())
            }
        }
    }

    async fn get_object_once(
        &self,
        url: &Url,
        size: u64,
        sink: &mut Sink,
        events: &mut (dyn FnMut(TransferEvent) + Send),
    ) -> Result<()> {
        let offset = sink.len();
        let mut headers = Vec::new();
        if offset > 0 {
            // The key is content-addressed, so the bytes behind it never change: no If-Range needed,
            // and the hash at the end catches a server that gets ranges wrong.
            headers.push(("Range".to_string(), format!("bytes={offset}-")));
        }
        let mut resp = self.send(url, headers).await?;
        match resp.status {
            OK if offset > 0 => {
                log::info!("server ignored the range request; starting over");
                sink.reset()?;
            }
            PARTIAL_CONTENT => {
                let start = content_range_start(&resp.headers);
                if start != Some(offset) {
                    sink.reset()?;
                    return Err(DeliveryError::Network(format!(
                        "asked for bytes from {offset}, got Content-Range {start:?}; starting over"
                    )));
                }
            }
            RANGE_NOT_SATISFIABLE => {
                sink.reset()?;
                return Err(DeliveryError::Network("range not satisfiable; starting over".into()));
            }
            _ => check_status(&resp, url)?,
        }
        let remaining = size - sink.len();
        if resp.content_length().is_some_and(|n| n > remaining) {
            return Err(DeliveryError::TooLarge { what: "model", limit: size });
        }
        let mut last_report = 0;
        while let Some(chunk) = self.next_chunk(&mut resp).await? {
            if sink.len() + chunk.len() as u64 > size {
                return Err(DeliveryError::TooLarge { what: "model", limit: size });
            }
            sink.write(&chunk)?;
            // A progress event per 1% (or 256 KiB) keeps listeners (Kotlin) from drowning in calls.
            if sink.len() - last_report >= (size / 100).max(256 * 1024) || sink.len() == size {
                last_report = sink.len();
                events(TransferEvent::Progress { received: sink.len(), total: size });
            }
        }
        Ok(())
    }

    /// GET `url` with `headers`; redirects followed under the same rules for every client.
    async fn send(&self, url: &Url, headers: Vec<(String, String)>) -> Result<Response> {
        // A server that accepts the connection and never answers is as stalled as one that stops mid-body.
        let head_deadline = self.cfg.idle_timeout + self.cfg.connect_timeout;
        let late = || DeliveryError::Network("no response headers in time".into());
        match &self.client {
            #[cfg(not(target_os = "android"))]
            Client::Reqwest(client) => {
                let req = headers.iter().fold(client.get(url.clone()), |r, (n, v)| r.header(n, v));
                let resp = tokio::time::timeout(head_deadline, req.send()).await.map_err(|_| late())?;
                let resp = resp.map_err(network_error)?;
                let headers = resp
                    .headers()
                    .iter()
                    .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
                    .collect();
                Ok(Response { status: resp.status().as_u16(), headers, body: Body::Reqwest(resp) })
            }
            #[cfg(target_os = "android")]
            Client::Missing => Err(DeliveryError::Config("no HTTP client".into())),
            Client::App(client) => {
                let mut url = url.clone();
                let mut previous: Vec<Url> = Vec::new();
                loop {
                    let mut all = headers.clone();
                    // The exact bytes: a client that inflates gzip on the fly would change the length and
                    // the meaning of ranges (Android's HttpURLConnection asks for gzip unless told).
                    all.push(("Accept-Encoding".into(), "identity".into()));
                    all.push(("User-Agent".into(), USER_AGENT.into()));
                    let request = HttpRequest {
                        url: url.to_string(),
                        headers: all,
                        connect_timeout: self.cfg.connect_timeout,
                        read_timeout: self.cfg.idle_timeout,
                    };
                    let client = client.clone();
                    let call = tokio::task::spawn_blocking(move || client.get(request));
                    let resp = tokio::time::timeout(head_deadline, call).await.map_err(|_| late())?;
                    let resp = resp
                        .map_err(|e| DeliveryError::Network(format!("HTTP client: {e}")))?
                        .map_err(client_failure)?;
                    if !matches!(resp.status, 301 | 302 | 303 | 307 | 308) {
                        return Ok(Response {
                            status: resp.status,
                            headers: resp.headers,
                            body: Body::App(Some(resp.body)),
                        });
                    }
                    url = self.follow(&url, header(&resp.headers, "location"), &mut previous)?;
                }
            }
        }
    }

    /// The target of a redirect from `from` to `location`, under [`redirect_refusal`]'s rules.
    fn follow(&self, from: &Url, location: Option<&str>, previous: &mut Vec<Url>) -> Result<Url> {
        let location = location
            .ok_or_else(|| DeliveryError::Redirect(format!("redirect from {} without a Location", redact(from))))?;
        let next =
            from.join(location).map_err(|e| DeliveryError::Redirect(format!("redirect to {location:?}: {e}")))?;
        previous.push(from.clone());
        match redirect_refusal(previous, &next, self.cfg.max_redirects) {
            Some(why) => Err(DeliveryError::Redirect(why)),
            None => Ok(next),
        }
    }

    async fn next_chunk(&self, resp: &mut Response) -> Result<Option<Vec<u8>>> {
        let stalled = || DeliveryError::Network(format!("no data for {:?}", self.cfg.idle_timeout));
        match &mut resp.body {
            #[cfg(not(target_os = "android"))]
            Body::Reqwest(r) => match tokio::time::timeout(self.cfg.idle_timeout, r.chunk()).await {
                Ok(r) => Ok(r.map_err(network_error)?.map(|b| b.to_vec())),
                Err(_) => Err(stalled()),
            },
            Body::App(slot) => {
                let Some(mut body) = slot.take() else {
                    return Err(DeliveryError::Network("the response body was abandoned after a stall".into()));
                };
                let call = tokio::task::spawn_blocking(move || {
                    let r = body.read(APP_READ_BYTES);
                    (body, r)
                });
                // Past the idle timeout the read is abandoned (its thread ends with the client's own
                // read timeout, which is the same).
                let (body, read) = tokio::time::timeout(self.cfg.idle_timeout, call)
                    .await
                    .map_err(|_| stalled())?
                    .map_err(|e| DeliveryError::Network(format!("HTTP client: {e}")))?;
                *slot = Some(body);
                let bytes = read.map_err(client_failure)?;
                Ok((!bytes.is_empty()).then_some(bytes))
            }
        }
    }

    /// How long to wait before try `failures + 1`, or the error itself once tries run out.
    fn retry_delay(&self, failures: u32, e: &DeliveryError) -> Result<Duration> {
        if failures >= self.cfg.max_attempts {
            return Err(e.clone());
        }
        if let DeliveryError::Http { retry_after_s: Some(s), .. } = e {
            let asked = Duration::from_secs(*s);
            if asked > self.cfg.max_retry_after {
                return Err(e.clone());
            }
            return Ok(asked);
        }
        Ok(backoff(&self.cfg, failures))
    }
}

/// Exponential backoff with "equal jitter": half the delay fixed, half random, so clients that failed
/// together do not come back together.
pub(crate) fn backoff(cfg: &TransportConfig, failures: u32) -> Duration {
    let exp = cfg.backoff_base.saturating_mul(1u32 << failures.saturating_sub(1).min(20));
    let full = exp.min(cfg.backoff_max);
    let half = full / 2;
    half + half.mul_f64(rand::random::<f64>())
}

/// An app client's failure: the network's are retried, a refusal by the platform ends the check.
fn client_failure(failure: HttpFailure) -> DeliveryError {
    match failure {
        HttpFailure::Network(reason) => DeliveryError::Network(reason),
        HttpFailure::Refused(reason) => DeliveryError::Config(format!("the HTTP client refused the request: {reason}")),
    }
}

fn join(base: &Url, key: &str) -> Result<Url> {
    base.join(key).map_err(|e| DeliveryError::Config(format!("object key {key:?}: {e}")))
}

/// Why a redirect to `next` is refused, if it is, after the requests to `previous` (the first one the
/// original): a loop, more than `max` hops, a downgrade from https, a scheme other than http(s). One rule
/// set for reqwest's policy and for an app client's redirects, which the core follows itself.
fn redirect_refusal(previous: &[Url], next: &Url, max: usize) -> Option<String> {
    if previous.contains(next) {
        Some(format!("redirect loop back to {}", redact(next)))
    } else if previous.len() > max {
        Some(format!("more than {max} redirects"))
    } else if previous.first().is_some_and(|p| p.scheme() == "https") && next.scheme() != "https" {
        Some("redirect from https to a plain scheme".into())
    } else if !matches!(next.scheme(), "http" | "https") {
        Some(format!("redirect to a {:?} URL", next.scheme()))
    } else {
        None
    }
}

/// reqwest for hosts: rustls with webpki's roots, no proxy, the redirect rules of [`redirect_refusal`].
#[cfg(not(target_os = "android"))]
fn reqwest_client(cfg: &TransportConfig) -> Result<reqwest::Client> {
    let max = cfg.max_redirects;
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        match redirect_refusal(attempt.previous(), attempt.url(), max) {
            Some(why) => attempt.error(why),
            None => attempt.follow(),
        }
    });
    reqwest::Client::builder()
        .connect_timeout(cfg.connect_timeout)
        .read_timeout(cfg.idle_timeout)
        .redirect(policy)
        .user_agent(USER_AGENT)
        .no_proxy()
        .tcp_nodelay(true)
        .build()
        .map_err(|e| DeliveryError::Config(format!("HTTP client: {e}")))
}

fn check_status(resp: &Response, url: &Url) -> Result<()> {
    if (200..300).contains(&resp.status) {
        return Ok(());
    }
    Err(DeliveryError::Http { status: resp.status, url: redact(url), retry_after_s: retry_after(&resp.headers) })
}

/// `Retry-After` as seconds: either a number of seconds or an HTTP date.
fn retry_after(headers: &[(String, String)]) -> Option<u64> {
    let v = header(headers, "retry-after")?;
    if let Ok(s) = v.parse::<u64>() {
        return Some(s);
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    Some((at.timestamp() - chrono::Utc::now().timestamp()).max(0) as u64)
}

fn content_range_start(headers: &[(String, String)]) -> Option<u64> {
    let v = header(headers, "content-range")?;
    v.strip_prefix("bytes ")?.split('-').next()?.trim().parse().ok()
}

#[cfg(not(target_os = "android"))]
fn network_error(e: reqwest::Error) -> DeliveryError {
    // Without the URL: a presigned URL's query would be a secret in the log.
    let redirect = e.is_redirect();
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    if redirect { DeliveryError::Redirect(msg) } else { DeliveryError::Network(msg) }
}

fn file_error(path: &Path, e: std::io::Error) -> DeliveryError {
    DeliveryError::Network(format!("{}: {e}", path.display()))
}

/// A URL for logs: scheme, host, port and path, without user info or query.
pub(crate) fn redact(url: &Url) -> String {
    format!(
        "{}://{}{}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port().map(|p| format!(":{p}")).unwrap_or_default(),
        url.path()
    )
}

fn copy_file(
    path: &Path,
    size: u64,
    sink: &mut Sink,
    cancel: &CancelHandle,
    events: &mut (dyn FnMut(TransferEvent) + Send),
) -> Result<()> {
    let mut f = std::fs::File::open(path).map_err(|e| file_error(path, e))?;
    sink.reset()?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        cancel.check()?;
        let n = f.read(&mut buf).map_err(|e| file_error(path, e))?;
        if n == 0 {
            break;
        }
        if sink.len() + n as u64 > size {
            return Err(DeliveryError::TooLarge { what: "model", limit: size });
        }
        sink.write(&buf[..n])?;
        events(TransferEvent::Progress { received: sink.len(), total: size });
    }
    if sink.len() != size {
        return Err(DeliveryError::Network(format!("{} has {} bytes, expected {size}", path.display(), sink.len())));
    }
    Ok(())
}

/// A download in progress: a temporary file in the destination folder (so installing is a rename) and the
/// SHA-256 of what it holds, updated as bytes arrive. Dropped unfinished, the file is removed.
pub(crate) struct Sink {
    file: std::io::BufWriter<tempfile::NamedTempFile>,
    hasher: Sha256,
    len: u64,
}

/// Prefix of download temporaries; anything with it is a leftover when no check is running.
pub(crate) const TEMP_PREFIX: &str = ".download-";

impl Sink {
    /// A new empty download in `dir`.
    pub(crate) fn new_in(dir: &Path) -> Result<Self> {
        let file = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .suffix(".part")
            .tempfile_in(dir)
            .map_err(|e| DeliveryError::io(dir, e))?;
        Ok(Sink { file: std::io::BufWriter::with_capacity(256 * 1024, file), hasher: Sha256::new(), len: 0 })
    }

    /// Bytes written so far.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    fn path(&self) -> PathBuf {
        self.file.get_ref().path().to_path_buf()
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.file.write_all(bytes).map_err(|e| DeliveryError::io(&self.path(), e))?;
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Empties the download (the server did not resume where we asked).
    fn reset(&mut self) -> Result<()> {
        let path = self.path();
        let io = |e| DeliveryError::io(&path, e);
        self.file.flush().map_err(io)?;
        let f = self.file.get_mut().as_file_mut();
        f.set_len(0).map_err(io)?;
        f.seek(std::io::SeekFrom::Start(0)).map_err(io)?;
        self.hasher = Sha256::new();
        self.len = 0;
        Ok(())
    }

    /// Flushes and fsyncs the file; returns it with the hex SHA-256 of its bytes.
    pub(crate) fn finish(self) -> Result<(tempfile::NamedTempFile, String)> {
        let path = self.path();
        let file = self.file.into_inner().map_err(|e| DeliveryError::io(&path, e.error()))?;
        file.as_file().sync_all().map_err(|e| DeliveryError::io(&path, e))?;
        Ok((file, hex(&self.hasher.finalize())))
    }
}

/// Downloads one content-addressed object (`key` under `base_url`) into `dir`, verifying its size and
/// SHA-256 on the way, with the updater's resume and retry rules; returns the file (named `<sha256>` in
/// `dir`). Blocking network and file I/O; memory stays flat in the object's size.
pub fn fetch_object(
    base_url: &str,
    key: &str,
    size: u64,
    sha256: &str,
    dir: &Path,
    cfg: TransportConfig,
) -> Result<PathBuf> {
    let transport = Transport::new(base_url, cfg, None)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DeliveryError::Config(format!("async runtime: {e}")))?;
    let mut sink = Sink::new_in(dir)?;
    let cancel = CancelHandle::new();
    runtime.block_on(transport.download(key, size, &mut sink, &cancel, &mut |_| {}))?;
    let (file, actual) = sink.finish()?;
    if actual != sha256 {
        return Err(DeliveryError::HashMismatch { expected: sha256.to_string(), actual });
    }
    let dest = dir.join(sha256);
    file.persist(&dest).map_err(|e| DeliveryError::io(&dest, e.error))?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;
    /// An app client the rules below never call.
    #[derive(Debug)]
    struct Unused;
    impl HttpClient for Unused {
        fn get(&self, _: HttpRequest) -> std::result::Result<super::super::http::HttpResponse, HttpFailure> {
            Err(HttpFailure::Network("not called".into()))
        }
    }

    /// Redirects through an app's client follow reqwest's rules on hosts: relative locations resolve,
    /// loops, chains past the limit, https → http and other schemes are refused, each named.
    #[test]
    fn app_client_redirects_follow_the_hosts_rules() {
        let t = Transport::new("https://store.example/p/", TransportConfig::default(), Some(Arc::new(Unused))).unwrap();
        let u = |s: &str| Url::parse(s).unwrap();
        let mut seen = Vec::new();
        let next = t.follow(&u("https://store.example/p/latest.json"), Some("/q/latest.json"), &mut seen).unwrap();
        assert_eq!(next.as_str(), "https://store.example/q/latest.json");
        let back = t.follow(&next, Some("https://store.example/p/latest.json"), &mut seen);
        assert!(matches!(&back, Err(DeliveryError::Redirect(m)) if m.contains("loop")), "{back:?}");
        let plain = t.follow(&next, Some("http://store.example/x"), &mut vec![]);
        assert!(matches!(&plain, Err(DeliveryError::Redirect(m)) if m.contains("plain scheme")), "{plain:?}");
        let file = t.follow(&u("http://a/"), Some("file:///etc/passwd"), &mut vec![]);
        assert!(matches!(&file, Err(DeliveryError::Redirect(m)) if m.contains("\"file\"")), "{file:?}");
        let none = t.follow(&next, None, &mut vec![]);
        assert!(matches!(&none, Err(DeliveryError::Redirect(m)) if m.contains("without a Location")), "{none:?}");
        let mut chain = Vec::new();
        let mut at = u("https://store.example/0");
        let err = loop {
            match t.follow(&at, Some(&format!("/{}", chain.len() + 1)), &mut chain) {
                Ok(next) => at = next,
                Err(e) => break e,
            }
        };
        assert_eq!(err, DeliveryError::Redirect("more than 5 redirects".into()));
        assert_eq!(chain.len(), 6);
    }

    /// An app client that fails every request the same way and counts them.
    #[derive(Debug)]
    struct Failing(HttpFailure, std::sync::atomic::AtomicU32);
    impl HttpClient for Failing {
        fn get(&self, _: HttpRequest) -> std::result::Result<super::super::http::HttpResponse, HttpFailure> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err(self.0.clone())
        }
    }

    /// A network failure in the app's client is retried up to the limit; a refusal by the platform (a
    /// cleartext store on Android) ends the check at once as a configuration error naming it.
    #[test]
    fn app_client_network_failures_are_retried_and_refusals_are_not() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let cfg = TransportConfig {
            backoff_base: Duration::from_millis(1),
            backoff_max: Duration::from_millis(2),
            ..TransportConfig::default()
        };
        let fetch = |failure: HttpFailure| {
            let client = Arc::new(Failing(failure, Default::default()));
            let t = Transport::new("http://store.example/", cfg.clone(), Some(client.clone())).unwrap();
            let r = runtime.block_on(t.fetch_manifest("latest.json", None, &CancelHandle::new(), &mut |_| {}));
            (r, client.1.load(std::sync::atomic::Ordering::SeqCst))
        };
        let (r, calls) = fetch(HttpFailure::Network("connection reset".into()));
        assert_eq!(r, Err(DeliveryError::Network("connection reset".into())));
        assert_eq!(calls, cfg.max_attempts);
        let refusal = "CLEARTEXT communication to store.example not permitted by network security policy";
        let (r, calls) = fetch(HttpFailure::Refused(refusal.into()));
        assert!(matches!(&r, Err(DeliveryError::Config(m)) if m.contains(refusal)), "{r:?}");
        assert_eq!(calls, 1);
    }

    #[test]
    fn backoff_doubles_within_its_bounds_with_jitter() {
        let cfg = TransportConfig::default();
        for failures in 1..12 {
            let full = cfg.backoff_base.saturating_mul(1 << (failures - 1)).min(cfg.backoff_max);
            let d = backoff(&cfg, failures);
            assert!(d >= full / 2 && d <= full, "{failures}: {d:?} outside [{:?}, {full:?}]", full / 2);
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let h = |v: &str| vec![("Retry-After".to_string(), v.to_string())];
        assert_eq!(retry_after(&h("7")), Some(7));
        let at = (chrono::Utc::now() + chrono::Duration::seconds(120)).to_rfc2822().replace("+0000", "GMT");
        assert!(retry_after(&h(&at)).is_some_and(|s| (110..=120).contains(&s)), "{:?}", retry_after(&h(&at)));
        assert_eq!(retry_after(&h("soon")), None);
        assert_eq!(retry_after(&[("retry-after".to_string(), " 3 ".to_string())]), Some(3));
    }

    #[test]
    fn logged_urls_carry_no_credentials_or_query() {
        let u = Url::parse("https://user:secret@example.org:8443/bucket/latest.json?X-Amz-Signature=abc").unwrap();
        assert_eq!(redact(&u), "https://example.org:8443/bucket/latest.json");
    }

    #[test]
    fn a_file_object_is_fetched_and_verified() {
        let store = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        std::fs::create_dir(store.path().join("models")).unwrap();
        std::fs::write(store.path().join("models/x"), b"hello model").unwrap();
        let sha = hex(&Sha256::digest(b"hello model"));
        let base = format!("file://{}", store.path().display());
        let got = fetch_object(&base, "models/x", 11, &sha, dest.path(), TransportConfig::default()).unwrap();
        assert_eq!(std::fs::read(got).unwrap(), b"hello model");
        let short = fetch_object(&base, "models/x", 5, &sha, dest.path(), TransportConfig::default());
        assert!(matches!(short, Err(DeliveryError::TooLarge { .. })), "{short:?}");
        let wrong = fetch_object(&base, "models/x", 11, &"0".repeat(64), dest.path(), TransportConfig::default());
        assert!(matches!(wrong, Err(DeliveryError::HashMismatch { .. })), "{wrong:?}");
        // Nothing but the verified object is left behind.
        assert_eq!(std::fs::read_dir(dest.path()).unwrap().count(), 1);
    }
}
