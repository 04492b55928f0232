//! Sending replies through Discord REST, idempotently.

use std::time::Duration;

use swarmcord_commands::Reply;
use swarmcord_stream::HandlerError;
use twilight_http::Client;
use twilight_http::request::{Form, Request};
use twilight_http::routing::Route;
use twilight_model::channel::Message;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, MessageMarker};

/// A Discord message nonce (at most 25 characters) derived from a stable key: the same event
/// always yields the same nonce, so a redelivered event's reply is not sent twice
/// (`enforce_nonce`).
pub fn nonce_for(key: &str) -> String {
    // FNV-1a, 64 bits: stable across processes and builds (unlike `DefaultHasher`).
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("sc{hash:016x}")
}

/// Discord's limit on message content, in characters.
pub const MAX_CONTENT: usize = 2000;

/// `content` cut to [`MAX_CONTENT`] characters (with an ellipsis), so that a long answer is
/// shortened rather than refused by Discord.
pub fn fit(content: &str) -> std::borrow::Cow<'_, str> {
    if content.char_indices().nth(MAX_CONTENT).is_none() {
        return std::borrow::Cow::Borrowed(content);
    }
    let cut = content
        .char_indices()
        .nth(MAX_CONTENT - 1)
        .map_or(content.len(), |(i, _)| i);
    std::borrow::Cow::Owned(format!("{}…", &content[..cut]))
}

/// Sends `reply` to `channel_id`, as an answer to `reference` if given. `nonce_key` makes the
/// send idempotent. A 4xx answer (missing permissions, unknown channel) is logged and not
/// retried; a network error or 5xx asks for a retry.
pub async fn send(
    http: &Client,
    channel_id: Id<ChannelMarker>,
    reference: Option<Id<MessageMarker>>,
    reply: &Reply,
    nonce_key: &str,
) -> Result<Option<Message>, HandlerError> {
    let mut body = serde_json::json!({
        "content": fit(&reply.content),
        "nonce": nonce_for(nonce_key),
        "enforce_nonce": true,
        "allowed_mentions": reply.mentions(),
    });
    if !reply.embeds.is_empty() {
        body["embeds"] = serde_json::to_value(&reply.embeds).unwrap_or_default();
    }
    if !reply.components.is_empty() {
        body["components"] = serde_json::to_value(&reply.components).unwrap_or_default();
    }
    if let Some(reference) = reference {
        body["message_reference"] =
            serde_json::json!({"message_id": reference.to_string(), "fail_if_not_exists": false});
    }
    let request = Request::builder(&Route::CreateMessage {
        channel_id: channel_id.get(),
    });
    let request = if reply.attachments.is_empty() {
        request.json(&body)
    } else {
        request.form(upload_form(&mut body, &reply.attachments))
    };
    let request = request.build().map_err(|error| {
        HandlerError::reject("cannot build the reply request").with_source(error)
    })?;
    let started = std::time::Instant::now();
    let result =
        tokio::time::timeout(Duration::from_secs(15), http.request::<Message>(request)).await;
    metrics::histogram!("swarmcord_worker_rest_seconds", "route" => "create_message")
        .record(started.elapsed().as_secs_f64());
    let response = match result {
        Err(_elapsed) => return Err(HandlerError::retry("Discord REST timed out")),
        Ok(Err(error)) => {
            if let twilight_http::error::ErrorType::Response { status, .. } = error.kind()
                && status.is_client_error()
            {
                tracing::warn!(%error, channel_id = channel_id.get(), "Discord refused the reply; not retrying");
                return Ok(None);
            }
            return Err(HandlerError::retry("Discord REST failed").with_source(error));
        }
        Ok(Ok(response)) => response,
    };
    match response.model().await {
        Ok(message) => Ok(Some(message)),
        Err(error) => {
            tracing::warn!(%error, "the reply was sent but its answer did not parse");
            Ok(None)
        }
    }
}

/// A `multipart/form-data` body as Discord wants it for uploads: the JSON in `payload_json`
/// (with an `attachments` entry per file) and each file in a part `files[n]`, `n` its id.
fn upload_form(
    body: &mut serde_json::Value,
    files: &[twilight_model::http::attachment::Attachment],
) -> Form {
    body["attachments"] = files
        .iter()
        .map(|file| {
            serde_json::json!({
                "id": file.id,
                "filename": file.filename,
                "description": file.description,
            })
        })
        .collect();
    let payload = serde_json::to_vec(body).unwrap_or_default();
    files.iter().fold(
        Form::new().json_part(b"payload_json", &payload),
        |form, file| {
            let name = format!("files[{}]", file.id);
            form.file_part(name.as_bytes(), file.filename.as_bytes(), &file.file)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_content_is_cut_to_discords_limit() {
        assert_eq!(fit("short"), "short");
        let exact = "é".repeat(MAX_CONTENT);
        assert_eq!(fit(&exact), exact.as_str());
        let long = "é".repeat(MAX_CONTENT + 1);
        let cut = fit(&long);
        assert_eq!(cut.chars().count(), MAX_CONTENT);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn uploads_put_the_json_and_each_file_in_their_parts() {
        let reply = Reply::text("logs").with_file("a.txt", "hello");
        let mut body = serde_json::json!({"content": "logs"});
        let form = upload_form(&mut body, &reply.attachments);
        assert_eq!(
            body["attachments"],
            serde_json::json!([{"id": 0, "filename": "a.txt", "description": null}])
        );
        let bytes = String::from_utf8_lossy(&form.build()).into_owned();
        assert!(bytes.contains("name=\"payload_json\""), "{bytes}");
        assert!(
            bytes.contains("name=\"files[0]\"; filename=\"a.txt\""),
            "{bytes}"
        );
        assert!(bytes.contains("hello"), "{bytes}");
    }

    #[test]
    fn nonces_are_stable_short_and_distinct() {
        let a = nonce_for("abc:1");
        assert_eq!(a, nonce_for("abc:1"));
        assert_ne!(a, nonce_for("abc:2"));
        assert!(a.len() <= 25, "{a}");
    }
}
