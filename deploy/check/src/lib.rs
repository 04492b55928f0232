//! Checks the deployment files against the binaries.
//!
//! The compose and stack files set environment variables for the `gateway` and `worker`
//! services; the binaries read a fixed set of variables, listed in `docs/CONFIGURATION.md`
//! (itself checked against the code by `configuration_reference_matches_the_code` in
//! `crates/shards` and `worker`). This crate reads both and reports:
//!
//! - a variable set for a service that its binary does not read (a typo, or a variable that was
//!   renamed or removed) — `NAME_FILE` counts as `NAME` for secrets;
//! - a required variable that is not set (neither `NAME` nor `NAME_FILE`);
//! - a variable set both as `NAME` and `NAME_FILE` (the binaries refuse that);
//! - a `NAME_FILE=/run/secrets/x` without the secret `x` mounted in that service.
//!
//! For the stack's gateway service ([`check_stack_gateway`]) it reports what keeps
//! `docker service scale` from being the only step to scale: shards not claimed
//! (`GATEWAY_SHARDS` other than `auto`), `GATEWAY_GROUP`/`GATEWAY_GROUPS` set, a shard count the
//! replicas might not agree on, or a replica count that is not a plain number.
//!
//! It also lists the metric names a Grafana dashboard queries, so a test can check that the
//! binaries export them. The tests in `tests/` apply all of this to the repository's files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

/// How a binary uses one variable, from a row of `docs/CONFIGURATION.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    /// The service refuses to start without it.
    pub required: bool,
    /// A secret: may be given as `NAME_FILE` instead.
    pub secret: bool,
}

/// The variables one binary reads, by name.
pub type Accepted = BTreeMap<String, Variable>;

/// The repository's root (this crate lives in `deploy/check`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Reads a file of the repository, with a clear panic if it is missing (for tests).
pub fn read_repo_file(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The variables listed in section `## {section}` of the configuration reference, plus those of
/// `## All services`.
pub fn accepted_variables(reference: &str, section: &str) -> Result<Accepted, String> {
    let mut accepted = table(reference, "All services")?;
    accepted.extend(table(reference, section)?);
    Ok(accepted)
}

fn table(reference: &str, section: &str) -> Result<Accepted, String> {
    let body = reference
        .split(&format!("\n## {section}\n"))
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .ok_or_else(|| format!("no section \"## {section}\" in the configuration reference"))?;
    let rows: Accepted = body
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("| `")?;
            let (name, rest) = rest.split_once('`')?;
            let required = rest.split('|').nth(1)?.trim() == "yes";
            let secret = line.contains("*secret*");
            Some((name.to_owned(), Variable { required, secret }))
        })
        .collect();
    if rows.is_empty() {
        return Err(format!("section \"## {section}\" lists no variable"));
    }
    Ok(rows)
}

/// Parses a YAML document (compose and stack files have exactly one).
pub fn parse_yaml(text: &str) -> Result<Yaml, String> {
    YamlLoader::load_from_str(text)
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .ok_or_else(|| "empty YAML file".to_owned())
}

fn scalar(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        Yaml::Null => Some(String::new()),
        _ => None,
    }
}

/// One service of a compose/stack file as the checks see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Service {
    /// The first word of `command` (`gateway`, `worker`, ...), if any.
    pub command: Option<String>,
    /// `environment`, in map or list form.
    pub environment: BTreeMap<String, String>,
    /// File names of the mounted secrets under `/run/secrets/` (target, or source without one).
    pub secrets: BTreeSet<String>,
    /// `deploy.replicas`.
    pub replicas: Option<i64>,
}

/// The services of one or more compose files, merged in order as `docker compose -f a -f b`
/// merges them (environment entries and secrets add up, later values win).
pub fn services(files: &[&Yaml]) -> Result<BTreeMap<String, Service>, String> {
    let mut out: BTreeMap<String, Service> = BTreeMap::new();
    for file in files {
        let Some(map) = file["services"].as_hash() else {
            return Err("no services".to_owned());
        };
        for (name, def) in map {
            let name = scalar(name).ok_or("a service name is not a string")?;
            let service = out.entry(name.clone()).or_default();
            if let Some(command) = def["command"].as_vec().and_then(|c| c.first()) {
                service.command = scalar(command);
            } else if let Some(command) = def["command"].as_str() {
                service.command = command.split_whitespace().next().map(str::to_owned);
            }
            match &def["environment"] {
                Yaml::Hash(env) => {
                    for (k, v) in env {
                        let k = scalar(k).ok_or(format!("{name}: an environment key"))?;
                        let v = scalar(v).ok_or(format!("{name}: {k} is not a scalar"))?;
                        service.environment.insert(k, v);
                    }
                }
                Yaml::Array(env) => {
                    for item in env {
                        let item = scalar(item).ok_or(format!("{name}: an environment item"))?;
                        let (k, v) = item.split_once('=').unwrap_or((&item, ""));
                        service.environment.insert(k.to_owned(), v.to_owned());
                    }
                }
                Yaml::BadValue => {}
                _ => return Err(format!("{name}: environment is neither a map nor a list")),
            }
            if let Some(secrets) = def["secrets"].as_vec() {
                for secret in secrets {
                    let file = match secret {
                        Yaml::Hash(_) => scalar(&secret["target"])
                            .filter(|t| !t.is_empty())
                            .or_else(|| scalar(&secret["source"])),
                        other => scalar(other),
                    }
                    .ok_or(format!("{name}: a secret without source"))?;
                    service.secrets.insert(file);
                }
            }
            if let Some(replicas) = def["deploy"]["replicas"].as_i64() {
                service.replicas = Some(replicas);
            }
        }
    }
    Ok(out)
}

/// What is wrong with the environment of one service, given what its binary accepts; empty
/// when nothing is.
pub fn check_service(service: &Service, accepted: &Accepted) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, value) in &service.environment {
        let base = name.strip_suffix("_FILE");
        let known = accepted.contains_key(name)
            || base.is_some_and(|b| accepted.get(b).is_some_and(|v| v.secret));
        if !known {
            problems.push(format!("{name} is set but not read by the binary"));
            continue;
        }
        if let Some(base) = base.filter(|b| accepted.contains_key(*b)) {
            if service.environment.contains_key(base) {
                problems.push(format!("both {base} and {name} are set"));
            }
            if let Some(file) = value.strip_prefix("/run/secrets/")
                && !service.secrets.contains(file)
            {
                problems.push(format!("{name}={value}, but no secret {file} is mounted"));
            }
        }
    }
    for (name, variable) in accepted {
        if variable.required
            && !service.environment.contains_key(name)
            && !service.environment.contains_key(&format!("{name}_FILE"))
        {
            problems.push(format!("{name} is required but not set (nor {name}_FILE)"));
        }
    }
    problems
}

/// What is wrong with a Swarm stack's gateway service: its replicas must claim their shards
/// (`GATEWAY_SHARDS=auto`) with a fixed `SHARD_COUNT`, without `GATEWAY_GROUP`/`GATEWAY_GROUPS`,
/// and `deploy.replicas` must be a plain number that `docker service scale` changes. Empty when
/// nothing is.
pub fn check_stack_gateway(service: &Service) -> Vec<String> {
    let mut problems = Vec::new();
    match service.environment.get("GATEWAY_SHARDS").map(|v| v.trim()) {
        Some("auto") => {}
        Some(other) => problems.push(format!(
            "GATEWAY_SHARDS={other}: the replicas must claim their shards (GATEWAY_SHARDS=auto)"
        )),
        None => problems.push(
            "GATEWAY_SHARDS is not set: the replicas must claim their shards (GATEWAY_SHARDS=auto)"
                .to_owned(),
        ),
    }
    for name in ["GATEWAY_GROUP", "GATEWAY_GROUPS"] {
        if service.environment.contains_key(name) {
            problems.push(format!(
                "{name} is set: shard groups tie the shards to the replica count (use GATEWAY_SHARDS=auto)"
            ));
        }
    }
    match service.environment.get("SHARD_COUNT").map(|v| v.trim()) {
        None | Some("auto") => problems.push(
            "SHARD_COUNT must be a fixed number: the replicas share the shards of one count"
                .to_owned(),
        ),
        Some(_) => {}
    }
    if service.replicas.is_none() {
        problems.push("deploy.replicas is not a number".to_owned());
    }
    problems
}

/// Every `swarmcord_*` metric name a Grafana dashboard's queries use, without the `_sum` /
/// `_count` / `_bucket` suffixes Prometheus adds to summaries and histograms.
pub fn dashboard_metrics(dashboard: &serde_json::Value) -> BTreeSet<String> {
    let mut exprs = Vec::new();
    collect_exprs(dashboard, &mut exprs);
    let mut names = BTreeSet::new();
    for expr in exprs {
        let mut rest = expr.as_str();
        while let Some(start) = rest.find("swarmcord_") {
            let tail = &rest[start..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            let name = &tail[..end];
            let name = ["_sum", "_count", "_bucket"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name);
            names.insert(name.to_owned());
            rest = &tail[end..];
        }
    }
    names
}

fn collect_exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match v {
                    serde_json::Value::String(s) if k == "expr" => out.push(s.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

/// The Rust sources of the binaries and libraries (`crates/`, `gateway/`, `worker/`, without
/// `tests/` and `benches/`), concatenated, for "does the code mention this name" checks.
pub fn workspace_sources() -> String {
    fn walk(dir: &Path, out: &mut String) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                // Only what ships: a metric named in a test proves nothing.
                if path
                    .file_name()
                    .is_some_and(|n| n == "target" || n == "tests" || n == "benches")
                {
                    continue;
                }
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs")
                && let Ok(text) = std::fs::read_to_string(&path)
            {
                out.push_str(&text);
                out.push('\n');
            }
        }
    }
    let mut all = String::new();
    for dir in ["crates", "gateway", "worker"] {
        walk(&repo_root().join(dir), &mut all);
    }
    all
}
