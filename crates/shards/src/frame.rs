//! Zero-copy reading of a gateway frame: the opcode, sequence, event type and the raw `d`.

use serde::Deserialize;
use serde_json::value::RawValue;

/// A gateway frame as received, borrowing from the text.
#[derive(Debug, Deserialize)]
pub struct Frame<'a> {
    /// Opcode.
    pub op: u8,
    /// Sequence number (dispatches only).
    #[serde(default)]
    pub s: Option<u64>,
    /// Event type (dispatches only).
    #[serde(default, borrow)]
    pub t: Option<&'a str>,
    /// The payload, untouched.
    #[serde(borrow, default)]
    pub d: Option<&'a RawValue>,
}

/// A dispatch (op 0) with everything forwarding needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dispatch<'a> {
    /// Sequence number.
    pub seq: u64,
    /// Event type, e.g. `MESSAGE_CREATE`.
    pub kind: &'a str,
    /// The raw JSON of `d`, exactly as Discord sent it.
    pub payload: &'a str,
}

/// Parses a frame; `Ok(None)` for anything that is not a dispatch.
pub fn dispatch(text: &str) -> Result<Option<Dispatch<'_>>, serde_json::Error> {
    let frame: Frame<'_> = serde_json::from_str(text)?;
    if frame.op != 0 {
        return Ok(None);
    }
    match (frame.s, frame.t, frame.d) {
        (Some(seq), Some(kind), Some(d)) => Ok(Some(Dispatch {
            seq,
            kind,
            payload: d.get(),
        })),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_payload_is_the_raw_bytes() {
        let text = r#"{"t":"MESSAGE_CREATE","s":42,"op":0,"d":{"content":"hi",  "id":"1"}}"#;
        let d = dispatch(text).expect("json").expect("dispatch");
        assert_eq!((d.seq, d.kind), (42, "MESSAGE_CREATE"));
        assert_eq!(
            d.payload, r#"{"content":"hi",  "id":"1"}"#,
            "not re-serialised"
        );
        assert!(dispatch(r#"{"op":11,"d":null}"#).expect("json").is_none());
        assert!(
            dispatch(r#"{"op":10,"d":{"heartbeat_interval":1}}"#)
                .expect("json")
                .is_none()
        );
        assert!(dispatch("{nope").is_err());
    }

    #[test]
    fn escaped_event_names_are_rejected_as_errors_not_panics() {
        // A borrowed &str cannot hold an escaped string; serde reports an error.
        assert!(dispatch(r#"{"op":0,"s":1,"t":"A\u0042","d":{}}"#).is_err());
    }
}
