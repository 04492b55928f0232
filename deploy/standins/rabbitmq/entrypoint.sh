#!/bin/bash
# TEST STAND-IN entrypoint: runs Debian's rabbitmq-server as the rabbitmq user, with the
# official image's environment variables for the default user.
set -euo pipefail
mkdir -p /var/lib/rabbitmq /var/log/rabbitmq /etc/rabbitmq/conf.d
if [[ -n "${RABBITMQ_DEFAULT_USER:-}" ]]; then
    printf 'default_user = %s\ndefault_pass = %s\n' "$RABBITMQ_DEFAULT_USER" \
        "${RABBITMQ_DEFAULT_PASS:-}" >/etc/rabbitmq/conf.d/10-default-user.conf
fi
chown -R rabbitmq:rabbitmq /var/lib/rabbitmq /var/log/rabbitmq
export HOME=/var/lib/rabbitmq RABBITMQ_LOGS=-
exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups "$@"
