#!/usr/bin/env bash
# Local MLOps stack on loopback: MariaDB (Debian), SeaweedFS (Go module proxy), MLflow (PyPI venv).
#
#   scripts/services.sh start|stop|status|env
#
# Everything (binaries excepted) lives under build/services/: data, logs, pid files, generated configs.
# Each service runs in its own session (setsid); `stop` signals only the process groups whose pid files
# it wrote, after checking the pid still runs the expected program.
#
# Secrets (the HM_*PASSWORD / HM_*SECRET* values below; dev defaults unless set) never go on a command line,
# where `ps` shows them to every user: services get them through their environment or a 0600 file under
# build/services, curl through a config on its stdin. `start` refuses the "change-me" placeholders of
# .env.example. MLflow runs with its basic-auth app; `env` exports the credentials its clients send.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SVC="${HM_SERVICES_DIR:-$ROOT/build/services}"
LOGS="$SVC/logs"
RUN="$SVC/run"

# --- configuration (environment overrides) -------------------------------------------------------
HM_MYSQL_PORT="${HM_MYSQL_PORT:-13306}"
HM_S3_PORT="${HM_S3_PORT:-18333}"
HM_MLFLOW_PORT="${HM_MLFLOW_PORT:-15000}"
# SeaweedFS internal ports (master/volume/filer http; gRPC = http + 10000).
HM_SW_MASTER_PORT="${HM_SW_MASTER_PORT:-19333}"
HM_SW_VOLUME_PORT="${HM_SW_VOLUME_PORT:-19340}"
HM_SW_FILER_PORT="${HM_SW_FILER_PORT:-18888}"
HM_SW_ADMIN_PORT="${HM_SW_ADMIN_PORT:-12545}"   # admin server (UI disabled; still runs for maintenance)

HM_DB_NAME="${HM_DB_NAME:-mlflow}"
HM_DB_USER="${HM_DB_USER:-mlflow}"
HM_DB_PASSWORD="${HM_DB_PASSWORD:-mlflow-dev-password}"
HM_S3_ACCESS_KEY="${HM_S3_ACCESS_KEY:-hm-admin}"
HM_S3_SECRET_KEY="${HM_S3_SECRET_KEY:-hm-admin-dev-secret}"
# The identity Jenkins publishes with: read, list and write of bucket production only (as in compose).
HM_S3_PUBLISHER_ACCESS_KEY="${HM_S3_PUBLISHER_ACCESS_KEY:-hm-publisher}"
HM_S3_PUBLISHER_SECRET_KEY="${HM_S3_PUBLISHER_SECRET_KEY:-hm-publisher-dev-secret}"
# The identity MLflow's artifact proxy uses: read, list and write of bucket mlflow only (as in compose).
HM_S3_MLFLOW_ACCESS_KEY="${HM_S3_MLFLOW_ACCESS_KEY:-hm-mlflow}"
HM_S3_MLFLOW_SECRET_KEY="${HM_S3_MLFLOW_SECRET_KEY:-hm-mlflow-dev-secret}"
HM_S3_REGION="${HM_S3_REGION:-us-east-1}"
# MLflow basic auth: the admin user created on the first start (MLflow itself refuses its old default
# admin/password1234), and the static key its CSRF protection needs across workers.
HM_MLFLOW_USERNAME="${HM_MLFLOW_USERNAME:-hm-mlflow-admin}"
HM_MLFLOW_PASSWORD="${HM_MLFLOW_PASSWORD:-hm-mlflow-dev-password}"
HM_MLFLOW_FLASK_SECRET="${HM_MLFLOW_FLASK_SECRET:-hm-mlflow-dev-flask-secret}"

# Pinned versions. The Go module proxy reachable here serves this SeaweedFS pseudo-version (release 4.53);
# its go.mod has `replace` lines, so it is built with `go build` inside the downloaded module
# (go install @version refuses such modules).
HM_SEAWEEDFS_VERSION="${HM_SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}"
HM_MLFLOW_VERSION="${HM_MLFLOW_VERSION:-3.17.2}"
HM_PYMYSQL_VERSION="${HM_PYMYSQL_VERSION:-1.1.2}"
HM_BOTO3_VERSION="${HM_BOTO3_VERSION:-1.44.8}"
HM_REQUESTS_VERSION="${HM_REQUESTS_VERSION:-2.34.2}"
HM_MLFLOW_WORKERS="${HM_MLFLOW_WORKERS:-2}"
HM_HEALTH_TIMEOUT="${HM_HEALTH_TIMEOUT:-120}"   # seconds per service
HM_STOP_TIMEOUT="${HM_STOP_TIMEOUT:-30}"

PYTHON="${HM_PYTHON:-python3.11}"
# The SeaweedFS binary and MLflow's venv are kept across clones, keyed by their pins, in the home's cache
# (HM_CACHE, default ~/.cache/hapticmat): CI starts from a fresh clone each time, and building SeaweedFS and
# installing MLflow took minutes of every run. Installs into the cache are serialised by a lock.
# HM_TOOLS_BIN / HM_MLFLOW_VENV: other places (an existing venv with the same pins is reused as it is).
CACHE="${HM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hapticmat}"
TOOLS="${HM_TOOLS_BIN:-$CACHE/seaweedfs-$HM_SEAWEEDFS_VERSION}"
VENV="${HM_MLFLOW_VENV:-$CACHE/mlflow-$HM_MLFLOW_VERSION-venv}"
WEED="$TOOLS/weed"
MYSQL_DIR="$SVC/mariadb"
MYSQL_SOCK="$MYSQL_DIR/mysqld.sock"
S3_DIR="$SVC/seaweedfs"
MLFLOW_DIR="$SVC/mlflow"
SECRET_VARS=(HM_DB_PASSWORD HM_S3_SECRET_KEY HM_S3_PUBLISHER_SECRET_KEY HM_S3_MLFLOW_SECRET_KEY HM_MLFLOW_PASSWORD
  HM_MLFLOW_FLASK_SECRET)

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

mlflow_url() { echo "http://127.0.0.1:$HM_MLFLOW_PORT"; }
s3_url() { echo "http://127.0.0.1:$HM_S3_PORT"; }
# The backend store URI holds the DB password: it is built from the environment (never an argument) and
# reaches MLflow as MLFLOW_BACKEND_STORE_URI, the variable its --backend-store-uri option reads.
db_uri() {
  HM_DB_USER="$HM_DB_USER" HM_DB_PASSWORD="$HM_DB_PASSWORD" HM_MYSQL_PORT="$HM_MYSQL_PORT" HM_DB_NAME="$HM_DB_NAME" \
    "$PYTHON" -c 'import os, urllib.parse as u
q = lambda k: u.quote(os.environ[k], safe="")
print("mysql+pymysql://%s:%s@127.0.0.1:%s/%s" % (q("HM_DB_USER"), q("HM_DB_PASSWORD"), os.environ["HM_MYSQL_PORT"], q("HM_DB_NAME")))'
}

# A curl config line `user = "name:secret"` (for `curl -K -` on stdin): credentials never in curl's argv.
curl_user_config() { # user password
  local u="$1" p="$2"
  u="${u//\\/\\\\}" p="${p//\\/\\\\}"
  u="${u//\"/\\\"}" p="${p//\"/\\\"}"
  printf 'user = "%s:%s"\n' "$u" "$p"
}

# The placeholders of .env.example are not secrets: refuse to start with one.
refuse_placeholders() {
  local v bad=()
  for v in "${SECRET_VARS[@]}"; do
    [[ "${!v}" == change-me* ]] && bad+=("$v")
  done
  ((${#bad[@]} == 0)) ||
    die "${bad[*]}: still the \"change-me\" placeholder of .env.example; set a real secret (or unset it for the dev default)"
  return 0
}

# --- process bookkeeping ---------------------------------------------------------------------------
# pid file holds the pid of a session leader we started; $2 is a substring its cmdline must contain.
pid_alive() { # name pattern -> 0 if our process runs
  local f="$RUN/$1.pid" pid
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

spawn() { # name logfile cmd... : start in a new session, record pid
  local name="$1" logf="$2"; shift 2
  setsid "$@" >>"$logf" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

wait_for() { # name logfile check-cmd...
  local name="$1" logf="$2" pattern="$3"; shift 3
  local deadline=$((SECONDS + HM_HEALTH_TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if ! pid_alive "$name" "$pattern"; then
      tail -n 20 "$logf" >&2 || true
      die "$name exited during start-up; see $logf"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 20 "$logf" >&2 || true
      die "$name not healthy after ${HM_HEALTH_TIMEOUT}s (HM_HEALTH_TIMEOUT); see $logf"
    fi
    sleep 0.5
  done
}

stop_one() { # name pattern
  local name="$1" pattern="$2" f="$RUN/$1.pid" pid
  if ! pid_alive "$name" "$pattern"; then
    [[ -f "$f" ]] && { log "$name: stale pid file removed"; rm -f "$f" "$RUN/$name.fp"; } || log "$name: not running"
    return 0
  fi
  pid="$(cat "$f")"
  log "$name: stopping (pid $pid)"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + HM_STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "$name: still alive after ${HM_STOP_TIMEOUT}s, sending KILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.2
  done
  # let the rest of the group (e.g. gunicorn/uvicorn workers) go too
  local i
  for i in $(seq 50); do pgrep -g "$pid" >/dev/null 2>&1 || break; sleep 0.1; done
  pgrep -g "$pid" >/dev/null 2>&1 && kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$f" "$RUN/$name.fp"
}

# --- configuration fingerprints ------------------------------------------------------------------
# A service keeps the configuration it was started with. Each start records a fingerprint of everything the
# start depends on (ports, versions, identities, credentials; a hash, in a 0600 file). `start` restarts a
# service whose fingerprint differs (changed settings, or a stack started by an older services.sh, which
# recorded none); `status` reports it as stale, with a non-zero exit, so scripts/test.sh runs `start`.
fingerprint() { printf '%s\0' "$@" | sha256sum | cut -d' ' -f1; }
fp_mariadb() { fingerprint mariadb-1 "$HM_MYSQL_PORT" "$HM_DB_NAME" "$HM_DB_USER" "$HM_DB_PASSWORD"; }
fp_seaweedfs() {
  fingerprint seaweedfs-2 "$HM_SEAWEEDFS_VERSION" "$HM_S3_PORT" "$HM_SW_MASTER_PORT" "$HM_SW_VOLUME_PORT" \
    "$HM_SW_FILER_PORT" "$HM_SW_ADMIN_PORT" "$(s3_config_json)"
}
fp_mlflow() {
  fingerprint mlflow-2 "$HM_MLFLOW_VERSION" "$HM_MLFLOW_PORT" "$HM_MLFLOW_WORKERS" "$HM_MYSQL_PORT" "$HM_DB_NAME" \
    "$HM_DB_USER" "$HM_DB_PASSWORD" "$HM_S3_PORT" "$HM_S3_REGION" "$HM_S3_MLFLOW_ACCESS_KEY" "$HM_S3_MLFLOW_SECRET_KEY" \
    "$HM_MLFLOW_USERNAME" "$HM_MLFLOW_PASSWORD" "$HM_MLFLOW_FLASK_SECRET" "$VENV"
}
fp_current() { [[ "$(cat "$RUN/$1.fp" 2>/dev/null)" == "$("fp_$1")" ]]; }
record_fp() { (umask 077 && "fp_$1" >"$RUN/$1.fp"); }

running_current() { # name pattern: 0 if it runs with the current configuration; stops it if with another
  pid_alive "$1" "$2" || return 1
  if fp_current "$1"; then log "$1: already running"; return 0; fi
  log "$1: runs with another configuration (settings changed, or started by an older services.sh): restarting"
  stop_one "$1" "$2"
  return 1
}

# --- installation (cached) -------------------------------------------------------------------------
ensure_mariadb() {
  if ! command -v mariadbd >/dev/null || ! command -v mariadb-install-db >/dev/null; then
    log "installing mariadb-server from Debian"
    [[ "$(id -u)" == 0 ]] || die "mariadb-server missing; run: sudo apt-get install -y mariadb-server"
    DEBIAN_FRONTEND=noninteractive apt-get install -y mariadb-server >>"$LOGS/install.log" 2>&1 ||
      { apt-get update >>"$LOGS/install.log" 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y mariadb-server >>"$LOGS/install.log" 2>&1; } ||
      die "apt-get install mariadb-server failed; see $LOGS/install.log"
  fi
}

# Runs an install function holding the cache's lock (another checkout may be installing the same thing).
locked_install() {
  mkdir -p "$CACHE"
  ("$@") 9>"$CACHE/.install.lock" || exit 1
}

ensure_weed() { locked_install install_weed_locked; }
install_weed_locked() {
  flock 9
  local stamp="$TOOLS/.weed.version"
  if [[ -x "$WEED" && -f "$stamp" && "$(cat "$stamp")" == "$HM_SEAWEEDFS_VERSION" ]]; then return 0; fi
  command -v go >/dev/null || die "go toolchain not found (needed to build SeaweedFS)"
  mkdir -p "$TOOLS"
  log "building SeaweedFS $HM_SEAWEEDFS_VERSION from the Go module proxy (a few minutes the first time)"
  local dir
  dir="$(go mod download -json "github.com/seaweedfs/seaweedfs@$HM_SEAWEEDFS_VERSION" 2>>"$LOGS/install.log" |
    "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or ""); sys.exit(1 if d.get("Error") else 0)')" ||
    die "go mod download of SeaweedFS failed; see $LOGS/install.log"
  (cd "$dir" && go build -o "$WEED.partial" ./weed) >>"$LOGS/install.log" 2>&1 ||
    die "building SeaweedFS failed; see $LOGS/install.log"
  mv "$WEED.partial" "$WEED"
  echo "$HM_SEAWEEDFS_VERSION" >"$stamp"
}

ensure_venv() { locked_install install_venv_locked; }
install_venv_locked() {
  flock 9
  local stamp="$VENV/.hm-pins"
  local pins="mlflow[auth]==$HM_MLFLOW_VERSION pymysql==$HM_PYMYSQL_VERSION boto3==$HM_BOTO3_VERSION requests==$HM_REQUESTS_VERSION"
  if [[ -x "$VENV/bin/mlflow" && -f "$stamp" && "$(cat "$stamp")" == "$pins" ]]; then return 0; fi
  log "installing MLflow $HM_MLFLOW_VERSION into $VENV"
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV" >>"$LOGS/install.log" 2>&1 ||
    die "creating venv failed; see $LOGS/install.log"
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install -q $pins >>"$LOGS/install.log" 2>&1 || die "pip install failed; see $LOGS/install.log"
  echo "$pins" >"$stamp"
}

# --- MariaDB ---------------------------------------------------------------------------------------
mysql_root() { mariadb --no-defaults --protocol=socket --socket="$MYSQL_SOCK" -uroot "$@"; }

start_mariadb() {
  running_current mariadb mariadbd && return 0
  port_in_use "$HM_MYSQL_PORT" && die "port $HM_MYSQL_PORT (HM_MYSQL_PORT) is taken by another process"
  ensure_mariadb
  local userarg=()
  [[ "$(id -u)" == 0 ]] && userarg=(--user=root)
  if [[ ! -d "$MYSQL_DIR/data/mysql" ]]; then
    log "mariadb: initialising datadir"
    mkdir -p "$MYSQL_DIR/data"
    mariadb-install-db --no-defaults --datadir="$MYSQL_DIR/data" "${userarg[@]}" \
      --auth-root-authentication-method=normal --skip-test-db >>"$LOGS/mariadb.log" 2>&1 ||
      die "mariadb-install-db failed; see $LOGS/mariadb.log"
  fi
  log "mariadb: starting on 127.0.0.1:$HM_MYSQL_PORT"
  spawn mariadb "$LOGS/mariadb.log" mariadbd --no-defaults --datadir="$MYSQL_DIR/data" \
    --port="$HM_MYSQL_PORT" --bind-address=127.0.0.1 --socket="$MYSQL_SOCK" \
    --pid-file="$MYSQL_DIR/mariadbd.pid" --skip-name-resolve --character-set-server=utf8mb4 \
    --collation-server=utf8mb4_bin "${userarg[@]}"
  wait_for mariadb "$LOGS/mariadb.log" mariadbd mysql_root -e 'SELECT 1'
  local q_pw="${HM_DB_PASSWORD//\'/\'\'}"
  mysql_root <<SQL || die "mariadb: creating database/user failed"
CREATE DATABASE IF NOT EXISTS \`$HM_DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE USER IF NOT EXISTS '$HM_DB_USER'@'127.0.0.1' IDENTIFIED BY '$q_pw';
CREATE USER IF NOT EXISTS '$HM_DB_USER'@'localhost' IDENTIFIED BY '$q_pw';
ALTER USER '$HM_DB_USER'@'127.0.0.1' IDENTIFIED BY '$q_pw';
ALTER USER '$HM_DB_USER'@'localhost' IDENTIFIED BY '$q_pw';
GRANT ALL PRIVILEGES ON \`$HM_DB_NAME\`.* TO '$HM_DB_USER'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`$HM_DB_NAME\`.* TO '$HM_DB_USER'@'localhost';
FLUSH PRIVILEGES;
SQL
  record_fp mariadb
}

# --- SeaweedFS -------------------------------------------------------------------------------------
s3_config_json() { # the identities file of weed's S3 gateway, on stdout
  (export HM_S3_ACCESS_KEY HM_S3_SECRET_KEY HM_S3_PUBLISHER_ACCESS_KEY HM_S3_PUBLISHER_SECRET_KEY \
    HM_S3_MLFLOW_ACCESS_KEY HM_S3_MLFLOW_SECRET_KEY && "$PYTHON" - <<'PY'
import json, os, sys
cfg = {"identities": [
    {"name": "admin",
     "credentials": [{"accessKey": os.environ["HM_S3_ACCESS_KEY"], "secretKey": os.environ["HM_S3_SECRET_KEY"]}],
     "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
    {"name": "publisher",
     "credentials": [{"accessKey": os.environ["HM_S3_PUBLISHER_ACCESS_KEY"],
                      "secretKey": os.environ["HM_S3_PUBLISHER_SECRET_KEY"]}],
     "actions": ["Read:production", "Write:production", "List:production"]},
    # MLflow's artifact proxy: its own bucket only, so a compromised tracking server cannot touch what
    # phones download.
    {"name": "mlflow",
     "credentials": [{"accessKey": os.environ["HM_S3_MLFLOW_ACCESS_KEY"],
                      "secretKey": os.environ["HM_S3_MLFLOW_SECRET_KEY"]}],
     "actions": ["Read:mlflow", "Write:mlflow", "List:mlflow"]},
    {"name": "anonymous", "actions": ["Read:production"]},
]}
json.dump(cfg, sys.stdout, indent=2)
PY
  )
}

write_s3_config() {
  mkdir -p "$S3_DIR/data"
  (umask 077 && s3_config_json >"$S3_DIR/s3.json.tmp" && mv "$S3_DIR/s3.json.tmp" "$S3_DIR/s3.json")
}

s3_admin_head() { # bucket
  curl_user_config "$HM_S3_ACCESS_KEY" "$HM_S3_SECRET_KEY" |
    curl -sf -o /dev/null --max-time 3 -K - --aws-sigv4 "aws:amz:$HM_S3_REGION:s3" -I "$(s3_url)/$1"
}
s3_healthy() { s3_admin_head mlflow && s3_admin_head production; }

start_seaweedfs() {
  running_current seaweedfs weed && return 0
  local p
  # Each SeaweedFS HTTP port has its gRPC port 10000 above it.
  for p in "$HM_S3_PORT" "$HM_SW_MASTER_PORT" "$HM_SW_VOLUME_PORT" "$HM_SW_FILER_PORT" "$HM_SW_ADMIN_PORT"; do
    port_in_use "$p" && die "port $p (SeaweedFS) is taken by another process"
    port_in_use "$((p + 10000))" && die "port $((p + 10000)) (SeaweedFS gRPC, HTTP port $p + 10000) is taken by another process"
  done
  ensure_weed
  write_s3_config
  log "seaweedfs: starting S3 on 127.0.0.1:$HM_S3_PORT"
  spawn seaweedfs "$LOGS/seaweedfs.log" "$WEED" mini -dir="$S3_DIR/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port="$HM_SW_MASTER_PORT" -volume.port="$HM_SW_VOLUME_PORT" -filer.port="$HM_SW_FILER_PORT" \
    -admin.port="$HM_SW_ADMIN_PORT" -admin.port.legacy=0 \
    -s3.port="$HM_S3_PORT" -s3.port.iceberg=0 -s3.port.lance=0 -s3.config="$S3_DIR/s3.json" \
    -s3.localSocket="$S3_DIR/s3.sock" -filer.localSocket="$S3_DIR/filer.sock" \
    -bucket=mlflow,production -webdav=false -admin.ui=false -master.telemetry=false
  wait_for seaweedfs "$LOGS/seaweedfs.log" weed s3_healthy
  record_fp seaweedfs
}

# --- MLflow ----------------------------------------------------------------------------------------
# MLflow runs its basic-auth app (`--app-name basic-auth`): every API request needs a user. Its settings
# file is generated here (0600); the admin password and the Flask key stay out of it (environment). The user
# store is SQLite next to it. MLflow creates the admin user on the first start only: a later, different
# HM_MLFLOW_PASSWORD does not change it, and start then fails saying so.
write_mlflow_auth_config() {
  mkdir -p "$MLFLOW_DIR"
  chmod 700 "$MLFLOW_DIR"
  (
    umask 077
    printf '%s\n' '[mlflow]' \
      '# Written by scripts/services.sh; the admin password comes from MLFLOW_AUTH_ADMIN_PASSWORD.' \
      'default_permission = NO_PERMISSIONS' \
      "database_uri = sqlite:///$MLFLOW_DIR/basic_auth.db" \
      "admin_username = $HM_MLFLOW_USERNAME" \
      'authorization_function = mlflow.server.auth:authenticate_request_basic_auth' \
      'grant_default_workspace_access = false' \
      '# Each check of a password costs a PBKDF2 hash (~0.5 s of CPU): remember a good one for a minute.' \
      'auth_cache_ttl_seconds = 60' >"$MLFLOW_DIR/basic_auth.ini.tmp"
    mv "$MLFLOW_DIR/basic_auth.ini.tmp" "$MLFLOW_DIR/basic_auth.ini"
  )
}

mlflow_status() { # [user password]: HTTP status of an experiments search, with those credentials if given
  local url
  url="$(mlflow_url)/api/2.0/mlflow/experiments/search?max_results=1"
  if (($# == 2)); then
    curl_user_config "$1" "$2" | curl -s -o /dev/null -w '%{http_code}' --max-time 30 -K - "$url"
  else
    curl -s -o /dev/null -w '%{http_code}' --max-time 30 "$url"
  fi
}

start_mlflow() {
  running_current mlflow mlflow && return 0
  port_in_use "$HM_MLFLOW_PORT" && die "port $HM_MLFLOW_PORT (HM_MLFLOW_PORT) is taken by another process"
  ensure_venv
  write_mlflow_auth_config
  log "mlflow: starting on $(mlflow_url) with basic auth (first start migrates the database)"
  local p="$HM_MLFLOW_PORT" uri
  uri="$(db_uri)"
  ( # secrets by environment only: this subshell exports them, the server inherits them
    export MLFLOW_BACKEND_STORE_URI="$uri" MLFLOW_AUTH_CONFIG_PATH="$MLFLOW_DIR/basic_auth.ini" \
      MLFLOW_AUTH_ADMIN_PASSWORD="$HM_MLFLOW_PASSWORD" MLFLOW_FLASK_SERVER_SECRET_KEY="$HM_MLFLOW_FLASK_SECRET" \
      MLFLOW_S3_ENDPOINT_URL="$(s3_url)" AWS_ACCESS_KEY_ID="$HM_S3_MLFLOW_ACCESS_KEY" \
      AWS_SECRET_ACCESS_KEY="$HM_S3_MLFLOW_SECRET_KEY" AWS_DEFAULT_REGION="$HM_S3_REGION" \
      AWS_REQUEST_CHECKSUM_CALCULATION=when_required AWS_RESPONSE_CHECKSUM_VALIDATION=when_required
    unset MLFLOW_TRACKING_USERNAME MLFLOW_TRACKING_PASSWORD MLFLOW_TRACKING_TOKEN MLFLOW_AUTH_ADMIN_USERNAME
    spawn mlflow "$LOGS/mlflow.log" "$VENV/bin/mlflow" server --app-name basic-auth \
      --host 127.0.0.1 --port "$p" --workers "$HM_MLFLOW_WORKERS" --artifacts-destination s3://mlflow/artifacts \
      --allowed-hosts "127.0.0.1:$p,localhost:$p,127.0.0.1,localhost"
  )
  wait_for mlflow "$LOGS/mlflow.log" mlflow curl -sf --max-time 3 "$(mlflow_url)/health"
  local anon authed
  anon="$(mlflow_status)" || true
  [[ "$anon" == 401 ]] ||
    die "mlflow: a request without credentials got HTTP $anon, expected 401 (auth not on?); see $LOGS/mlflow.log"
  authed="$(mlflow_status "$HM_MLFLOW_USERNAME" "$HM_MLFLOW_PASSWORD")" || true
  [[ "$authed" == 200 ]] ||
    die "mlflow: user $HM_MLFLOW_USERNAME got HTTP $authed with HM_MLFLOW_PASSWORD: the user was created with another password on the first start ($MLFLOW_DIR/basic_auth.db); use that one, or stop the stack and delete that file"
  record_fp mlflow
}

# --- commands --------------------------------------------------------------------------------------
cmd_start() {
  local t0=$SECONDS
  refuse_placeholders
  start_mariadb
  start_seaweedfs
  start_mlflow
  log "stack up in $((SECONDS - t0))s"
  cmd_status
}

cmd_stop() {
  stop_one mlflow mlflow
  stop_one seaweedfs weed
  stop_one mariadb mariadbd
}

cmd_status() {
  local rc=0
  report() { # name pattern url
    if ! pid_alive "$1" "$2"; then printf '%-10s stopped                 %s\n' "$1" "$3"; rc=3
    elif fp_current "$1"; then printf '%-10s running  pid %-8s %s\n' "$1" "$(cat "$RUN/$1.pid")" "$3"
    else printf '%-10s stale    pid %-8s %s  (other settings than these: run start to restart it)\n' \
      "$1" "$(cat "$RUN/$1.pid")" "$3"; rc=3; fi
  }
  report mariadb mariadbd "mysql://$HM_DB_USER@127.0.0.1:$HM_MYSQL_PORT/$HM_DB_NAME"
  report seaweedfs weed "$(s3_url)  (buckets: mlflow, production)"
  report mlflow mlflow "$(mlflow_url)  (basic auth, user $HM_MLFLOW_USERNAME)"
  return $rc
}

cmd_env() { # for other scripts: eval "$(scripts/services.sh env)"
  # Shell-quoted values. MLFLOW_TRACKING_USERNAME/PASSWORD are what MLflow's own client and the pipeline
  # send; the S3 identities and the DB password are for the tests (dev defaults unless set).
  local v
  printf 'export HM_MYSQL_PORT=%q HM_S3_PORT=%q HM_MLFLOW_PORT=%q\n' "$HM_MYSQL_PORT" "$HM_S3_PORT" "$HM_MLFLOW_PORT"
  printf 'export HM_DB_NAME=%q HM_DB_USER=%q\n' "$HM_DB_NAME" "$HM_DB_USER"
  printf 'export HM_MLFLOW_URL=%q HM_S3_URL=%q HM_MLFLOW_VENV=%q HM_S3_REGION=%q\n' \
    "$(mlflow_url)" "$(s3_url)" "$VENV" "$HM_S3_REGION"
  printf 'export MLFLOW_TRACKING_USERNAME=%q MLFLOW_TRACKING_PASSWORD=%q\n' "$HM_MLFLOW_USERNAME" "$HM_MLFLOW_PASSWORD"
  for v in HM_MLFLOW_USERNAME HM_MLFLOW_PASSWORD HM_DB_PASSWORD HM_S3_ACCESS_KEY HM_S3_SECRET_KEY \
    HM_S3_PUBLISHER_ACCESS_KEY HM_S3_PUBLISHER_SECRET_KEY HM_S3_MLFLOW_ACCESS_KEY HM_S3_MLFLOW_SECRET_KEY; do
    printf 'export %s=%q\n' "$v" "${!v}"
  done
}

mkdir -p "$LOGS" "$RUN"
case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
