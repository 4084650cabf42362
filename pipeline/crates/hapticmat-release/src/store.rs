//! The production object store behind one type: an S3 bucket (optionally under a prefix) or a local folder
//! with the same layout (the embedded default: no servers). It offers exactly what the release protocol
//! needs — read with a version token, create-if-absent, replace-if-unchanged (compare-and-swap), plain
//! put, list — as blocking calls, and errors that name the store, the object and the step, never a secret.
//!
//! S3 goes through `object_store` (path-style requests, no request checksums, bounded retries). Its
//! `If-None-Match: *` / `If-Match` conditional PUTs must be honoured atomically by the server; SeaweedFS
//! does (checked by `tests/release.rs` with 20 concurrent writers). The local folder is read through
//! `object_store`'s `LocalFileSystem`, but written here: that backend has no `PutMode::Update` (it answers
//! `NotImplemented`) and does not fsync, so the local compare-and-swap is an exclusive lock file + re-read
//! + atomic rename, and every write is fsynced like the rest of the project's files.

use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    RetryConfig, UpdateVersion,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Name of the lock file that serialises compare-and-swap writes in a local store (beside the objects).
pub const LOCAL_LOCK_FILE: &str = ".store.lock";
/// Prefix of the temporary files a local write leaves only if the process dies mid-write.
const LOCAL_TEMP_PREFIX: &str = hapticmat_core::fsutil::TEMP_PREFIX;

/// Everything that can go wrong with the store; each message names the store, the object and the step.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store URL is not `s3://bucket[/prefix]`, `file:///dir` or a folder path.
    #[error("store URL {url:?}: {reason} (expected s3://bucket[/prefix], file:///dir or a folder path)")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store cannot be set up (endpoint, TLS policy, client).
    #[error("{store}: configuration: {reason}")]
    Config {
        /// The store.
        store: String,
        /// What is wrong.
        reason: String,
    },
    /// The credentials were refused or lack the permission for this request.
    #[error("access denied by {endpoint} for {object} ({step}){code}; check the credentials and the bucket's policy")]
    AccessDenied {
        /// The step of the protocol, e.g. "write latest.json".
        step: String,
        /// Host and port of the S3 endpoint, or "the local filesystem".
        endpoint: String,
        /// `bucket/prefix/key`, or the file path.
        object: String,
        /// The S3 error code, e.g. `: SignatureDoesNotMatch`, when the server named one.
        code: String,
    },
    /// The object (or the bucket) does not exist.
    #[error("{store}: {step}: {object} does not exist")]
    NotFound {
        /// The store.
        store: String,
        /// The step of the protocol.
        step: String,
        /// `bucket/prefix/key`, or the file path.
        object: String,
    },
    /// A conditional write's precondition failed: the object already exists (put-if-absent) or is no
    /// longer the version read before (put-if-match).
    #[error("{store}: {step}: {object} was created or changed by someone else meanwhile (precondition failed)")]
    Conflict {
        /// The store.
        store: String,
        /// The step of the protocol.
        step: String,
        /// `bucket/prefix/key`, or the file path.
        object: String,
    },
    /// The endpoint could not be reached (connection refused, timeouts) within the bounded retries.
    #[error(
        "{step}: {object}: cannot reach {endpoint} (gave up after at most {retries} retries within {timeout_s} s): {detail}"
    )]
    Unreachable {
        /// The step of the protocol.
        step: String,
        /// `bucket/prefix/key`.
        object: String,
        /// Host and port of the S3 endpoint.
        endpoint: String,
        /// Retries allowed per request.
        retries: usize,
        /// Longest time spent retrying one request, seconds.
        timeout_s: u64,
        /// What the client reported.
        detail: String,
    },
    /// An object is larger than the reader accepts; it was not read (past the bound).
    #[error("{store}: {step}: {object} is {size} bytes, more than the {limit} bytes accepted for it")]
    TooLarge {
        /// The store.
        store: String,
        /// The step of the protocol.
        step: String,
        /// `bucket/prefix/key`, or the file path.
        object: String,
        /// Its size as the store reports it (or as much as was read before stopping).
        size: u64,
        /// The bound.
        limit: u64,
    },
    /// Any other failure of a request (an unexpected status, a server error after the retries).
    #[error("{store}: {step}: {object}: {detail}")]
    Failed {
        /// The store.
        store: String,
        /// The step of the protocol.
        step: String,
        /// `bucket/prefix/key`, or the file path.
        object: String,
        /// What the client reported.
        detail: String,
    },
}

impl StoreError {
    /// Whether this is a failed precondition of a conditional write.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}

/// Where a store is: parsed from `s3://bucket[/prefix]`, `file:///dir` or a plain folder path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// An S3 bucket, optionally under a key prefix (no leading or trailing slash).
    S3 {
        /// The bucket.
        bucket: String,
        /// Key prefix inside the bucket, empty for the bucket root.
        prefix: String,
    },
    /// A local folder laid out like the bucket.
    Local {
        /// The folder.
        root: PathBuf,
    },
}

impl FromStr for StoreLocation {
    type Err = StoreError;

    fn from_str(url: &str) -> Result<Self> {
        let bad = |reason: &str| StoreError::BadUrl { url: url.to_string(), reason: reason.to_string() };
        if url.trim().is_empty() {
            return Err(bad("empty"));
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            // S3 bucket names: 3–63 of lower-case letters, digits, dots and hyphens.
            let valid_bucket = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
            if !valid_bucket {
                return Err(bad("the bucket name must be 3–63 lower-case letters, digits, dots or hyphens"));
            }
            let prefix = prefix.trim_matches('/').to_string();
            if !prefix.is_empty() {
                ObjectPath::parse(&prefix).map_err(|e| bad(&format!("bad prefix: {e}")))?;
            }
            return Ok(StoreLocation::S3 { bucket: bucket.to_string(), prefix });
        }
        if url.starts_with("file:") {
            let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
            let root = parsed.to_file_path().map_err(|()| bad("not an absolute local file URL"))?;
            return Ok(StoreLocation::Local { root });
        }
        if url.contains("://") {
            return Err(bad("unsupported scheme"));
        }
        Ok(StoreLocation::Local { root: PathBuf::from(url) })
    }
}

/// Bounds on how long S3 requests are retried: a store that is down fails the promotion in seconds, not
/// after the client's default of minutes.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries of one request after the first try (connection errors, 5xx, 429).
    pub max_retries: usize,
    /// First backoff delay; doubles each retry, with jitter.
    pub init_backoff: Duration,
    /// Longest backoff delay.
    pub max_backoff: Duration,
    /// No retry starts after this long since the first try.
    pub retry_timeout: Duration,
    /// Longest wait for a TCP connection.
    pub connect_timeout: Duration,
    /// Longest time for one whole request.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            init_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
            retry_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// How to reach S3. [`S3Options::from_env`] reads the standard AWS variables; fields set by hand win.
#[derive(Clone, Default)]
pub struct S3Options {
    /// Endpoint URL, e.g. `http://127.0.0.1:18333`; `None` is AWS itself (`https://s3.<region>.amazonaws.com`).
    pub endpoint: Option<String>,
    /// Region for request signing; default `us-east-1`.
    pub region: Option<String>,
    /// Access key id; with no access key the requests go unsigned (anonymous).
    pub access_key_id: Option<String>,
    /// Secret access key (never printed: `Debug` redacts it).
    pub secret_access_key: Option<String>,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
    /// Allow plain `http://` to an endpoint that is not on loopback (loopback is always allowed).
    pub allow_http: bool,
    /// Retry and timeout bounds.
    pub retry: RetryPolicy,
}

impl fmt::Debug for S3Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("session_token", &redacted(&self.session_token))
            .field("allow_http", &self.allow_http)
            .field("retry", &self.retry)
            .finish()
    }
}

impl S3Options {
    /// Reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` (or
    /// `AWS_DEFAULT_REGION`), `AWS_ENDPOINT_URL_S3` (or `AWS_ENDPOINT_URL`) and `AWS_ALLOW_HTTP`. Only these:
    /// other `AWS_*` settings (e.g. a checksum algorithm) cannot change what the store sends.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        S3Options {
            endpoint: var("AWS_ENDPOINT_URL_S3").or_else(|| var("AWS_ENDPOINT_URL")),
            region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
            access_key_id: var("AWS_ACCESS_KEY_ID"),
            secret_access_key: var("AWS_SECRET_ACCESS_KEY"),
            session_token: var("AWS_SESSION_TOKEN"),
            allow_http: var("AWS_ALLOW_HTTP").is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1"),
            retry: RetryPolicy::default(),
        }
    }
}

/// Which version of an object was read: the token a conditional write compares against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectVersion {
    /// The entity tag: S3's `ETag` header, or `sha256:<hex>` of the bytes in a local store.
    pub e_tag: Option<String>,
    /// S3's version id, when the bucket is versioned.
    pub version: Option<String>,
}

/// An object read whole.
#[derive(Debug, Clone)]
pub struct Object {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// The version they are.
    pub version: ObjectVersion,
}

/// What a HEAD tells about an object.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    /// Size in bytes.
    pub size: u64,
    /// Its version.
    pub version: ObjectVersion,
}

enum Backend {
    S3 { client: AmazonS3, bucket: String, prefix: String, endpoint: String, retry: RetryPolicy },
    Local { fs: LocalFileSystem, root: PathBuf },
}

/// The production store. Blocking calls (network or file I/O): do not call from inside an async runtime.
pub struct Store {
    backend: Backend,
    runtime: &'static tokio::runtime::Runtime,
    name: String,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("name", &self.name).finish_non_exhaustive()
    }
}

/// The step and key of one operation, for error messages.
#[derive(Clone, Copy)]
struct Op<'a> {
    step: &'a str,
    key: &'a str,
}

impl Store {
    /// Opens the store a URL names (`s3://bucket[/prefix]`, `file:///dir` or a folder path); `s3` is used
    /// for S3 only. A local folder is created if missing (it is the bucket). No request is made yet.
    pub fn open(url: &str, s3: &S3Options) -> Result<Store> {
        match url.parse::<StoreLocation>()? {
            StoreLocation::S3 { bucket, prefix } => Store::s3(&bucket, &prefix, s3),
            StoreLocation::Local { root } => Store::local(&root),
        }
    }

    /// A local folder laid out like the bucket (created if missing).
    pub fn local(root: &Path) -> Result<Store> {
        let name = format!("folder {}", root.display());
        let config = |reason: String| StoreError::Config { store: name.clone(), reason };
        std::fs::create_dir_all(root).map_err(|e| config(format!("creating the folder: {e}")))?;
        let root = std::fs::canonicalize(root).map_err(|e| config(format!("resolving the folder: {e}")))?;
        let fs = LocalFileSystem::new_with_prefix(&root).map_err(|e| config(e.to_string()))?;
        Ok(Store { backend: Backend::Local { fs, root }, runtime: runtime(&name)?, name })
    }

    /// An S3 bucket, with keys under `prefix` (empty for the bucket root).
    pub fn s3(bucket: &str, prefix: &str, opts: &S3Options) -> Result<Store> {
        let region = opts.region.clone().unwrap_or_else(|| "us-east-1".to_string());
        let prefix = prefix.trim_matches('/').to_string();
        let (endpoint_url, endpoint) = match &opts.endpoint {
            Some(e) => {
                let parsed = url::Url::parse(e).map_err(|err| StoreError::Config {
                    store: format!("s3://{bucket}"),
                    reason: format!("endpoint {e:?} is not a URL: {err}"),
                })?;
                (Some(parsed.clone()), host_port(&parsed))
            }
            None => (None, format!("s3.{region}.amazonaws.com")),
        };
        let name = if prefix.is_empty() {
            format!("s3://{bucket} at {endpoint}")
        } else {
            format!("s3://{bucket}/{prefix} at {endpoint}")
        };
        let config = |reason: String| StoreError::Config { store: name.clone(), reason };
        let mut allow_http = false;
        if let Some(u) = &endpoint_url {
            match u.scheme() {
                "https" => {}
                "http" if is_loopback(u) || opts.allow_http => allow_http = true,
                "http" => {
                    return Err(config(format!(
                        "plain http to {endpoint} would send signed requests unencrypted; use https, or set \
                         AWS_ALLOW_HTTP=true for a private network"
                    )));
                }
                other => return Err(config(format!("endpoint scheme {other:?} is not http or https"))),
            }
            if !u.username().is_empty() || u.password().is_some() || u.query().is_some() {
                return Err(config("the endpoint URL must not carry credentials or a query".into()));
            }
        }
        let r = &opts.retry;
        let client_options = ClientOptions::new()
            .with_allow_http(allow_http)
            .with_connect_timeout(r.connect_timeout)
            .with_timeout(r.request_timeout);
        let retry = RetryConfig {
            backoff: BackoffConfig { init_backoff: r.init_backoff, max_backoff: r.max_backoff, base: 2.0 },
            max_retries: r.max_retries,
            retry_timeout: r.retry_timeout,
        };
        // Path-style requests (bucket in the path): what SeaweedFS, MinIO and most self-hosted stores
        // serve. No checksum algorithm is set, so no request checksums are sent (older servers refuse them).
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&region)
            .with_virtual_hosted_style_request(false)
            .with_client_options(client_options)
            .with_retry(retry);
        if let Some(u) = &endpoint_url {
            builder = builder.with_endpoint(u.as_str().trim_end_matches('/'));
        }
        match (&opts.access_key_id, &opts.secret_access_key) {
            (Some(id), Some(secret)) => {
                builder = builder.with_access_key_id(id).with_secret_access_key(secret);
                if let Some(token) = &opts.session_token {
                    builder = builder.with_token(token);
                }
            }
            // Without credentials, requests go unsigned (as a phone reads); the client would otherwise
            // probe the EC2 metadata service, which hangs on a laptop.
            (None, None) => builder = builder.with_skip_signature(true),
            (Some(_), None) => return Err(config("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".into())),
            (None, Some(_)) => return Err(config("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not".into())),
        }
        let client = builder.build().map_err(|e| config(e.to_string()))?;
        Ok(Store {
            backend: Backend::S3 { client, bucket: bucket.to_string(), prefix, endpoint, retry: opts.retry.clone() },
            runtime: runtime(&name)?,
            name,
        })
    }

    /// The store for people: `s3://bucket/prefix at host:port` or `folder /path`.
    pub fn describe(&self) -> &str {
        &self.name
    }

    /// Reads an object whole, with its version; `None` if it does not exist.
    pub fn get(&self, key: &str, step: &str) -> Result<Option<Object>> {
        let op = Op { step, key };
        let path = self.path(op)?;
        let result = self.runtime.block_on(async {
            let r = match &self.backend {
                Backend::S3 { client, .. } => client.get_opts(&path, GetOptions::default()).await,
                Backend::Local { fs, .. } => fs.get_opts(&path, GetOptions::default()).await,
            }?;
            let meta = r.meta.clone();
            Ok::<_, object_store::Error>((r.bytes().await?, meta))
        });
        match result {
            Ok((bytes, meta)) => {
                let version = match &self.backend {
                    Backend::S3 { .. } => ObjectVersion { e_tag: meta.e_tag, version: meta.version },
                    Backend::Local { .. } => local_version(&bytes),
                };
                Ok(Some(Object { bytes: bytes.to_vec(), version }))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(op, e)),
        }
    }

    /// Reads an object whole unless it is larger than `limit` bytes ([`StoreError::TooLarge`], decided
    /// from the reported size before the body is read, and again while streaming it, so a lying or
    /// growing object cannot make the reader hold more than `limit` bytes).
    pub fn get_bounded(&self, key: &str, limit: u64, step: &str) -> Result<Option<Object>> {
        let op = Op { step, key };
        let path = self.path(op)?;
        let too_large = |size: u64| StoreError::TooLarge {
            store: self.name.clone(),
            step: step.to_string(),
            object: self.object_name(key),
            size,
            limit,
        };
        let result = self.runtime.block_on(async {
            let r = match &self.backend {
                Backend::S3 { client, .. } => client.get_opts(&path, GetOptions::default()).await,
                Backend::Local { fs, .. } => fs.get_opts(&path, GetOptions::default()).await,
            }
            .map_err(Err)?;
            if r.meta.size > limit {
                return Err(Ok(r.meta.size));
            }
            let meta = r.meta.clone();
            let mut bytes = Vec::with_capacity(meta.size as usize);
            let mut stream = r.into_stream();
            while let Some(chunk) = stream.try_next().await.map_err(Err)? {
                if (bytes.len() + chunk.len()) as u64 > limit {
                    return Err(Ok((bytes.len() + chunk.len()) as u64));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok((bytes, meta))
        });
        match result {
            Ok((bytes, meta)) => {
                let version = match &self.backend {
                    Backend::S3 { .. } => ObjectVersion { e_tag: meta.e_tag, version: meta.version },
                    Backend::Local { .. } => local_version(&bytes),
                };
                Ok(Some(Object { bytes, version }))
            }
            Err(Ok(size)) => Err(too_large(size)),
            Err(Err(object_store::Error::NotFound { .. })) => Ok(None),
            Err(Err(e)) => Err(self.error(op, e)),
        }
    }

    /// Size and version of an object; `None` if it does not exist. (A local store hashes the file to get
    /// its version.)
    pub fn head(&self, key: &str, step: &str) -> Result<Option<ObjectInfo>> {
        let op = Op { step, key };
        match &self.backend {
            Backend::S3 { client, .. } => {
                let path = self.path(op)?;
                match self.runtime.block_on(client.head(&path)) {
                    Ok(m) => Ok(Some(ObjectInfo {
                        size: m.size,
                        version: ObjectVersion { e_tag: m.e_tag, version: m.version },
                    })),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(self.error(op, e)),
                }
            }
            Backend::Local { .. } => {
                Ok(self.get(key, step)?.map(|o| ObjectInfo { size: o.bytes.len() as u64, version: o.version }))
            }
        }
    }

    /// Writes an object whether or not it exists (atomically: readers see the old or the new bytes).
    pub fn put(&self, key: &str, bytes: &[u8], step: &str) -> Result<ObjectVersion> {
        let op = Op { step, key };
        match &self.backend {
            Backend::S3 { client, .. } => self.s3_put(client, op, bytes, PutMode::Overwrite),
            Backend::Local { root, .. } => {
                let file = self.local_file(root, op)?;
                hapticmat_core::fsutil::write_atomic(&file, bytes).map_err(|e| self.io_error(op, &file, e))?;
                Ok(local_version(bytes))
            }
        }
    }

    /// Creates an object only if none exists under the key (`If-None-Match: *`); [`StoreError::Conflict`]
    /// if one does.
    pub fn put_if_absent(&self, key: &str, bytes: &[u8], step: &str) -> Result<ObjectVersion> {
        let op = Op { step, key };
        match &self.backend {
            Backend::S3 { client, .. } => self.s3_put(client, op, bytes, PutMode::Create),
            Backend::Local { root, .. } => {
                let file = self.local_file(root, op)?;
                local_create(&file, bytes).map_err(|e| self.io_error(op, &file, e))?;
                Ok(local_version(bytes))
            }
        }
    }

    /// Replaces an object only if it is still the version read before (`If-Match`); with `expected`
    /// `None` (there was no object), creates it only if it still does not exist. [`StoreError::Conflict`]
    /// otherwise.
    pub fn put_if_match(
        &self,
        key: &str,
        bytes: &[u8],
        expected: Option<&ObjectVersion>,
        step: &str,
    ) -> Result<ObjectVersion> {
        let Some(expected) = expected else {
            return self.put_if_absent(key, bytes, step);
        };
        let op = Op { step, key };
        let Some(e_tag) = expected.e_tag.clone() else {
            return Err(StoreError::Config {
                store: self.name.clone(),
                reason: format!("{step}: the version read of {key} has no ETag to compare against"),
            });
        };
        match &self.backend {
            Backend::S3 { client, .. } => {
                let mode = PutMode::Update(UpdateVersion { e_tag: Some(e_tag), version: None });
                self.s3_put(client, op, bytes, mode)
            }
            Backend::Local { root, .. } => {
                let file = self.local_file(root, op)?;
                let lock_path = root.join(LOCAL_LOCK_FILE);
                let lock = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&lock_path)
                    .map_err(|e| self.io_error(op, &lock_path, e))?;
                // Every compare-and-swap of this store holds this lock from the re-read to the rename, so
                // two of them cannot both see the expected version. (Create needs no lock: the hard link
                // that publishes a new file fails if any file is there.)
                lock.lock().map_err(|e| self.io_error(op, &lock_path, e))?;
                let current = match std::fs::read(&file) {
                    Ok(b) => Some(local_version(&b)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => return Err(self.io_error(op, &file, e)),
                };
                if current.and_then(|c| c.e_tag).as_deref() != Some(e_tag.as_str()) {
                    return Err(self.conflict(op));
                }
                hapticmat_core::fsutil::write_atomic(&file, bytes).map_err(|e| self.io_error(op, &file, e))?;
                drop(lock);
                Ok(local_version(bytes))
            }
        }
    }

    /// Keys under `prefix` (e.g. `history/`), recursively, sorted; relative to the store root.
    pub fn list(&self, prefix: &str, step: &str) -> Result<Vec<String>> {
        let op = Op { step, key: prefix };
        let trimmed = prefix.trim_end_matches('/');
        let path = if trimmed.is_empty() { self.root_path() } else { Some(self.path(Op { step, key: trimmed })?) };
        let metas = self.runtime.block_on(async {
            match &self.backend {
                Backend::S3 { client, .. } => client.list(path.as_ref()).try_collect::<Vec<_>>().await,
                Backend::Local { fs, .. } => fs.list(path.as_ref()).try_collect::<Vec<_>>().await,
            }
        });
        let metas = match metas {
            Ok(m) => m,
            // A local prefix folder that does not exist yet lists as empty, like S3.
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(self.error(op, e)),
        };
        let root = self.root_path();
        let mut keys: Vec<String> = metas
            .into_iter()
            .filter_map(|m| match &root {
                Some(r) => m.location.prefix_match(r).map(|parts| parts.map(|p| p.as_ref().to_string()).collect()),
                None => Some(m.location.parts().map(|p| p.as_ref().to_string()).collect::<Vec<_>>()),
            })
            .map(|parts: Vec<String>| parts.join("/"))
            .filter(|k| !k.is_empty() && !is_local_leftover(k))
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// Deletes an object (absent is fine). The release protocol never deletes; tests clean up with it.
    pub fn delete(&self, key: &str, step: &str) -> Result<()> {
        let op = Op { step, key };
        let path = self.path(op)?;
        let r = self.runtime.block_on(async {
            match &self.backend {
                Backend::S3 { client, .. } => client.delete(&path).await,
                Backend::Local { fs, .. } => fs.delete(&path).await,
            }
        });
        match r {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(op, e)),
        }
    }

    fn s3_put(&self, client: &AmazonS3, op: Op<'_>, bytes: &[u8], mode: PutMode) -> Result<ObjectVersion> {
        let path = self.path(op)?;
        let payload = PutPayload::from(bytes.to_vec());
        let opts = PutOptions { mode, ..Default::default() };
        match self.runtime.block_on(client.put_opts(&path, payload, opts)) {
            Ok(r) => Ok(ObjectVersion { e_tag: r.e_tag, version: r.version }),
            Err(e) => Err(self.error(op, e)),
        }
    }

    /// The store's own prefix as a path (`None` at a bucket or folder root).
    fn root_path(&self) -> Option<ObjectPath> {
        match &self.backend {
            Backend::S3 { prefix, .. } if !prefix.is_empty() => Some(ObjectPath::from_iter(prefix.split('/'))),
            _ => None,
        }
    }

    fn path(&self, op: Op<'_>) -> Result<ObjectPath> {
        let full = match &self.backend {
            Backend::S3 { prefix, .. } if !prefix.is_empty() => format!("{prefix}/{}", op.key),
            _ => op.key.to_string(),
        };
        // `parse` refuses empty, `.` and `..` segments, so a key can never leave the store.
        ObjectPath::parse(&full).map_err(|e| StoreError::Failed {
            store: self.name.clone(),
            step: op.step.to_string(),
            object: op.key.to_string(),
            detail: format!("not a valid object key: {e}"),
        })
    }

    fn local_file(&self, root: &Path, op: Op<'_>) -> Result<PathBuf> {
        let path = self.path(op)?;
        Ok(path.parts().fold(root.to_path_buf(), |p, part| p.join(part.as_ref())))
    }

    /// `bucket/prefix/key` or the local file path.
    fn object_name(&self, key: &str) -> String {
        match &self.backend {
            Backend::S3 { bucket, prefix, .. } if prefix.is_empty() => format!("{bucket}/{key}"),
            Backend::S3 { bucket, prefix, .. } => format!("{bucket}/{prefix}/{key}"),
            Backend::Local { root, .. } => root.join(key).display().to_string(),
        }
    }

    fn conflict(&self, op: Op<'_>) -> StoreError {
        StoreError::Conflict { store: self.name.clone(), step: op.step.to_string(), object: self.object_name(op.key) }
    }

    fn error(&self, op: Op<'_>, e: object_store::Error) -> StoreError {
        let object = self.object_name(op.key);
        let (store, step) = (self.name.clone(), op.step.to_string());
        let endpoint = match &self.backend {
            Backend::S3 { endpoint, .. } => endpoint.clone(),
            Backend::Local { .. } => "the local filesystem".to_string(),
        };
        match e {
            object_store::Error::NotFound { .. } => StoreError::NotFound { store, step, object },
            object_store::Error::AlreadyExists { .. }
            | object_store::Error::Precondition { .. }
            | object_store::Error::NotModified { .. } => StoreError::Conflict { store, step, object },
            object_store::Error::PermissionDenied { source, .. }
            | object_store::Error::Unauthenticated { source, .. } => {
                let code = s3_error_code(&source.to_string()).map(|c| format!(": {c}")).unwrap_or_default();
                StoreError::AccessDenied { step, endpoint, object, code }
            }
            other => {
                let detail = other.to_string();
                match &self.backend {
                    Backend::S3 { retry, .. } if is_transport_error(&other) => StoreError::Unreachable {
                        step,
                        object,
                        endpoint,
                        retries: retry.max_retries,
                        timeout_s: retry.retry_timeout.as_secs(),
                        detail,
                    },
                    _ => StoreError::Failed { store, step, object, detail },
                }
            }
        }
    }

    fn io_error(&self, op: Op<'_>, file: &Path, e: std::io::Error) -> StoreError {
        let (store, step, object) = (self.name.clone(), op.step.to_string(), file.display().to_string());
        match e.kind() {
            std::io::ErrorKind::AlreadyExists => StoreError::Conflict { store, step, object },
            std::io::ErrorKind::NotFound => StoreError::NotFound { store, step, object },
            std::io::ErrorKind::PermissionDenied => {
                StoreError::AccessDenied { step, endpoint: "the local filesystem".into(), object, code: String::new() }
            }
            _ => StoreError::Failed { store, step, object, detail: e.to_string() },
        }
    }
}

/// The process's shared I/O runtime ([`crate::io_runtime`]).
fn runtime(name: &str) -> Result<&'static tokio::runtime::Runtime> {
    crate::io_runtime()
        .map_err(|e| StoreError::Config { store: name.to_string(), reason: format!("async runtime: {e}") })
}

/// The version token of local bytes: their SHA-256. `LocalFileSystem`'s own ETag (inode, mtime, size) is
/// not a content validator; a content hash makes the local compare-and-swap exact.
fn local_version(bytes: &[u8]) -> ObjectVersion {
    ObjectVersion {
        e_tag: Some(format!("sha256:{}", hapticmat_core::delivery::manifest::hex(&Sha256::digest(bytes)))),
        version: None,
    }
}

/// Writes a new file only if none exists: temporary file, fsync, hard link to the final name (which fails
/// if the name is taken, atomically), fsync of the folder.
fn local_create(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(LOCAL_TEMP_PREFIX).tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    std::fs::hard_link(tmp.path(), file)?;
    drop(tmp);
    std::fs::File::open(dir)?.sync_all()
}

/// Temporary files of interrupted local writes and the lock file are not objects.
fn is_local_leftover(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or(key);
    name.starts_with(LOCAL_TEMP_PREFIX) || name == LOCAL_LOCK_FILE
}

/// Whether the error chain holds a transport failure (no connection, timeout) rather than an answer.
fn is_transport_error(e: &object_store::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.downcast_ref::<object_store::client::HttpError>().is_some() {
            return true;
        }
        source = s.source();
    }
    false
}

/// The `<Code>` of an S3 error body, e.g. `SignatureDoesNotMatch`, when the message carries one.
fn s3_error_code(text: &str) -> Option<String> {
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    let code = &text[start..start + len];
    code.bytes().all(|b| b.is_ascii_alphanumeric()).then(|| code.to_string())
}

fn host_port(u: &url::Url) -> String {
    match (u.host_str(), u.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => u.as_str().to_string(),
    }
}

fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_name_a_bucket_and_prefix_or_a_folder() {
        let s3 = |b: &str, p: &str| StoreLocation::S3 { bucket: b.into(), prefix: p.into() };
        assert_eq!("s3://production".parse::<StoreLocation>().unwrap(), s3("production", ""));
        assert_eq!("s3://production/".parse::<StoreLocation>().unwrap(), s3("production", ""));
        assert_eq!("s3://production/a/b/".parse::<StoreLocation>().unwrap(), s3("production", "a/b"));
        assert_eq!(
            "file:///tmp/store".parse::<StoreLocation>().unwrap(),
            StoreLocation::Local { root: "/tmp/store".into() }
        );
        assert_eq!("out/store".parse::<StoreLocation>().unwrap(), StoreLocation::Local { root: "out/store".into() });
        for bad in ["s3://", "s3://Upper", "s3://production/a/../b", "http://host/bucket", ""] {
            assert!(matches!(bad.parse::<StoreLocation>(), Err(StoreError::BadUrl { .. })), "{bad}");
        }
    }

    #[test]
    fn plain_http_is_refused_off_loopback_and_secrets_stay_out_of_debug() {
        let opts = S3Options {
            endpoint: Some("http://s3.example.net:8333".into()),
            access_key_id: Some("id".into()),
            secret_access_key: Some("very-secret".into()),
            ..Default::default()
        };
        let e = Store::s3("production", "", &opts).unwrap_err();
        assert!(e.to_string().contains("plain http to s3.example.net:8333"), "{e}");
        assert!(!format!("{opts:?}").contains("very-secret"));
        let loopback = S3Options { endpoint: Some("http://127.0.0.1:1".into()), ..opts.clone() };
        assert!(Store::s3("production", "p", &loopback).is_ok());
        let opted_in = S3Options { allow_http: true, ..opts };
        assert!(Store::s3("production", "", &opted_in).is_ok());
    }

    #[test]
    fn s3_error_codes_are_read_from_the_body() {
        let body = "403: <?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>x</Message>";
        assert_eq!(s3_error_code(body).as_deref(), Some("SignatureDoesNotMatch"));
        assert_eq!(s3_error_code("no body"), None);
    }
}
