//! The app's HTTP client for model stores, implemented in Kotlin ([`StoreHttpClient`]; the AAR's is
//! `UrlConnectionStoreHttp`, over `java.net.HttpURLConnection`), adapted to the core's
//! [`HttpClient`](crate::delivery::HttpClient). The core keeps every rule (timeouts handed down, redirects,
//! retries, ranges, size bounds, hashes, signatures): the client only moves bytes.

use crate::delivery::{HttpBody, HttpClient, HttpFailure, HttpRequest, HttpResponse};
use std::sync::Arc;

/// One header.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpHeader {
    pub name: String,
    pub value: String,
}

/// A GET the core asks for.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StoreHttpRequest {
    /// Absolute `http://` or `https://` URL.
    pub url: String,
    /// Headers to send (`If-None-Match`, `Range`, `Accept-Encoding: identity`, `User-Agent`).
    pub headers: Vec<HttpHeader>,
    /// Longest wait for the connection, in milliseconds.
    pub connect_timeout_ms: u32,
    /// Longest wait for the next bytes (head or body), in milliseconds.
    pub read_timeout_ms: u32,
}

/// The head of the answer and its body.
#[derive(uniffi::Record)]
pub struct StoreHttpResponse {
    /// The status code; a redirect is returned as it is (the core follows it).
    pub status: u16,
    /// The response headers (a header repeated gives several entries).
    pub headers: Vec<HttpHeader>,
    /// The body, read by the core in pieces, released when the core is done with it.
    pub body: Arc<dyn StoreHttpBody>,
}

/// Why the client could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum StoreHttpError {
    /// The connection, TLS, a timeout, a dropped body: the core retries.
    #[error("{reason}")]
    Network { reason: String },
    /// The platform will not make this request (Android's cleartext policy, a scheme or URL it refuses):
    /// the core does not retry, and the check fails as a configuration error.
    #[error("{reason}")]
    Refused { reason: String },
}

impl From<StoreHttpError> for HttpFailure {
    fn from(e: StoreHttpError) -> Self {
        match e {
            StoreHttpError::Network { reason } => HttpFailure::Network(reason),
            StoreHttpError::Refused { reason } => HttpFailure::Refused(reason),
        }
    }
}

impl From<uniffi::UnexpectedUniFFICallbackError> for StoreHttpError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        StoreHttpError::Network { reason: format!("HTTP client failed: {}", e.reason) }
    }
}

/// A blocking HTTP client the app provides. Called on the core's worker threads, never the main thread.
#[uniffi::export(foreign)]
pub trait StoreHttpClient: Send + Sync {
    /// Sends a GET and returns once the response's head arrived. Must not follow redirects and must not
    /// decode content encodings: the core needs the bytes the server sent.
    fn get(&self, request: StoreHttpRequest) -> Result<StoreHttpResponse, StoreHttpError>;
}

/// A response body being read.
#[uniffi::export(foreign)]
pub trait StoreHttpBody: Send + Sync {
    /// Up to `max_bytes` next bytes (blocking until some arrive); empty at the end of the body.
    fn read(&self, max_bytes: u32) -> Result<Vec<u8>, StoreHttpError>;
    /// Releases the connection. Called once, when the core is done with the body (read to the end or not).
    fn release(&self);
}

/// The foreign client as the core's [`HttpClient`].
pub(crate) struct ForeignHttp(pub(crate) Arc<dyn StoreHttpClient>);

impl std::fmt::Debug for ForeignHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ForeignHttp")
    }
}

fn millis(d: std::time::Duration) -> u32 {
    d.as_millis().clamp(1, u32::MAX as u128) as u32
}

impl HttpClient for ForeignHttp {
    fn get(&self, request: HttpRequest) -> Result<HttpResponse, HttpFailure> {
        let request = StoreHttpRequest {
            url: request.url,
            headers: request.headers.into_iter().map(|(name, value)| HttpHeader { name, value }).collect(),
            connect_timeout_ms: millis(request.connect_timeout),
            read_timeout_ms: millis(request.read_timeout),
        };
        let resp = self.0.get(request)?;
        Ok(HttpResponse {
            status: resp.status,
            headers: resp.headers.into_iter().map(|h| (h.name, h.value)).collect(),
            body: Box::new(ForeignBody(resp.body)),
        })
    }
}

struct ForeignBody(Arc<dyn StoreHttpBody>);

impl HttpBody for ForeignBody {
    fn read(&mut self, max: usize) -> Result<Vec<u8>, HttpFailure> {
        let bytes = self.0.read(max.min(u32::MAX as usize) as u32)?;
        if bytes.len() > max {
            return Err(HttpFailure::Network(format!(
                "the HTTP client returned {} bytes when asked for at most {max}",
                bytes.len()
            )));
        }
        Ok(bytes)
    }
}

impl Drop for ForeignBody {
    fn drop(&mut self) {
        self.0.release();
    }
}
