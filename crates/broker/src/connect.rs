//! Connecting, with credentials kept out of errors and logs.

use std::time::Duration;

use lapin::uri::AMQPUri;
use lapin::{Connection, ConnectionProperties};

use crate::BrokerError;

/// How long [`connect`] waits for the TCP connection and the AMQP handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub use swarmcord_secret::redact_url;

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
