//! File uploads: `multipart/form-data` bodies with the JSON in `payload_json` and each file in
//! a part `files[n]`, as Discord takes them for messages, interaction callbacks, follow-ups and
//! edits. The files become the message's `attachments`.

use serde_json::{Value, json};

use super::error::{FormErrors, max_length_error};

/// Where the parsed body lists the uploaded file parts (the simulator's own key: the recorded
/// body shows what was uploaded, and the message handlers find it next to `payload_json`).
pub(crate) const UPLOADS: &str = "__sim_files";

/// Most files one message carries.
const MAX_FILES: usize = 10;

/// A `multipart/form-data` body: the `payload_json` part and the `files[n]` parts (name,
/// size and content type; the bytes themselves are not kept).
pub(super) struct Multipart<'b> {
    pub(super) payload_json: Option<&'b [u8]>,
    pub(super) files: Vec<Value>,
}

/// Splits a `multipart/form-data` body into its parts.
pub(super) fn parse_multipart<'b>(content_type: &str, body: &'b [u8]) -> Option<Multipart<'b>> {
    let boundary = content_type.split("boundary=").nth(1)?.trim_matches('"');
    let delimiter = format!("--{boundary}");
    let positions = find_all(body, delimiter.as_bytes());
    let mut out = Multipart {
        payload_json: None,
        files: Vec::new(),
    };
    for pair in positions.windows(2) {
        let part = &body[pair[0] + delimiter.len()..pair[1]];
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let Some(split) = find_all(part, b"\r\n\r\n").first().copied() else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..split]);
        let content = &part[split + 4..];
        let content = content.strip_suffix(b"\r\n").unwrap_or(content);
        let Some(name) = header_param(&head, "name") else {
            continue;
        };
        if name == "payload_json" {
            out.payload_json = Some(content);
        } else if let Some(index) = name
            .strip_prefix("files[")
            .and_then(|rest| rest.strip_suffix(']'))
            .and_then(|n| n.parse::<u64>().ok())
        {
            let content_type = head.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.trim()
                    .eq_ignore_ascii_case("content-type")
                    .then(|| value.trim().to_owned())
            });
            out.files.push(json!({
                "field": name,
                "index": index,
                "filename": header_param(&head, "filename").unwrap_or_default(),
                "size": content.len(),
                "content_type": content_type,
            }));
        }
    }
    Some(out)
}

/// `name="value"` from a part's `Content-Disposition` header.
fn header_param(head: &str, param: &str) -> Option<String> {
    let needle = format!("{param}=\"");
    let start = head
        .match_indices(&needle)
        .find(|(i, _)| *i == 0 || matches!(head.as_bytes()[i - 1], b' ' | b';'))?
        .0
        + needle.len();
    let end = head[start..].find('"')?;
    Some(head[start..start + end].to_owned())
}

fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return Vec::new();
    }
    (0..=haystack.len() - needle.len())
        .filter(|&i| &haystack[i..i + needle.len()] == needle)
        .collect()
}

/// The uploads of a body (the file parts), with the `description` and `filename` of the
/// `attachments` entry that names each by id. Checks Discord's limit of 10 files.
pub(super) fn uploads(
    errors: &mut FormErrors,
    body: &serde_json::Map<String, Value>,
) -> Vec<Value> {
    let files = body
        .get(UPLOADS)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if files.len() > MAX_FILES {
        max_length_error(errors, &["files"], MAX_FILES);
    }
    let entries = body
        .get("attachments")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    files
        .into_iter()
        .map(|mut file| {
            let index = file["index"].as_u64();
            if let Some(entry) = entries
                .iter()
                .find(|e| index.is_some() && crate::util::snowflake(&e["id"]) == index)
            {
                if let Some(description) = entry["description"].as_str() {
                    file["description"] = json!(description);
                }
                if let Some(filename) = entry["filename"].as_str() {
                    file["filename"] = json!(filename);
                }
            }
            file
        })
        .collect()
}

/// The ids of existing attachments an edit keeps (the `attachments` entries that are not new
/// uploads); `None` when the edit does not list attachments (all are kept).
pub(super) fn kept(body: &serde_json::Map<String, Value>, uploads: &[Value]) -> Option<Vec<u64>> {
    let entries = body.get("attachments")?;
    let entries = entries.as_array().cloned().unwrap_or_default();
    Some(
        entries
            .iter()
            .filter_map(|e| crate::util::snowflake(&e["id"]))
            .filter(|id| !uploads.iter().any(|u| u["index"].as_u64() == Some(*id)))
            .collect(),
    )
}

/// The attachment objects of `uploads` on message `message_id` in `channel_id`, after its
/// `existing` attachments. Their ids are the message's snowflake with another worker id per
/// file (unique, and sorted after the message).
pub(super) fn attachment_objects(
    channel_id: u64,
    message_id: u64,
    existing: &[Value],
    uploads: &[Value],
) -> Vec<Value> {
    let first = existing
        .iter()
        .filter_map(|a| crate::util::snowflake(&a["id"]))
        .map(|id| (id >> 17) & 0x1f)
        .max()
        .map_or(2, |worker| worker + 1);
    uploads
        .iter()
        .zip(first..)
        .map(|(file, worker)| {
            let id = (message_id & !(0x1f << 17)) | (worker << 17);
            let filename = file["filename"].as_str().unwrap_or_default();
            let url =
                format!("https://cdn.discordapp.com/attachments/{channel_id}/{id}/{filename}");
            let mut object = json!({
                "id": id.to_string(),
                "filename": filename,
                "size": file["size"],
                "url": url,
                "proxy_url": url.replace("cdn.discordapp.com", "media.discordapp.net"),
            });
            for key in ["content_type", "description"] {
                if file[key].is_string() {
                    object[key] = file[key].clone();
                }
            }
            object
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_bodies_give_their_json_and_files() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"payload_json\"\r\nContent-Type: application/json\r\n\r\n{\"content\":\"hi\"}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"files[0]\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XyZ--\r\n";
        let parts = parse_multipart("multipart/form-data; boundary=XyZ", body).expect("parts");
        assert_eq!(parts.payload_json, Some(&b"{\"content\":\"hi\"}"[..]));
        assert_eq!(parts.files.len(), 1);
        assert_eq!(parts.files[0]["filename"], "a.txt");
        assert_eq!(parts.files[0]["size"], 5);
        assert_eq!(parts.files[0]["index"], 0);
        assert_eq!(parts.files[0]["content_type"], "text/plain");
        let objects = attachment_objects(1, 1 << 22 | 1 << 17, &[], &parts.files);
        assert_eq!(objects[0]["filename"], "a.txt");
        assert_ne!(objects[0]["id"], (1_u64 << 22 | 1 << 17).to_string());
        let more = attachment_objects(1, 1 << 22 | 1 << 17, &objects, &parts.files);
        assert_ne!(more[0]["id"], objects[0]["id"]);
    }
}
