//! One request through the proxy: key, wait for its turn, forward, learn, answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use swarmcord_ops::http::Health;

use crate::config::ProxyConfig;
use crate::limiter::{Keys, Learnt, Limiter, Verdict};
use crate::route::RouteKey;

/// The client's own limit on how long its request may wait, in milliseconds.
pub const QUEUE_TIMEOUT_HEADER: &str = "x-proxy-queue-timeout";
/// Set on every answer the proxy makes itself (not Discord): why it refused.
pub const REFUSED_HEADER: &str = "x-proxy-refused";

type Upstream = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Shared state of the request handler.
#[derive(Clone)]
pub(crate) struct Proxy {
    pub(crate) config: Arc<ProxyConfig>,
    pub(crate) limiter: Arc<std::sync::OnceLock<Limiter>>,
    pub(crate) health: Health,
    client: Upstream,
    queued: Arc<AtomicUsize>,
    redis_ok: Arc<AtomicBool>,
    /// This replica's random name and its request counter: unique request names without a
    /// random draw (a system call) per request.
    replica: Arc<str>,
    requests: Arc<AtomicU64>,
}

/// Hop-by-hop headers (RFC 9110 7.6.1), never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
];

impl Proxy {
    pub(crate) fn new(config: Arc<ProxyConfig>, health: Health) -> Self {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Self {
            config,
            limiter: Arc::new(std::sync::OnceLock::new()),
            health,
            client,
            queued: Arc::new(AtomicUsize::new(0)),
            redis_ok: Arc::new(AtomicBool::new(true)),
            replica: uuid::Uuid::new_v4().simple().to_string().into(),
            requests: Arc::new(AtomicU64::new(0)),
        }
    }

    fn redis_state(&self, ok: bool, error: Option<&redis::RedisError>) {
        if self.redis_ok.swap(ok, Ordering::Relaxed) != ok {
            if ok {
                self.health.ok("redis");
                tracing::info!("Redis answers again");
            } else {
                let reason = error.map_or_else(|| "unreachable".to_owned(), ToString::to_string);
                tracing::error!(%reason, "Redis failed: refusing requests (limits cannot be shared)");
                self.health.fail("redis", reason);
            }
        }
    }
}

/// A JSON answer made by the proxy itself, shaped like Discord's errors.
fn refuse(status: StatusCode, reason: &'static str, message: &str) -> Response {
    metrics::counter!("swarmcord_rest_refused_total", "reason" => reason).increment(1);
    let body = serde_json::json!({"message": message, "code": 0});
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (HeaderName::from_static(REFUSED_HEADER), reason),
        ],
        body.to_string(),
    )
        .into_response()
}

fn too_long(wait: Duration) -> Response {
    let secs = wait.as_secs_f64();
    metrics::counter!("swarmcord_rest_refused_total", "reason" => "queue-timeout").increment(1);
    let body = serde_json::json!({
        "message": "You are being rate limited (the wait for a turn exceeds the queue timeout).",
        "retry_after": (secs * 1000.0).ceil() / 1000.0,
        "global": false,
    });
    let whole = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    (
        StatusCode::TOO_MANY_REQUESTS,
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::RETRY_AFTER, whole.max(1).to_string()),
            (
                HeaderName::from_static(REFUSED_HEADER),
                "queue-timeout".to_owned(),
            ),
        ],
        body.to_string(),
    )
        .into_response()
}

/// A stable, non-reversible 128-bit name of the `Authorization` value (never stored in clear).
fn token_hash(headers: &HeaderMap) -> String {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return "none".to_owned();
    };
    let fnv = |seed: u64| {
        value.as_bytes().iter().fold(seed, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    format!(
        "{:016x}{:016x}",
        fnv(0xcbf2_9ce4_8422_2325),
        fnv(0x8422_2325_cbf2_9ce4)
    )
}

/// Milliseconds from a header holding seconds with decimals (`1.25`).
fn header_ms(headers: &HeaderMap, name: &str) -> Option<u64> {
    let secs: f64 = headers.get(name)?.to_str().ok()?.trim().parse().ok()?;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).ceil() as u64)
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// What Discord's answer says about the limits.
pub(crate) fn learn_from(status: u16, headers: &HeaderMap) -> Learnt {
    let number = |name: &str| header_str(headers, name).and_then(|v| v.trim().parse::<u32>().ok());
    let bucket = match (
        number("x-ratelimit-limit"),
        number("x-ratelimit-remaining"),
        header_ms(headers, "x-ratelimit-reset-after"),
    ) {
        (Some(limit), Some(remaining), Some(reset_after)) => Some((
            limit,
            remaining,
            reset_after,
            header_str(headers, "x-ratelimit-bucket")
                .unwrap_or_default()
                .to_owned(),
        )),
        _ => None,
    };
    let global = header_str(headers, "x-ratelimit-global").is_some_and(|v| v == "true");
    let scope = if global {
        "global".to_owned()
    } else {
        header_str(headers, "x-ratelimit-scope")
            .unwrap_or("user")
            .to_owned()
    };
    let retry_after_ms = if status == 429 {
        header_ms(headers, "retry-after").unwrap_or(1000)
    } else {
        0
    };
    Learnt {
        status,
        bucket,
        scope,
        retry_after_ms,
    }
}

/// The axum handler of every route that is not `/healthz`, `/readyz` or `/metrics`.
pub(crate) async fn handle(State(proxy): State<Proxy>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Some(limiter) = proxy.limiter.get().cloned() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "redis-unavailable",
            "the REST proxy is not connected to Redis yet",
        );
    };
    let max_wait = match header_str(&parts.headers, QUEUE_TIMEOUT_HEADER) {
        None => proxy.config.queue_timeout,
        Some(raw) => match raw.trim().parse::<u64>() {
            Ok(ms) => Duration::from_millis(ms).min(proxy.config.max_queue_timeout),
            Err(_) => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "bad-request",
                    &format!("{QUEUE_TIMEOUT_HEADER} must be a number of milliseconds"),
                );
            }
        },
    };
    let Ok(body) = axum::body::to_bytes(body, proxy.config.max_body_bytes).await else {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            &format!(
                "request body larger than {} bytes or unreadable",
                proxy.config.max_body_bytes
            ),
        );
    };
    let key = RouteKey::of(
        parts.method.as_str(),
        parts.uri.path(),
        swarmcord_protocol::time::unix_ms(),
    );
    let keys = Keys::new(
        &proxy.config.redis_prefix,
        &token_hash(&parts.headers),
        &key.route,
        &key.major,
    );
    let member = format!(
        "{}{:x}",
        proxy.replica,
        proxy.requests.fetch_add(1, Ordering::Relaxed)
    );
    let started = Instant::now();
    let probe = match wait_for_turn(&proxy, &limiter, &keys, &key, max_wait, &member).await {
        Ok(probe) => probe,
        Err(response) => return response,
    };
    metrics::histogram!("swarmcord_rest_wait_seconds").record(started.elapsed().as_secs_f64());
    let slot = Slot {
        limiter: &limiter,
        key: &key,
        keys: &keys,
        member: &member,
        probe,
    };
    forward(&proxy, &slot, parts, body).await
}

/// Where a request that may go stands in the shared rate limits: its route, its Redis keys,
/// its id in the queue and whether it is its bucket's probe (what Discord answers is learnt
/// there).
#[derive(Clone, Copy)]
struct Slot<'a> {
    limiter: &'a Limiter,
    key: &'a RouteKey,
    keys: &'a Keys,
    member: &'a str,
    probe: bool,
}

/// Waits for a send time; `Ok(probe)` when the request may go.
async fn wait_for_turn(
    proxy: &Proxy,
    limiter: &Limiter,
    keys: &Keys,
    key: &RouteKey,
    max_wait: Duration,
    member: &str,
) -> Result<bool, Response> {
    if proxy.queued.fetch_add(1, Ordering::Relaxed) >= proxy.config.max_queued {
        proxy.queued.fetch_sub(1, Ordering::Relaxed);
        return Err(refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "queue-full",
            "too many requests are waiting in this REST proxy replica",
        ));
    }
    metrics::gauge!("swarmcord_rest_queued").increment(1.0);
    let _leave = scopeguard(Arc::clone(&proxy.queued));
    let deadline = Instant::now() + max_wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let verdict = limiter.acquire(keys, key.global, left, member).await;
        let verdict = match verdict {
            Ok(verdict) => {
                proxy.redis_state(true, None);
                verdict
            }
            Err(error) => {
                proxy.redis_state(false, Some(&error));
                return Err(refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "redis-unavailable",
                    "the REST proxy cannot reach Redis, so it cannot share rate limits",
                ));
            }
        };
        match verdict {
            Verdict::Go { wait, probe } => {
                // A zero sleep would still wait for the timer's next tick (1 ms).
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                return Ok(probe);
            }
            Verdict::Busy(again) if again < left => tokio::time::sleep(again).await,
            Verdict::Busy(again) | Verdict::TooLong(again) => return Err(too_long(again)),
            Verdict::CircuitOpen(left) => {
                return Err(refuse(
                    StatusCode::UNAUTHORIZED,
                    "circuit-open",
                    &format!(
                        "401: Unauthorized (the REST proxy stopped forwarding requests with this token after Discord answered 401; it tries again in {} s)",
                        left.as_secs() + 1
                    ),
                ));
            }
            Verdict::Invalid => {
                tracing::warn!(route = %key.route, "invalid-request guard: refusing a request to a bucket that recently answered 401/403/429");
                return Err(refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "invalid-request-guard",
                    "too many invalid requests (401/403/429) in the last 10 minutes: requests likely to be invalid are refused to avoid a Cloudflare ban",
                ));
            }
        }
    }
}

/// Decrements the queue counter and gauge when dropped (also when the client disconnects).
struct Leave(Arc<AtomicUsize>);

fn scopeguard(queued: Arc<AtomicUsize>) -> Leave {
    Leave(queued)
}

impl Drop for Leave {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!("swarmcord_rest_queued").decrement(1.0);
    }
}

/// Sends the request to Discord and learns the rate limits from the answer.
async fn forward(
    proxy: &Proxy,
    slot: &Slot<'_>,
    parts: axum::http::request::Parts,
    body: Bytes,
) -> Response {
    let Slot {
        limiter,
        key,
        keys,
        member,
        probe,
    } = *slot;
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str);
    let Ok(uri) = format!("{}{path_and_query}", proxy.config.api_base).parse::<Uri>() else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "invalid request URI",
        );
    };
    let mut upstream = hyper::Request::new(Full::new(body));
    *upstream.method_mut() = parts.method.clone();
    *upstream.uri_mut() = uri;
    for (name, value) in &parts.headers {
        if name == header::HOST
            || name == QUEUE_TIMEOUT_HEADER
            || HOP_BY_HOP.contains(&name.as_str())
        {
            continue;
        }
        upstream.headers_mut().append(name.clone(), value.clone());
    }
    let sent = Instant::now();
    let result = tokio::time::timeout(
        proxy.config.upstream_timeout,
        proxy.client.request(upstream),
    )
    .await;
    let response = match result {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => {
            if probe {
                let _ = limiter.release_probe(keys, member).await;
            }
            tracing::warn!(route = %key.route, %error, "Discord REST unreachable");
            return refuse(
                StatusCode::BAD_GATEWAY,
                "upstream-error",
                "Discord REST is unreachable from the proxy",
            );
        }
        Err(_) => {
            if probe {
                let _ = limiter.release_probe(keys, member).await;
            }
            return refuse(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream-timeout",
                "Discord REST did not answer in time",
            );
        }
    };
    metrics::histogram!("swarmcord_rest_upstream_seconds").record(sent.elapsed().as_secs_f64());
    let status = response.status();
    let learnt = learn_from(status.as_u16(), response.headers());
    let route_label = if status == StatusCode::NOT_FOUND {
        "unknown".to_owned()
    } else {
        key.route.clone()
    };
    metrics::counter!("swarmcord_rest_requests_total", "route" => route_label, "status" => status.as_u16().to_string()).increment(1);
    if status == StatusCode::TOO_MANY_REQUESTS {
        metrics::counter!("swarmcord_rest_upstream_429_total", "scope" => learnt.scope.clone())
            .increment(1);
        tracing::warn!(route = %key.route, scope = %learnt.scope, retry_after_ms = learnt.retry_after_ms, "Discord answered 429");
    }
    if status == StatusCode::UNAUTHORIZED {
        tracing::error!(route = %key.route, breaker_s = proxy.config.breaker.as_secs(), "Discord answered 401 (token revoked?): circuit breaker open for this token");
        metrics::counter!("swarmcord_rest_circuit_opened_total").increment(1);
    }
    match limiter.learn(keys, &learnt, member, probe).await {
        Ok(None) => {}
        Ok(Some(invalid)) => {
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!("swarmcord_rest_invalid_requests").set(invalid as f64);
            if learnt.is_invalid()
                && invalid >= proxy.config.invalid_threshold
                && proxy.config.invalid_threshold > 0
            {
                tracing::warn!(
                    invalid,
                    threshold = proxy.config.invalid_threshold,
                    "invalid requests above the threshold: suspect requests are refused"
                );
            }
        }
        Err(error) => proxy.redis_state(false, Some(&error)),
    }
    let (mut head, incoming) = response.into_parts();
    for name in HOP_BY_HOP {
        head.headers.remove(name);
    }
    let mut out = Response::new(Body::new(incoming));
    *out.status_mut() = head.status;
    *out.headers_mut() = head.headers;
    out
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn rate_limit_headers_are_read() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-limit", HeaderValue::from_static("5"));
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        headers.insert(
            "x-ratelimit-reset-after",
            HeaderValue::from_static("4.9991"),
        );
        headers.insert("x-ratelimit-bucket", HeaderValue::from_static("abc"));
        let learnt = learn_from(200, &headers);
        assert_eq!(learnt.bucket, Some((5, 0, 5000, "abc".to_owned())));
        assert!(!learnt.is_invalid());
        headers.insert("x-ratelimit-global", HeaderValue::from_static("true"));
        headers.insert("retry-after", HeaderValue::from_static("2"));
        let limited = learn_from(429, &headers);
        assert_eq!(
            (limited.scope.as_str(), limited.retry_after_ms),
            ("global", 2000)
        );
        assert!(limited.is_invalid());
        headers.remove("x-ratelimit-global");
        headers.insert("x-ratelimit-scope", HeaderValue::from_static("shared"));
        assert!(!learn_from(429, &headers).is_invalid());
        assert!(learn_from(401, &HeaderMap::new()).is_invalid());
        headers.insert("x-ratelimit-reset-after", HeaderValue::from_static("-1"));
        assert_eq!(learn_from(200, &headers).bucket, None);
    }

    #[test]
    fn tokens_are_hashed() {
        let mut headers = HeaderMap::new();
        assert_eq!(token_hash(&headers), "none");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bot secret"),
        );
        let hash = token_hash(&headers);
        assert_eq!(hash.len(), 32);
        assert!(!hash.contains("secret"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bot other"));
        assert_ne!(token_hash(&headers), hash);
    }
}
