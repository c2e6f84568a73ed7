# NEO container image: builder → runtime → development → production (the default target).
#
#   docker build -t neo:latest .                      # production, from python:3.11-slim
#   docker build --target development -t neo:dev .    # + test tools, for `pytest` in a container
#   docker build --build-arg BASE_IMAGE=localhost/neo-base:bookworm .   # a local Debian base
#
# Dependencies come only from lock files (`make lock`): requirements.lock (runtime closure, pinned
# to the tested versions), requirements-build.lock (build backend), requirements-dev.lock (the
# development stage's test tools). The installed tree is read-only at run time:
# everything NEO writes goes to /var/lib/neo (data volume) or /tmp (tmpfs), so the container runs
# with a read-only root filesystem as uid 1000. `make deploy-test` builds and runs this file.
ARG BASE_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS builder
# PIP_INDEX_URL / PIP_FIND_LINKS / PIP_NO_INDEX may point pip at a mirror or a local wheelhouse
# (`make deploy-test` mounts one at /wheels with buildah --volume); by default pip uses PyPI.
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG PIP_FIND_LINKS=""
ARG PIP_NO_INDEX=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DEFAULT_TIMEOUT=120
WORKDIR /build
COPY requirements.lock requirements-build.lock ./
# Third-party wheels first, compiled to bytecode (the root filesystem is read-only at run time):
# this layer, and the runtime's copy of it, are reused until the lock changes.
RUN python3 -m venv /opt/neo \
 && /opt/neo/bin/pip install --no-deps --only-binary=:all: -r requirements.lock \
 && /opt/neo/bin/python -m compileall -q /opt/neo/lib \
 && python3 -m venv /opt/build \
 && /opt/build/bin/pip install --no-deps --only-binary=:all: -r requirements-build.lock
COPY pyproject.toml README.md ./
COPY src ./src
# NEO's own wheel, built offline with the locked backend; installed in the runtime stage.
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --no-index -w /dist .

# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="NEO" \
      org.opencontainers.image.description="NEO autonomous hybrid-AI trading system" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/neo-trading/neo"
# uid/gid 1000 fixed: volumes, Kubernetes securityContext and the compose file all name it.
RUN groupadd --gid 1000 neo \
 && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /var/lib/neo \
        --shell /usr/sbin/nologin neo \
 && mkdir -p /var/lib/neo \
 && chown 1000:1000 /var/lib/neo
COPY --from=builder /opt/neo /opt/neo
# NEO itself, then proof that the lock covers every runtime requirement: `--no-index` cannot
# fetch a missing one, so a stale lock fails the build here instead of at import time.
COPY --from=builder /dist /dist
RUN /opt/neo/bin/pip install --no-cache-dir --no-deps --no-index /dist/*.whl \
 && /opt/neo/bin/pip install --no-cache-dir --no-index "neo-trading[service,live]" \
 && /opt/neo/bin/pip check \
 && rm -rf /dist
# Writable state lives under /var/lib/neo (a volume) and caches under /tmp (a tmpfs), so the root
# filesystem can be mounted read-only. Bytecode was compiled at build time.
ENV PATH=/opt/neo/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/neo \
    XDG_CACHE_HOME=/tmp/.cache \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    MPLCONFIGDIR=/tmp/matplotlib \
    NEO_DATA_DIR=/var/lib/neo \
    NEO_LOG_JSON=true
WORKDIR /var/lib/neo
VOLUME ["/var/lib/neo"]

# ---------------------------------------------------------------------------------------------
# Tests and tools on top of the runtime: mount the source at /src and run pytest as uid 1000.
FROM runtime AS development
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG PIP_FIND_LINKS=""
ARG PIP_NO_INDEX=""
COPY --from=builder /opt/build /opt/build
COPY requirements-dev.lock /tmp/requirements-dev.lock
RUN /opt/neo/bin/pip install --no-cache-dir --no-deps --only-binary=:all: \
        -r /tmp/requirements-dev.lock
ENV PYTHONDONTWRITEBYTECODE=0
USER 1000:1000
CMD ["pytest", "-q", "/src/tests/unit"]

# ---------------------------------------------------------------------------------------------
FROM runtime AS production
USER 1000:1000
EXPOSE 8700
# /healthz is liveness only (no dependency checks): a database outage must not restart the API.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os,sys,urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('NEO_SERVICE__PORT', '8700'), timeout=2); sys.exit(0)"]
ENTRYPOINT ["neo"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8700"]
