#!/bin/bash
# TEST STAND-IN entrypoint: FerretDB on 0.0.0.0:27017, data in /data/db, WITHOUT
# authentication: FerretDB 1.24's SCRAM (--test-enable-new-auth) ends its conversation in a way
# the Rust MongoDB driver refuses ("expected SCRAM authentication to have completed"), and
# without it FerretDB refuses every SCRAM mechanism. The official image's MONGO_INITDB_ROOT_*
# variables are therefore ignored, and scripts/swarm-smoke.sh gives the workers a MONGO_URL
# without credentials. The authenticated path needs a real MongoDB.
set -euo pipefail
exec ferretdb --handler=sqlite --sqlite-url=file:/data/db/ --listen-addr=0.0.0.0:27017 \
    --state-dir=/data/db --debug-addr=- --telemetry=disable --log-level=WARN
