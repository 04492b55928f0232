//! The repository's compose and stack files set only variables the binaries read, set every
//! required one, mount the secrets their `*_FILE` variables name; the stack's gateways claim
//! their shards, so `docker service scale` is the only step to scale them; the dashboard
//! queries metrics the binaries export. And the checks themselves reject broken files.

use std::collections::BTreeMap;

use swarmcord_deploy_check::{
    Accepted, Service, accepted_variables, check_service, check_stack_gateway, dashboard_metrics,
    parse_yaml, read_repo_file, services, workspace_sources,
};

fn reference() -> (Accepted, Accepted, Accepted) {
    let doc = read_repo_file("docs/CONFIGURATION.md");
    (
        accepted_variables(&doc, "Gateway").expect("Gateway table"),
        accepted_variables(&doc, "Worker").expect("Worker table"),
        accepted_variables(&doc, "REST proxy").expect("REST proxy table"),
    )
}

/// Checks every gateway, worker and REST proxy service of the merged `files`; returns the number
/// of services checked of each kind.
fn check_files(files: &[&str]) -> (usize, usize, usize) {
    let (gateway, worker, rest) = reference();
    let parsed: Vec<_> = files
        .iter()
        .map(|f| parse_yaml(&read_repo_file(f)).unwrap_or_else(|e| panic!("{f}: {e}")))
        .collect();
    let merged = services(&parsed.iter().collect::<Vec<_>>()).expect("services");
    let mut counts = (0, 0, 0);
    let mut problems = Vec::new();
    for (name, service) in &merged {
        let accepted = match service.command.as_deref() {
            Some("gateway") => {
                counts.0 += 1;
                &gateway
            }
            Some("worker") => {
                counts.1 += 1;
                &worker
            }
            Some("rest-proxy") => {
                counts.2 += 1;
                &rest
            }
            _ => continue,
        };
        problems.extend(
            check_service(service, accepted)
                .into_iter()
                .map(|p| format!("{}: service {name}: {p}", files.join(" + "))),
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    counts
}

#[test]
fn docker_compose_sets_only_what_the_binaries_read() {
    assert_eq!(check_files(&["docker-compose.yml"]), (1, 1, 1));
}

#[test]
fn the_simulator_override_sets_only_what_the_binaries_read() {
    assert_eq!(
        check_files(&["docker-compose.yml", "docker-compose.sim.yml"]),
        (1, 1, 1)
    );
}

#[test]
fn the_swarm_stack_sets_only_what_the_binaries_read() {
    assert_eq!(check_files(&["stack.yml"]), (1, 1, 1));
    assert_eq!(
        check_files(&["stack.yml", "stack.monitoring.yml"]),
        (1, 1, 1)
    );
    assert_eq!(check_files(&["stack.yml", "stack.sim.yml"]), (1, 1, 1));
}

#[test]
fn the_stack_gateways_claim_their_shards_and_scale_with_docker_service_scale() {
    let stack = parse_yaml(&read_repo_file("stack.yml")).expect("yaml");
    let services = services(&[&stack]).expect("services");
    let gateway = &services["gateway"];
    assert_eq!(check_stack_gateway(gateway), Vec::<String>::new());
    for (name, service) in &services {
        if matches!(service.command.as_deref(), Some("gateway" | "worker")) {
            assert!(
                service.environment.keys().all(|k| !matches!(
                    k.as_str(),
                    "DISCORD_TOKEN" | "AMQP_URL" | "REDIS_URL" | "MONGO_URL"
                )),
                "{name}: credentials come from secrets (*_FILE) in the stack"
            );
        }
    }
}

#[test]
fn the_dashboard_queries_metrics_the_binaries_export() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&read_repo_file("deploy/grafana/dashboards/swarmcord.json"))
            .expect("dashboard JSON");
    let names = dashboard_metrics(&dashboard);
    assert!(names.len() >= 10, "{names:?}");
    let sources = workspace_sources();
    let missing: Vec<_> = names
        .iter()
        .filter(|n| !sources.contains(&format!("\"{n}\"")))
        .collect();
    assert!(missing.is_empty(), "not exported by any crate: {missing:?}");
}

// ---------------------------------------------------------------------------------------------
// the checks reject what they are for

fn service(yaml: &str) -> Service {
    let doc = parse_yaml(yaml).expect("yaml");
    services(&[&doc]).expect("services").remove("s").expect("s")
}

#[test]
fn unknown_missing_doubled_and_unmounted_variables_are_reported() {
    let (gateway, worker, _) = reference();
    let typo = service(
        "services:\n  s:\n    command: [gateway]\n    environment:\n      DISCORD_TOKEN: t\n      AMQP_URL: a\n      REDIS_URL: r\n      GATEWAY_SHARD_COUNT: '4'\n",
    );
    assert_eq!(
        check_service(&typo, &gateway),
        ["GATEWAY_SHARD_COUNT is set but not read by the binary"]
    );
    // MONGO_URL is the worker's, not the gateway's; a worker without it lacks a required one.
    let list_form = service(
        "services:\n  s:\n    environment:\n      - DISCORD_TOKEN=t\n      - AMQP_URL=a\n      - REDIS_URL=r\n      - MONGO_URL=m\n",
    );
    assert_eq!(
        check_service(&list_form, &gateway),
        ["MONGO_URL is set but not read by the binary"]
    );
    assert!(check_service(&list_form, &worker).is_empty());
    let mut no_mongo = list_form.clone();
    no_mongo.environment.remove("MONGO_URL");
    assert_eq!(
        check_service(&no_mongo, &worker),
        ["MONGO_URL is required but not set (nor MONGO_URL_FILE)"]
    );

    let secrets = service(
        "services:\n  s:\n    environment:\n      DISCORD_TOKEN: t\n      DISCORD_TOKEN_FILE: /run/secrets/discord_token\n      AMQP_URL_FILE: /run/secrets/amqp\n      REDIS_URL_FILE: /run/secrets/redis\n      HTTP_ADDR_FILE: /x\n    secrets:\n      - source: swarmcord_redis\n        target: redis\n",
    );
    assert_eq!(
        check_service(&secrets, &gateway),
        [
            "AMQP_URL_FILE=/run/secrets/amqp, but no secret amqp is mounted",
            "both DISCORD_TOKEN and DISCORD_TOKEN_FILE are set",
            "DISCORD_TOKEN_FILE=/run/secrets/discord_token, but no secret discord_token is mounted",
            "HTTP_ADDR_FILE is set but not read by the binary",
        ]
    );
}

#[test]
fn a_stack_gateway_with_shard_groups_is_rejected() {
    let file = "deploy/tests/fixtures/stack-gateway-groups.yml";
    let doc = parse_yaml(&read_repo_file(file)).expect("yaml");
    let gateway = services(&[&doc])
        .expect("services")
        .remove("gateway")
        .expect("gateway");
    assert_eq!(
        check_stack_gateway(&gateway),
        [
            "GATEWAY_SHARDS is not set: the replicas must claim their shards (GATEWAY_SHARDS=auto)",
            "GATEWAY_GROUP is set: shard groups tie the shards to the replica count (use GATEWAY_SHARDS=auto)",
            "GATEWAY_GROUPS is set: shard groups tie the shards to the replica count (use GATEWAY_SHARDS=auto)",
        ]
    );
    let explicit = service(
        "services:\n  s:\n    environment:\n      GATEWAY_SHARDS: 0-3\n      SHARD_COUNT: auto\n",
    );
    assert_eq!(
        check_stack_gateway(&explicit),
        [
            "GATEWAY_SHARDS=0-3: the replicas must claim their shards (GATEWAY_SHARDS=auto)",
            "SHARD_COUNT must be a fixed number: the replicas share the shards of one count",
            "deploy.replicas is not a number",
        ]
    );
}

#[test]
fn the_reference_tables_are_read_with_required_and_secret_columns() {
    let (gateway, worker, _) = reference();
    assert!(gateway["DISCORD_TOKEN"].required && gateway["DISCORD_TOKEN"].secret);
    assert!(!gateway["SHARD_COUNT"].required && !gateway["SHARD_COUNT"].secret);
    assert!(gateway.contains_key("RUST_LOG"), "the All services table");
    assert!(worker["MONGO_URL"].required && !gateway.contains_key("MONGO_URL"));
    let required: BTreeMap<_, _> = worker.iter().filter(|(_, v)| v.required).collect();
    assert_eq!(required.len(), 4, "{required:?}");
    assert!(accepted_variables("# nothing here\n", "Gateway").is_err());
}

#[test]
fn dashboard_metric_names_drop_summary_suffixes() {
    let dashboard = serde_json::json!({"panels": [{"targets": [
        {"expr": "sum(rate(swarmcord_worker_event_seconds_sum[5m])) / sum(rate(swarmcord_worker_event_seconds_count[5m]))"},
        {"expr": "rabbitmq_queue_messages_ready + swarmcord_gateway_publish_buffer"}
    ]}]});
    assert_eq!(
        dashboard_metrics(&dashboard)
            .into_iter()
            .collect::<Vec<_>>(),
        [
            "swarmcord_gateway_publish_buffer",
            "swarmcord_worker_event_seconds"
        ]
    );
}
