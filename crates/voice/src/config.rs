//! Lavalink node configuration: `LAVALINK_NODES` = comma-separated `name=http://host:port`.

use std::fmt;

/// One Lavalink node.
#[derive(Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// A short name (letters, digits, `-`, `_`): labels metrics and names Redis keys.
    pub name: String,
    /// `host:port` of the node (plain HTTP/WebSocket).
    pub authority: String,
}

impl fmt::Debug for NodeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=http://{}", self.name, self.authority)
    }
}

impl NodeConfig {
    /// A node named `name` at `authority` (`host:port`).
    pub fn new(name: impl Into<String>, authority: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            authority: authority.into(),
        }
    }

    /// `http://host:port`.
    pub fn http_base(&self) -> String {
        format!("http://{}", self.authority)
    }

    /// `ws://host:port/v4/websocket`.
    pub fn websocket_url(&self) -> String {
        format!("ws://{}/v4/websocket", self.authority)
    }
}

/// Why `LAVALINK_NODES` is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NodesError {
    /// An entry is not `name=http://host:port`.
    #[error("`{0}` is not `name=http://host:port`")]
    Malformed(String),
    /// A name with characters other than letters, digits, `-` and `_`, or longer than 32.
    #[error("node name `{0}` must be 1-32 letters, digits, `-` or `_`")]
    BadName(String),
    /// Only `http://` is supported (Lavalink behind TLS needs a proxy in front of it).
    #[error("node `{0}`: only http:// URLs are supported")]
    Scheme(String),
    /// Two nodes with one name.
    #[error("node name `{0}` is used twice")]
    Duplicate(String),
}

/// Parses `name=http://host:port[,…]`; an empty string is no nodes (voice disabled).
pub fn parse_nodes(value: &str) -> Result<Vec<NodeConfig>, NodesError> {
    let mut nodes: Vec<NodeConfig> = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, url) = entry
            .split_once('=')
            .ok_or_else(|| NodesError::Malformed(entry.to_owned()))?;
        let (name, url) = (name.trim(), url.trim());
        if name.is_empty()
            || name.len() > 32
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(NodesError::BadName(name.to_owned()));
        }
        let Some(rest) = url.strip_prefix("http://") else {
            return Err(NodesError::Scheme(name.to_owned()));
        };
        let authority = rest.trim_end_matches('/');
        let valid = authority.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        }) && !authority.contains('/')
            && !authority.contains('@');
        if !valid {
            return Err(NodesError::Malformed(entry.to_owned()));
        }
        if nodes.iter().any(|n| n.name == name) {
            return Err(NodesError::Duplicate(name.to_owned()));
        }
        nodes.push(NodeConfig::new(name, authority));
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_parse_and_bad_ones_are_named() {
        let nodes = parse_nodes(" a=http://127.0.0.1:2333, b-2=http://lavalink:80/ ").unwrap();
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[0].websocket_url(), "ws://127.0.0.1:2333/v4/websocket");
        assert_eq!(nodes[1].http_base(), "http://lavalink:80");
        assert!(parse_nodes("").unwrap().is_empty());
        assert_eq!(
            parse_nodes("a=https://x:1"),
            Err(NodesError::Scheme("a".into()))
        );
        assert_eq!(
            parse_nodes("http://x:1"),
            Err(NodesError::Malformed("http://x:1".into()))
        );
        assert_eq!(
            parse_nodes("a b=http://x:1"),
            Err(NodesError::BadName("a b".into()))
        );
        assert_eq!(
            parse_nodes("a=http://x:1,a=http://y:2"),
            Err(NodesError::Duplicate("a".into()))
        );
        assert!(parse_nodes("a=http://x").is_err());
        assert!(parse_nodes("a=http://x:0").is_err());
        assert!(parse_nodes("a=http://u:p@x:1").is_err());
        assert!(parse_nodes("a=http://x:1/path").is_err());
    }
}
