//! Configuration from environment variables.
//!
//! Every service reads its settings with an [`Env`], which records every variable it was asked
//! about (so a service can list what it accepts, and tests can check the deployment files
//! against it) and fails with a [`ConfigError`] that names the variable and says what is
//! wrong. A secret can come from `NAME` or, for Docker secrets, from the file named by
//! `NAME_FILE`.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;
use std::sync::Mutex;

use crate::Secret;

/// A configuration variable that is missing, unreadable or invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration variable {variable}: {problem}")]
pub struct ConfigError {
    /// The variable's name.
    pub variable: String,
    /// What is wrong with it (never contains a secret's value).
    pub problem: String,
}

impl ConfigError {
    /// An error about `variable`.
    pub fn new(variable: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            variable: variable.into(),
            problem: problem.into(),
        }
    }
}

/// How a variable is used, for the configuration reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableDoc {
    /// Whether the service refuses to start without it.
    pub required: bool,
    /// Whether it is a secret (accepts `NAME_FILE`).
    pub secret: bool,
    /// Default value, if any.
    pub default: Option<String>,
    /// One-line description.
    pub help: String,
}

/// A source of environment variables that remembers which ones were read.
#[derive(Debug)]
pub struct Env {
    vars: BTreeMap<String, String>,
    seen: Mutex<BTreeMap<String, VariableDoc>>,
}

impl Env {
    /// The process environment.
    pub fn from_process() -> Self {
        Self::from_pairs(std::env::vars())
    }

    /// A fixed set of variables (tests, tools).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            seen: Mutex::new(BTreeMap::new()),
        }
    }

    fn note(&self, name: &str, doc: VariableDoc) {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.to_owned(), doc);
    }

    /// Every variable read so far, with how it is used.
    pub fn documented(&self) -> BTreeMap<String, VariableDoc> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Checks a Markdown configuration reference against the variables read so far: the
    /// table under the `## {section}` heading of `doc` must list exactly those variables
    /// (one row per variable: name, required, default, meaning; names and defaults in
    /// backticks), mark the required ones `yes`, and show each non-empty default. Returns what
    /// disagrees.
    pub fn check_reference(&self, doc: &str, section: &str) -> Result<(), String> {
        let table = doc
            .split(&format!("## {section}\n"))
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .ok_or_else(|| format!("no `## {section}` section"))?;
        let rows: BTreeMap<&str, &str> = table
            .lines()
            .filter_map(|line| {
                let name = line.strip_prefix("| `")?.split('`').next()?;
                Some((name, line))
            })
            .collect();
        let documented = self.documented();
        let mut problems = Vec::new();
        for name in rows.keys().filter(|n| !documented.contains_key(**n)) {
            problems.push(format!("{name} is documented but not read"));
        }
        for (name, variable) in &documented {
            let Some(row) = rows.get(name.as_str()) else {
                problems.push(format!("{name} is read but not documented"));
                continue;
            };
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            if (cells.get(2) == Some(&"yes")) != variable.required {
                problems.push(format!("{name}: required column disagrees in {row}"));
            }
            if let Some(default) = variable.default.as_ref().filter(|d| !d.is_empty())
                && cells.get(3) != Some(&format!("`{default}`").as_str())
            {
                problems.push(format!("{name}: default `{default}` missing in {row}"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }

    fn raw(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// An optional string.
    pub fn optional(&self, name: &str, help: &str) -> Option<String> {
        self.note(
            name,
            VariableDoc {
                required: false,
                secret: false,
                default: None,
                help: help.to_owned(),
            },
        );
        self.raw(name).map(str::to_owned)
    }

    /// A string with a default.
    pub fn string(&self, name: &str, default: &str, help: &str) -> String {
        self.note(
            name,
            VariableDoc {
                required: false,
                secret: false,
                default: Some(default.to_owned()),
                help: help.to_owned(),
            },
        );
        self.raw(name).unwrap_or(default).to_owned()
    }

    /// A required string.
    pub fn required(&self, name: &str, help: &str) -> Result<String, ConfigError> {
        self.note(
            name,
            VariableDoc {
                required: true,
                secret: false,
                default: None,
                help: help.to_owned(),
            },
        );
        self.raw(name)
            .map(str::to_owned)
            .ok_or_else(|| ConfigError::new(name, "is required but not set"))
    }

    /// A value parsed with `FromStr`, or `default` when unset.
    pub fn parse<T>(&self, name: &str, default: T, help: &str) -> Result<T, ConfigError>
    where
        T: FromStr + Display,
        T::Err: Display,
    {
        self.note(
            name,
            VariableDoc {
                required: false,
                secret: false,
                default: Some(default.to_string()),
                help: help.to_owned(),
            },
        );
        match self.raw(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|e| ConfigError::new(name, format!("{raw:?} is not valid: {e}"))),
        }
    }

    /// A boolean (`true/false/1/0/yes/no/on/off`), or `default` when unset.
    pub fn flag(&self, name: &str, default: bool, help: &str) -> Result<bool, ConfigError> {
        self.note(
            name,
            VariableDoc {
                required: false,
                secret: false,
                default: Some(default.to_string()),
                help: help.to_owned(),
            },
        );
        match self.raw(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "false" | "0" | "no" | "off") => Ok(false),
            Some(v) => Err(ConfigError::new(
                name,
                format!("{v:?} is not a boolean (use true or false)"),
            )),
        }
    }

    /// A secret from `NAME`, or from the file named by `NAME_FILE` (Docker secrets). Setting
    /// both is an error; so is an empty value. A trailing newline in the file is ignored.
    pub fn secret(
        &self,
        name: &str,
        required: bool,
        help: &str,
    ) -> Result<Option<Secret>, ConfigError> {
        self.note(
            name,
            VariableDoc {
                required,
                secret: true,
                default: None,
                help: help.to_owned(),
            },
        );
        let file_var = format!("{name}_FILE");
        match (self.raw(name), self.raw(&file_var)) {
            (Some(_), Some(_)) => Err(ConfigError::new(
                name,
                format!("set either {name} or {file_var}, not both"),
            )),
            (Some(value), None) => Ok(Some(Secret::new(value.trim().to_owned()))),
            (None, Some(path)) => {
                let content = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::new(&file_var, format!("cannot read {path:?}: {e}"))
                })?;
                let value = content.trim_end_matches(['\n', '\r']).to_owned();
                if value.is_empty() {
                    return Err(ConfigError::new(
                        &file_var,
                        format!("the file {path:?} is empty"),
                    ));
                }
                Ok(Some(Secret::new(value)))
            }
            (None, None) if required => Err(ConfigError::new(
                name,
                format!("is required but neither {name} nor {file_var} is set"),
            )),
            (None, None) => Ok(None),
        }
    }
}

/// A comma-separated list, trimmed, without empty items.
pub fn split_list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_table_is_checked_against_what_was_read() {
        let env = Env::from_pairs([("TOKEN", "t")]);
        env.secret("TOKEN", true, "the token").expect("read");
        env.parse::<u16>("PORT", 8080, "port").expect("read");
        let good = "# Config\n\n## Svc\n\n| variable | required | default | meaning |\n|---|---|---|---|\n| `TOKEN` | yes | | the token |\n| `PORT` | no | `8080` | port |\n\n## Other\n\n| `ELSEWHERE` | no | | ignored |\n";
        assert_eq!(env.check_reference(good, "Svc"), Ok(()));
        let problems = |doc: &str| env.check_reference(doc, "Svc").unwrap_err();
        assert!(
            problems(&good.replace("| `PORT` | no | `8080` | port |\n", ""))
                .contains("PORT is read but not documented")
        );
        assert!(problems(&good.replace("`8080`", "`80`")).contains("PORT: default `8080`"));
        assert!(problems(&good.replace("| yes |", "| no |")).contains("TOKEN: required"));
        assert!(
            problems(&good.replace("| `PORT`", "| `EXTRA` | no | | x |\n| `PORT`"))
                .contains("EXTRA is documented but not read")
        );
        assert!(problems("nothing").contains("no `## Svc` section"));
    }

    #[test]
    fn errors_name_the_variable() {
        let env = Env::from_pairs([("PORT", "eighty"), ("EMPTY", " ")]);
        let error = env
            .parse::<u16>("PORT", 80, "port")
            .expect_err("not a number");
        assert_eq!(error.variable, "PORT");
        assert!(
            error
                .to_string()
                .starts_with("configuration variable PORT: \"eighty\" is not valid")
        );
        assert_eq!(
            env.parse::<u16>("EMPTY", 80, "blank means unset")
                .expect("default"),
            80
        );
        let missing = env.required("TOKEN", "bot token").expect_err("missing");
        assert_eq!(
            missing.to_string(),
            "configuration variable TOKEN: is required but not set"
        );
        assert!(env.flag("PORT", false, "x").is_err());
    }

    #[test]
    fn secrets_come_from_the_variable_or_a_file() {
        let dir = std::env::temp_dir().join(format!("ops-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("token");
        std::fs::write(&file, "from-file\n").expect("write");
        let path = file.to_string_lossy().into_owned();

        let env = Env::from_pairs([("A", "direct".to_owned()), ("B_FILE", path.clone())]);
        assert_eq!(
            env.secret("A", true, "")
                .expect("a")
                .expect("some")
                .expose(),
            "direct"
        );
        assert_eq!(
            env.secret("B", true, "")
                .expect("b")
                .expect("some")
                .expose(),
            "from-file"
        );
        assert!(env.secret("C", false, "").expect("optional").is_none());
        assert!(env.secret("C", true, "").is_err());

        let both = Env::from_pairs([("A", "x".to_owned()), ("A_FILE", path)]);
        assert!(
            both.secret("A", true, "")
                .expect_err("both")
                .to_string()
                .contains("not both")
        );
        let missing = Env::from_pairs([("A_FILE", "/nonexistent/secret")]);
        let error = missing.secret("A", true, "").expect_err("unreadable");
        assert_eq!(error.variable, "A_FILE");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn every_read_variable_is_documented() {
        let env = Env::from_pairs([("X", "1")]);
        let _ = env.parse::<u32>("X", 5, "an x");
        let _ = env.secret("TOKEN", true, "the token");
        let docs = env.documented();
        assert_eq!(docs["X"].default.as_deref(), Some("5"));
        assert!(docs["TOKEN"].secret && docs["TOKEN"].required);
    }

    #[test]
    fn lists_split_on_commas() {
        assert_eq!(split_list(" a, b ,,c "), ["a", "b", "c"]);
        assert!(split_list("").is_empty());
    }
}
