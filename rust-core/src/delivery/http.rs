//! The HTTP a store is read through, when the app brings its own: a blocking GET that the transport drives
//! (timeouts, redirects, retries, ranges and every check stay in Rust). On Android the AAR passes
//! `java.net.HttpURLConnection` (`io.hapticmat.presence.UrlConnectionStoreHttp`): TLS then trusts what the
//! device trusts (its CA store, the app's Network Security Config, user-added roots where the app allows
//! them), proxies are the platform's, and the library carries no TLS or HTTP stack of its own (the
//! practice of Mozilla's application-services, whose `viaduct` hands requests to Kotlin the same way).
//! Hosts use reqwest unless a client is passed.

use std::fmt::Debug;
use std::time::Duration;

/// One GET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Absolute `http://` or `https://` URL.
    pub url: String,
    /// Headers to send besides the client's own (`If-None-Match`, `Range`, `Accept-Encoding`, `User-Agent`).
    pub headers: Vec<(String, String)>,
    /// Longest wait for the connection.
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes (headers or body).
    pub read_timeout: Duration,
}

/// The answer's head, and its body to read.
pub struct HttpResponse {
    /// The status code (redirects are returned, not followed: the transport follows them).
    pub status: u16,
    /// Header names and values as received (names compared case-insensitively).
    pub headers: Vec<(String, String)>,
    /// The body, read in pieces.
    pub body: Box<dyn HttpBody>,
}

impl Debug for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpResponse").field("status", &self.status).field("headers", &self.headers).finish()
    }
}

/// Why a client could not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpFailure {
    /// The connection, TLS, a timeout, a dropped body: the transport retries.
    Network(String),
    /// The platform will not make this request (Android's cleartext policy for a plain `http://` store, a
    /// scheme or URL it refuses): trying again cannot help, so the check ends at once, as a configuration
    /// error.
    Refused(String),
}

/// A blocking HTTP client.
pub trait HttpClient: Send + Sync + Debug {
    /// Sends `request` and returns once the response's head arrived. Never follows redirects.
    fn get(&self, request: HttpRequest) -> Result<HttpResponse, HttpFailure>;
}

/// A response body.
pub trait HttpBody: Send {
    /// Up to `max` next bytes; empty at the end of the body.
    fn read(&mut self, max: usize) -> Result<Vec<u8>, HttpFailure>;
}

/// The value of header `name` (case-insensitive), the first if repeated.
pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim())
}
