#!/bin/sh
# Entry point of the Jenkins controller image in docker-compose.yml. It refuses the "change-me" placeholders
# of .env.example, hands the secrets compose passes as environment variables to Configuration as Code as
# files in $SECRETS (read by casc.yaml as ${NAME}), and removes them from the environment before starting
# Jenkins. Once casc.yaml is loaded, init.groovy.d/zz-remove-casc-secrets.groovy deletes the files. The
# controller has no executor (casc.yaml): builds run on the agents, which never see these values; a build
# gets a secret only inside withCredentials, on the signer agent, where Jenkins masks it.
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
    case "$value" in
    change-me*)
        echo "hm-jenkins: $1 is still the \"change-me\" placeholder of .env.example: set a real value in .env" >&2
        exit 1
        ;;
    esac
    printf '%s' "$value" >"$SECRETS/$1"
    unset "$1" value
}

keep JENKINS_ADMIN_PASSWORD required
keep S3_PUBLISHER_ACCESS_KEY required
keep S3_PUBLISHER_SECRET_KEY required
keep MLFLOW_ADMIN_PASSWORD required
keep GIT_TOKEN optional

for f in /run/secrets/hm_signing_key /run/secrets/hm_agent_ssh_key; do
    if [ ! -r "$f" ]; then
        echo "hm-jenkins: $f is not readable by uid $(id -u): see SIGNING_KEY_FILE and JENKINS_AGENT_SSH_KEY_FILE in .env.example" >&2
        exit 1
    fi
done

exec /usr/local/bin/jenkins.sh "$@"
