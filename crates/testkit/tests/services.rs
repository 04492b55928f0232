//! The test services answer through the same client crates the product uses: RabbitMQ through
//! lapin (publisher confirms, consume, ack), Redis through redis-rs, MongoDB (FerretDB in CI)
//! through the official driver.

use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};
use mongodb::bson::{Document, doc};
use swarmcord_testkit::{amqp_url, mongo_url, redis_url, unique_name};

#[tokio::test]
async fn rabbitmq_confirmed_publish_consume_and_ack() {
    let conn = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .expect("connect to RabbitMQ (run scripts/services.sh up)");
    let channel = conn.create_channel().await.expect("channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm mode");
    let queue = unique_name("test.services");
    let options = QueueDeclareOptions {
        auto_delete: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(queue.as_str().into(), options, FieldTable::default())
        .await
        .expect("declare");

    for i in 0..10u8 {
        let confirm = channel
            .basic_publish(
                "".into(),
                queue.as_str().into(),
                BasicPublishOptions::default(),
                &[i],
                BasicProperties::default(),
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
        assert!(
            matches!(confirm, Confirmation::Ack(_)),
            "broker did not ack publish {i}: {confirm:?}"
        );
    }

    let mut consumer = channel
        .basic_consume(
            queue.as_str().into(),
            "test".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume");
    let mut seen = Vec::new();
    while seen.len() < 10 {
        let delivery = tokio::time::timeout(Duration::from_secs(5), consumer.next())
            .await
            .expect("delivery within 5 s")
            .expect("stream open")
            .expect("delivery");
        seen.push(delivery.data[0]);
        delivery.ack(BasicAckOptions::default()).await.expect("ack");
    }
    assert_eq!(seen, (0..10).collect::<Vec<u8>>());
    let purged = channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await
        .expect("delete");
    assert_eq!(purged, 0, "every message was acked");
}

#[tokio::test]
async fn redis_set_get_and_expire() {
    let client = redis::Client::open(redis_url()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis (run scripts/services.sh up)");
    let key = unique_name("test:services");
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("value")
        .arg("PX")
        .arg(60_000)
        .query_async(&mut conn)
        .await
        .expect("SET");
    let value: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .expect("GET");
    assert_eq!(value.as_deref(), Some("value"));
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .expect("PTTL");
    assert!(ttl > 0 && ttl <= 60_000, "ttl {ttl}");
    let deleted: i64 = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .expect("DEL");
    assert_eq!(deleted, 1);
}

#[tokio::test]
async fn mongodb_insert_upsert_find() {
    let client = mongodb::Client::with_uri_str(mongo_url())
        .await
        .expect("mongodb url");
    let db = client.database(&unique_name("test_services").replace('-', "_"));
    let coll = db.collection::<Document>("settings");
    coll.insert_one(doc! {"_id": 1_i64, "prefix": "!"})
        .await
        .expect("insert (run scripts/services.sh up)");
    let result = coll
        .update_one(doc! {"_id": 2_i64}, doc! {"$set": {"prefix": "?"}})
        .upsert(true)
        .await
        .expect("upsert");
    assert!(result.upserted_id.is_some());
    coll.update_one(doc! {"_id": 1_i64}, doc! {"$set": {"prefix": "$"}})
        .await
        .expect("update");
    let one = coll
        .find_one(doc! {"_id": 1_i64})
        .await
        .expect("find")
        .expect("document 1");
    assert_eq!(one.get_str("prefix").expect("prefix"), "$");
    let mut cursor = coll
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .await
        .expect("find all");
    let mut prefixes = Vec::new();
    while let Some(doc) = cursor.next().await {
        prefixes.push(
            doc.expect("doc")
                .get_str("prefix")
                .expect("prefix")
                .to_owned(),
        );
    }
    assert_eq!(prefixes, ["$", "?"]);
    db.drop().await.expect("drop database");
}
