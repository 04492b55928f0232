//! RabbitMQ least privilege per service: the permissions that
//! `deploy/rabbitmq/definitions.json` gives `swarmcord-gateway` and `swarmcord-worker`, applied
//! with `rabbitmqctl` to a private vhost and fresh users on the test broker, let the real
//! gateway and worker do their work (a `!ping` is answered), and refuse what each must not do:
//! above all, a worker login cannot publish to the events exchange (it cannot forge events).

use lapin::options::{BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use swarmcord_testkit::cluster::{Cluster, fast_identify};
use swarmcord_testkit::talk::{WAIT, say};
use swarmcord_testkit::unique_name;
use swarmcord_testkit::worker::Worker;

/// `rabbitmqctl` of the Debian package, run as the current user (whose Erlang cookie the
/// broker of `scripts/services.sh` uses).
const RABBITMQCTL: &str = "/usr/lib/rabbitmq/bin/rabbitmqctl";

fn node() -> String {
    std::env::var("SWARMCORD_TEST_RABBIT_NODE").unwrap_or_else(|_| "swarmcord@localhost".into())
}

fn rabbitmqctl(args: &[&str]) {
    let output = std::process::Command::new(RABBITMQCTL)
        .arg("-n")
        .arg(node())
        .args(args)
        .output()
        .expect("run rabbitmqctl");
    assert!(
        output.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The (configure, write, read) regexes of `user` in the committed definitions.
fn permissions(user: &str) -> [String; 3] {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/rabbitmq/definitions.json"
    );
    let definitions: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read definitions"))
            .expect("definitions are JSON");
    let entry = definitions["permissions"]
        .as_array()
        .expect("permissions")
        .iter()
        .find(|p| p["user"] == user)
        .unwrap_or_else(|| panic!("no permissions for {user}"));
    ["configure", "write", "read"].map(|k| entry[k].as_str().expect("regex").to_owned())
}

/// A vhost with a gateway and a worker user holding the committed permissions, and `guest`
/// with every permission (for the test's own taps); deleted when dropped.
struct Vhost {
    name: String,
    users: Vec<String>,
}

impl Vhost {
    fn create() -> Self {
        let name = unique_name("perm");
        rabbitmqctl(&["add_vhost", &name]);
        rabbitmqctl(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"]);
        let mut vhost = Self {
            name,
            users: Vec::new(),
        };
        for role in ["gateway", "worker"] {
            let user = format!("{}-{role}", vhost.name);
            rabbitmqctl(&["add_user", &user, &user]);
            vhost.users.push(user.clone());
            let [configure, write, read] = permissions(&format!("swarmcord-{role}"));
            rabbitmqctl(&[
                "set_permissions",
                "-p",
                &vhost.name,
                &user,
                &configure,
                &write,
                &read,
            ]);
        }
        vhost
    }

    /// `amqp://USER:USER@HOST:PORT/VHOST` on the test broker (`user` = `guest` or a role).
    fn url(&self, role: &str) -> String {
        let base = swarmcord_testkit::amqp_url();
        let authority = base
            .split_once('@')
            .and_then(|(_, rest)| rest.split_once('/'))
            .map_or("127.0.0.1:5672", |(authority, _)| authority)
            .to_owned();
        let credentials = if role == "guest" {
            "guest:guest".to_owned()
        } else {
            let user = format!("{}-{role}", self.name);
            format!("{user}:{user}")
        };
        format!("amqp://{credentials}@{authority}/{}", self.name)
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        for user in &self.users {
            let _ = std::process::Command::new(RABBITMQCTL)
                .args(["-n", &node(), "delete_user", user])
                .output();
        }
        let _ = std::process::Command::new(RABBITMQCTL)
            .args(["-n", &node(), "delete_vhost", &self.name])
            .output();
    }
}

/// A connection and a channel logged in with `url`.
async fn open(url: &str) -> Result<(Connection, lapin::Channel), String> {
    let connection = Connection::connect(url, ConnectionProperties::default())
        .await
        .map_err(|e| e.to_string())?;
    let channel = connection
        .create_channel()
        .await
        .map_err(|e| e.to_string())?;
    Ok((connection, channel))
}

/// Publishes one message with publisher confirms; the error text when the broker refuses.
async fn publish(url: &str, exchange: &str, routing_key: &str) -> Result<(), String> {
    let (connection, channel) = open(url).await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let confirm = channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            br#"{"forged":true}"#,
            BasicProperties::default(),
        )
        .await
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    let _ = connection.close(200, "done".into()).await;
    if confirm.is_ack() {
        Ok(())
    } else {
        Err(format!("not acknowledged: {confirm:?}"))
    }
}

/// Starts a consumer on `queue`; the error text when the broker refuses.
async fn consume(url: &str, queue: &str) -> Result<(), String> {
    let (connection, channel) = open(url).await?;
    channel
        .basic_consume(
            queue.into(),
            "permissions-test".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| e.to_string())?;
    let _ = connection.close(200, "done".into()).await;
    Ok(())
}

#[tokio::test]
async fn each_service_login_can_do_its_work_and_a_worker_cannot_forge_events() {
    let vhost = Vhost::create();
    let mut cluster = Cluster::start(fast_identify()).await;
    // The default names, which the permission regexes are written for.
    cluster.amqp_url = vhost.url("guest");
    cluster.exchange = swarmcord_protocol::amqp::EVENTS_EXCHANGE.to_owned();
    let guild = &cluster.guilds_on_shards([0], 1)[&0];
    let (gateway_url, worker_url) = (vhost.url("gateway"), vhost.url("worker"));

    let gateway = cluster
        .gateway(
            "gw-perm",
            &[("SHARD_COUNT", "1"), ("AMQP_URL", &gateway_url)],
        )
        .await;
    gateway.wait_ready(WAIT).await;
    let database = unique_name("perm").replace('-', "_");
    let worker = Worker::start_with(
        &cluster,
        &database,
        "swarmcord.worker",
        "info",
        &[("AMQP_URL", &worker_url)],
    )
    .await;
    let control = cluster.sim.control();
    let pong = say(&control, guild.text_channels[0], guild.members[0], "!ping").await;
    assert!(pong.starts_with("Pong!"), "{pong}\n{}", worker.logs());

    // The worker may send gateway commands (default exchange → the gateway's reply queue)...
    publish(
        &worker_url,
        "",
        &swarmcord_protocol::amqp::gateway_queue("gw-perm"),
    )
    .await
    .expect("a worker login publishes gateway commands");
    // ...but not events.
    let forged = publish(
        &worker_url,
        swarmcord_protocol::amqp::EVENTS_EXCHANGE,
        "MESSAGE_CREATE",
    )
    .await
    .expect_err("a worker login must not publish to the events exchange");
    assert!(forged.contains("ACCESS_REFUSED"), "{forged}");
    // Neither login reads the other's queue.
    let stolen = consume(
        &worker_url,
        &swarmcord_protocol::amqp::gateway_queue("gw-perm"),
    )
    .await
    .expect_err("a worker login must not consume a gateway's commands");
    assert!(stolen.contains("ACCESS_REFUSED"), "{stolen}");
    let stolen = consume(&gateway_url, "swarmcord.worker")
        .await
        .expect_err("a gateway login must not consume the workers' events");
    assert!(stolen.contains("ACCESS_REFUSED"), "{stolen}");
    // The gateway publishes events.
    publish(
        &gateway_url,
        swarmcord_protocol::amqp::EVENTS_EXCHANGE,
        "MESSAGE_CREATE",
    )
    .await
    .expect("a gateway login publishes events");
    assert_eq!(gateway.terminate().await.code(), Some(0));
    drop(worker);
}
