//! `/healthz`, `/readyz` and `/metrics`.
//!
//! - `/healthz` answers 200 while the process serves requests (liveness);
//! - `/readyz` answers 200 when every readiness check registered in [`Health`] passes, else 503
//!   with the failing checks as JSON (`{"ready": false, "checks": {"broker": "disconnected"}}`);
//! - `/metrics` renders the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Named readiness checks, shared between the service's tasks and the HTTP endpoint.
#[derive(Debug, Clone, Default)]
pub struct Health {
    checks: Arc<Mutex<BTreeMap<String, Result<(), String>>>>,
}

impl Health {
    /// No checks yet (ready).
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks check `name` as passing.
    pub fn ok(&self, name: &str) {
        self.lock().insert(name.to_owned(), Ok(()));
    }

    /// Marks check `name` as failing with a short reason (no secrets!).
    pub fn fail(&self, name: &str, reason: impl Into<String>) {
        self.lock().insert(name.to_owned(), Err(reason.into()));
    }

    /// Forgets a check.
    pub fn remove(&self, name: &str) {
        self.lock().remove(name);
    }

    /// Whether every check passes.
    pub fn is_ready(&self) -> bool {
        self.lock().values().all(Result::is_ok)
    }

    /// The failing checks and their reasons.
    pub fn failing(&self) -> BTreeMap<String, String> {
        self.lock()
            .iter()
            .filter_map(|(name, r)| r.as_ref().err().map(|e| (name.clone(), e.clone())))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Result<(), String>>> {
        self.checks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Clone)]
struct AppState {
    health: Health,
    metrics: PrometheusHandle,
}

/// The three routes, for embedding in a larger router.
pub fn router(health: Health, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(AppState { health, metrics })
}

async fn readyz(State(state): State<AppState>) -> Response {
    let failing = state.health.failing();
    let body = serde_json_like(failing.is_empty(), &failing);
    let status = if failing.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A tiny JSON writer (keeps this crate free of serde).
fn serde_json_like(ready: bool, failing: &BTreeMap<String, String>) -> String {
    fn quote(s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
    let checks: Vec<String> = failing
        .iter()
        .map(|(k, v)| format!("{}:{}", quote(k), quote(v)))
        .collect();
    format!("{{\"ready\":{ready},\"checks\":{{{}}}}}", checks.join(","))
}

async fn render_metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// Serves [`router`] on `addr` until `shutdown` is cancelled. Returns the bound address (useful
/// with port 0) and the server task.
pub async fn serve(
    addr: SocketAddr,
    health: Health,
    metrics: PrometheusHandle,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = router(health, metrics);
    let task = tokio::spawn(async move {
        let server = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await });
        if let Err(error) = server.await {
            tracing::error!(%error, "health/metrics server failed");
        }
    });
    tracing::info!(addr = %bound, "serving /healthz, /readyz and /metrics");
    Ok((bound, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_reflects_every_check() {
        let health = Health::new();
        assert!(health.is_ready());
        health.fail("broker", "disconnected");
        health.ok("shard-0");
        assert!(!health.is_ready());
        assert_eq!(
            health.failing().get("broker").map(String::as_str),
            Some("disconnected")
        );
        health.ok("broker");
        assert!(health.is_ready());
        let mut failing = BTreeMap::new();
        failing.insert("a\"b".to_owned(), "line\nbreak".to_owned());
        assert_eq!(
            serde_json_like(false, &failing),
            r#"{"ready":false,"checks":{"a\"b":"line\u000abreak"}}"#
        );
    }

    #[tokio::test]
    async fn endpoints_answer_over_http() {
        let health = Health::new();
        let shutdown = CancellationToken::new();
        let (addr, task) = serve(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            health.clone(),
            crate::telemetry::metrics_handle(),
            shutdown.clone(),
        )
        .await
        .expect("serve");
        let addr = addr.to_string();
        let live = swarmcord_testkit::http::request(&addr, "GET", "/healthz", &[], None)
            .await
            .expect("healthz");
        assert_eq!((live.status, live.text().as_str()), (200, "ok"));
        health.fail("broker", "disconnected");
        let ready = swarmcord_testkit::http::request(&addr, "GET", "/readyz", &[], None)
            .await
            .expect("readyz");
        assert_eq!(ready.status, 503);
        assert!(ready.text().contains("\"broker\":\"disconnected\""));
        health.ok("broker");
        let ready = swarmcord_testkit::http::request(&addr, "GET", "/readyz", &[], None)
            .await
            .expect("readyz");
        assert_eq!(ready.status, 200);
        metrics::counter!("swarmcord_ops_http_test_total").increment(1);
        let metrics = swarmcord_testkit::http::request(&addr, "GET", "/metrics", &[], None)
            .await
            .expect("metrics");
        assert!(metrics.text().contains("swarmcord_ops_http_test_total"));
        shutdown.cancel();
        task.await.expect("server stops");
    }
}
