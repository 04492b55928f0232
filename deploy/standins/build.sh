#!/usr/bin/env bash
# TEST STAND-INS ONLY. Builds, on a machine that reaches no image registry, local images under
# the exact names the deployment files use (debian:bookworm-slim, rust:1.95-slim-bookworm,
# rabbitmq:3.13-management, redis:7-alpine, mongo:7), so that the Dockerfile and stack.yml run
# unchanged in scripts/swarm-smoke.sh. They are made from Debian packages (RabbitMQ 3.10,
# Redis 7.0), FerretDB (MongoDB's wire protocol over SQLite, with authentication: the binary of
# scripts/services.sh) and the host's Rust toolchain:
# never deploy them. (Lavalink needs none: stack.sim.yml runs the project's simulator.)
#
#   deploy/standins/build.sh [NAME...]   build the missing ones (all by default); an image that
#                                        exists is kept (FORCE=1 rebuilds)
#
# Needs root, debootstrap, chroot and a Docker engine; the Debian archive and crates.io must be
# reachable from the host (not from the containers). Caches in ${SWARMCORD_TOOLS_DIR:-~/.cache/swarmcord}/docker.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${SWARMCORD_TOOLS_DIR:-$HOME/.cache/swarmcord}/docker"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
RUST_VERSION="${RUST_VERSION:-1.95}"
CARGO_CHEF_VERSION="${CARGO_CHEF_VERSION:-0.1.78}"
LABEL="org.swarmcord.test-standin=true"

log() { printf '[standins] %s\n' "$*" >&2; }
die() { printf '[standins] error: %s\n' "$*" >&2; exit 1; }
exists() { docker image inspect "$1" >/dev/null 2>&1; }

# A minimal Debian bookworm root filesystem (debootstrap, cached as a tarball).
minbase() {
    local tar="$CACHE/bookworm-minbase.tar"
    if [[ ! -f "$tar" ]]; then
        command -v debootstrap >/dev/null || die "debootstrap is needed (apt-get install debootstrap)"
        log "debootstrap bookworm (minbase), once"
        local dir
        dir="$(mktemp -d)"
        debootstrap --variant=minbase bookworm "$dir" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
            || die "debootstrap failed (see $CACHE/debootstrap.log)"
        tar -C "$dir" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
        rm -rf "$dir"
    fi
    printf '%s' "$tar"
}

# import_root NAME PACKAGES...: the minbase with PACKAGES installed (in a chroot, with the
# host's network), imported as image NAME.
import_root() {
    local name="$1" dir log
    shift
    log="$CACHE/${name//[\/:]/_}.apt.log"
    dir="$(mktemp -d)"
    tar -C "$dir" -xf "$(minbase)"
    cp /etc/resolv.conf "$dir/etc/resolv.conf"
    printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
    chmod 0755 "$dir/usr/sbin/policy-rc.d"
    if (($#)); then
        log "$name: apt-get install $*"
        chroot "$dir" apt-get update -qq >/dev/null
        chroot "$dir" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "$@" >"$log" 2>&1 \
            || die "apt-get install in the $name root failed (see $log)"
        chroot "$dir" apt-get clean
    fi
    rm -rf "$dir/var/lib/apt/lists/"* "$dir/usr/sbin/policy-rc.d"
    : >"$dir/etc/resolv.conf"
    tar -C "$dir" -c . | docker import --change "LABEL $LABEL" - "$name" >/dev/null
    rm -rf "$dir"
}

build() { # build NAME DIR [docker build args...]
    local name="$1" dir="$2"
    shift 2
    log "building $name"
    docker build -q --label "$LABEL" -t "$name" "$@" "$dir" >/dev/null
}

standin_debian() {
    import_root debian:bookworm-slim ca-certificates
}

# The host's toolchain, cargo-chef and every crate of Cargo.lock, offline inside the image.
standin_rust() {
    exists swarmcord-standin/rust-root:bookworm || import_root swarmcord-standin/rust-root:bookworm gcc libc6-dev ca-certificates
    local sysroot ctx chef="$CACHE/cargo-chef-$CARGO_CHEF_VERSION"
    sysroot="$(rustup run "$RUST_VERSION" rustc --print sysroot 2>/dev/null || rustc --print sysroot)"
    [[ "$("$sysroot/bin/rustc" --version)" == "rustc $RUST_VERSION"* ]] \
        || die "the host has no Rust $RUST_VERSION toolchain (rustup toolchain install $RUST_VERSION)"
    if [[ ! -x "$chef/bin/cargo-chef" ]]; then
        log "cargo install cargo-chef $CARGO_CHEF_VERSION (once)"
        rm -rf "$chef"
        CARGO_HOME="$chef" "$sysroot/bin/cargo" install --quiet --locked \
            cargo-chef --version "$CARGO_CHEF_VERSION" --root "$chef"
    fi
    ctx="$(mktemp -d)"
    mkdir -p "$ctx/toolchain" "$ctx/cargo"
    cp -a "$sysroot/bin" "$sysroot/lib" "$ctx/toolchain/"
    cp -a "$chef/." "$ctx/cargo/"
    log "cargo fetch (every crate of Cargo.lock, into the image's CARGO_HOME)"
    (cd "$ROOT" && CARGO_HOME="$ctx/cargo" "$sysroot/bin/cargo" fetch --locked --quiet)
    cp "$HERE/rust/Dockerfile" "$ctx/"
    build "rust:$RUST_VERSION-slim-bookworm" "$ctx"
    rm -rf "$ctx"
}

standin_rabbitmq() {
    exists swarmcord-standin/rabbitmq-root:bookworm || import_root swarmcord-standin/rabbitmq-root:bookworm rabbitmq-server
    build rabbitmq:3.13-management "$HERE/rabbitmq"
}

standin_redis() {
    import_root redis:7-alpine redis-server
}

standin_mongo() {
    local bin ctx
    # The test services' FerretDB (built once per machine, with its authentication patch).
    bin="$("$ROOT/scripts/services.sh" install-ferretdb)"
    ctx="$(mktemp -d)"
    cp -a "$HERE/mongo/." "$ctx/"
    cp "$bin" "$ctx/ferretdb"
    build mongo:7 "$ctx"
    rm -rf "$ctx"
}

declare -A IMAGE=(
    [debian]=debian:bookworm-slim
    [rust]="rust:$RUST_VERSION-slim-bookworm"
    [rabbitmq]=rabbitmq:3.13-management
    [redis]=redis:7-alpine
    [mongo]=mongo:7
)

main() {
    ((EUID == 0)) || die "run as root (debootstrap, chroot)"
    mkdir -p "$CACHE"
    local names=("$@")
    ((${#names[@]})) || names=(debian rust rabbitmq redis mongo)
    for name in "${names[@]}"; do
        [[ -n "${IMAGE[$name]:-}" ]] || die "unknown stand-in $name"
        if [[ -z "${FORCE:-}" ]] && exists "${IMAGE[$name]}"; then
            continue
        fi
        "standin_$name"
    done
}

main "$@"
