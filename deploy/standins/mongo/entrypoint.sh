#!/bin/bash
# TEST STAND-IN entrypoint: FerretDB on 0.0.0.0:27017, data in /data/db, with authentication
# like the official image: MONGO_INITDB_ROOT_USERNAME and MONGO_INITDB_ROOT_PASSWORD(_FILE)
# create that user (SCRAM-SHA-1/256, admin database) at the first start, and every other
# request is refused. The binary is scripts/services.sh's FerretDB 1.24 with its one patch
# (it ends the SCRAM conversation the way the Rust MongoDB driver expects). Without a user,
# no authentication (as the official image).
set -euo pipefail
password="${MONGO_INITDB_ROOT_PASSWORD:-}"
if [[ -n "${MONGO_INITDB_ROOT_PASSWORD_FILE:-}" ]]; then
    password="$(cat "$MONGO_INITDB_ROOT_PASSWORD_FILE")"
fi
auth=()
if [[ -n "${MONGO_INITDB_ROOT_USERNAME:-}" ]]; then
    [[ -n "$password" ]] || { echo "MONGO_INITDB_ROOT_USERNAME without a password" >&2; exit 2; }
    auth=(--test-enable-new-auth --setup-database=admin
        --setup-username="$MONGO_INITDB_ROOT_USERNAME")
    export FERRETDB_SETUP_PASSWORD="$password"
fi
exec ferretdb --handler=sqlite --sqlite-url=file:/data/db/ --listen-addr=0.0.0.0:27017 \
    --state-dir=/data/db --debug-addr=- --telemetry=disable --log-level=WARN "${auth[@]}"
