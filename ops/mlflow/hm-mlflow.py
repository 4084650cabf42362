#!/usr/bin/env python3
"""Entry point of the MLflow image in docker-compose.yml.

    hm-mlflow health        exit 0 when the server answers GET /health (the compose health check)
    hm-mlflow COMMAND ...   run COMMAND (normally `mlflow server ...`) with MLFLOW_BACKEND_STORE_URI built
                            from MLFLOW_DB_HOST/PORT/NAME/USER/PASSWORD

The database password may hold any character, so the URI is assembled here with URL quoting (as
scripts/services.sh does) rather than spliced into docker-compose.yml, and it reaches MLflow through the
environment variable its `server --backend-store-uri` option reads.
"""

import os
import sys
import urllib.parse
import urllib.request

HEALTH_URL = "http://127.0.0.1:5000/health"


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
    os.environ["MLFLOW_BACKEND_STORE_URI"] = backend_store_uri()
    os.execvp(argv[0], argv)
    return 127  # not reached: execvp replaces this process or raises


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
