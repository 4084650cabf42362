#!/bin/sh
# Entry point of the Jenkins image in docker-compose.yml. It hands the secrets compose passes as environment
# variables to Configuration as Code as files in $SECRETS (read by casc.yaml as ${NAME}), then removes them
# from the environment before starting Jenkins: builds on the built-in node inherit the controller's
# environment, and a secret must reach a build only through withCredentials, where Jenkins masks it.
set -eu

: "${SECRETS:?SECRETS (the Configuration as Code secrets folder) is not set}"
umask 077
mkdir -p "$SECRETS"

keep() { # name required|optional
    eval "value=\${$1-}"
    if [ -z "$value" ] && [ "$2" = required ]; then
        echo "hm-jenkins: $1 is not set (see .env.example)" >&2
        exit 1
    fi
    printf '%s' "$value" >"$SECRETS/$1"
    unset "$1" value
}

keep JENKINS_ADMIN_PASSWORD required
keep S3_PUBLISHER_ACCESS_KEY required
keep S3_PUBLISHER_SECRET_KEY required
keep GIT_TOKEN optional

if [ ! -r /run/secrets/hm_signing_key ]; then
    echo "hm-jenkins: /run/secrets/hm_signing_key is not readable by uid $(id -u): see SIGNING_KEY_FILE in .env.example" >&2
    exit 1
fi

exec /usr/local/bin/jenkins.sh "$@"
