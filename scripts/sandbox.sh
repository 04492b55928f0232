#!/usr/bin/env bash
# The bot, locally, with no token and no internet: the Discord simulator (`discord-sim`) stands in
# for Discord and for one Lavalink node; one gateway and one worker run against it and the test
# services on 127.0.0.1. The guild owner (who speaks for you) sits in the guild's voice channel,
# so the music commands work at once: try !play lofi, pick a number, !queue, !skip, !leave.
#
#   scripts/sandbox.sh                  start everything, say "!ping" as a simulated user ("!help"
#                                       with --bot: a bot of yours may have no ping) and print
#                                       the bot's reply; then, on a terminal, a console:
#                                       type messages for the bot (its messages are printed as
#                                       they arrive, embeds and buttons included) or console
#                                       commands (/help lists them: /slash, /menu, /commands,
#                                       /click, /choose, /submit, /guild, /quit); with commands piped in, run each and
#                                       wait for its reply; otherwise keep running until
#                                       Ctrl-C / SIGTERM
#   scripts/sandbox.sh --say '!ping' [--say '!help' ...]
#                                       send these messages (or console commands, e.g.
#                                       --say '/click 1'), print each reply, stop; exit 0 if
#                                       every one got a reply, 1 otherwise (CI uses this)
#   scripts/sandbox.sh --bot minimal-bot  run this worker binary instead of the default bot:
#                                       a binary of the workspace (built), or a path to your
#                                       own bot's executable (anything built with swarmcord)
#
# Typed @name, @role and #channel become mentions before sending, as Discord's client does
# (/guild lists the names and ids).
#
# Everything it starts (simulator, gateway, worker) is stopped on exit; the test services
# (scripts/services.sh) are left running. Logs: .sandbox/logs/. The services' URLs can be moved
# with SWARMCORD_{AMQP,REDIS,MONGO}_PORT as for scripts/services.sh; SANDBOX_NAME (default
# "sandbox") names the RabbitMQ exchange and queue, the Redis key prefix and the database, so two
# sandboxes on one set of services need two names. Other variables of the environment reach the
# gateway and the worker: GATEWAY_INTENTS=GUILDS,GUILD_MESSAGES,MESSAGE_CONTENT,GUILD_MESSAGE_REACTIONS
# for a bot with reaction handlers, say.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
NAME="${SANDBOX_NAME:-sandbox}"
STATE="$ROOT/.sandbox"
LOGS="$STATE/logs"
AMQP_URL="amqp://guest:guest@127.0.0.1:${SWARMCORD_AMQP_PORT:-5672}/%2f"
REDIS_PORT="${SWARMCORD_REDIS_PORT:-6379}"
REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"
MONGO_URL="mongodb://127.0.0.1:${SWARMCORD_MONGO_PORT:-27017}/"
TOKEN="sim-bot-token"
WAIT_SECONDS="${SANDBOX_WAIT:-60}"

log() { printf '[sandbox] %s\n' "$*" >&2; }
die() { printf '[sandbox] error: %s\n' "$*" >&2; exit 1; }

says=()
BOT="worker"
while (($#)); do
    case "$1" in
        --bot) (($# >= 2)) || die "--bot needs a binary name or path"; BOT="$2"; shift 2 ;;
        --bot=*) BOT="${1#--bot=}"; shift ;;
        --say) (($# >= 2)) || die "--say needs a message"; says+=("$2"); shift 2 ;;
        --say=*) says+=("${1#--say=}"); shift ;;
        -h | --help) sed -n '2,33p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
# The first message, that shows the bot answers: every bot has `help`, only the default one `ping`.
GREETING='!ping'
[[ "$BOT" == worker ]] || GREETING='!help'

# ---------------------------------------------------------------------------------------------
# processes we start, stopped on exit (by pid, in reverse order: gateway first, so nothing new is
# published while the worker drains)

pids=()
stop_all() {
    local status=$?
    trap - EXIT INT TERM
    local i pid
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        pid="${pids[i]}"
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if ((${#pids[@]})); then log "stopped (logs in ${LOGS#"$ROOT"/})"; fi
    exit "$status"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# helpers

# The address a service logged for its health server ("serving /healthz ... addr=127.0.0.1:N").
http_addr_of() {
    [[ -f "$1" ]] || return 0 # not opened yet by the process just started
    sed -e 's/\x1b\[[0-9;]*m//g' "$1" |
        sed -n 's/.*serving \/healthz.*addr=\([0-9.]*:[0-9]*\).*/\1/p' | head -n 1
}

# Waits until GET http://$addr/readyz answers 200 (the pid must stay alive meanwhile).
wait_ready() {
    local name="$1" pid="$2" logfile="$3" deadline=$((SECONDS + WAIT_SECONDS)) addr=""
    while :; do
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$logfile" >&2; die "$name exited; see $logfile"; }
        [[ -n "$addr" ]] || addr="$(http_addr_of "$logfile")"
        if [[ -n "$addr" ]] && [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/readyz")" == 200 ]]; then
            log "$name ready (health, readiness and metrics on http://$addr)"
            return
        fi
        ((SECONDS < deadline)) || { tail -n 20 "$logfile" >&2; die "$name not ready within ${WAIT_SECONDS}s; see $logfile"; }
        sleep 0.25
    done
}

json_string() {
    local s="$1"
    s="${s//\\/\\\\}"
    s="${s//\"/\\\"}"
    s="${s//$'\t'/\\t}"
    s="${s//$'\r'/}"
    s="${s//$'\n'/\\n}"
    printf '"%s"' "$s"
}

SIM=""
# Indents the lines after the first by 5 columns, under "bot> ".
indent() { printf '%s\n' "${1//$'\n'/$'\n'     }"; }

# POSTs JSON $2 to the simulator's control route $1; sets `code` and `body`.
code="" body=""
sim_post() {
    local out
    out="$(curl -s --max-time 60 -w '\n%{http_code}' -X POST "http://$SIM/_sim/$1" \
        -H 'content-type: application/json' --data-binary "$2")" || out=$'\n000'
    code="${out##*$'\n'}"
    body="${out%$'\n'*}"
}

# Posts $1 as a simulated user (the guild owner). With $2 = "wait": waits for the bot's reply
# and prints it (1 if none came); otherwise returns at once (the feed reader prints replies).
say() {
    local timeout=0
    [[ "${2:-}" == wait ]] && timeout=15000
    sim_post "say?format=text" "{\"content\":$(json_string "$1"),\"timeout_ms\":$timeout}"
    case "$code" in
        200) indent "bot> $body" ;;
        202) ;;
        504) printf 'bot> (no reply within 15 s)\n'; return 1 ;;
        *) printf '(the simulator answered %s: %s)\n' "$code" "$body"; return 1 ;;
    esac
}

# /click, /choose, /submit: POSTs $2 to route $1; with $3 = "wait", waits for the bot's answer
# and prints it (1 if none came).
act() {
    local json="$2" timeout=0
    [[ "${3:-}" == wait ]] && timeout=15000
    sim_post "$1?format=text" "${json%\}},\"timeout_ms\":$timeout}"
    case "$code" in
        200) printf '%s\n' "$body" ;;
        202) ;;
        504) printf 'bot> (no answer within 15 s)\n'; return 1 ;;
        *) printf '(%s)\n' "$body"; return 1 ;;
    esac
}

# The guild's members, channels and roles with ids (section $1: members, channels or roles).
directory() {
    local text
    text="$(curl -sf "http://$SIM/_sim/directory")" || { printf '(no guild)\n'; return 1; }
    if [[ -z "${1:-}" ]]; then
        printf '%s\n' "$text"
    else
        awk -v s="$1:" '$0 == s { p = 1; print; next } /^[a-z]+:$/ { p = 0 } p' <<<"$text"
    fi
}

console_help() {
    cat <<'HELP'
Anything not starting with / is posted as the guild owner (try !help, !serverinfo, !play lofi).
@name, @role and #channel become mentions, as in Discord (e.g. !ban @user1 spamming).
  /click <n|label>           click button n (as numbered in the bot's last message) or by label
  /choose <n|label> <v> ...  choose in select menu n: options by number, label or value
  /submit key=value ...      submit the form the bot opened (keys: its text inputs' ids)
  /slash <command> [sub] [option=value ...]
                             run a slash command as Discord's client sends it: options typed
                             by their registered type (@name, @role, #channel for entities);
                             a value runs until the next " option="
  /menu <name> [@user]       run a context-menu command on a user (default: you) or, for a
                             message command, on the newest message
  /commands                  the application commands the bot registered, as lines to type
  /guild                     members, channels and roles with their ids
  /who  /channels  /roles    one section of /guild
  /help                      this list
  /quit                      stop everything (also Ctrl-D)
HELP
}

# Runs one console line: a command or a message. $2 = "wait": wait for and print the reply
# (--say and piped input); otherwise replies are printed by the feed reader. 1 on failure.
run_line() {
    local line="$1" mode="${2:-}" cmd rest word key pairs="" values="" sep=""
    read -r cmd rest <<<"$line"
    case "$cmd" in
        /help | /h | /\?) console_help ;;
        /guild) directory ;;
        /commands) curl -sf "http://$SIM/_sim/commands" || printf '(the simulator did not answer)\n'; printf '\n' ;;
        /slash)
            [[ -n "$rest" ]] || { printf '(usage: /slash <command> [option=value ...]; /commands lists them)\n'; return 1; }
            act slash "{\"line\":$(json_string "$rest")}" "$mode"
            ;;
        /menu)
            [[ -n "$rest" ]] || { printf '(usage: /menu <name> [@user]; /commands lists them)\n'; return 1; }
            act menu "{\"line\":$(json_string "$rest")}" "$mode"
            ;;
        /who | /members) directory members ;;
        /channels) directory channels ;;
        /roles) directory roles ;;
        /click)
            [[ -n "$rest" ]] || { printf '(usage: /click <n|label>)\n'; return 1; }
            act click "{\"component\":$(json_string "$rest")}" "$mode"
            ;;
        /choose)
            read -r key rest <<<"$rest"
            [[ -n "$key" && -n "$rest" ]] || { printf '(usage: /choose <n|label> <value> ...)\n'; return 1; }
            for word in $rest; do values+="$sep$(json_string "$word")"; sep=","; done
            act click "{\"component\":$(json_string "$key"),\"values\":[$values]}" "$mode"
            ;;
        /submit)
            # key=value pairs; a value runs until the next " key=" (so it may hold spaces).
            key=""
            for word in $rest; do
                if [[ "$word" =~ ^([A-Za-z0-9_:.-]+)=(.*)$ ]]; then
                    [[ -z "$key" ]] || { pairs+="$sep$(json_string "$key"):$(json_string "$values")"; sep=","; }
                    key="${BASH_REMATCH[1]}" values="${BASH_REMATCH[2]}"
                elif [[ -n "$key" ]]; then
                    values+=" $word"
                else
                    printf '(usage: /submit key=value ...)\n'; return 1
                fi
            done
            [[ -z "$key" ]] || pairs+="$sep$(json_string "$key"):$(json_string "$values")"
            act submit "{\"values\":{$pairs}}" "$mode"
            ;;
        /*) printf '(unknown console command %s: /help lists them)\n' "$cmd"; return 1 ;;
        *) say "$line" "$mode" ;;
    esac
}

# Prints the bot's activity as it happens (the simulator's feed, long-polled from cursor $1).
# On a terminal, the prompt is redrawn after each print.
feed_reader() {
    local next="$1" response headers text
    while kill -0 "${pids[0]}" 2>/dev/null; do
        response="$(curl -s -D - --max-time 40 \
            "http://$SIM/_sim/feed?since=$next&wait_ms=25000&format=text")" || { sleep 1; continue; }
        headers="${response%%$'\r\n\r\n'*}"
        text="${response#*$'\r\n\r\n'}"
        [[ "$headers" =~ x-sim-next:\ ([0-9]+) ]] && next="${BASH_REMATCH[1]}"
        [[ -n "$text" ]] || continue
        if [[ -t 1 ]]; then
            printf '\r\033[K%s\n' "$text"
            printf 'you> ' >&2
        else
            printf '%s\n' "$text"
        fi
    done
}

# ---------------------------------------------------------------------------------------------
# 1. test services, tools, binaries

scripts/services.sh up
if ! command -v curl >/dev/null; then
    log "apt-get install curl"
    SUDO=""; ((EUID == 0)) || SUDO="sudo"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl >/dev/null
fi
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
if [[ "$BOT" == */* ]]; then
    [[ -x "$BOT" ]] || die "--bot $BOT is not an executable file"
    BOT_EXE="$BOT"
    log "building gateway and discord-sim (debug); the bot is $BOT"
    cargo build --locked --quiet -p swarmcord-gateway -p swarmcord-sim --bins
else
    [[ "$BOT" =~ ^[A-Za-z0-9_-]+$ ]] || die "--bot $BOT is not a binary name"
    BOT_EXE="$BIN/$BOT"
    log "building gateway, $BOT and discord-sim (debug)"
    cargo build --locked --quiet -p swarmcord-gateway -p swarmcord-sim --bins
    cargo build --locked --quiet --bin "$BOT" || die "no binary called $BOT in this workspace"
fi

mkdir -p "$LOGS"
# A fresh world each run: forget the previous sandbox's saved sessions and shard leases (they
# name sessions of a simulator that is gone).
if command -v redis-cli >/dev/null; then
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --scan --pattern "$NAME:*" |
        xargs -r redis-cli -h 127.0.0.1 -p "$REDIS_PORT" del >/dev/null
fi

# ---------------------------------------------------------------------------------------------
# 2. simulator, gateway, worker

rm -f "$STATE/sim.ready"
RUST_LOG="${RUST_LOG:-warn}" "$BIN/discord-sim" --bind 127.0.0.1:0 --guilds 0 \
    --identify-interval-ms 1000 --no-rate-limits --lavalink-nodes 1 --lavalink-bind 127.0.0.1:0 \
    >"$STATE/sim.ready" 2>"$LOGS/discord-sim.log" &
pids+=($!)
deadline=$((SECONDS + 20))
until grep -q '"discord"' "$STATE/sim.ready" 2>/dev/null; do
    kill -0 "${pids[0]}" 2>/dev/null || die "discord-sim exited; see $LOGS/discord-sim.log"
    ((SECONDS < deadline)) || die "discord-sim printed no ready line"
    sleep 0.1
done
SIM="$(sed -n 's/.*"discord":"\([^"]*\)".*/\1/p' "$STATE/sim.ready")"
LAVALINK="$(sed -n 's/.*"lavalink":\["\([^"]*\)".*/\1/p' "$STATE/sim.ready")"
[[ -n "$LAVALINK" ]] || die "discord-sim started no Lavalink node"
log "Discord simulator on http://$SIM (control API under /_sim), Lavalink node on http://$LAVALINK"

# The guild, and its owner (the user `say` speaks as) in its voice channel, before the gateway
# connects: the bot learns it from GUILD_CREATE, as with a member who was there first.
guild="$(curl -sf -X POST "http://$SIM/_sim/guilds" -H 'content-type: application/json' \
    --data-binary '{"name":"Sandbox 0","members":3}')" || die "could not create the guild"
guild_id="$(sed -n 's/^{"id":"\([0-9]*\)".*/\1/p' <<<"$guild")"
owner_id="$(sed -n 's/.*"owner_id":"\([0-9]*\)".*/\1/p' <<<"$guild")"
voice_id="$(sed -n 's/.*"voice_channels":\["\([0-9]*\)".*/\1/p' <<<"$guild")"
[[ -n "$guild_id" && -n "$owner_id" && -n "$voice_id" ]] || die "unexpected guild: $guild"
curl -sf -X POST "http://$SIM/_sim/voice" -H 'content-type: application/json' \
    --data-binary "{\"guild_id\":\"$guild_id\",\"user_id\":\"$owner_id\",\"channel_id\":\"$voice_id\"}" ||
    die "could not put the guild owner in the voice channel"

common_env=(
    DISCORD_TOKEN="$TOKEN" DISCORD_API_PROXY="$SIM"
    AMQP_URL="$AMQP_URL" REDIS_URL="$REDIS_URL" REDIS_PREFIX="$NAME"
    EVENTS_EXCHANGE="$NAME.events" HTTP_ADDR=127.0.0.1:0 LOG_FORMAT=text
    RUST_LOG="${RUST_LOG:-info}"
)
env "${common_env[@]}" DISCORD_GATEWAY_URL="ws://$SIM" GATEWAY_ID="$NAME-gateway" \
    IDENTIFY_INTERVAL_MS=1000 "$BIN/gateway" >"$LOGS/gateway.log" 2>&1 &
pids+=($!)
gateway_pid=$!
env "${common_env[@]}" MONGO_URL="$MONGO_URL" MONGO_DATABASE="swarmcord_$NAME" \
    WORKER_QUEUE="$NAME.worker" LAVALINK_NODES="n0=http://$LAVALINK" LAVALINK_PASSWORD=youshallnotpass \
    "$BOT_EXE" >"$LOGS/worker.log" 2>&1 &
pids+=($!)
worker_pid=$!
wait_ready gateway "$gateway_pid" "$LOGS/gateway.log"
wait_ready worker "$worker_pid" "$LOGS/worker.log"

# ---------------------------------------------------------------------------------------------
# 3. talk to the bot

if ((${#says[@]})); then
    failed=0
    for message in "${says[@]}"; do
        printf 'you> %s\n' "$message"
        run_line "$message" wait || failed=1
    done
    exit "$failed"
fi

if [[ -t 0 ]]; then
    cursor="$(curl -s -D - -o /dev/null "http://$SIM/_sim/feed" | sed -n 's/^x-sim-next: *\([0-9]*\).*/\1/p')"
    feed_reader "${cursor:-0}" &
    pids+=($!)
    log "type a message for the bot (try !help, !serverinfo, !play lofi) or /help for the console's"
    log "commands; /quit, Ctrl-D or Ctrl-C stops everything"
    printf 'you> %s\n' "$GREETING"
    say "$GREETING" || true
    while IFS= read -r -e -p 'you> ' line; do
        [[ -n "${line// /}" ]] || continue
        history -s "$line"
        [[ "$line" == /quit || "$line" == /q ]] && break
        run_line "$line" || true
    done
elif [[ -p /dev/stdin ]]; then
    # Commands piped in: each runs in turn and waits for its reply, as with --say.
    failed=0
    printf 'you> %s\n' "$GREETING"
    say "$GREETING" wait || failed=1
    while IFS= read -r line; do
        [[ -n "${line// /}" ]] || continue
        [[ "$line" == /quit || "$line" == /q ]] && break
        printf 'you> %s\n' "$line"
        run_line "$line" wait || failed=1
    done
    exit "$failed"
else
    printf 'you> %s\n' "$GREETING"
    say "$GREETING" wait || true
    log "running until Ctrl-C; talk to the bot with:"
    log "  curl -s -X POST 'http://$SIM/_sim/say?format=text' -d '{\"content\":\"!help\"}'"
    wait "${pids[0]}"
fi
