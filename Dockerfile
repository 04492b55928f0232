# One image, three services: `gateway`, `worker` and `rest-proxy` (the command picks which). They share every
# dependency, so one image builds once, caches once and is pulled once per node; the stack and
# the compose file run it with `command: ["gateway"]` or `command: ["worker"]`.
# The `sim` target is the Discord/Lavalink simulator for the token-less compose try-out
# (docker-compose.sim.yml); it is not part of the production image.
#
#   docker build -t swarmcord .                   # gateway + worker (the last stage)
#   docker build -t swarmcord-sim --target sim .  # discord-sim
#   docker build -t mybot --build-arg BOT_PACKAGE=minimal-bot --build-arg BOT_BIN=minimal-bot .
#                                                 # your bot as the worker (docs/GUIDE.md)
#
# Layers: cargo-chef turns the workspace's manifests into a recipe, and the dependencies are
# compiled from the recipe alone, so a change to the project's own code rebuilds only the
# project's crates. See docs/DEPLOYMENT.md.
#
# Binaries built elsewhere (targets `runtime-prebuilt` and `sim-prebuilt`, placed before the
# Rust stages so that the classic builder, which builds every stage up to its target, does not
# compile anything): a build context with `deploy/docker/healthcheck.sh` and, in
# `deploy/docker/prebuilt/`, the binaries for Debian $DEBIAN_RELEASE (`gateway`, `worker` and
# `rest-proxy`; `discord-sim` for `sim-prebuilt`). scripts/swarm-smoke.sh does this with
# SMOKE_BUILD=host (the binaries CI has just built, instead of compiling them a second time):
#   docker build -f Dockerfile --target runtime-prebuilt -t swarmcord CONTEXT

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# Shared runtime base: Debian slim with the CA certificates (twilight's TLS verifier panics
# without them, even for ws:// URLs), bash for the health probe, and an unprivileged user.
FROM debian:${DEBIAN_RELEASE}-slim AS base
# Plain COPY + chmod (no `COPY --chmod`): the file builds with the classic builder too.
COPY deploy/docker/healthcheck.sh /usr/local/bin/healthcheck
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && chmod 0755 /usr/local/bin/healthcheck \
    && groupadd --system --gid 10001 swarmcord \
    && useradd --system --uid 10001 --gid swarmcord --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin swarmcord
USER 10001:10001
WORKDIR /tmp

# The simulator's settings (the `sim` targets add the binary).
FROM base AS sim-base
ENV SIM_BIND=0.0.0.0:8090
EXPOSE 8090
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 CMD ["healthcheck", "8090", "/_sim/stats"]
ENTRYPOINT ["discord-sim"]

# The services' settings (the `runtime` targets add the binaries).
FROM base AS service
ENV HTTP_ADDR=0.0.0.0:8080 \
    LOG_FORMAT=json
EXPOSE 8080
# Liveness: /healthz answers while the process serves (readiness is /readyz, for humans and
# Prometheus; Swarm has no readiness gate).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["healthcheck"]
# No default service: run the image with `gateway` or `worker`.
CMD ["sh", "-c", "echo 'run this image with the command gateway or worker' >&2; exit 64"]

# Binaries from the build context's deploy/docker/prebuilt/ (see the top). In a normal build
# that folder holds only its README, and these two stages are an unused, cached copy of it.
FROM sim-base AS sim-prebuilt
COPY deploy/docker/prebuilt/ /usr/local/bin/

FROM service AS runtime-prebuilt
COPY deploy/docker/prebuilt/ /usr/local/bin/

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS chef
ARG CARGO_CHEF_VERSION=0.1.78
RUN cargo install cargo-chef --version "${CARGO_CHEF_VERSION}" --locked
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
# The worker binary: the default bot, or a bot of this workspace (e.g. examples/minimal:
# --build-arg BOT_PACKAGE=minimal-bot --build-arg BOT_BIN=minimal-bot), installed as `worker`.
ARG BOT_PACKAGE=swarmcord-worker
ARG BOT_BIN=worker
COPY --from=planner /src/recipe.json recipe.json
# The dependency layer: rebuilt only when Cargo.toml/Cargo.lock change.
RUN cargo chef cook --release --locked --recipe-path recipe.json \
        -p swarmcord-gateway -p "${BOT_PACKAGE}" -p swarmcord-rest-proxy -p swarmcord-sim
COPY . .
RUN cargo build --release --locked -p swarmcord-gateway -p "${BOT_PACKAGE}" -p swarmcord-rest-proxy \
        -p swarmcord-sim --bins \
    && mkdir -p /out \
    && cp target/release/gateway target/release/rest-proxy target/release/discord-sim /out/ \
    && cp "target/release/${BOT_BIN}" /out/worker

FROM sim-base AS sim
COPY --from=builder /out/discord-sim /usr/local/bin/discord-sim

FROM service AS runtime
COPY --from=builder /out/gateway /out/worker /out/rest-proxy /usr/local/bin/
