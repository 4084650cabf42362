#!/usr/bin/env python3
"""Entry point of the MLflow image in docker-compose.yml.

    hm-mlflow health        exit 0 when the server answers GET /health (the compose health check)
    hm-mlflow COMMAND ...   run COMMAND (normally `mlflow server --app-name=basic-auth ...`) with
                            MLFLOW_BACKEND_STORE_URI built from MLFLOW_DB_HOST/PORT/NAME/USER/PASSWORD and
                            the basic-auth settings file written to MLFLOW_AUTH_CONFIG_PATH

Secrets still holding a "change-me" placeholder of .env.example are refused. The auth settings file holds
no secret: the admin password (MLFLOW_AUTH_ADMIN_PASSWORD) and the CSRF key (MLFLOW_FLASK_SERVER_SECRET_KEY)
stay in the environment, where MLflow reads them.

The database password may hold any character, so the URI is assembled here with URL quoting (as
scripts/services.sh does) rather than spliced into docker-compose.yml, and it reaches MLflow through the
environment variable its `server --backend-store-uri` option reads.
"""

import os
import sys
import urllib.parse
import urllib.request

HEALTH_URL = "http://127.0.0.1:5000/health"
AUTH_DIR = os.environ.get("HM_MLFLOW_AUTH_DIR", "/var/lib/mlflow-auth")
SECRETS = (
    "MLFLOW_DB_PASSWORD",
    "MLFLOW_AUTH_ADMIN_PASSWORD",
    "MLFLOW_FLASK_SERVER_SECRET_KEY",
    "AWS_SECRET_ACCESS_KEY",
)


def need(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        sys.exit(f"hm-mlflow: {name} is not set (see .env.example)")
    return value


def backend_store_uri() -> str:
    quote = lambda s: urllib.parse.quote(s, safe="")  # noqa: E731
    user, password = quote(need("MLFLOW_DB_USER")), quote(need("MLFLOW_DB_PASSWORD"))
    host, port = need("MLFLOW_DB_HOST"), os.environ.get("MLFLOW_DB_PORT") or "3306"
    return f"mysql+pymysql://{user}:{password}@{host}:{port}/{quote(need('MLFLOW_DB_NAME'))}"


def refuse_placeholders() -> None:
    bad = [name for name in SECRETS if os.environ.get(name, "").startswith("change-me")]
    if bad:
        sys.exit(f"hm-mlflow: {', '.join(bad)}: still the \"change-me\" placeholder of .env.example; "
                 "set a real value in .env")


def write_auth_config() -> str:
    """The basic-auth app's settings: users in SQLite on the mlflow-auth volume, nobody sees an experiment
    they were not given (the admin sees all), and a checked password is remembered for a minute (each check
    is a PBKDF2 hash)."""
    need("MLFLOW_AUTH_ADMIN_PASSWORD")
    need("MLFLOW_FLASK_SERVER_SECRET_KEY")
    os.makedirs(AUTH_DIR, mode=0o700, exist_ok=True)
    path = os.path.join(AUTH_DIR, "basic_auth.ini")
    text = (
        "[mlflow]\n"
        "default_permission = NO_PERMISSIONS\n"
        f"database_uri = sqlite:///{AUTH_DIR}/basic_auth.db\n"
        f"admin_username = {os.environ.get('MLFLOW_AUTH_ADMIN_USERNAME') or 'hm-mlflow-admin'}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "grant_default_workspace_access = false\n"
        "auth_cache_ttl_seconds = 60\n"
    )
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)
    return path


def health() -> int:
    try:
        with urllib.request.urlopen(HEALTH_URL, timeout=3) as r:
            return 0 if r.status == 200 else 1
    except OSError as e:
        print(f"hm-mlflow: {HEALTH_URL}: {e}", file=sys.stderr)
        return 1


def main(argv: list[str]) -> int:
    if argv == ["health"]:
        return health()
    if not argv:
        sys.exit("usage: hm-mlflow health | hm-mlflow COMMAND [ARGS...]")
    refuse_placeholders()
    os.environ["MLFLOW_BACKEND_STORE_URI"] = backend_store_uri()
    os.environ["MLFLOW_AUTH_CONFIG_PATH"] = write_auth_config()
    os.execvp(argv[0], argv)
    return 127  # not reached: execvp replaces this process or raises


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
