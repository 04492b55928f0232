//! Logs and metrics.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (for log shippers; the default in containers).
    Json,
    /// Human-readable text.
    Text,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "text" | "pretty" => Ok(Self::Text),
            other => Err(format!("unknown log format {other:?} (use json or text)")),
        }
    }
}

impl std::fmt::Display for LogFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Json => "json",
            Self::Text => "text",
        })
    }
}

/// Installs the global `tracing` subscriber: filter from `RUST_LOG` (default `info`), output to
/// stderr in `format`, with Discord's interaction and webhook tokens [redacted](redact_tokens)
/// at every level. Calling it twice is harmless (the second call does nothing).
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Redacting(std::io::stderr()));
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// The path segments after which Discord URLs carry a secret token: an interaction's token
/// (`/interactions/{id}/{token}/callback`, valid 15 minutes: anyone holding it can answer as the
/// bot) and a webhook's (`/webhooks/{id}/{token}`, the follow-ups and edits of interactions).
const TOKEN_AFTER: [&str; 2] = ["interactions/", "webhooks/"];

/// What a redacted token is replaced with.
pub const REDACTED: &str = "<redacted>";

/// `line` with every token of a Discord interaction or webhook path replaced by [`REDACTED`]:
/// the segment after `interactions/{digits}/` or `webhooks/{digits}/`. Twilight logs request
/// paths in its spans (`request{path=...}`), so every log line goes through this.
pub fn redact_tokens(line: &str) -> std::borrow::Cow<'_, str> {
    let is_token = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let mut out = String::new();
    let mut copied = 0;
    let mut at = 0;
    while let Some((start, marker)) = TOKEN_AFTER
        .iter()
        .filter_map(|m| line[at..].find(m).map(|i| (at + i, *m)))
        .min()
    {
        let id_start = start + marker.len();
        let digits = line[id_start..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(line.len() - id_start);
        let token_start = id_start + digits + 1;
        at = id_start;
        if digits == 0 || !line[id_start + digits..].starts_with('/') {
            continue;
        }
        let token_len = line[token_start..]
            .find(|c: char| !is_token(c))
            .unwrap_or(line.len() - token_start);
        if token_len == 0 {
            continue;
        }
        out.push_str(&line[copied..token_start]);
        out.push_str(REDACTED);
        copied = token_start + token_len;
        at = copied;
    }
    if copied == 0 {
        return std::borrow::Cow::Borrowed(line);
    }
    out.push_str(&line[copied..]);
    std::borrow::Cow::Owned(out)
}

/// A log writer that [redacts](redact_tokens) what it writes (the formatter writes each event
/// in one piece).
struct Redacting<W>(W);

impl<W: std::io::Write> std::io::Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) => self.0.write_all(redact_tokens(text).as_bytes())?,
            Err(_) => self.0.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Installs the process-wide Prometheus recorder for the `metrics` facade (once) and returns
/// the handle that renders `/metrics`.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed; then our handle renders nothing,
            // which is visible on /metrics rather than fatal.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
            }
            handle
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interaction_and_webhook_tokens_are_redacted() {
        let token = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5OmFiY2RlZg-_.x";
        let span = format!(
            r#"{{"spans":[{{"method":"POST","name":"request","path":"interactions/123/{token}/callback"}}]}}"#
        );
        let redacted = redact_tokens(&span);
        assert!(!redacted.contains(token), "{redacted}");
        assert_eq!(
            redacted,
            r#"{"spans":[{"method":"POST","name":"request","path":"interactions/123/<redacted>/callback"}]}"#
        );
        let text = format!(
            "request{{method=PATCH path=webhooks/9/{token}/messages/@original}}: awaiting permit; \
             then /api/v10/webhooks/9/{token}"
        );
        assert_eq!(
            redact_tokens(&text),
            "request{method=PATCH path=webhooks/9/<redacted>/messages/@original}: awaiting \
             permit; then /api/v10/webhooks/9/<redacted>"
        );
        // Nothing else changes.
        for plain in [
            "interactions/ and webhooks/x/y",
            "path=channels/1/messages",
            "webhooks/12",
            "",
        ] {
            assert_eq!(redact_tokens(plain), plain);
        }
        let mut out = Vec::new();
        std::io::Write::write_all(&mut Redacting(&mut out), span.as_bytes()).expect("write");
        assert!(!String::from_utf8(out).expect("utf-8").contains(token));
    }

    #[test]
    fn formats_parse() {
        assert_eq!("JSON".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!("text".parse::<LogFormat>(), Ok(LogFormat::Text));
        assert!("xml".parse::<LogFormat>().is_err());
    }

    #[test]
    fn metrics_render_through_the_handle() {
        let handle = metrics_handle();
        metrics::counter!("swarmcord_ops_test_total", "kind" => "unit").increment(3);
        let text = handle.render();
        assert!(
            text.contains("swarmcord_ops_test_total{kind=\"unit\"} 3"),
            "{text}"
        );
    }
}
