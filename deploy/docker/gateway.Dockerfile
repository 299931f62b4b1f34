# The gateway image: the `airlock` binary on a slim Debian, as a non-root user, nothing else.
# Build from the repository root:
#   docker build -f deploy/docker/gateway.Dockerfile -t airlock-gateway:0.1.0 .
# Production pins both base images by digest (BUILDER_IMAGE=rust:1.95-bookworm@sha256:...,
# RUNTIME_IMAGE=debian:bookworm-slim@sha256:...) and deploys the pushed image by digest.
ARG BUILDER_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${BUILDER_IMAGE} AS build
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      cmake libssl-dev zlib1g-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# --locked: exactly the dependency versions (and checksums) of Cargo.lock.
RUN cargo build --release --locked --bin airlock \
 && install -D -m 0755 target/release/airlock /out/airlock

FROM ${RUNTIME_IMAGE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ca-certificates libssl3 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 airlock \
 && useradd --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin airlock
COPY --from=build /out/airlock /usr/local/bin/airlock
USER 65532:65532
EXPOSE 8080 7071
ENTRYPOINT ["/usr/local/bin/airlock"]
CMD ["serve", "--config", "/etc/airlock/airlock.toml"]
