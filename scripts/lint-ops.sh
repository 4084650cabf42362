#!/usr/bin/env bash
# Lints the deployment files, one line per check, non-zero exit when any check fails:
#   groovy-lint  the Jenkinsfile with npm-groovy-lint (pinned by ops/lint/package-lock.json; CodeNarc comes
#                inside the npm package and runs on the local Java, so linting needs no network), failing
#                on errors;
#   compose      docker-compose.yml against the compose specification with .env.example as env file:
#                `docker compose config` when the plugin exists, and always ops/compose-check (compose-go,
#                the loader Docker Compose itself uses) plus this project's rules (health checks, loopback
#                ports, named volumes, no secret in the file, every service getting a secret has an entry
#                point that refuses the "change-me" placeholders);
#   pins         the versions compose deploys (images, Dockerfile ARGs, .env.example) equal the pins of
#                scripts/services.sh: SeaweedFS module version, MLflow, pymysql, boto3, requests, Python,
#                the MariaDB series, and Rust >= the workspace's rust-version;
#   jenkins      where builds run and where they can reach secrets, from the files alone (ops/compose-check
#                jenkins): the controller of ops/jenkins/casc.yaml has 0 executors and its agents are compose
#                services holding no secret; the Jenkinsfile has `agent none` and every stage a declared
#                agent label; withCredentials only on an agent that never builds, after the build stage,
#                around exactly one shell step; no credentials() in environment; and the controller image
#                deletes the configuration-as-code secret files once they are loaded (init.groovy.d).
# Tools are installed once (npm and the Go module proxy the first time, nothing after) and reused while
# their pins are unchanged: npm-groovy-lint in the home's cache (HM_CACHE, default ~/.cache/hapticmat, so a
# fresh clone reuses it), compose-check under build/tools/; a Jenkinsfile that already passed with the same
# tool and config is not linted again.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TOOLS="$ROOT/build/tools"
NGL_DIR="${HM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hapticmat}/ops-lint"
CHECK_BIN="$TOOLS/bin/compose-check"
LOG_DIR="$ROOT/build/lint-ops"
mkdir -p "$TOOLS/bin" "$LOG_DIR"

failed=0
ok() { printf '%-12s ok    %s\n' "$1" "$2"; }
fail() { # check message [logfile]
  printf '%-12s FAIL  %s\n' "$1" "$2" >&2
  [[ -z "${3:-}" ]] || sed 's/^/    /' "$3" >&2
  failed=1
}
die() { printf 'lint-ops: %s\n' "$*" >&2; exit 2; }
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# --- tools (cached) -------------------------------------------------------------------------------------
ensure_groovy_lint() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then die "node and npm are needed for npm-groovy-lint"; fi
  local node_major
  node_major="$(node -p 'process.versions.node.split(".")[0]')"
  ((node_major >= 20)) || die "npm-groovy-lint 16 needs Node.js >= 20, found $(node --version)"
  local want
  want="$(hash_of ops/lint/package.json ops/lint/package-lock.json) node$node_major"
  if [[ -x "$NGL_DIR/node_modules/.bin/npm-groovy-lint" && "$(cat "$NGL_DIR/.stamp" 2>/dev/null)" == "$want" ]]; then
    return 0
  fi
  mkdir -p "$NGL_DIR"
  cp ops/lint/package.json ops/lint/package-lock.json "$NGL_DIR/"
  # npm ci installs exactly the lock file; no install scripts are needed (CodeNarc's jars are in the package).
  (cd "$NGL_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >"$LOG_DIR/npm-ci.log" 2>&1 ||
    die "npm ci of ops/lint failed; see $LOG_DIR/npm-ci.log"
  echo "$want" >"$NGL_DIR/.stamp"
}

java_bin() { # a Java >= 17 (CodeNarc 3.7), passed explicitly so java-caller never tries to download one
  local java version major
  java="$(command -v java)" || die "java (>= 17) is needed by npm-groovy-lint (CodeNarc)"
  version="$("$java" -version 2>&1 | sed -n 's/.* version "\([^"]*\)".*/\1/p' | head -n1)"
  major="${version%%.*}"
  if ! [[ "$major" =~ ^[0-9]+$ ]] || ((major < 17)); then
    die "npm-groovy-lint needs Java >= 17, found '$version' at $java"
  fi
  echo "$java"
}

ensure_compose_check() {
  command -v go >/dev/null || die "go is needed to build ops/compose-check"
  local want
  want="$(hash_of ops/compose-check/go.mod ops/compose-check/go.sum ops/compose-check/*.go) $(go env GOVERSION)"
  if [[ -x "$CHECK_BIN" && "$(cat "$CHECK_BIN.stamp" 2>/dev/null)" == "$want" ]]; then return 0; fi
  # -mod=readonly: go.sum is the lock; a missing or different module fails instead of being added. The
  # checker's own tests run whenever it is rebuilt, i.e. whenever it changed.
  { go test -C ops/compose-check -mod=readonly ./... &&
    go build -C ops/compose-check -mod=readonly -o "$CHECK_BIN.partial" .; } >"$LOG_DIR/go-build.log" 2>&1 ||
    die "testing or building ops/compose-check failed; see $LOG_DIR/go-build.log"
  mv "$CHECK_BIN.partial" "$CHECK_BIN"
  echo "$want" >"$CHECK_BIN.stamp"
}

# MariaDB major.minor that scripts/services.sh runs on this machine: it starts Debian's mariadb-server and
# pins no version of its own. Empty when neither the server nor its Debian package is known here.
mariadb_series() {
  local v=""
  if command -v mariadbd >/dev/null; then
    v="$(mariadbd --version 2>/dev/null | sed -n 's/.* Ver \([0-9]*\.[0-9]*\).*/\1/p')"
  fi
  if [[ -z "$v" ]] && command -v apt-cache >/dev/null; then
    v="$(apt-cache policy mariadb-server 2>/dev/null | sed -n 's/^ *Candidate: \([0-9]*:\)\{0,1\}\([0-9]*\.[0-9]*\).*/\2/p')"
  fi
  echo "$v"
}

severity_count() { # severity log: the count in npm-groovy-lint's summary table
  awk -F'│' -v s="'$1'" '$3 ~ s { gsub(/ /, "", $4); print $4 }' "$2"
}

# --- checks ---------------------------------------------------------------------------------------------
check_groovy_lint() {
  ensure_groovy_lint
  local java key log="$LOG_DIR/groovy-lint.log"
  java="$(java_bin)"
  key="$(hash_of Jenkinsfile ops/lint/.groovylintrc.json "$NGL_DIR/.stamp") $("$java" -version 2>&1 | head -n1)"
  if [[ "$(cat "$LOG_DIR/groovy-lint.passed" 2>/dev/null)" == "$key" ]]; then
    ok groovy-lint "Jenkinsfile: no errors (unchanged since the last pass)"
    return
  fi
  rm -f "$LOG_DIR/groovy-lint.passed"
  # --noserver: no CodeNarc server left running after the check; --parse: Groovy compile errors too.
  if FORCE_COLOR=0 "$NGL_DIR/node_modules/.bin/npm-groovy-lint" --noserver --parse --javaexecutable "$java" \
    --javaoptions=-Xms64m,-Xmx512m --failon error -c ops/lint Jenkinsfile >"$log" 2>&1; then
    echo "$key" >"$LOG_DIR/groovy-lint.passed"
    ok groovy-lint "Jenkinsfile: no errors, $(severity_count Warning "$log") warnings, $(severity_count Info "$log") infos"
  else
    fail groovy-lint "Jenkinsfile has lint errors (npm-groovy-lint):" "$log"
  fi
}

compose_valid=no
check_compose() {
  local log="$LOG_DIR/compose.log" docker_note=""
  if docker compose version >/dev/null 2>&1; then
    if docker compose --project-directory . -f docker-compose.yml --env-file .env.example config --quiet >"$log" 2>&1; then
      docker_note="; docker compose config agrees"
    else
      fail compose "docker compose config rejects docker-compose.yml:" "$log"
      return
    fi
  fi
  if "$CHECK_BIN" validate -root . -compose docker-compose.yml -env-file .env.example >"$log" 2>&1; then
    ok compose "$(sed 's/^compose: //' "$log")$docker_note"
    compose_valid=yes
  else
    fail compose "docker-compose.yml:" "$log"
    # Rule findings still leave a loadable file whose versions can be compared.
    grep -q 'is not a valid compose file' "$log" || compose_valid=yes
  fi
}

check_pins() {
  local log="$LOG_DIR/pins.log"
  if [[ "$compose_valid" != yes ]]; then
    fail pins "not compared: docker-compose.yml must load first"
    return
  fi
  if "$CHECK_BIN" pins -root . -compose docker-compose.yml -env-file .env.example -services scripts/services.sh \
    -cargo Cargo.toml -mariadb-series "$(mariadb_series)" >"$log" 2>&1; then
    ok pins "$(sed 's/^pins: //' "$log")"
  else
    fail pins "versions differ from scripts/services.sh:" "$log"
  fi
}

check_jenkins() {
  local log="$LOG_DIR/jenkins.log"
  if [[ "$compose_valid" != yes ]]; then
    fail jenkins "not checked: docker-compose.yml must load first"
    return
  fi
  if "$CHECK_BIN" jenkins -root . -compose docker-compose.yml -env-file .env.example -jenkinsfile Jenkinsfile \
    -casc ops/jenkins/casc.yaml -controller ops/jenkins >"$log" 2>&1; then
    ok jenkins "$(sed 's/^jenkins: //' "$log")"
  else
    fail jenkins "builds could reach secrets:" "$log"
  fi
}

ensure_compose_check
check_groovy_lint
check_compose
check_pins
check_jenkins
exit "$failed"
