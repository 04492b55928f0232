//! A private RabbitMQ node starts, keeps durable data across a graceful restart, and leaves
//! nothing behind when dropped.

use std::time::{Duration, Instant};

use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use swarmcord_testkit::rabbit::PrivateRabbit;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_node_restarts_with_its_data_and_cleans_up() {
    let mut rabbit = PrivateRabbit::start().await;
    println!("start: {:?}", rabbit.last_start_duration());
    assert_ne!(rabbit.port(), 5672);
    let dir = rabbit.dir().to_owned();

    let connection = Connection::connect(&rabbit.url(), ConnectionProperties::default())
        .await
        .expect("connect");
    let channel = connection.create_channel().await.expect("channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare("kept".into(), durable, FieldTable::default())
        .await
        .expect("declare");
    let confirmation = channel
        .basic_publish(
            "".into(),
            "kept".into(),
            BasicPublishOptions::default(),
            b"survives",
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    assert!(confirmation.is_ack());

    let stopping = Instant::now();
    rabbit.stop().await;
    println!("stop: {:?}", stopping.elapsed());
    assert!(!rabbit.is_running());
    assert!(
        Connection::connect(&rabbit.url(), ConnectionProperties::default())
            .await
            .is_err(),
        "nothing answers while stopped"
    );

    rabbit.start_again().await;
    println!("start again: {:?}", rabbit.last_start_duration());
    let connection = Connection::connect(&rabbit.url(), ConnectionProperties::default())
        .await
        .expect("connect again on the same port");
    let channel = connection.create_channel().await.expect("channel");
    let message = channel
        .basic_get("kept".into(), BasicGetOptions { no_ack: true })
        .await
        .expect("get")
        .expect("the persistent message survived the restart");
    assert_eq!(message.delivery.data, b"survives");

    drop(rabbit);
    assert!(!dir.exists(), "the node's directory is removed");
    tokio::time::sleep(Duration::from_millis(200)).await;
}
