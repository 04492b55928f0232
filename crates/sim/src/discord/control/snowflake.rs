//! Serde helpers: snowflakes travel as strings, as in Discord's JSON (numbers are accepted too).
use serde::{Deserialize, Deserializer, Serializer};

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's `with` calls it with a reference"
)]
pub(crate) fn serialize<S: Serializer>(id: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&id.to_string())
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        S(String),
        N(u64),
    }
    match Either::deserialize(d)? {
        Either::S(s) => s.parse().map_err(serde::de::Error::custom),
        Either::N(n) => Ok(n),
    }
}

pub(crate) mod vec {
    use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq};

    pub(crate) fn serialize<S: Serializer>(ids: &[u64], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(ids.len()))?;
        for id in ids {
            seq.serialize_element(&id.to_string())?;
        }
        seq.end()
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
        let raw: Vec<serde_json::Value> = Vec::deserialize(d)?;
        raw.into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => s.parse().map_err(serde::de::Error::custom),
                serde_json::Value::Number(n) => {
                    n.as_u64().ok_or_else(|| serde::de::Error::custom("bad id"))
                }
                _ => Err(serde::de::Error::custom("bad id")),
            })
            .collect()
    }
}

pub(crate) mod opt {
    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(
        clippy::ref_option,
        reason = "serde's `with` calls it with a reference"
    )]
    pub(crate) fn serialize<S: Serializer>(id: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match id {
            Some(id) => s.serialize_str(&id.to_string()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        let raw: Option<serde_json::Value> = Option::deserialize(d)?;
        match raw {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => {
                s.parse().map(Some).map_err(serde::de::Error::custom)
            }
            Some(serde_json::Value::Number(n)) => Ok(n.as_u64()),
            Some(_) => Err(serde::de::Error::custom("bad id")),
        }
    }
}
