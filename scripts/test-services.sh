#!/usr/bin/env bash
# Starts the local stack (scripts/services.sh), checks it against the real servers, stops it.
# Exits non-zero on any failure; last line "N passed, M failed".
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVICES="$ROOT/scripts/services.sh"

# Same defaults as services.sh (exported so both scripts agree).
export HM_MYSQL_PORT="${HM_MYSQL_PORT:-13306}" HM_S3_PORT="${HM_S3_PORT:-18333}"
export HM_MLFLOW_PORT="${HM_MLFLOW_PORT:-15000}"
export HM_DB_NAME="${HM_DB_NAME:-mlflow}" HM_DB_USER="${HM_DB_USER:-mlflow}"
export HM_DB_PASSWORD="${HM_DB_PASSWORD:-mlflow-dev-password}"
export HM_S3_ACCESS_KEY="${HM_S3_ACCESS_KEY:-hm-admin}" HM_S3_SECRET_KEY="${HM_S3_SECRET_KEY:-hm-admin-dev-secret}"
export HM_S3_MLFLOW_ACCESS_KEY="${HM_S3_MLFLOW_ACCESS_KEY:-hm-mlflow}"
export HM_S3_MLFLOW_SECRET_KEY="${HM_S3_MLFLOW_SECRET_KEY:-hm-mlflow-dev-secret}"
export HM_MLFLOW_USERNAME="${HM_MLFLOW_USERNAME:-hm-mlflow-admin}"
export HM_MLFLOW_PASSWORD="${HM_MLFLOW_PASSWORD:-hm-mlflow-dev-password}"
export HM_S3_REGION="${HM_S3_REGION:-us-east-1}"
VENV="${HM_MLFLOW_VENV:-${HM_SERVICES_DIR:-$ROOT/build/services}/mlflow-venv}"

cleanup() { "$SERVICES" stop || true; }
trap cleanup EXIT

t0=$SECONDS
"$SERVICES" start
echo "[test-services] stack started in $((SECONDS - t0))s"

PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   - $*"; }
nok() { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }

# 1. MariaDB answers SELECT 1 as the mlflow user, over TCP on loopback.
if out="$(MYSQL_PWD="$HM_DB_PASSWORD" mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P"$HM_MYSQL_PORT" \
  -u"$HM_DB_USER" "$HM_DB_NAME" -N -e 'SELECT 1' 2>&1)" && [[ "$out" == 1 ]]; then
  ok "mariadb: SELECT 1 as $HM_DB_USER"
else
  nok "mariadb: SELECT 1 as $HM_DB_USER -> $out"
fi

# 2..N. S3 and MLflow checks in Python (the MLflow venv has boto3, requests and pymysql).
export AWS_REQUEST_CHECKSUM_CALCULATION=when_required AWS_RESPONSE_CHECKSUM_VALIDATION=when_required
COUNTS="$(mktemp)"
export HM_TEST_COUNTS="$COUNTS"
set +e
"$VENV/bin/python" - <<'PY'
import os, sys, time, uuid
import boto3, botocore.config, botocore.exceptions, pymysql, requests

E = os.environ
S3 = f"http://127.0.0.1:{E['HM_S3_PORT']}"
ML = f"http://127.0.0.1:{E['HM_MLFLOW_PORT']}"
passed = failed = 0
# MLflow runs with basic auth: every API call below sends the stack's admin user.
AUTH = (E["HM_MLFLOW_USERNAME"], E["HM_MLFLOW_PASSWORD"])

def check(name, fn):
    global passed, failed
    try:
        detail = fn()
        passed += 1
        print(f"ok   - {name}" + (f" ({detail})" if detail else ""))
    except Exception as e:  # noqa: BLE001 - report every failure and go on
        failed += 1
        print(f"FAIL - {name}: {type(e).__name__}: {e}")

def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)

admin = boto3.client(
    "s3", endpoint_url=S3, region_name=E["HM_S3_REGION"],
    aws_access_key_id=E["HM_S3_ACCESS_KEY"], aws_secret_access_key=E["HM_S3_SECRET_KEY"],
    config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
)
as_mlflow = boto3.client(
    "s3", endpoint_url=S3, region_name=E["HM_S3_REGION"],
    aws_access_key_id=E["HM_S3_MLFLOW_ACCESS_KEY"], aws_secret_access_key=E["HM_S3_MLFLOW_SECRET_KEY"],
    config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
)
tag = uuid.uuid4().hex[:8]
key = f"test-services/{tag}.txt"
body = f"hello {tag}\n".encode()

def anon_put_production():
    r = requests.put(f"{S3}/production/{key}", data=b"evil", timeout=10)
    expect(r.status_code == 403, f"anonymous PUT got {r.status_code}, want 403")
    return "403"
check("s3: anonymous PUT to production is refused", anon_put_production)

def anon_put_mlflow():
    r = requests.put(f"{S3}/mlflow/{key}", data=b"evil", timeout=10)
    expect(r.status_code == 403, f"anonymous PUT got {r.status_code}, want 403")
    return "403"
check("s3: anonymous PUT to mlflow is refused", anon_put_mlflow)

def admin_put():
    admin.put_object(Bucket="production", Key=key, Body=body)
    got = admin.get_object(Bucket="production", Key=key)["Body"].read()
    expect(got == body, "admin read-back differs")
check("s3: admin PUT to production", admin_put)

def anon_get_production():
    r = requests.get(f"{S3}/production/{key}", timeout=10)
    expect(r.status_code == 200, f"anonymous GET got {r.status_code}")
    expect(r.content == body, "anonymous GET body differs")
    return "200"
check("s3: anonymous GET from production", anon_get_production)

def anon_get_mlflow():
    admin.put_object(Bucket="mlflow", Key=key, Body=body)
    r = requests.get(f"{S3}/mlflow/{key}", timeout=10)
    expect(r.status_code == 403, f"anonymous GET from mlflow got {r.status_code}, want 403")
    admin.delete_object(Bucket="mlflow", Key=key)
    return "403"
check("s3: anonymous GET from mlflow is refused", anon_get_mlflow)

def mlflow_identity_not_on_production():
    try:
        as_mlflow.put_object(Bucket="production", Key=key, Body=b"evil")
    except botocore.exceptions.ClientError as e:
        code = e.response["ResponseMetadata"]["HTTPStatusCode"]
        expect(code == 403, f"mlflow identity PUT to production got {code}, want 403")
        return "403"
    raise AssertionError("the mlflow identity wrote to production")
check("s3: MLflow's identity may not write production", mlflow_identity_not_on_production)

def unauthenticated():
    r = requests.get(f"{ML}/api/2.0/mlflow/experiments/search", params={"max_results": 1}, timeout=30)
    expect(r.status_code == 401, f"no credentials got {r.status_code}, want 401")
    r = requests.get(f"{ML}/api/2.0/mlflow/experiments/search", params={"max_results": 1},
                     auth=(AUTH[0], "not-the-password-1234"), timeout=30)
    expect(r.status_code == 401, f"a wrong password got {r.status_code}, want 401")
    return "401"
check("mlflow: requests without valid credentials are refused", unauthenticated)

def health():
    r = requests.get(f"{ML}/health", timeout=10)
    expect(r.status_code == 200, f"/health got {r.status_code}")
    return r.text.strip()
check("mlflow: /health", health)

def host_header():
    r = requests.get(f"http://localhost:{E['HM_MLFLOW_PORT']}/health", timeout=10)
    expect(r.status_code == 200, f"Host localhost got {r.status_code}")
    r = requests.get(f"{ML}/api/2.0/mlflow/experiments/search", params={"max_results": 1}, headers={"Host": "evil.example"}, auth=AUTH, timeout=10)
    expect(r.status_code >= 400, f"Host evil.example got {r.status_code}, want a refusal")
    return f"foreign Host -> {r.status_code}"
check("mlflow: allowed hosts (localhost ok, foreign Host refused)", host_header)

state = {}
def create_experiment():
    r = requests.post(f"{ML}/api/2.0/mlflow/experiments/create",
                      json={"name": f"test-services-{tag}"}, auth=AUTH, timeout=30)
    expect(r.status_code == 200, f"{r.status_code} {r.text[:300]}")
    state["exp"] = r.json()["experiment_id"]
    return f"experiment {state['exp']}"
check("mlflow: create experiment", create_experiment)

def create_run():
    r = requests.post(f"{ML}/api/2.0/mlflow/runs/create",
                      json={"experiment_id": state["exp"], "run_name": "smoke",
                            "start_time": int(time.time() * 1000),
                            "tags": [{"key": "hm.test", "value": tag}]}, auth=AUTH, timeout=30)
    expect(r.status_code == 200, f"{r.status_code} {r.text[:300]}")
    info = r.json()["run"]["info"]
    state["run"], state["artifact_uri"] = info["run_id"], info["artifact_uri"]
    return f"run {state['run']}, artifact_uri {state['artifact_uri']}"
check("mlflow: create run", create_run)

def run_in_db():
    conn = pymysql.connect(host="127.0.0.1", port=int(E["HM_MYSQL_PORT"]), user=E["HM_DB_USER"],
                           password=E["HM_DB_PASSWORD"], database=E["HM_DB_NAME"])
    try:
        with conn.cursor() as c:
            c.execute("SELECT run_uuid, experiment_id, status FROM runs WHERE run_uuid=%s", (state["run"],))
            row = c.fetchone()
    finally:
        conn.close()
    expect(row is not None, "run not found in MariaDB table runs")
    expect(str(row[1]) == str(state["exp"]), f"experiment id mismatch {row}")
    return f"row {row}"
check("mlflow: run persisted in MariaDB", run_in_db)

def artifact_upload():
    prefix = f"{state['exp']}/{state['run']}/artifacts"
    expect(state["artifact_uri"].startswith("mlflow-artifacts:/"), f"artifact_uri {state['artifact_uri']}")
    r = requests.put(f"{ML}/api/2.0/mlflow-artifacts/artifacts/{prefix}/hello.txt", data=body, auth=AUTH, timeout=30)
    expect(r.status_code == 200, f"upload {r.status_code} {r.text[:300]}")
    keys = [o["Key"] for o in admin.list_objects_v2(Bucket="mlflow", Prefix="artifacts/").get("Contents", [])]
    want = f"artifacts/{prefix}/hello.txt"
    expect(want in keys, f"{want} not in bucket mlflow: {keys[:10]}")
    got = admin.get_object(Bucket="mlflow", Key=want)["Body"].read()
    expect(got == body, "bucket object differs from upload")
    r = requests.get(f"{ML}/api/2.0/mlflow-artifacts/artifacts/{prefix}/hello.txt", auth=AUTH, timeout=30)
    expect(r.status_code == 200 and r.content == body, f"download through MLflow {r.status_code}")
    return f"s3://mlflow/{want}"
check("mlflow: proxied artifact upload lands in bucket mlflow", artifact_upload)

def finish_run():
    r = requests.post(f"{ML}/api/2.0/mlflow/runs/update",
                      json={"run_id": state["run"], "status": "FINISHED",
                            "end_time": int(time.time() * 1000)}, auth=AUTH, timeout=30)
    expect(r.status_code == 200, f"{r.status_code} {r.text[:300]}")
    expect(r.json()["run_info"]["status"] == "FINISHED", r.text[:300])
check("mlflow: run set FINISHED", finish_run)

admin.delete_object(Bucket="production", Key=key)
with open(os.environ["HM_TEST_COUNTS"], "w") as f:
    f.write(f"{passed} {failed}\n")
sys.exit(1 if failed else 0)
PY
py_rc=$?
set -e
if [[ -s "$COUNTS" ]]; then
  read -r p f <"$COUNTS"
  PASS=$((PASS + p)); FAIL=$((FAIL + f))
elif ((py_rc != 0)); then
  nok "python checks crashed (exit $py_rc)"
fi
rm -f "$COUNTS"

"$SERVICES" stop
trap - EXIT
echo "$PASS passed, $FAIL failed"
((FAIL == 0))
