//! Connecting, with credentials kept out of errors and logs.

use std::time::Duration;

use lapin::uri::AMQPUri;
use lapin::{Connection, ConnectionProperties};

use crate::BrokerError;

/// How long [`connect`] waits for the TCP connection and the AMQP handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The URL with its user information (user name and password) replaced by `***`, for errors and
/// logs: `amqp://guest:secret@host:5672/%2f` becomes `amqp://***@host:5672/%2f`.
///
/// Works on anything URL-shaped, including unparsable input (which is shown without anything
/// before the last `@` of its authority).
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(at) => (&url[..at + 3], &url[at + 3..]),
        None => ("", url),
    };
    // The authority ends at the first '/', '?' or '#'; user information ends at its last '@'.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rfind('@') {
        Some(at) => format!("{scheme}***@{}{tail}", &authority[at + 1..]),
        None => format!("{scheme}{authority}{tail}"),
    }
}

/// Connects to RabbitMQ at `url` (`amqp://user:password@host:port/vhost`).
///
/// `connection_name` is shown in the management UI and in `rabbitmqctl list_connections`
/// (use the service and replica, e.g. `gateway-3f2a` or `worker-1/consumer`). lapin's
/// automatic recovery is **not** enabled: after a recovery, confirms and acks that belonged to
/// the old connection fail, so swarmcord owns its reconnect loops ([`crate::Publisher`], and the
/// consumers' supervisors). The URL's credentials never appear in the error.
pub async fn connect(url: &str, connection_name: &str) -> Result<Connection, BrokerError> {
    connect_with_timeout(url, connection_name, CONNECT_TIMEOUT).await
}

/// [`connect`] with an explicit time limit for the TCP connection and the AMQP handshake.
pub async fn connect_with_timeout(
    url: &str,
    connection_name: &str,
    timeout: Duration,
) -> Result<Connection, BrokerError> {
    let redacted = || redact_url(url);
    let uri: AMQPUri = url
        .parse()
        .map_err(|_| BrokerError::InvalidUrl { url: redacted() })?;
    let properties = ConnectionProperties::default()
        .with_connection_name(connection_name.into())
        .with_client_property("product".into(), "swarmcord".into())
        .with_client_property("version".into(), env!("CARGO_PKG_VERSION").into());
    match tokio::time::timeout(timeout, Connection::connect_uri(uri, properties)).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(source)) => Err(BrokerError::Connect {
            url: redacted(),
            source,
        }),
        Err(_) => Err(BrokerError::ConnectTimeout {
            url: redacted(),
            after: timeout,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_removes_user_information() {
        assert_eq!(
            redact_url("amqp://guest:s3cret@127.0.0.1:5672/%2f"),
            "amqp://***@127.0.0.1:5672/%2f"
        );
        assert_eq!(
            redact_url("amqps://u:p@ss@host/vh?heartbeat=10"),
            "amqps://***@host/vh?heartbeat=10"
        );
        assert_eq!(redact_url("amqp://host:5672"), "amqp://host:5672");
        assert_eq!(redact_url("user:pw@host"), "***@host");
        assert_eq!(redact_url("amqp://host/a@b"), "amqp://host/a@b");
    }

    #[tokio::test]
    async fn errors_never_show_the_password() {
        for url in [
            "amqp://guest:hunter2@127.0.0.1:1/%2f",
            "amqp://guest:hunter2@exa mple:99999999/%2f",
            "http://guest:hunter2@x/",
        ] {
            let error = connect_with_timeout(url, "test", Duration::from_secs(2))
                .await
                .expect_err("cannot connect");
            let text = format!("{error} {error:?}");
            assert!(!text.contains("hunter2"), "{text}");
        }
    }
}
