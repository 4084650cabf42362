#!/bin/sh
# SeaweedFS in docker-compose.yml: the same single-process `weed mini` (master, volume, filer, S3) that
# scripts/services.sh starts, with the same buckets and identities, configured from the environment.
#
#   hm-seaweedfs serve    write the S3 identities file, then run weed mini (the container's command)
#   hm-seaweedfs health   exit 0 when S3 answers a signed HEAD for both buckets (the compose health check)
set -eu

# Fixed in the image; overridable only so the script can be exercised outside a container.
DATA_DIR="${SEAWEEDFS_DATA_DIR:-/data}"
IDENTITIES="${SEAWEEDFS_CONFIG_DIR:-/etc/seaweedfs}/s3.json"
S3_PORT="${SEAWEEDFS_S3_PORT:-8333}"

need() { # name: the variable must be set and non-empty
    eval "v=\${$1-}"
    [ -n "$v" ] || { echo "hm-seaweedfs: $1 is not set (see .env.example)" >&2; exit 1; }
}

write_identities() {
    for v in S3_ADMIN_ACCESS_KEY S3_ADMIN_SECRET_KEY S3_PUBLISHER_ACCESS_KEY S3_PUBLISHER_SECRET_KEY \
        S3_MLFLOW_ACCESS_KEY S3_MLFLOW_SECRET_KEY; do need "$v"; done
    for v in S3_ADMIN_SECRET_KEY S3_PUBLISHER_SECRET_KEY S3_MLFLOW_SECRET_KEY; do
        eval "value=\${$v}"
        case "$value" in change-me*)
            echo "hm-seaweedfs: $v is still the \"change-me\" placeholder of .env.example: set a real value in .env" >&2
            exit 1 ;;
        esac
    done
    # Same identities as services.sh: admin; a publisher that may only read, list and write the production
    # bucket (the one Jenkins gets); mlflow, that may only read, list and write the mlflow bucket (MLflow's
    # artifact proxy); anonymous may read the production bucket, as phones do. A file that loads no identity
    # would silently disable auth in older releases, so this one always has four.
    umask 077
    jq -n --arg admin_id "$S3_ADMIN_ACCESS_KEY" --arg admin_secret "$S3_ADMIN_SECRET_KEY" \
        --arg pub_id "$S3_PUBLISHER_ACCESS_KEY" --arg pub_secret "$S3_PUBLISHER_SECRET_KEY" \
        --arg mlflow_id "$S3_MLFLOW_ACCESS_KEY" --arg mlflow_secret "$S3_MLFLOW_SECRET_KEY" '{identities: [
          {name: "admin", credentials: [{accessKey: $admin_id, secretKey: $admin_secret}],
           actions: ["Admin", "Read", "Write", "List", "Tagging"]},
          {name: "publisher", credentials: [{accessKey: $pub_id, secretKey: $pub_secret}],
           actions: ["Read:production", "Write:production", "List:production"]},
          {name: "mlflow", credentials: [{accessKey: $mlflow_id, secretKey: $mlflow_secret}],
           actions: ["Read:mlflow", "Write:mlflow", "List:mlflow"]},
          {name: "anonymous", actions: ["Read:production"]}
        ]}' >"$IDENTITIES.tmp"
    mv "$IDENTITIES.tmp" "$IDENTITIES"
}

head_bucket() { # bucket: signed HEAD as admin; the credentials go to curl on stdin, not on its command line
    esc() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
    printf 'user = "%s:%s"\n' "$(esc "$S3_ADMIN_ACCESS_KEY")" "$(esc "$S3_ADMIN_SECRET_KEY")" |
        curl -sf -o /dev/null --max-time 3 -K - --aws-sigv4 "aws:amz:${S3_REGION:-us-east-1}:s3" \
            -I "http://127.0.0.1:$S3_PORT/$1"
}

case "${1:-serve}" in
serve)
    write_identities
    # Flags as in services.sh; -ip.bind is all interfaces of the container (only the S3 port is published,
    # the others stay on the compose network), and ports are weed's defaults, private to the container.
    exec weed mini -dir="$DATA_DIR" -ip=127.0.0.1 -ip.bind=0.0.0.0 \
        -admin.port.legacy=0 -s3.port="$S3_PORT" -s3.port.iceberg=0 -s3.port.lance=0 -s3.config="$IDENTITIES" \
        -bucket=mlflow,production -webdav=false -admin.ui=false -master.telemetry=false
    ;;
health)
    need S3_ADMIN_ACCESS_KEY
    need S3_ADMIN_SECRET_KEY
    head_bucket mlflow && head_bucket production
    ;;
*)
    echo "usage: hm-seaweedfs serve|health" >&2
    exit 2
    ;;
esac
