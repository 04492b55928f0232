#!/usr/bin/env bash
# The Swarm smoke test: the real Dockerfile and stack.yml (with stack.sim.yml: the simulator
# instead of Discord and Lavalink) on a single-node Docker Swarm on this machine.
#
#   scripts/swarm-smoke.sh            run it (as root); prints a summary, exit 0 when it passed
#
# What it does, in order:
#   1. a Docker engine: the running one, or Debian's docker.io started here (dockerd, with
#      container traffic kept on the machine); a swarm: the active one, or `swarm init` on
#      127.0.0.1;
#   2. the images the files name: pulled when a registry answers, otherwise TEST STAND-INS
#      built locally (deploy/standins/build.sh: Debian packages, FerretDB, the host's Rust);
#      then the project's image (`runtime`) and the simulator's (`sim`) from the Dockerfile;
#   3. throwaway secrets, the data label, `docker stack deploy` of stack.yml + stack.sim.yml
#      (+ deploy/smoke/stack.local.yml: DNS round robin, for engines without IPVS);
#   4. checks: every service converges and is healthy; `!ping` is answered through the stack;
#      the gateway replicas claim the shards (`GATEWAY_SHARDS=auto`): each shard owned exactly
#      once, by the registry in Redis and by the simulator's connections; the workers write and
#      read settings in MongoDB with the secret's credentials; secrets reach the services only
#      as files; workers scaled to 3 and back to 1 with no lost command; gateways scaled 2 to 3
#      and back to 2 with every shard owned exactly once after each step, never two
#      connections for a shard, 0 new identifies and no lost command; a rolling update of the
#      gateways with 0 new identifies and 0 lost events; a rolling update of the workers with 0
#      lost commands (pings are sent all along, every 2.5 s, and each must be answered);
#   5. teardown of only what it created, by id/name: the stack, its volumes, the secrets, the
#      node label, the swarm (if it created it), the engine, its bridges and its iptables rules
#      (if it started it); then a last check compares the machine with its state before the
#      run. Built images stay (they are the next run's cache).
#
# On success it writes the hash of the deployment inputs (Dockerfile, .dockerignore,
# docker-compose*.yml, stack*.yml, deploy/**, this script) to deploy/smoke.sha256; commit it
# with them. `.ci/run` runs the smoke test only when `scripts/swarm-smoke.sh --hash` differs
# from the committed stamp, i.e. when a deployment input changed since the last green run.
#
# Environment: SMOKE_STACK (stack name, default swarmcord-smoke), SMOKE_KEEP=1 (skip the
# teardown, to look around), SMOKE_BUILD (docker: the images compile the project, as a user's
# `docker build .` does; host: they take the binaries of this machine's `cargo build`, through
# the Dockerfile's *-prebuilt targets, which is what CI does since it has just built them).
# Logs: $SMOKE_STATE (default /tmp/swarmcord-smoke).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

STAMP=deploy/smoke.sha256

# The hash of the deployment inputs the smoke test proves (tracked files only, so that a clean
# clone computes the same value).
inputs_hash() {
    git ls-files -z -- Dockerfile .dockerignore 'docker-compose*.yml' 'stack*.yml' deploy \
        scripts/swarm-smoke.sh | grep -zv "^$STAMP\$" | sort -z | xargs -0 sha256sum \
        | sha256sum | cut -d' ' -f1
}

if [[ "${1:-}" == --hash ]]; then
    inputs_hash
    exit 0
fi

STACK="${SMOKE_STACK:-swarmcord-smoke}"
BUILD_MODE="${SMOKE_BUILD:-docker}"
[[ "$BUILD_MODE" == docker || "$BUILD_MODE" == host ]] \
    || { echo "SMOKE_BUILD must be docker or host, not '$BUILD_MODE'" >&2; exit 2; }
# Outside the repository: the repository is the image's build context, and a log written into it
# would change the context and defeat the build cache.
STATE="${SMOKE_STATE:-${TMPDIR:-/tmp}/swarmcord-smoke}"
IMAGE=swarmcord:smoke
SIM_IMAGE=swarmcord-sim:smoke
SHARDS=4
SECRETS=(discord_token gateway_amqp_url worker_amqp_url redis_url mongo_url
    rabbitmq_definitions redis_conf mongo_root_password lavalink_password)
T0=$SECONDS

log() { printf '[smoke %4ss] %s\n' "$((SECONDS - T0))" "$*" >&2; }
die() { printf '[smoke] error: %s\n' "$*" >&2; exit 1; }

SUMMARY=()
FAILED=0
pass() { SUMMARY+=("PASS  $*"); log "PASS $*"; }
fail() { SUMMARY+=("FAIL  $*"); log "FAIL $*"; FAILED=1; }
check() { # check STATUS MESSAGE (STATUS 0: passed; not `[[ … ]]; check $?`, which set -e ends)
    if [[ "$1" == 0 ]]; then pass "$2"; else fail "$2"; fi
}

# ---------------------------------------------------------------------------------------------
# what this run started, undone by `teardown` (by id or name, nothing else)

STARTED_DOCKERD=""
STARTED_SWARM=""
CREATED_GWBRIDGE=""
LABELLED_NODE=""
CREATED_SECRETS=()
DEPLOYED=""
PINGER=""

IPTABLES_BEFORE=""
TORN_DOWN=""

# Removes what this run created (idempotent; also the EXIT trap's job if the run stops early).
teardown() {
    [[ -n "$TORN_DOWN" ]] && return 0
    TORN_DOWN=1
    set +e
    [[ -n "$PINGER" ]] && kill "$PINGER" 2>/dev/null
    if [[ -n "$DEPLOYED" ]]; then
        log "teardown: docker stack rm $STACK"
        docker stack rm "$STACK" >/dev/null
        local _
        for _ in $(seq 1 90); do
            [[ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$STACK")" ]] \
                && [[ -z "$(docker network ls -q --filter "label=com.docker.stack.namespace=$STACK")" ]] \
                && break
            sleep 1
        done
        # A volume stays in use until its container is gone (RabbitMQ takes a while to stop).
        local volumes
        for _ in $(seq 1 60); do
            mapfile -t volumes < <(docker volume ls -q --filter "label=com.docker.stack.namespace=$STACK")
            ((${#volumes[@]} == 0)) && break
            docker volume rm "${volumes[@]}" >/dev/null 2>&1 && break
            sleep 1
        done
    fi
    ((${#CREATED_SECRETS[@]})) && docker secret rm "${CREATED_SECRETS[@]}" >/dev/null
    [[ -n "$LABELLED_NODE" && -z "$STARTED_SWARM" ]] \
        && docker node update --label-rm swarmcord.data "$LABELLED_NODE" >/dev/null
    if [[ -n "$STARTED_SWARM" ]]; then
        docker swarm leave --force >/dev/null
        [[ -n "$CREATED_GWBRIDGE" ]] && docker network rm docker_gwbridge >/dev/null
    fi
    if [[ -n "$STARTED_DOCKERD" ]]; then
        log "teardown: stopping the Docker engine this run started (pid $STARTED_DOCKERD)"
        kill "$STARTED_DOCKERD"
        for _ in $(seq 1 30); do kill -0 "$STARTED_DOCKERD" 2>/dev/null || break; sleep 1; done
        local bridge
        for bridge in docker0 docker_gwbridge; do
            ip link show "$bridge" >/dev/null 2>&1 && ip link delete "$bridge"
        done
        # The engine's chains and rules (and this run's DROP rule): the tables as they were.
        [[ -n "$IPTABLES_BEFORE" ]] && iptables-restore <"$IPTABLES_BEFORE"
    fi
    set -e
}

on_exit() {
    local status=$?
    if [[ -n "${SMOKE_KEEP:-}" ]]; then
        [[ -n "$PINGER" ]] && kill "$PINGER" 2>/dev/null
        log "SMOKE_KEEP set: leaving stack $STACK running"
    else
        teardown
    fi
    exit "$status"
}
trap on_exit EXIT

# What the teardown must give back: the engine (running or not) with its containers, networks,
# volumes, services, secrets and node labels, the network interfaces and the iptables rules.
machine_state() {
    ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -v '^veth' | sort
    if command -v iptables-save >/dev/null; then
        iptables-save 2>/dev/null | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'
    fi
    if docker info >/dev/null 2>&1; then
        echo "engine: running, swarm $(docker info --format '{{.Swarm.LocalNodeState}}')"
        docker ps -aq | sort
        docker network ls -q | sort
        docker volume ls -q | sort
        if [[ "$(docker info --format '{{.Swarm.LocalNodeState}}')" == active ]]; then
            docker service ls -q | sort
            docker secret ls -q | sort
            docker node inspect self --format '{{json .Spec.Labels}}'
        fi
    else
        echo "engine: not running"
    fi
}

check_teardown() {
    local start=$SECONDS status=0
    teardown
    machine_state >"$STATE/machine.after"
    if ! diff -u "$STATE/machine.before" "$STATE/machine.after" >"$STATE/machine.diff"; then
        status=1
        cat "$STATE/machine.diff" >&2
    fi
    check $status "teardown by id left the machine as it was ($((SECONDS - start))s; engine, containers, networks, volumes, services, secrets, labels, interfaces, iptables compared)"
}

# ---------------------------------------------------------------------------------------------
# 1. engine and swarm

engine() {
    if docker info >/dev/null 2>&1; then
        log "using the running Docker engine"
        return
    fi
    ((EUID == 0)) || die "no Docker engine answers, and starting one needs root"
    if ! command -v dockerd >/dev/null; then
        log "apt-get install docker.io"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            docker.io >/dev/null
    fi
    mkdir -p "$STATE"
    IPTABLES_BEFORE="$STATE/iptables.before"
    iptables-save >"$IPTABLES_BEFORE"
    log "starting dockerd (log: $STATE/dockerd.log)"
    # Local images first (no registry needed for Swarm tasks); containers resolve no outside
    # names.
    DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 dockerd --storage-driver=overlay2 --dns 127.0.0.1 \
        >"$STATE/dockerd.log" 2>&1 &
    STARTED_DOCKERD=$!
    local _
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || die "dockerd did not start (see $STATE/dockerd.log)"
    # Keep container traffic on this machine.
    local uplink
    uplink="$(ip route show default | awk '{print $5; exit}')"
    if [[ -n "$uplink" ]]; then
        iptables -I DOCKER-USER -o "$uplink" -j DROP || die "could not add the iptables rule"
    fi
}

swarm() {
    if [[ "$(docker info --format '{{.Swarm.LocalNodeState}}')" == active ]]; then
        log "using the active swarm"
    else
        # `swarm init` makes the docker_gwbridge network, which `swarm leave` keeps.
        docker network inspect docker_gwbridge >/dev/null 2>&1 || CREATED_GWBRIDGE=1
        docker swarm init --advertise-addr 127.0.0.1 >/dev/null
        STARTED_SWARM=1
    fi
    LABELLED_NODE="$(docker info --format '{{.Swarm.NodeID}}')"
    docker node update --label-add swarmcord.data=true "$LABELLED_NODE" >/dev/null
}

# ---------------------------------------------------------------------------------------------
# 2. images

# NAME: present, pulled, or built as a test stand-in.
image() {
    local name="$1" standin="$2"
    docker image inspect "$name" >/dev/null 2>&1 && return
    if timeout 60 docker pull -q "$name" >/dev/null 2>&1; then
        log "pulled $name"
        return
    fi
    log "no registry answers for $name: building the TEST STAND-IN"
    if ! command -v debootstrap >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            debootstrap >/dev/null
    fi
    deploy/standins/build.sh "$standin"
}

# build TARGET TAG [CONTEXT]: the Dockerfile's TARGET (classic builder) from CONTEXT (default:
# the repository).
build() {
    DOCKER_BUILDKIT=0 docker build -f Dockerfile --target "$1" -t "$2" "${3:-.}" \
        >>"$STATE/build.log" 2>&1 \
        || { tail -n 30 "$STATE/build.log" >&2; die "the Dockerfile's target $1 does not build"; }
}

# prebuilt_context DIR BINARY...: a build context for the `*-prebuilt` targets: the health probe
# and the host's BINARY... (built by `host_binaries`).
prebuilt_context() {
    local dir="$1" binary
    shift
    rm -rf "$dir"
    mkdir -p "$dir/deploy/docker/prebuilt"
    cp deploy/docker/healthcheck.sh "$dir/deploy/docker/"
    for binary in "$@"; do
        cp "$HOST_BIN/$binary" "$dir/deploy/docker/prebuilt/"
    done
}

# SMOKE_BUILD=host: the binaries of this machine's cargo build (the dev profile; a no-op when
# CI has just built them for the tests) instead of compiling them again inside the image.
host_binaries() {
    log "cargo build (host, dev profile) of gateway, worker, rest-proxy, discord-sim"
    cargo build --locked --quiet -p swarmcord-gateway -p swarmcord-worker \
        -p swarmcord-rest-proxy -p swarmcord-sim --bins >>"$STATE/build.log" 2>&1 \
        || { tail -n 30 "$STATE/build.log" >&2; die "cargo build failed"; }
    HOST_BIN="$(cargo metadata --format-version 1 --no-deps \
        | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug"
    prebuilt_context "$STATE/context-runtime" gateway worker rest-proxy
    prebuilt_context "$STATE/context-sim" discord-sim
}

images() {
    local start=$SECONDS
    image debian:bookworm-slim debian
    [[ "$BUILD_MODE" == host ]] || image rust:1.95-slim-bookworm rust
    image rabbitmq:3.13-management rabbitmq
    image redis:7-alpine redis
    image mongo:7 mongo
    # Lavalink: stack.sim.yml runs the simulator's Lavalink nodes instead.
    STANDINS_SECONDS=$((SECONDS - start))
    start=$SECONDS
    : >"$STATE/build.log"
    if [[ "$BUILD_MODE" == host ]]; then
        host_binaries
        log "docker build --target runtime-prebuilt / sim-prebuilt (log: $STATE/build.log)"
        build runtime-prebuilt "$IMAGE" "$STATE/context-runtime"
        build sim-prebuilt "$SIM_IMAGE" "$STATE/context-sim"
        rm -rf "$STATE/context-runtime" "$STATE/context-sim"
    else
        log "docker build --target runtime / sim (log: $STATE/build.log)"
        build runtime "$IMAGE"
        build sim "$SIM_IMAGE"
    fi
    BUILD_SECONDS=$((SECONDS - start))
}

# ---------------------------------------------------------------------------------------------
# 3. secrets and deploy

random() { head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

secret() { # secret NAME VALUE
    local id
    id="$(printf '%s' "$2" | docker secret create "swarmcord_$1" -)"
    CREATED_SECRETS+=("$id")
}

secrets() {
    local name
    for name in "${SECRETS[@]}"; do
        docker secret inspect "swarmcord_$name" >/dev/null 2>&1 \
            && die "secret swarmcord_$name exists already: not this run's, refusing to touch it"
    done
    ADMIN_PW="$(random)" GATEWAY_PW="$(random)" WORKER_PW="$(random)" REDIS_PW="$(random)"
    MONGO_PW="$(random)" LAVALINK_PW="$(random)"
    # The token the simulator accepts (crates/sim's default).
    secret discord_token "sim-bot-token"
    secret gateway_amqp_url "amqp://swarmcord-gateway:$GATEWAY_PW@rabbitmq:5672/%2f"
    secret worker_amqp_url "amqp://swarmcord-worker:$WORKER_PW@rabbitmq:5672/%2f"
    secret redis_url "redis://:$REDIS_PW@redis:6379/"
    secret mongo_url "mongodb://swarmcord:$MONGO_PW@mongodb:27017/?authSource=admin"
    secret rabbitmq_definitions "$(sed -e "s/\"password\": \"swarmcord\"/\"password\": \"$ADMIN_PW\"/" \
        -e "s/\"password\": \"swarmcord-gateway\"/\"password\": \"$GATEWAY_PW\"/" \
        -e "s/\"password\": \"swarmcord-worker\"/\"password\": \"$WORKER_PW\"/" \
        deploy/rabbitmq/definitions.json)"
    secret redis_conf "requirepass $REDIS_PW"
    secret mongo_root_password "$MONGO_PW"
    secret lavalink_password "$LAVALINK_PW"
    SECRET_VALUES=("$GATEWAY_PW" "$WORKER_PW" "$REDIS_PW" "$MONGO_PW" "$LAVALINK_PW")
}

deploy() {
    log "docker stack deploy $STACK"
    DEPLOYED=1
    SWARMCORD_IMAGE="$IMAGE" SWARMCORD_SIM_IMAGE="$SIM_IMAGE" SHARD_COUNT="$SHARDS" \
        docker stack deploy --resolve-image never -c stack.yml -c stack.sim.yml \
        -c deploy/smoke/stack.local.yml "$STACK" >/dev/null
}

# ---------------------------------------------------------------------------------------------
# helpers for the checks

# The running containers of service NAME (without the stack prefix).
containers() {
    docker ps -q --filter "label=com.docker.swarm.service.name=${STACK}_$1" \
        --filter status=running
}

# sim_http METHOD PATH [BODY]: the simulator's control API, from inside its container (the
# stack's network is not reachable from the host); prints the answer's body.
sim_http() {
    local sim
    sim="$(containers sim | head -n1)"
    [[ -n "$sim" ]] || return 1
    docker exec -i "$sim" bash -c '
        exec 3<>/dev/tcp/127.0.0.1/8090
        body="$(cat)"
        printf "%s %s HTTP/1.0\r\nHost: sim\r\nContent-Type: application/json\r\nContent-Length: %s\r\n\r\n%s" \
            "$1" "$2" "${#body}" "$body" >&3
        sed "1,/^\r\{0,1\}$/d" <&3' _ "$1" "$2" <<<"${3:-}"
}

# The answer to one `!ping` (empty when the bot did not answer within 60 s: a resume after a
# gateway restart replays what the shard missed, which may take a while).
ping_once() { say '!ping' 60000; }

# say CONTENT [TIMEOUT_MS]: the bot's answer to a message posted in the simulator (empty when
# none came within TIMEOUT_MS, default 30 s).
say() {
    sim_http POST '/_sim/say?format=text' "{\"content\":\"$1\",\"timeout_ms\":${2:-30000}}" \
        2>/dev/null | tr -d '\r' || true
}

# A JSON number of the simulator's /_sim/stats.
sim_stat() {
    sim_http GET /_sim/stats | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" | head -n1
}

# Pings every 2.5 s until $STATE/pinger.stop exists; one line per ping in $STATE/pings. (`!ping`
# allows 5 uses per 10 s in a channel; beyond that the bot says "Slow down" once, then stays
# silent until the wait is over, which would look like a lost command.)
start_pinger() {
    rm -f "$STATE/pinger.stop"
    : >"$STATE/pings"
    (
        while [[ ! -f "$STATE/pinger.stop" ]]; do
            answer="$(ping_once)"
            if [[ "$answer" == Pong* ]]; then
                echo ok >>"$STATE/pings"
            else
                echo "lost $(date -u +%T) ${answer:0:80}" | tr '\n' ' ' >>"$STATE/pings"
                echo >>"$STATE/pings"
            fi
            sleep 2.5
        done
    ) &
    PINGER=$!
}

# stop_pinger NAME: stops the pinger after its current ping, keeps its lines in
# $STATE/pings.NAME and sets SENT and LOST.
stop_pinger() {
    touch "$STATE/pinger.stop"
    wait "$PINGER" 2>/dev/null || true
    PINGER=""
    mv "$STATE/pings" "$STATE/pings.$1"
    SENT="$(wc -l <"$STATE/pings.$1")"
    LOST="$(grep -c '^lost' "$STATE/pings.$1" || true)"
}

# Waits until every service has all its replicas running and every container is healthy.
converged() {
    local limit="$1" _ line bad
    for _ in $(seq 1 "$limit"); do
        bad=""
        while read -r line; do
            local current="${line%/*}" desired="${line#*/}"
            [[ "$current" == "$desired" ]] || bad=1
        done < <(docker stack services "$STACK" --format '{{.Replicas}}' | awk '{print $1}')
        local c
        for c in $(docker ps -q --filter "label=com.docker.stack.namespace=$STACK"); do
            [[ "$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}healthy{{end}}' "$c")" == healthy ]] \
                || bad=1
        done
        [[ -z "$bad" ]] && return 0
        sleep 1
    done
    docker stack services "$STACK" >&2
    return 1
}

# ---------------------------------------------------------------------------------------------
# 4. checks

check_converged() {
    local start=$SECONDS status=0
    converged 300 || status=1
    CONVERGE_SECONDS=$((SECONDS - start))
    check $status "every service converged and is healthy (${CONVERGE_SECONDS}s; $(docker stack services "$STACK" -q | wc -l) services)"
}

check_ping() {
    local answer start=$SECONDS _
    # The bot may still be registering with the gateways: retry for up to a minute.
    for _ in $(seq 1 12); do
        answer="$(ping_once)"
        [[ "$answer" == Pong* ]] && break
        sleep 5
    done
    local ok=0
    [[ "$answer" == Pong* ]] || ok=1
    check $ok "!ping answered through the stack ($((SECONDS - start))s): ${answer:0:60}"
}

# The shards each live gateway replica holds, one line per replica ("0,2"), from the registry
# in Redis (the entries whose heartbeat has not expired, by the Redis server's clock).
registry_shares() {
    local redis
    redis="$(containers redis | head -n1)"
    [[ -n "$redis" ]] || return 0
    docker exec "$redis" redis-cli --no-auth-warning -a "$REDIS_PW" --raw EVAL "
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local out = {}
        for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf')) do
            local info = redis.call('HGET', KEYS[1], id)
            if info then table.insert(out, info) end
        end
        return out" 2 swarmcord:gateways swarmcord:gateways:heartbeats 2>/dev/null \
        | sed -n 's/.*"shards":\[\([0-9,]*\)\].*/\1/p' || true
}

# Connected sessions in the simulator, one shard id per connection.
sim_connected() {
    sim_http GET /_sim/sessions | grep -o '"shard":\[[0-9]*,[0-9]*\],[^}]*"connected":true' \
        | sed 's/"shard":\[\([0-9]*\),.*/\1/' | sort -n || true
}

# owned_once REPLICAS: every shard is held by exactly one of exactly REPLICAS live gateway
# replicas, each holding a fair share (floor or ceil of shards/replicas), and connected exactly
# once in the simulator. Sets SHARES (e.g. "0,1 2,3") and CONNECTED.
owned_once() {
    local replicas="$1" share held want low=$((SHARDS / $1)) high=$(((SHARDS + $1 - 1) / $1))
    local -a shares
    mapfile -t shares < <(registry_shares)
    SHARES="${shares[*]}"
    CONNECTED="$(sim_connected | paste -sd' ')"
    ((${#shares[@]} == replicas)) || return 1
    for share in "${shares[@]}"; do
        held="$(tr ',' '\n' <<<"$share" | grep -c . || true)"
        ((held >= low && held <= high)) || return 1
    done
    want="$(seq 0 $((SHARDS - 1)) | paste -sd' ')"
    [[ "$(tr ', ' '\n' <<<"$SHARES" | grep . | sort -n | paste -sd' ')" == "$want" ]] || return 1
    [[ "$CONNECTED" == "$want" ]]
}

# wait_owned_once REPLICAS SECONDS: owned_once within SECONDS; sets SETTLE_SECONDS.
wait_owned_once() {
    local start=$SECONDS _
    for _ in $(seq 1 "$2"); do
        if owned_once "$1"; then
            SETTLE_SECONDS=$((SECONDS - start))
            return 0
        fi
        sleep 1
    done
    SETTLE_SECONDS=$((SECONDS - start))
    return 1
}

# The largest number of connections any shard's sessions had at once in the simulator, over the
# whole run (1 while shards move between gateways without overlap).
max_connections_per_shard() {
    sim_http GET /_sim/stats | sed -n 's/.*"max_connections_per_shard":{\([^}]*\)}.*/\1/p' \
        | tr ',' '\n' | sed 's/.*://' | sort -n | tail -n1
}

check_shards() {
    local status=0
    wait_owned_once 2 60 || status=1
    check $status "the gateway replicas claimed the shards: each owned exactly once (registry shares: ${SHARES:-none}; connected in the simulator: ${CONNECTED:-none}; ${SETTLE_SECONDS}s)"
}

# A write and a read of the guild's settings: the workers' MongoDB connection authenticates with
# the credentials of the mongo_url secret (the server refuses anything else).
check_store() {
    local start=$SECONDS disabled enabled status=0
    disabled="$(say '!settings disable \"User info\"')"
    enabled="$(say '!settings enable \"User info\"')"
    [[ "$disabled" == Saved* && "$disabled" == *"Disabled commands: \`user info\`"* ]] || status=1
    [[ "$enabled" == Saved* && "$enabled" == *'Disabled commands: none'* ]] || status=1
    ((status == 0)) || printf 'answers: %s / %s\n' "$disabled" "$enabled" >&2
    check $status "settings written and read back in MongoDB with the secret's credentials ($((SECONDS - start))s)"
}

check_secrets() {
    local status=0 service value inspected logs
    for service in gateway worker rest; do
        inspected="$(docker service inspect "${STACK}_$service")"
        # Credentials only as *_FILE variables.
        grep -Eq '"(DISCORD_TOKEN|AMQP_URL|REDIS_URL|MONGO_URL|LAVALINK_PASSWORD)=' <<<"$inspected" \
            && status=1
        logs="$(docker service logs --raw "${STACK}_$service" 2>&1 | tail -n 2000)"
        for value in "${SECRET_VALUES[@]}"; do
            grep -qF "$value" <<<"$inspected$logs" && status=1
        done
    done
    # And the processes' environments hold no secret value either.
    local c
    for c in $(containers gateway) $(containers worker); do
        for value in "${SECRET_VALUES[@]}"; do
            docker exec "$c" cat /proc/1/environ | tr '\0' '\n' | grep -qF "$value" && status=1
        done
    done
    check $status "secrets only as files (no credential variable in service specs, no secret value in specs, logs or process environments)"
}

check_scaling() {
    local start=$SECONDS
    start_pinger
    sleep 3
    docker service scale "${STACK}_worker=3" >/dev/null 2>&1
    sleep 5
    docker service scale "${STACK}_worker=1" >/dev/null 2>&1
    sleep 5
    stop_pinger scaling
    SCALE_SECONDS=$((SECONDS - start))
    local ok=0
    [[ "$LOST" == 0 && "$SENT" -gt 0 ]] || ok=1
    check $ok "worker scaled 3 then 1: $SENT commands, $LOST lost (${SCALE_SECONDS}s)"
}

# `docker service scale` of the gateways 2 -> 3 -> 2 while pinging: the shares move by handoff
# (resumes), every shard owned exactly once after each step, no new identify, no lost command.
check_gateway_scaling() {
    local before after up=ok down=ok up_shares start=$SECONDS
    before="$(sim_stat identifies)"
    start_pinger
    docker service scale "${STACK}_gateway=3" >/dev/null 2>&1
    wait_owned_once 3 90 || up=FAILED
    up="$up in $((SECONDS - start))s"
    up_shares="${SHARES:-none}"
    local mid=$SECONDS
    docker service scale "${STACK}_gateway=2" >/dev/null 2>&1
    wait_owned_once 2 90 || down=FAILED
    down="$down in $((SECONDS - mid))s"
    sleep 3
    stop_pinger gateway-scaling
    after="$(sim_stat identifies)"
    local most
    most="$(max_connections_per_shard)"
    local ok=0
    [[ "$up" == ok* && "$down" == ok* && -n "$before" && "$after" == "$before" && "$most" == 1 \
        && "$LOST" == 0 && "$SENT" -gt 0 ]] || ok=1
    check $ok "gateways scaled 2 to 3 (shares $up_shares: $up) and back to 2 (shares ${SHARES:-none}: $down), each shard owned exactly once; at most ${most:-?} connection per shard at once, $((after - before)) new identifies, $SENT commands, $LOST lost ($((SECONDS - start))s)"
}

check_gateway_update() {
    local before after start=$SECONDS
    before="$(sim_stat identifies)"
    start_pinger
    docker service update --force "${STACK}_gateway" >/dev/null 2>&1
    converged 120 || true
    local owned="each shard owned exactly once after it"
    wait_owned_once 2 60 || owned="NOT each shard owned exactly once after it"
    sleep 3
    stop_pinger gateway-update
    after="$(sim_stat identifies)"
    GATEWAY_UPDATE_SECONDS=$((SECONDS - start))
    local resumes most
    resumes="$(sim_stat resumes)"
    most="$(max_connections_per_shard)"
    local ok=0
    [[ -n "$before" && "$after" == "$before" && "$owned" == each* && "$most" == 1 && "$LOST" == 0 \
        && "$SENT" -gt 0 ]] || ok=1
    check $ok "gateway rolling update: $((after - before)) new identifies, $LOST of $SENT events lost, $resumes resumes in total, $owned (shares ${SHARES:-none}), at most ${most:-?} connection per shard at once (${GATEWAY_UPDATE_SECONDS}s)"
}

check_worker_update() {
    local start=$SECONDS
    docker service scale "${STACK}_worker=2" >/dev/null 2>&1
    start_pinger
    docker service update --force "${STACK}_worker" >/dev/null 2>&1
    converged 120 || true
    sleep 3
    stop_pinger worker-update
    WORKER_UPDATE_SECONDS=$((SECONDS - start))
    local ok=0
    [[ "$LOST" == 0 && "$SENT" -gt 0 ]] || ok=1
    check $ok "worker rolling update: $SENT commands, $LOST lost (${WORKER_UPDATE_SECONDS}s)"
}

summary() {
    printf '\n== swarm smoke summary (%s) ==\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf 'images: stand-ins/pulls %ss, project build %ss (SMOKE_BUILD=%s)\n' "$STANDINS_SECONDS" \
        "$BUILD_SECONDS" "$BUILD_MODE"
    printf '%s\n' "${SUMMARY[@]}"
    printf 'total %ss: %s\n' "$((SECONDS - T0))" "$([[ $FAILED == 0 ]] && echo passed || echo FAILED)"
    local passed failed
    passed="$(printf '%s\n' "${SUMMARY[@]}" | grep -c '^PASS' || true)"
    failed="$(printf '%s\n' "${SUMMARY[@]}" | grep -c '^FAIL' || true)"
    printf 'smoke: %s passed, %s failed\n\n' "$passed" "$failed"
}

main() {
    mkdir -p "$STATE"
    machine_state >"$STATE/machine.before"
    engine
    images
    swarm
    secrets
    deploy
    check_converged
    if [[ $FAILED == 0 ]]; then
        check_ping
        check_shards
        check_store
        check_secrets
        check_scaling
        check_gateway_scaling
        check_gateway_update
        check_worker_update
    else
        docker stack ps "$STACK" --no-trunc >&2 || true
    fi
    if [[ -z "${SMOKE_KEEP:-}" ]]; then
        check_teardown
    fi
    summary | tee "$STATE/summary.txt"
    if [[ $FAILED == 0 && -z "${SMOKE_KEEP:-}" ]]; then
        inputs_hash >"$STAMP"
        log "wrote $STAMP (commit it with the deployment files)"
    fi
    return "$FAILED"
}

main
