# syntax=docker/dockerfile:1
# LaunchPad's image: the wheel (with its templates, chart and schemas) in a virtualenv on Python's slim
# Debian image, plus git (the local forge and the infra pipeline shell out to it). Runs as uid 10001 and
# writes only to /var/lib/launchpad (LAUNCHPAD_DATA_DIR) and /tmp, so a read-only root filesystem works
# once both are volumes. Two targets, one per Procfile process (they differ only in CMD):
#   docker build -t launchpad .                          -> web:    launchpad serve --http
#   docker build --target worker -t launchpad-worker .   -> worker: launchpad worker --metrics-port 9102
# The Helm chart (deploy/helm/launchpad) runs the default image with either command. See docs/deploy.md.

# The base, pinned by digest: python:3.11.13-slim-bookworm (how it was looked up: docs/deploy.md).
FROM python:3.11.13-slim-bookworm@sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1 AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# --- build: the wheel, then a virtualenv with it and its dependencies (binary wheels only) ------------
FROM base AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY templates ./templates
COPY schemas ./schemas
COPY bot ./bot
COPY provisioners ./provisioners
RUN python -m pip wheel --no-deps --wheel-dir /dist . \
 && python -m venv --without-pip /opt/launchpad \
 && python -m pip --python /opt/launchpad/bin/python install --only-binary=:all: /dist/launchpad_chatops-*.whl \
 && /opt/launchpad/bin/launchpad --help > /dev/null

# --- runtime: no build tools, no sources; only the virtualenv, git and the health check ---------------
FROM base AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends git \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 launchpad \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/launchpad --shell /usr/sbin/nologin launchpad \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/launchpad
COPY --from=build /opt/launchpad /opt/launchpad
COPY deploy/docker/healthcheck.py /opt/launchpad/healthcheck.py
ENV PATH=/opt/launchpad/bin:$PATH \
    HOME=/var/lib/launchpad \
    TMPDIR=/tmp \
    LAUNCHPAD_DATA_DIR=/var/lib/launchpad \
    LAUNCHPAD_HTTP_PORT=3000
WORKDIR /var/lib/launchpad
VOLUME ["/var/lib/launchpad", "/tmp"]
USER 10001:10001
EXPOSE 3000 9102
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "/opt/launchpad/healthcheck.py"]
ENTRYPOINT ["launchpad"]

FROM runtime AS worker
CMD ["worker", "--metrics-port", "9102"]

# The last stage is the default target.
FROM runtime AS web
CMD ["serve", "--http"]
