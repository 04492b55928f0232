//! Lavalink v4 REST: stateless per call, so any replica can drive any player once it knows the
//! node and the session id (from Redis).

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use swarmcord_secret::Secret;

use crate::config::NodeConfig;
use crate::model::{LoadResult, Player};

/// A REST call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestError {
    /// The node did not answer (connection refused, timeout).
    #[error("Lavalink node `{node}` is unreachable: {reason}")]
    Unreachable {
        /// The node.
        node: String,
        /// Why.
        reason: String,
    },
    /// The node answered with an error status.
    #[error("Lavalink node `{node}` answered {status}: {message}")]
    Status {
        /// The node.
        node: String,
        /// HTTP status.
        status: u16,
        /// Lavalink's `message`.
        message: String,
    },
    /// The node answered something that is not Lavalink's documented JSON.
    #[error("Lavalink node `{node}` sent an unexpected body: {reason}")]
    Malformed {
        /// The node.
        node: String,
        /// Why it does not parse.
        reason: String,
    },
}

impl RestError {
    /// Whether the node answered 404 (unknown session or player).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Status { status: 404, .. })
    }

    /// Whether the node could not be reached or is unavailable (503).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. }
                | Self::Status {
                    status: 502..=504,
                    ..
                }
        )
    }
}

/// The REST client (one per process; cheap to clone).
#[derive(Clone)]
pub struct Rest {
    client: Client<HttpConnector, Full<Bytes>>,
    password: Secret,
    timeout: Duration,
}

impl std::fmt::Debug for Rest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rest")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
pub(crate) fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

impl Rest {
    /// A client sending `password` in `Authorization`; every call times out after 5 s.
    pub fn new(password: &str) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        connector.set_nodelay(true);
        Self {
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(connector),
            password: Secret::new(password),
            timeout: Duration::from_secs(5),
        }
    }

    /// The password (for the WebSocket handshake).
    pub(crate) fn password(&self) -> &str {
        self.password.expose()
    }

    async fn call(
        &self,
        node: &NodeConfig,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, RestError> {
        let unreachable = |reason: String| RestError::Unreachable {
            node: node.name.clone(),
            reason,
        };
        let malformed = |reason: String| RestError::Malformed {
            node: node.name.clone(),
            reason,
        };
        let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", node.http_base()))
            .header("Authorization", self.password.expose());
        if body.is_some() {
            request = request.header("Content-Type", "application/json");
        }
        let request = request
            .body(Full::new(bytes))
            .map_err(|e| malformed(format!("invalid request: {e}")))?;
        let response = tokio::time::timeout(self.timeout, async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok::<_, String>((status, body))
        })
        .await
        .map_err(|_| unreachable("timed out".to_owned()))?
        .map_err(unreachable)?;
        let (status, body) = response;
        if status == 204 || body.is_empty() {
            if (200..300).contains(&status) {
                return Ok(Value::Null);
            }
            return Err(RestError::Status {
                node: node.name.clone(),
                status,
                message: String::new(),
            });
        }
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| malformed(format!("status {status}, not JSON: {e}")))?;
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            Err(RestError::Status {
                node: node.name.clone(),
                status,
                message: value["message"].as_str().unwrap_or_default().to_owned(),
            })
        }
    }

    /// `GET /v4/loadtracks?identifier=`.
    pub async fn load_tracks(
        &self,
        node: &NodeConfig,
        identifier: &str,
    ) -> Result<LoadResult, RestError> {
        let path = format!("/v4/loadtracks?identifier={}", encode_query(identifier));
        let value = self.call(node, Method::GET, &path, None).await?;
        LoadResult::from_json(&value).map_err(|reason| RestError::Malformed {
            node: node.name.clone(),
            reason,
        })
    }

    /// `PATCH /v4/sessions/{session}/players/{guild}` with `update` (Lavalink's player update
    /// object); returns the player.
    pub async fn update_player(
        &self,
        node: &NodeConfig,
        session: &str,
        guild_id: u64,
        update: &Value,
    ) -> Result<Player, RestError> {
        let path = format!("/v4/sessions/{}/players/{guild_id}", encode_query(session));
        let value = self.call(node, Method::PATCH, &path, Some(update)).await?;
        serde_json::from_value(value).map_err(|e| RestError::Malformed {
            node: node.name.clone(),
            reason: e.to_string(),
        })
    }

    /// `GET /v4/sessions/{session}/players/{guild}`; `None` when there is no such player.
    pub async fn player(
        &self,
        node: &NodeConfig,
        session: &str,
        guild_id: u64,
    ) -> Result<Option<Player>, RestError> {
        let path = format!("/v4/sessions/{}/players/{guild_id}", encode_query(session));
        match self.call(node, Method::GET, &path, None).await {
            Ok(value) => {
                serde_json::from_value(value)
                    .map(Some)
                    .map_err(|e| RestError::Malformed {
                        node: node.name.clone(),
                        reason: e.to_string(),
                    })
            }
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// `GET /v4/sessions/{session}/players`.
    pub async fn players(
        &self,
        node: &NodeConfig,
        session: &str,
    ) -> Result<Vec<Player>, RestError> {
        let path = format!("/v4/sessions/{}/players", encode_query(session));
        let value = self.call(node, Method::GET, &path, None).await?;
        serde_json::from_value(value).map_err(|e| RestError::Malformed {
            node: node.name.clone(),
            reason: e.to_string(),
        })
    }

    /// `DELETE /v4/sessions/{session}/players/{guild}`; a missing player is not an error.
    pub async fn destroy_player(
        &self,
        node: &NodeConfig,
        session: &str,
        guild_id: u64,
    ) -> Result<(), RestError> {
        let path = format!("/v4/sessions/{}/players/{guild_id}", encode_query(session));
        match self.call(node, Method::DELETE, &path, None).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_not_found() => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// `PATCH /v4/sessions/{session}` `{resuming, timeout}`.
    pub async fn update_session(
        &self,
        node: &NodeConfig,
        session: &str,
        resuming: bool,
        timeout: Duration,
    ) -> Result<(), RestError> {
        let path = format!("/v4/sessions/{}", encode_query(session));
        let body = serde_json::json!({"resuming": resuming, "timeout": timeout.as_secs()});
        self.call(node, Method::PATCH, &path, Some(&body))
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode_query("ytsearch:a b&c"), "ytsearch%3Aa%20b%26c");
        assert_eq!(encode_query("é"), "%C3%A9");
        assert_eq!(encode_query("A-z_0.~"), "A-z_0.~");
    }
}
