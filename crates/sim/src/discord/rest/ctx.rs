//! [`Ctx`]: one request as the handlers see it, with typed access to its path and query
//! parameters (Discord's form errors when they do not parse).

use serde_json::Value;

use super::error::ApiError;
use super::routes::Matched;
use crate::discord::{DiscordConfig, Shared};

/// One request, as the handlers see it.
pub(super) struct Ctx<'a> {
    pub(super) shared: &'a Shared,
    pub(super) route: &'a Matched,
    pub(super) config: DiscordConfig,
    pub(super) query: Vec<(String, String)>,
    pub(super) body: Value,
    pub(super) reason: Option<String>,
}

impl Ctx<'_> {
    /// A snowflake path parameter (50035 `NUMBER_TYPE_COERCE` if it is not one).
    pub(super) fn id(&self, name: &'static str) -> Result<u64, ApiError> {
        let raw = self.route.param(name).unwrap_or_default();
        raw.parse().map_err(|_| {
            ApiError::form(
                &[name],
                "NUMBER_TYPE_COERCE",
                &format!("Value \"{raw}\" is not snowflake."),
            )
        })
    }

    /// A raw path parameter.
    pub(super) fn param(&self, name: &str) -> &str {
        self.route.param(name).unwrap_or_default()
    }

    /// A query parameter.
    pub(super) fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean query parameter (`true`/`1`/`True`).
    pub(super) fn query_flag(&self, name: &str) -> bool {
        self.query(name)
            .is_some_and(|v| matches!(v, "true" | "True" | "1"))
    }

    /// An integer query parameter within `min..=max`, `default` when absent.
    pub(super) fn query_int(
        &self,
        name: &'static str,
        min: u64,
        max: u64,
        default: u64,
    ) -> Result<u64, ApiError> {
        let Some(raw) = self.query(name) else {
            return Ok(default);
        };
        let value: u64 = raw.parse().map_err(|_| {
            ApiError::form(
                &[name],
                "NUMBER_TYPE_COERCE",
                &format!("Value \"{raw}\" is not int."),
            )
        })?;
        if value < min {
            return Err(ApiError::form(
                &[name],
                "NUMBER_TYPE_MIN",
                &format!("int value should be greater than or equal to {min}."),
            ));
        }
        if value > max {
            return Err(ApiError::form(
                &[name],
                "NUMBER_TYPE_MAX",
                &format!("int value should be less than or equal to {max}."),
            ));
        }
        Ok(value)
    }

    /// An optional snowflake query parameter.
    pub(super) fn query_id(&self, name: &'static str) -> Result<Option<u64>, ApiError> {
        self.query(name)
            .map(|raw| {
                raw.parse().map_err(|_| {
                    ApiError::form(
                        &[name],
                        "NUMBER_TYPE_COERCE",
                        &format!("Value \"{raw}\" is not snowflake."),
                    )
                })
            })
            .transpose()
    }

    /// The JSON body (`null` when there was none).
    pub(super) fn body(&self) -> &Value {
        &self.body
    }

    /// The bot's user id (also the application id).
    pub(super) fn bot_id(&self) -> u64 {
        self.config.bot_id
    }
}
