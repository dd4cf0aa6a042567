# sciio-mcp lab server: streamable HTTP on 0.0.0.0:8000 at /mcp, data under /data.
#
# Auth is required: the container refuses to start until bearer tokens (SCIIO_TOKENS or
# SCIIO_TOKEN_FILE, e.g. a mounted secret) or JWT (SCIIO_JWT_SECRET / SCIIO_JWT_SECRET_FILE /
# SCIIO_JWT_PUBLIC_KEY_FILE with SCIIO_JWT_AUDIENCE) are configured. See README "Lab server (HTTP)".
#
#   docker build -t sciio-mcp .
#   docker run -p 8000:8000 -v "$PWD/data:/data" -e SCIIO_TOKENS="$(cat tokens.txt)" sciio-mcp
#
# tests/server/test_docker.py lints this file with hadolint and replays its COPY and
# pip install steps in a fresh virtualenv, then starts ENTRYPOINT + CMD with ENV.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 --user-group --shell /usr/sbin/nologin sciio \
    && mkdir -p /data \
    && chown sciio:sciio /data

WORKDIR /opt/sciio-mcp
COPY pyproject.toml README.md ./
COPY io_core ./io_core
COPY schemas ./schemas
COPY server ./server
COPY sciio ./sciio
# the dask extra: the same image serves as the lab server and as its Dask scheduler and workers (README)
RUN pip install --no-cache-dir "./[dask]"

ENV SCIIO_ROOTS='["/data"]' \
    SCIIO_HTTP_HOST=0.0.0.0 \
    SCIIO_HTTP_PORT=8000

USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('SCIIO_HTTP_PORT', '8000'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["sciio-mcp"]
CMD ["--http"]
