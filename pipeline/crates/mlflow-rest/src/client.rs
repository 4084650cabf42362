//! The HTTP side of the client: base URL and credentials, one request with bounded retries, and the
//! MLflow REST API 2.0 operations the pipeline uses (`mlflow/server/handlers.py` is the reference).
//!
//! Retries: connect errors, timeouts, HTTP 429 and 5xx are retried with exponential backoff and jitter
//! (a `Retry-After` in seconds is honoured up to the longest delay); any other 4xx is final. Every
//! operation sent with retries is idempotent on the server: tags and params rewrite the same value,
//! metrics carry their timestamp from before the first try and MLflow drops an exact duplicate
//! (key, value, step, timestamp), uploads overwrite the same object. The two creates that are not
//! idempotent — a run and a model version — look for what a lost attempt may have made before trying
//! again (see [`Client::create_run`] and [`Client::create_model_version`]).

use super::batch::{self, Batch};
use super::error::{Error, Result};
use super::types::{
    CreateRun, Experiment, FileInfo, Metric, ModelVersion, Param, RegisteredModel, Run, RunInfo, RunStatus, RunTag,
    RunsPage, SearchRuns,
};
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::fmt;
use std::future::Future;
use std::time::Duration;

/// Environment variable with a bearer token (MLflow's own client reads the same one).
pub const ENV_TOKEN: &str = "MLFLOW_TRACKING_TOKEN";
/// Environment variable with the basic-auth user name.
pub const ENV_USERNAME: &str = "MLFLOW_TRACKING_USERNAME";
/// Environment variable with the basic-auth password.
pub const ENV_PASSWORD: &str = "MLFLOW_TRACKING_PASSWORD";
/// Tag carrying the client's random id of a run creation, so a retried create finds the run a lost
/// attempt made instead of making a second one.
pub const REQUEST_ID_TAG: &str = "hapticmat.request_id";

/// Credentials sent with every request. `Debug` shows the kind only.
#[derive(Clone)]
pub enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// HTTP basic auth.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Auth::Basic { username, .. } => write!(f, "Basic({username:?}, <redacted>)"),
        }
    }
}

impl Auth {
    /// Credentials from `MLFLOW_TRACKING_TOKEN`, else `MLFLOW_TRACKING_USERNAME` + `MLFLOW_TRACKING_PASSWORD`.
    pub fn from_env() -> Option<Auth> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let Some(token) = var(ENV_TOKEN) {
            return Some(Auth::Bearer(token));
        }
        match (var(ENV_USERNAME), var(ENV_PASSWORD)) {
            (Some(username), Some(password)) => Some(Auth::Basic { username, password }),
            _ => None,
        }
    }

    /// The strings that must never appear in an error message.
    fn secrets(&self) -> Vec<String> {
        match self {
            Auth::Bearer(t) => vec![t.clone()],
            Auth::Basic { password, .. } => vec![password.clone()],
        }
    }
}

/// How often and how patiently a request is retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Most requests per step, the first included (at least 1).
    pub attempts: u32,
    /// Delay after the first failure; doubles after each further one.
    pub base_delay: Duration,
    /// Longest delay between two requests.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, 0.5 s, 1 s, 2 s apart (±jitter): a server restart is ridden out, a dead one is
    /// reported within seconds.
    fn default() -> Self {
        RetryPolicy { attempts: 4, base_delay: Duration::from_millis(500), max_delay: Duration::from_secs(8) }
    }
}

impl RetryPolicy {
    /// Delay after the `failed`-th failed attempt: exponential, capped, with "equal jitter" (half fixed,
    /// half random) so clients that failed together do not come back together.
    fn delay(&self, failed: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32 << failed.saturating_sub(1).min(16)).min(self.max_delay);
        let jittered = exp / 2 + exp.mul_f64(rand::random::<f64>() / 2.0);
        match retry_after {
            Some(server) => server.min(self.max_delay).max(jittered),
            None => jittered,
        }
    }
}

/// Where the server is and how to talk to it.
#[derive(Clone)]
pub struct ClientConfig {
    /// `http(s)://host[:port][/prefix]`; user info in the URL is taken as basic-auth credentials.
    pub tracking_uri: String,
    /// Credentials (overrides user info in the URL).
    pub auth: Option<Auth>,
    /// Longest time for one request, body included.
    pub timeout: Duration,
    /// Longest time to open a connection.
    pub connect_timeout: Duration,
    /// Retries.
    pub retry: RetryPolicy,
}

impl ClientConfig {
    /// Defaults (60 s per request, 10 s to connect, [`RetryPolicy::default`]) and no credentials.
    pub fn new(tracking_uri: impl Into<String>) -> Self {
        ClientConfig {
            tracking_uri: tracking_uri.into(),
            auth: None,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }
    }

    /// Defaults, with credentials from the environment ([`Auth::from_env`]).
    pub fn from_env(tracking_uri: impl Into<String>) -> Self {
        ClientConfig { auth: Auth::from_env(), ..ClientConfig::new(tracking_uri) }
    }
}

/// A typed async client of one MLflow tracking server. Cheap to clone; safe to share between tasks.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// Base URL without credentials, query or fragment.
    base: Url,
    /// `scheme://host:port`, the only form of the address errors show.
    server: String,
    auth: Option<Auth>,
    secrets: Vec<String>,
    retry: RetryPolicy,
    timeout: Duration,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("server", &self.server).field("auth", &self.auth).finish_non_exhaustive()
    }
}

/// A request that can be sent again as it was.
struct Request {
    method: Method,
    url: Url,
    payload: Payload,
}

enum Payload {
    Empty,
    Json(Vec<u8>),
    Bytes(Vec<u8>),
}

/// Why one attempt failed.
enum Failure {
    /// No HTTP answer (connect, TLS, timeout, reset); the text has no URL in it. `never_sent`: the
    /// connection was not established, so the server cannot have acted on the request.
    Transport { reason: String, never_sent: bool },
    /// A non-success answer.
    Status { status: StatusCode, body: Vec<u8>, retry_after: Option<Duration> },
}

impl Failure {
    fn retriable(&self) -> bool {
        match self {
            Failure::Transport { .. } => true,
            Failure::Status { status, .. } => *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error(),
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Failure::Status { retry_after, .. } => *retry_after,
            Failure::Transport { .. } => None,
        }
    }
}

#[derive(Deserialize)]
struct ApiErrorBody {
    error_code: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct ExperimentResponse {
    experiment: Experiment,
}
#[derive(Deserialize)]
struct CreateExperimentResponse {
    experiment_id: String,
}
#[derive(Deserialize)]
struct RunResponse {
    run: Run,
}
#[derive(Deserialize)]
struct UpdateRunResponse {
    run_info: RunInfo,
}
#[derive(Deserialize)]
struct MetricHistoryPage {
    #[serde(default)]
    metrics: Vec<Metric>,
    #[serde(default)]
    next_page_token: Option<String>,
}
#[derive(Deserialize)]
struct ArtifactListing {
    #[serde(default)]
    files: Vec<FileInfo>,
}
#[derive(Deserialize)]
struct RegisteredModelResponse {
    registered_model: RegisteredModel,
}
#[derive(Deserialize)]
struct ModelVersionResponse {
    model_version: ModelVersion,
}
#[derive(Deserialize)]
struct ModelVersionsPage {
    #[serde(default)]
    model_versions: Vec<ModelVersion>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// Longest MLflow message or foreign body kept in an error (MLflow puts SQL traces in some messages).
const MAX_MESSAGE_CHARS: usize = 600;

impl Client {
    /// A client of the server at `cfg.tracking_uri` (no request is sent yet).
    pub fn new(cfg: ClientConfig) -> Result<Client> {
        let invalid = |reason: String| Error::InvalidUri { reason };
        // The URI's own text never goes into an error: it may carry a password.
        let mut base = Url::parse(cfg.tracking_uri.trim()).map_err(|e| invalid(format!("not a URL ({e})")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "scheme {:?} is not supported: the pipeline talks to a tracking server over http(s)",
                base.scheme()
            )));
        }
        let host = base.host_str().ok_or_else(|| invalid("no host".into()))?.to_string();
        let port = base.port_or_known_default().ok_or_else(|| invalid("no port".into()))?;
        let server = format!("{}://{host}:{port}", base.scheme());
        let url_auth = (!base.username().is_empty()).then(|| Auth::Basic {
            username: base.username().to_string(),
            password: base.password().unwrap_or_default().to_string(),
        });
        let _ = base.set_username("");
        let _ = base.set_password(None);
        base.set_query(None);
        base.set_fragment(None);
        let auth = cfg.auth.or(url_auth);
        let mut secrets: Vec<String> = auth.iter().flat_map(Auth::secrets).filter(|s| s.chars().count() >= 3).collect();
        if let Some(Auth::Basic { username, password }) = &auth {
            // A server may echo the header back; the encoded pair is as secret as the password.
            use base64::Engine as _;
            secrets.push(base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}")));
        }
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.connect_timeout)
            .user_agent(concat!("hapticmat-pipeline/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| invalid(format!("cannot build an HTTP client: {}", describe(e))))?;
        let retry = RetryPolicy { attempts: cfg.retry.attempts.max(1), ..cfg.retry };
        Ok(Client { http, base, server, auth, secrets, retry, timeout: cfg.timeout })
    }

    /// A client configured from a tracking URI and the environment's credentials.
    pub fn from_uri(tracking_uri: &str) -> Result<Client> {
        Client::new(ClientConfig::from_env(tracking_uri))
    }

    /// `scheme://host:port` of the server (what errors name).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The base URL without credentials and without a trailing slash.
    pub fn base_url(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_string()
    }

    /// The MLflow UI page of a run.
    pub fn run_url(&self, experiment_id: &str, run_id: &str) -> String {
        format!("{}/#/experiments/{experiment_id}/runs/{run_id}", self.base_url())
    }

    // ---- experiments ---------------------------------------------------------------------------

    /// The experiment with this name, if there is one (deleted experiments included, as MLflow does).
    pub async fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
        let url = self.api_query("mlflow/experiments/get-by-name", &[("experiment_name", name)]);
        match self.send_json::<ExperimentResponse>(&format!("get experiment {name:?}"), self.get(url)).await {
            Ok(r) => Ok(Some(r.experiment)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates an experiment; returns its id.
    pub async fn create_experiment(&self, name: &str) -> Result<String> {
        let req = self.post_json("mlflow/experiments/create", &json!({ "name": name }));
        Ok(self.send_json::<CreateExperimentResponse>(&format!("create experiment {name:?}"), req).await?.experiment_id)
    }

    /// The experiment with this name, created if missing. Safe against a concurrent creator and a
    /// retried create: MLflow's RESOURCE_ALREADY_EXISTS means someone made it, so it is read back.
    pub async fn get_or_create_experiment(&self, name: &str) -> Result<Experiment> {
        let step = format!("get or create experiment {name:?}");
        let found = match self.get_experiment_by_name(name).await? {
            Some(e) => e,
            None => match self.create_experiment(name).await {
                Ok(_) => self
                    .get_experiment_by_name(name)
                    .await?
                    .ok_or_else(|| self.bad(&step, "created, then not found"))?,
                Err(e) if e.is_already_exists() => {
                    self.get_experiment_by_name(name).await?.ok_or_else(|| self.bad(&step, "exists, then not found"))?
                }
                Err(e) => return Err(e),
            },
        };
        if found.lifecycle_stage.as_deref() == Some("deleted") {
            return Err(Error::InvalidArgument {
                step,
                what: "experiment",
                value: name.to_string(),
                reason: "it is deleted on the server (restore it in the UI or pick another name)",
            });
        }
        Ok(found)
    }

    // ---- runs ----------------------------------------------------------------------------------

    /// Creates a run. A retried create never leaves two runs: every create carries a random
    /// [`REQUEST_ID_TAG`], and before trying again after a failure that may have reached the server
    /// (timeout, reset, 5xx) the client searches the experiment for a run with that tag and returns it
    /// if the lost attempt did create one.
    pub async fn create_run(&self, req: &CreateRun) -> Result<Run> {
        let request_id = format!("{:032x}", rand::random::<u128>());
        let mut tags = req.tags.clone();
        tags.retain(|t| t.key != REQUEST_ID_TAG);
        tags.push(RunTag::new(REQUEST_ID_TAG, &request_id));
        let body = json!({
            "experiment_id": req.experiment_id,
            "run_name": req.run_name,
            "start_time": req.start_time,
            "tags": tags,
        });
        let step = format!("create run {:?}", req.run_name);
        let created = self
            .create_without_duplicates(&step, self.post_json("mlflow/runs/create", &body), || async {
                let filter = format!("tags.`{REQUEST_ID_TAG}` = {}", quote(&step, "request id", &request_id)?);
                let page = self
                    .search_runs(&SearchRuns {
                        experiment_ids: vec![req.experiment_id.clone()],
                        filter: Some(filter),
                        order_by: vec![],
                        max_results: 2,
                        page_token: None,
                    })
                    .await?;
                Ok(page.runs.into_iter().next().map(|run| RunResponse { run }))
            })
            .await?;
        Ok(created.run)
    }

    /// A run with its params, latest metrics and tags.
    pub async fn get_run(&self, run_id: &str) -> Result<Run> {
        let url = self.api_query("mlflow/runs/get", &[("run_id", run_id)]);
        Ok(self.send_json::<RunResponse>(&format!("get run {run_id}"), self.get(url)).await?.run)
    }

    /// Sets a run's status (and end time, ms since the epoch).
    pub async fn update_run(&self, run_id: &str, status: RunStatus, end_time: Option<i64>) -> Result<RunInfo> {
        let mut body = json!({ "run_id": run_id, "status": status.as_str() });
        if let Some(t) = end_time {
            body["end_time"] = json!(t);
        }
        let step = format!("set run {run_id} to {}", status.as_str());
        Ok(self.send_json::<UpdateRunResponse>(&step, self.post_json("mlflow/runs/update", &body)).await?.run_info)
    }

    /// Sets one tag of a run.
    pub async fn set_tag(&self, run_id: &str, key: &str, value: &str) -> Result<()> {
        let value = batch::truncate_chars(value, batch::MAX_TAG_VALUE_CHARS);
        let body = json!({ "run_id": run_id, "key": key, "value": value });
        self.send(&format!("set tag {key} of run {run_id}"), self.post_json("mlflow/runs/set-tag", &body)).await?;
        Ok(())
    }

    /// Logs metrics, params and tags in as many `runs/log-batch` requests as MLflow's limits need
    /// ([`batch::chunk`]). Give metrics their timestamp once: a retried request then repeats them
    /// exactly, which the server drops as duplicates.
    pub async fn log_batch(
        &self,
        run_id: &str,
        metrics: Vec<Metric>,
        params: Vec<Param>,
        tags: Vec<RunTag>,
    ) -> Result<()> {
        let batches = batch::chunk(metrics, params, tags);
        let n = batches.len();
        for (i, Batch { metrics, params, tags }) in batches.into_iter().enumerate() {
            let body = json!({ "run_id": run_id, "metrics": metrics, "params": params, "tags": tags });
            let step = format!("log batch {}/{n} to run {run_id}", i + 1);
            self.send(&step, self.post_json("mlflow/runs/log-batch", &body)).await?;
        }
        Ok(())
    }

    /// One page of a run search.
    pub async fn search_runs(&self, query: &SearchRuns) -> Result<RunsPage> {
        self.send_json("search runs", self.post_json("mlflow/runs/search", query)).await
    }

    /// Every value logged for one metric of a run, all pages.
    pub async fn get_metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut q = vec![("run_id", run_id), ("metric_key", key), ("max_results", "25000")];
            if let Some(t) = &token {
                q.push(("page_token", t));
            }
            let url = self.api_query("mlflow/metrics/get-history", &q);
            let page: MetricHistoryPage =
                self.send_json(&format!("get history of metric {key} of run {run_id}"), self.get(url)).await?;
            out.extend(page.metrics);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    // ---- artifacts (through the server's proxy) ------------------------------------------------

    /// Uploads bytes as `path` (relative, `/`-separated) under a run's artifact root, replacing what
    /// was there.
    pub async fn upload_artifact(&self, artifact_uri: &str, path: &str, bytes: Vec<u8>) -> Result<()> {
        let step = format!("upload artifact {path}");
        let url = self.artifact_url(&step, artifact_uri, Some(path))?;
        self.send(&step, Request { method: Method::PUT, url, payload: Payload::Bytes(bytes) }).await?;
        Ok(())
    }

    /// Lists a folder (`None`: the root) of a run's artifacts; paths come back relative to the root.
    pub async fn list_artifacts(&self, artifact_uri: &str, dir: Option<&str>) -> Result<Vec<FileInfo>> {
        let step = format!("list artifacts{}", dir.map(|d| format!(" in {d}")).unwrap_or_default());
        let root = artifact_root(&self.server, &step, artifact_uri)?;
        if let Some(d) = dir {
            check_artifact_path(&step, d)?;
        }
        let full = match dir {
            Some(d) => format!("{root}/{}", d.trim_end_matches('/')),
            None => root,
        };
        let url = self.api_query("mlflow-artifacts/artifacts", &[("path", &full)]);
        let listing: ArtifactListing = self.send_json(&step, self.get(url)).await?;
        Ok(listing
            .files
            .into_iter()
            .map(|f| {
                let name = f.path.rsplit('/').next().unwrap_or(&f.path).to_string();
                FileInfo { path: dir.map(|d| format!("{}/{name}", d.trim_end_matches('/'))).unwrap_or(name), ..f }
            })
            .collect())
    }

    /// Downloads one artifact of a run. A missing one is [`Error::ArtifactNotFound`]: the proxy
    /// answers a missing key with a 500, so the folder is listed first rather than retrying that.
    pub async fn download_artifact(&self, artifact_uri: &str, path: &str) -> Result<Vec<u8>> {
        let step = format!("download artifact {path}");
        let url = self.artifact_url(&step, artifact_uri, Some(path))?;
        let dir = path.rsplit_once('/').map(|(d, _)| d);
        let listed = self.list_artifacts(artifact_uri, dir).await?;
        if !listed.iter().any(|f| f.path == path && !f.is_dir) {
            return Err(Error::ArtifactNotFound {
                server: self.server.clone(),
                step,
                root: artifact_uri.to_string(),
                path: path.to_string(),
            });
        }
        self.send(&step, self.get(url)).await
    }

    // ---- model registry ------------------------------------------------------------------------

    /// The registered model with this name, created if missing (race-safe as experiments are).
    pub async fn get_or_create_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        let get = || async {
            let url = self.api_query("mlflow/registered-models/get", &[("name", name)]);
            match self
                .send_json::<RegisteredModelResponse>(&format!("get registered model {name:?}"), self.get(url))
                .await
            {
                Ok(r) => Ok(Some(r.registered_model)),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        };
        if let Some(m) = get().await? {
            return Ok(m);
        }
        let step = format!("create registered model {name:?}");
        let req = self.post_json("mlflow/registered-models/create", &json!({ "name": name }));
        match self.send_json::<RegisteredModelResponse>(&step, req).await {
            Ok(r) => Ok(r.registered_model),
            Err(e) if e.is_already_exists() => get().await?.ok_or_else(|| self.bad(&step, "exists, then not found")),
            Err(e) => Err(e),
        }
    }

    /// Creates a version of a registered model from a run's artifact. Not duplicated on retry: before
    /// trying again after a failure that may have reached the server, the versions of that run with the
    /// same source are looked up and an existing one is returned.
    pub async fn create_model_version(&self, name: &str, source: &str, run_id: &str) -> Result<ModelVersion> {
        let step = format!("register {source} as a version of {name:?}");
        let body = json!({ "name": name, "source": source, "run_id": run_id });
        let created = self
            .create_without_duplicates(&step, self.post_json("mlflow/model-versions/create", &body), || async {
                let versions = self.model_versions_of_run(name, run_id).await?;
                Ok(versions
                    .into_iter()
                    .find(|v| v.source == source)
                    .map(|model_version| ModelVersionResponse { model_version }))
            })
            .await?;
        Ok(created.model_version)
    }

    /// Model versions matching an MLflow filter (e.g. `name = 'm' and run_id = 'r'`), all pages.
    pub async fn search_model_versions(&self, filter: &str) -> Result<Vec<ModelVersion>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut q = vec![("filter", filter), ("max_results", "1000")];
            if let Some(t) = &token {
                q.push(("page_token", t));
            }
            let url = self.api_query("mlflow/model-versions/search", &q);
            let page: ModelVersionsPage = self.send_json("search model versions", self.get(url)).await?;
            out.extend(page.model_versions);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// The versions of a registered model made from one run, newest first.
    pub async fn model_versions_of_run(&self, name: &str, run_id: &str) -> Result<Vec<ModelVersion>> {
        let step = "search model versions";
        let filter =
            format!("name = {} and run_id = {}", quote(step, "model name", name)?, quote(step, "run id", run_id)?);
        let mut v = self.search_model_versions(&filter).await?;
        v.sort_by_key(|m| std::cmp::Reverse(m.number()));
        Ok(v)
    }

    /// Points an alias (e.g. `production`) of a registered model at a version.
    pub async fn set_registered_model_alias(&self, name: &str, alias: &str, version: &str) -> Result<()> {
        let body = json!({ "name": name, "alias": alias, "version": version });
        let step = format!("set alias {alias} of {name:?} to version {version}");
        self.send(&step, self.post_json("mlflow/registered-models/alias", &body)).await?;
        Ok(())
    }

    /// The version an alias points at (`None` if the alias is not set).
    pub async fn get_model_version_by_alias(&self, name: &str, alias: &str) -> Result<Option<ModelVersion>> {
        let url = self.api_query("mlflow/registered-models/alias", &[("name", name), ("alias", alias)]);
        match self.send_json::<ModelVersionResponse>(&format!("get alias {alias} of {name:?}"), self.get(url)).await {
            Ok(r) => Ok(Some(r.model_version)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    // ---- plumbing ------------------------------------------------------------------------------

    /// `<base>/api/2.0/<endpoint>`.
    fn api(&self, endpoint: &str) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.pop_if_empty().extend(["api", "2.0"]).extend(endpoint.split('/'));
        }
        url
    }

    fn api_query(&self, endpoint: &str, query: &[(&str, &str)]) -> Url {
        let mut url = self.api(endpoint);
        url.query_pairs_mut().extend_pairs(query);
        url
    }

    /// `<base>/api/2.0/mlflow-artifacts/artifacts/<run artifact root>/<path>`.
    fn artifact_url(&self, step: &str, artifact_uri: &str, path: Option<&str>) -> Result<Url> {
        let root = artifact_root(&self.server, step, artifact_uri)?;
        let mut url = self.api("mlflow-artifacts/artifacts");
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.extend(root.split('/'));
        }
        if let Some(p) = path {
            check_artifact_path(step, p)?;
            if let Ok(mut segs) = url.path_segments_mut() {
                segs.extend(p.split('/'));
            }
        }
        Ok(url)
    }

    fn get(&self, url: Url) -> Request {
        Request { method: Method::GET, url, payload: Payload::Empty }
    }

    fn post_json(&self, endpoint: &str, body: &impl serde::Serialize) -> Request {
        // Serialising our own plain structs and json! values cannot fail.
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        Request { method: Method::POST, url: self.api(endpoint), payload: Payload::Json(bytes) }
    }

    async fn send_once(&self, req: &Request) -> std::result::Result<Vec<u8>, Failure> {
        let mut b = self.http.request(req.method.clone(), req.url.clone());
        b = match &self.auth {
            Some(Auth::Bearer(t)) => b.bearer_auth(t),
            Some(Auth::Basic { username, password }) => b.basic_auth(username, Some(password)),
            None => b,
        };
        b = match &req.payload {
            Payload::Empty => b,
            Payload::Json(v) => b.header(CONTENT_TYPE, "application/json").body(v.clone()),
            Payload::Bytes(v) => b.header(CONTENT_TYPE, "application/octet-stream").body(v.clone()),
        };
        let timeout = self.timeout;
        let transport =
            |e: reqwest::Error| Failure::Transport { never_sent: e.is_connect(), reason: describe_timeout(e, timeout) };
        let resp = b.send().await.map_err(transport)?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = resp.bytes().await.map_err(transport)?.to_vec();
        if status.is_success() { Ok(body) } else { Err(Failure::Status { status, body, retry_after }) }
    }

    /// Sends a request, retrying what is worth retrying (see the module docs).
    async fn send(&self, step: &str, req: Request) -> Result<Vec<u8>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.send_once(&req).await {
                Ok(body) => return Ok(body),
                Err(f) if f.retriable() && attempt < self.retry.attempts => {
                    tokio::time::sleep(self.retry.delay(attempt, f.retry_after())).await
                }
                Err(f) => return Err(self.failure(step, f, attempt)),
            }
        }
    }

    async fn send_json<T: DeserializeOwned>(&self, step: &str, req: Request) -> Result<T> {
        let body = self.send(step, req).await?;
        self.decode(step, &body)
    }

    /// Sends a create that the server would repeat if sent twice: after a retriable failure it first
    /// asks `recover` whether the lost attempt created the thing, and returns that if so.
    async fn create_without_duplicates<T, F, Fut>(&self, step: &str, req: Request, recover: F) -> Result<T>
    where
        T: DeserializeOwned,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<T>>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.send_once(&req).await {
                Ok(body) => return self.decode(step, &body),
                Err(f) if f.retriable() && attempt < self.retry.attempts => {
                    tokio::time::sleep(self.retry.delay(attempt, f.retry_after())).await;
                    // A request that never reached the server created nothing; anything else may have been
                    // processed before the answer was lost.
                    if matches!(f, Failure::Transport { never_sent: true, .. }) {
                        continue;
                    }
                    if let Some(found) = recover().await? {
                        return Ok(found);
                    }
                }
                Err(f) => return Err(self.failure(step, f, attempt)),
            }
        }
    }

    fn decode<T: DeserializeOwned>(&self, step: &str, body: &[u8]) -> Result<T> {
        serde_json::from_slice(body).map_err(|e| self.bad(step, &format!("not the documented JSON ({e})")))
    }

    fn bad(&self, step: &str, reason: &str) -> Error {
        Error::BadResponse { server: self.server.clone(), step: step.to_string(), reason: self.redact(reason) }
    }

    fn failure(&self, step: &str, f: Failure, attempts: u32) -> Error {
        let server = self.server.clone();
        let step = step.to_string();
        match f {
            Failure::Transport { reason, .. } => {
                Error::Unreachable { server, step, reason: self.redact(&reason), attempts }
            }
            Failure::Status { status, body, .. } => match serde_json::from_slice::<ApiErrorBody>(&body) {
                Ok(api) => Error::Api {
                    server,
                    step,
                    status: status.as_u16(),
                    error_code: self.redact(&api.error_code),
                    message: self.redact(&batch::truncate_chars(api.message.trim(), MAX_MESSAGE_CHARS)),
                    attempts,
                },
                Err(_) => {
                    let text: String = String::from_utf8_lossy(&body)
                        .chars()
                        .map(|c| if c.is_control() { ' ' } else { c })
                        .collect::<String>();
                    let text = batch::truncate_chars(text.trim(), 200);
                    Error::Http { server, step, status: status.as_u16(), body: self.redact(&text), attempts }
                }
            },
        }
    }

    /// Removes credentials from text that came from the server or the network stack.
    fn redact(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_string(), |t, s| t.replace(s.as_str(), "<redacted>"))
    }
}

/// The path of a run's artifact root under the proxy's `/api/2.0/mlflow-artifacts/artifacts/`.
/// `mlflow-artifacts:/1/<run>/artifacts` and `mlflow-artifacts://host:port/1/<run>/artifacts` are served
/// by the tracking server itself (a host in the URI is that server by MLflow's convention);
/// `http(s)://…/api/2.0/mlflow-artifacts/artifacts/<path>` names the proxy explicitly.
fn artifact_root(server: &str, step: &str, artifact_uri: &str) -> Result<String> {
    let unsupported = || Error::UnsupportedArtifactUri {
        server: server.to_string(),
        step: step.to_string(),
        uri: artifact_uri.into(),
    };
    // URL parsing resolves `..` silently; a root that needs it is not one MLflow made.
    if artifact_uri.split(['/', '\\']).any(|s| s == ".." || s == ".") {
        return Err(unsupported());
    }
    let url = Url::parse(artifact_uri).map_err(|_| unsupported())?;
    const ANCHOR: &str = "/api/2.0/mlflow-artifacts/artifacts/";
    let path = match url.scheme() {
        "mlflow-artifacts" => url.path().to_string(),
        "http" | "https" => url.path().split_once(ANCHOR).map(|(_, p)| p.to_string()).ok_or_else(unsupported)?,
        _ => return Err(unsupported()),
    };
    let path = path.trim_matches('/');
    // Run roots are `<experiment id>/<run id>/artifacts`; anything needing percent-decoding is refused
    // rather than sent double-encoded.
    let plain = |s: &str| {
        !s.is_empty() && s != "." && s != ".." && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    if path.is_empty() || !path.split('/').all(plain) {
        return Err(unsupported());
    }
    Ok(path.to_string())
}

/// Refuses artifact paths that could leave the run's root or be misread in a URL.
fn check_artifact_path(step: &str, path: &str) -> Result<()> {
    let bad =
        |reason| Err(Error::InvalidArgument { step: step.into(), what: "artifact path", value: path.into(), reason });
    if path.is_empty() || path.starts_with('/') {
        return bad("it must be a non-empty relative path");
    }
    if path.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return bad("empty, `.` and `..` segments are not allowed");
    }
    if path.chars().any(|c| c.is_control() || "\\%?#".contains(c)) {
        return bad("control characters, `\\`, `%`, `?` and `#` are not allowed");
    }
    Ok(())
}

/// A string literal for an MLflow search filter. MLflow's filter grammar has no escapes, so a value
/// holding both quote characters cannot be written and is refused.
pub fn quote(step: &str, what: &'static str, value: &str) -> Result<String> {
    if !value.contains('\'') {
        Ok(format!("'{value}'"))
    } else if !value.contains('"') {
        Ok(format!("\"{value}\""))
    } else {
        Err(Error::InvalidArgument {
            step: step.into(),
            what,
            value: value.into(),
            reason: "it holds both ' and \", which an MLflow filter cannot quote",
        })
    }
}

/// Why a request got no answer, from the error chain without the URL (it may hold a query).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&dyn std::error::Error> = Some(&e);
    while let Some(err) = next {
        let s = err.to_string();
        if parts.last() != Some(&s) {
            parts.push(s);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// Why an attempt got no answer, in a few words.
fn describe_timeout(e: reqwest::Error, timeout: Duration) -> String {
    if e.is_connect() {
        // The innermost cause says it ("Connection refused", "dns error: …", a connect timeout); the
        // outer layers only repeat "error sending request".
        let chain = describe(e);
        format!("cannot connect: {}", chain.rsplit(": ").next().unwrap_or(&chain))
    } else if e.is_timeout() {
        format!("no answer within the {:.1} s timeout", timeout.as_secs_f64())
    } else {
        describe(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_roots_of_proxied_runs_are_found_and_others_refused() {
        let s = "http://h:1";
        assert_eq!(artifact_root(s, "x", "mlflow-artifacts:/3/abc/artifacts").unwrap(), "3/abc/artifacts");
        assert_eq!(artifact_root(s, "x", "mlflow-artifacts://h:1/3/abc/artifacts/").unwrap(), "3/abc/artifacts");
        assert_eq!(
            artifact_root(s, "x", "http://h:1/pre/api/2.0/mlflow-artifacts/artifacts/3/abc/artifacts").unwrap(),
            "3/abc/artifacts"
        );
        for bad in
            ["s3://mlflow/artifacts/3/abc", "file:///tmp/x", "mlflow-artifacts:/3/../x", "http://h/3/abc", "nonsense"]
        {
            assert!(matches!(artifact_root(s, "x", bad), Err(Error::UnsupportedArtifactUri { .. })), "{bad}");
        }
    }

    #[test]
    fn artifact_paths_that_could_escape_the_run_are_refused() {
        for ok in ["model.int8.onnx", "plots/latency.png"] {
            assert!(check_artifact_path("s", ok).is_ok(), "{ok}");
        }
        for bad in ["", "/etc/passwd", "../x", "a//b", "a/./b", "a%2fb", "a?b", "a#b"] {
            assert!(check_artifact_path("s", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_address_in_errors_is_scheme_host_and_port_and_credentials_become_auth() {
        let c = Client::new(ClientConfig::new("https://user:pa55word@mlflow.example:8443/prefix/?q=1#f")).unwrap();
        assert_eq!(c.server(), "https://mlflow.example:8443");
        assert_eq!(c.base_url(), "https://mlflow.example:8443/prefix");
        assert_eq!(c.api("mlflow/runs/get").as_str(), "https://mlflow.example:8443/prefix/api/2.0/mlflow/runs/get");
        assert_eq!(c.run_url("1", "r"), "https://mlflow.example:8443/prefix/#/experiments/1/runs/r");
        assert!(matches!(c.auth, Some(Auth::Basic { ref username, .. }) if username == "user"));
        assert!(!format!("{c:?}").contains("pa55word"));
        assert_eq!(c.redact("echo pa55word"), "echo <redacted>");
        let e = Client::new(ClientConfig::new("ftp://user:pa55word@host/")).unwrap_err().to_string();
        assert!(e.contains("ftp") && !e.contains("pa55word"), "{e}");
        let e = Client::new(ClientConfig::new("not a url pa55word")).err().unwrap().to_string();
        assert!(!e.contains("pa55word"), "{e}");
    }

    #[test]
    fn backoff_grows_is_capped_and_keeps_half_its_value_as_floor() {
        let p =
            RetryPolicy { attempts: 9, base_delay: Duration::from_millis(100), max_delay: Duration::from_millis(700) };
        for _ in 0..50 {
            let d1 = p.delay(1, None);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100), "{d1:?}");
            let d3 = p.delay(3, None);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400), "{d3:?}");
            assert!(p.delay(30, None) <= Duration::from_millis(700));
            assert_eq!(p.delay(1, Some(Duration::from_secs(60))), Duration::from_millis(700));
        }
    }

    #[test]
    fn the_client_and_its_futures_can_move_between_threads() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: T) {}
        let c = Client::new(ClientConfig::new("http://127.0.0.1:9")).unwrap();
        send_sync(&c);
        let req = CreateRun { experiment_id: "1".into(), run_name: "r".into(), start_time: 0, tags: vec![] };
        send(c.create_run(&req));
        send(c.create_model_version("m", "s", "r"));
        send(c.log_batch("r", vec![], vec![], vec![]));
        send(c.download_artifact("mlflow-artifacts:/1/r/artifacts", "a"));
    }

    #[test]
    fn filter_values_are_quoted_or_refused() {
        assert_eq!(quote("s", "v", "abc").unwrap(), "'abc'");
        assert_eq!(quote("s", "v", "it's").unwrap(), "\"it's\"");
        assert!(quote("s", "v", "it's \"x\"").is_err());
    }
}
