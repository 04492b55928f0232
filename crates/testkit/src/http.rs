//! An HTTP/1.1 client for tests that talk to control APIs, health endpoints and the REST
//! proxy: one request per fresh connection (hyper's client connection; plain `http://` only),
//! the whole answer read into memory.

use std::io;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// Body (de-chunked).
    pub body: Vec<u8>,
}

impl Answer {
    /// The first header with this (lowercase) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; an empty body is `null`.
    pub fn json(&self) -> serde_json::Result<serde_json::Value> {
        if self.body.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&self.body)
    }
}

/// Sends `method path` to `addr` (`host:port`) with extra headers and an optional body
/// (`Content-Length` is set when there is one).
pub async fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> io::Result<Answer> {
    let mut builder = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let body = Bytes::copy_from_slice(body.unwrap_or_default());
    let request = builder.body(Full::new(body)).map_err(invalid_input)?;

    let stream = TcpStream::connect(addr).await?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(io::Error::other)?;
    let connection = tokio::spawn(connection);
    let answer = sender.send_request(request).await.map_err(invalid_data)?;
    let status = answer.status().as_u16();
    let headers = answer
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    let body = answer.into_body().collect().await.map_err(invalid_data)?;
    connection.abort();
    Ok(Answer {
        status,
        headers,
        body: body.to_bytes().to_vec(),
    })
}

/// `request` with a JSON body and `Content-Type: application/json`.
pub async fn json(addr: &str, method: &str, path: &str, body: &str) -> io::Result<Answer> {
    request(
        addr,
        method,
        path,
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
    )
    .await
}

/// A request to a Discord REST API (the simulator's, or the REST proxy's) at `addr`: `path`
/// under `/api/v10`, as the bot with `token` if given, with a JSON `body` if given.
pub async fn discord(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> io::Result<Answer> {
    let auth = token.map(|token| format!("Bot {token}"));
    let mut headers = Vec::new();
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth.as_str()));
    }
    if body.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    let path = format!("/api/v10{path}");
    request(addr, method, &path, &headers, body.map(str::as_bytes)).await
}

fn invalid_input(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, error)
}

fn invalid_data(error: hyper::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;

    use super::*;

    /// A server that answers one connection with `raw` after reading the request head.
    async fn answering(raw: &'static [u8]) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut byte = [0_u8; 1];
                if stream.read(&mut byte).await.expect("read") == 0 {
                    return;
                }
                head.push(byte[0]);
            }
            stream.write_all(raw).await.expect("write");
            let _ = stream.shutdown().await;
        });
        addr
    }

    #[tokio::test]
    async fn reads_content_length_and_chunked_answers_and_refuses_garbage() {
        let addr = answering(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi",
        )
        .await;
        let a = request(&addr, "GET", "/", &[], None).await.expect("answer");
        assert_eq!((a.status, a.text().as_str()), (200, "hi"));
        assert_eq!(a.header("content-type"), Some("text/plain"));
        let addr = answering(
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .await;
        let c = request(&addr, "GET", "/", &[], None).await.expect("answer");
        assert_eq!((c.status, c.text().as_str()), (404, "abcde"));
        let addr = answering(b"garbage").await;
        assert!(request(&addr, "GET", "/", &[], None).await.is_err());
    }

    #[tokio::test]
    async fn a_path_that_is_not_a_uri_is_an_error_not_a_panic() {
        let addr = answering(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await;
        let error = request(&addr, "GET", "/a path", &[], None).await;
        assert_eq!(
            error.expect_err("refused").kind(),
            io::ErrorKind::InvalidInput
        );
    }
}
