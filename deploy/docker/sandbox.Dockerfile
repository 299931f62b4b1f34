# The sandbox runtime image every session pod runs: the `airlock-agent` (listening on TCP for
# the gateway, started with --claimable by the backend), the Python runtime with the pinned
# baseline packages installed with --require-hashes from deploy/runtime/requirements.lock,
# Airlock's in-sandbox helpers, Node.js and bash for the other languages, fonts for plots.
# The pod runs it as uid 1000 with a read-only root file system; /workspace and /tmp are
# emptyDirs. Build from the repository root:
#   docker build -f deploy/docker/sandbox.Dockerfile -t airlock-sandbox:0.1.0 .
# Production pins the base images by digest, as for the gateway image.
ARG BUILDER_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${BUILDER_IMAGE} AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin airlock-agent \
 && install -D -m 0755 target/release/airlock-agent /out/airlock-agent

FROM ${RUNTIME_IMAGE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3 python3-venv nodejs bash fontconfig-config fonts-dejavu-core ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 1000 airlock \
 && useradd --uid 1000 --gid 1000 --home-dir /tmp/home --no-create-home --shell /bin/bash airlock
# The same layout as the local backend: a venv of /usr/bin/python3 at /opt/airlock/runtime.
COPY deploy/runtime/requirements.lock /opt/airlock/requirements.lock
RUN python3 -m venv /opt/airlock/runtime \
 && /opt/airlock/runtime/bin/pip install --no-cache-dir --disable-pip-version-check \
      --only-binary=:all: --require-hashes -r /opt/airlock/requirements.lock \
 && /opt/airlock/runtime/bin/pip uninstall -y -q setuptools \
 && /opt/airlock/runtime/bin/python -m compileall -q /opt/airlock/runtime
# Airlock's helpers and the import governance every runtime Python loads (sitecustomize).
COPY deploy/runtime/airlock/ /opt/airlock/helpers/airlock/
COPY deploy/runtime/sitecustomize.py /opt/airlock/helpers/sitecustomize.py
RUN purelib="$(/opt/airlock/runtime/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
 && install -D -m 0644 /opt/airlock/helpers/airlock/__init__.py "$purelib/airlock/__init__.py" \
 && install -D -m 0644 /opt/airlock/helpers/airlock/_imports.py "$purelib/airlock/_imports.py" \
 && install -D -m 0644 /opt/airlock/helpers/airlock/_kernel.py "$purelib/airlock/_kernel.py" \
 && install -D -m 0644 /opt/airlock/helpers/sitecustomize.py "$purelib/sitecustomize.py"
COPY --from=build /out/airlock-agent /usr/local/bin/airlock-agent
ENV PATH=/opt/airlock/runtime/bin:/usr/local/bin:/usr/bin:/bin \
    PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 MPLBACKEND=Agg LANG=C.UTF-8
USER 1000:1000
WORKDIR /workspace
EXPOSE 7070
ENTRYPOINT ["/usr/local/bin/airlock-agent"]
