//! Helpers shared by the Lavalink tests: requests to the simulator's REST API.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a part of the helpers"
)]

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use swarmcord_testkit::http;

/// How long a request may take.
const WAIT: Duration = Duration::from_secs(5);

/// An answer, its body as text.
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One request on a fresh connection with `Authorization: {auth}` and a JSON body (empty
/// when `None`).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<&Value>,
) -> HttpResponse {
    let body = body.map(Value::to_string).unwrap_or_default();
    http_text(addr, method, path, auth, &body).await
}

/// [`http`] with any text as the JSON body (for malformed bodies).
pub async fn http_text(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> HttpResponse {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(auth) = auth {
        headers.push(("Authorization", auth));
    }
    let addr = addr.to_string();
    let request = http::request(&addr, method, path, &headers, Some(body.as_bytes()));
    let answer = tokio::time::timeout(WAIT, request)
        .await
        .expect("http response in time")
        .expect("answers");
    HttpResponse {
        status: answer.status,
        body: answer.text(),
        headers: answer.headers,
    }
}
