//! Repository round trips against the test MongoDB (FerretDB in CI).

use std::time::{Duration, SystemTime};

use mongodb::bson::{Bson, Document, doc};
use swarmcord_store::{
    GuildSettings, Infraction, InfractionCursor, InfractionKind, Store, StoreError, StoreErrorType,
    StoreOptions, truncate_to_millis,
};

/// A store on a fresh database of its own; call [`TestDb::finish`] at the end. If a test
/// panics first, `Drop` removes the database.
struct TestDb {
    store: Store,
    finished: bool,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Runs during a panic, on the test's runtime thread, which this blocks: use a runtime
        // and a client of its own (the store's pool lives on the blocked runtime).
        let name = self.store.database_name().to_owned();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let url = swarmcord_testkit::mongo_url();
                let store = Store::connect(&url, &name, StoreOptions::default()).await?;
                store.drop_database().await
            })
        })
        .join();
    }
}

impl TestDb {
    async fn new() -> Self {
        swarmcord_testkit::init_tracing();
        let name = swarmcord_testkit::unique_name("store").replace('-', "_");
        let store = Store::connect(
            &swarmcord_testkit::mongo_url(),
            &name,
            StoreOptions::default(),
        )
        .await
        .expect("connect");
        store.ensure_indexes().await.expect("ensure_indexes");
        Self {
            store,
            finished: false,
        }
    }

    /// The raw collection, to check what is stored.
    async fn raw(&self, collection: &str) -> mongodb::Collection<Document> {
        let client = mongodb::Client::with_uri_str(swarmcord_testkit::mongo_url())
            .await
            .expect("raw client");
        client
            .database(self.store.database_name())
            .collection(collection)
    }

    /// Whether the server is FerretDB rather than MongoDB.
    async fn is_ferretdb(&self) -> bool {
        let client = mongodb::Client::with_uri_str(swarmcord_testkit::mongo_url())
            .await
            .expect("raw client");
        let info = client
            .database("admin")
            .run_command(doc! { "buildInfo": 1 })
            .await
            .expect("buildInfo");
        info.contains_key("ferretdbVersion")
    }

    async fn finish(mut self) {
        self.store.drop_database().await.expect("drop database");
        self.finished = true;
    }
}

fn assert_invalid<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    match result {
        Err(error) if error.kind() == StoreErrorType::Invalid => {}
        other => panic!("expected StoreError::Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn guild_settings_default_when_absent() {
    let db = TestDb::new().await;
    let settings = db.store.guild_settings().get(42).await.unwrap();
    assert_eq!(settings, GuildSettings::new(42));
    assert!(settings.prefix.is_none() && settings.updated_at.is_none());
    db.finish().await;
}

#[tokio::test]
async fn guild_settings_round_trip() {
    let db = TestDb::new().await;
    let guilds = db.store.guild_settings();
    let guild = 1_234_567_890_123_456_789;
    let before = truncate_to_millis(SystemTime::now());

    let written = guilds.set_prefix(guild, Some("?!")).await.unwrap();
    assert_eq!(written.prefix.as_deref(), Some("?!"));
    guilds
        .set_mod_log(guild, Some(987_654_321_987_654_321))
        .await
        .unwrap();
    guilds.set_locale(guild, Some("es-419")).await.unwrap();
    guilds
        .set_dj_role(guild, Some(876_543_210_987_654_321))
        .await
        .unwrap();

    let read = guilds.get(guild).await.unwrap();
    assert_eq!(read.guild_id, guild);
    assert_eq!(read.prefix.as_deref(), Some("?!"));
    assert_eq!(read.mod_log_channel, Some(987_654_321_987_654_321));
    assert_eq!(read.locale.as_deref(), Some("es-419"));
    assert_eq!(read.dj_role, Some(876_543_210_987_654_321));
    assert!(read.updated_at.unwrap() >= before);

    // Snowflakes are stored as 64-bit integers, `_id` is the guild id.
    let raw = db.raw("guild_settings").await;
    let stored = raw.find_one(doc! {}).await.unwrap().unwrap();
    assert_eq!(
        stored.get("_id"),
        Some(&Bson::Int64(1_234_567_890_123_456_789))
    );
    assert_eq!(
        stored.get("mod_log_channel"),
        Some(&Bson::Int64(987_654_321_987_654_321))
    );
    assert_eq!(
        stored.get("dj_role"),
        Some(&Bson::Int64(876_543_210_987_654_321))
    );

    // Clearing removes the fields again.
    guilds.set_prefix(guild, None).await.unwrap();
    guilds.set_mod_log(guild, None).await.unwrap();
    guilds.set_dj_role(guild, None).await.unwrap();
    let cleared = guilds.set_locale(guild, None).await.unwrap();
    assert_eq!(cleared.prefix, None);
    assert_eq!(cleared.mod_log_channel, None);
    assert_eq!(cleared.locale, None);
    assert_eq!(cleared.dj_role, None);
    assert_eq!(guilds.get(guild).await.unwrap(), cleared);
    assert_eq!(raw.count_documents(doc! {}).await.unwrap(), 1);

    // Another guild is unaffected.
    assert_eq!(guilds.get(7).await.unwrap(), GuildSettings::new(7));
    assert!(guilds.delete(guild).await.unwrap());
    assert!(!guilds.delete(guild).await.unwrap());
    assert_eq!(guilds.get(guild).await.unwrap(), GuildSettings::new(guild));
    db.finish().await;
}

#[tokio::test]
async fn guild_settings_reject_bad_input() {
    let db = TestDb::new().await;
    let guilds = db.store.guild_settings();
    guilds.set_prefix(1, Some("!")).await.unwrap();

    assert_invalid(guilds.set_prefix(1, Some("")).await);
    assert_invalid(guilds.set_prefix(1, Some(&"x".repeat(17))).await);
    assert_invalid(guilds.set_prefix(1, Some("a b")).await);
    assert_invalid(guilds.set_locale(1, Some("english")).await);
    assert_invalid(guilds.set_locale(1, Some("en_US")).await);
    assert_invalid(guilds.set_mod_log(1, Some(u64::MAX)).await);
    assert_invalid(guilds.get(u64::MAX).await);
    assert_invalid(guilds.disable_command(1, "two  spaces").await);
    assert_invalid(guilds.disable_command(1, "").await);

    // Nothing was written by the rejected calls.
    let settings = guilds.get(1).await.unwrap();
    assert_eq!(settings.prefix.as_deref(), Some("!"));
    assert_eq!(settings.locale, None);
    assert_eq!(settings.mod_log_channel, None);
    assert!(settings.disabled_commands.is_empty());
    // 16 characters (not bytes) is the limit.
    let long = "é".repeat(16);
    let accepted = guilds.set_prefix(1, Some(&long)).await.unwrap();
    assert_eq!(accepted.prefix.as_deref(), Some(long.as_str()));
    db.finish().await;
}

#[tokio::test]
async fn disable_and_enable_commands_without_duplicates() {
    let db = TestDb::new().await;
    let guilds = db.store.guild_settings();

    guilds.disable_command(5, "ping").await.unwrap();
    guilds.disable_command(5, "ban").await.unwrap();
    guilds.disable_command(5, "ping").await.unwrap();
    let settings = guilds.disable_command(5, "PING").await.unwrap();
    assert_eq!(settings.disabled_commands, ["ban", "ping"]);
    assert!(settings.is_command_disabled("Ping"));
    assert!(!settings.is_command_disabled("kick"));

    let raw = db.raw("guild_settings").await;
    let stored = raw.find_one(doc! { "_id": 5_i64 }).await.unwrap().unwrap();
    assert_eq!(stored.get_array("disabled_commands").unwrap().len(), 2);

    let settings = guilds.enable_command(5, "ping").await.unwrap();
    assert_eq!(settings.disabled_commands, ["ban"]);
    // Enabling again, or enabling in a guild without settings, is harmless.
    let settings = guilds.enable_command(5, "ping").await.unwrap();
    assert_eq!(settings.disabled_commands, ["ban"]);
    let other = guilds.enable_command(6, "ping").await.unwrap();
    assert!(other.disabled_commands.is_empty());

    // Other settings survive command changes.
    guilds.set_prefix(5, Some("$")).await.unwrap();
    guilds.disable_command(5, "kick").await.unwrap();
    let settings = guilds.get(5).await.unwrap();
    assert_eq!(settings.prefix.as_deref(), Some("$"));
    assert_eq!(settings.disabled_commands, ["ban", "kick"]);
    db.finish().await;
}

#[tokio::test]
async fn concurrent_disables_all_succeed() {
    let db = TestDb::new().await;
    let guilds = db.store.guild_settings();
    let names: Vec<String> = (0..8).map(|i| format!("cmd{i}")).collect();
    // Concurrent upserts of a missing document race to insert it; the losers must retry
    // instead of failing with a duplicate-key error.
    let tasks = names.iter().map(|name| guilds.disable_command(9, name));
    for result in futures_util::future::join_all(tasks).await {
        result.unwrap();
    }
    let settings = guilds.get(9).await.unwrap();
    if db.is_ferretdb().await {
        // FerretDB 1.24 applies an update by reading the document and overwriting it by `_id`,
        // so concurrent updates of one document can be lost (MongoDB applies `$addToSet`
        // atomically). Only check that what landed is well-formed.
        assert!(!settings.disabled_commands.is_empty());
        assert!(settings.disabled_commands.iter().all(|c| names.contains(c)));
        assert!(settings.disabled_commands.is_sorted());
    } else {
        assert_eq!(settings.disabled_commands, names);
    }
    db.finish().await;
}

#[tokio::test]
async fn corrupt_documents_are_database_errors() {
    let db = TestDb::new().await;
    let raw = db.raw("guild_settings").await;
    raw.insert_one(doc! { "_id": 3_i64, "mod_log_channel": -5_i64 })
        .await
        .unwrap();
    raw.insert_one(doc! { "_id": 4_i64, "prefix": 17_i32 })
        .await
        .unwrap();
    // A document with only some fields reads with defaults for the rest.
    raw.insert_one(doc! { "_id": 8_i64, "prefix": "%" })
        .await
        .unwrap();
    let guilds = db.store.guild_settings();
    for guild in [3, 4] {
        match guilds.get(guild).await {
            Err(error) if error.kind() == StoreErrorType::Database => {
                assert!(!error.message().is_empty());
            }
            other => panic!("expected StoreError::Database, got {other:?}"),
        }
    }
    let partial = guilds.get(8).await.unwrap();
    assert_eq!(partial.prefix.as_deref(), Some("%"));
    assert!(partial.disabled_commands.is_empty());
    db.finish().await;
}

#[tokio::test]
async fn ensure_indexes_is_idempotent() {
    let db = TestDb::new().await;
    db.store.ensure_indexes().await.unwrap();
    db.store.ensure_indexes().await.unwrap();
    db.store.ping().await.unwrap();
    let names = db
        .raw("infractions")
        .await
        .list_index_names()
        .await
        .unwrap();
    assert!(
        names.contains(&"guild_user_created".to_owned()),
        "{names:?}"
    );
    assert!(names.contains(&"guild_created".to_owned()), "{names:?}");
    db.finish().await;
}

fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + seconds)
}

#[tokio::test]
async fn record_is_idempotent() {
    let db = TestDb::new().await;
    let infractions = db.store.infractions();
    let ban = Infraction::new("1111:ban", 10, 20, 30, InfractionKind::Ban)
        .with_reason("spam")
        .with_created_at(at(5));

    assert!(infractions.record(&ban).await.unwrap());
    // A redelivered event records nothing more, even with different content: first wins.
    assert!(!infractions.record(&ban).await.unwrap());
    let replay = ban.clone().with_reason("changed");
    assert!(!infractions.record(&replay).await.unwrap());

    assert_eq!(infractions.count(10, None).await.unwrap(), 1);
    assert_eq!(infractions.count(10, Some(20)).await.unwrap(), 1);
    assert_eq!(infractions.get("1111:ban").await.unwrap(), Some(ban));

    // Concurrent duplicates (two workers with the same message) store one document too.
    let warn = Infraction::new("2222:warn", 10, 21, 30, InfractionKind::Warn);
    let results = futures_util::future::join_all((0..6).map(|_| infractions.record(&warn))).await;
    let stored = results
        .into_iter()
        .map(Result::unwrap)
        .filter(|&s| s)
        .count();
    assert_eq!(stored, 1);
    assert_eq!(infractions.count(10, None).await.unwrap(), 2);
    db.finish().await;
}

#[tokio::test]
async fn infraction_round_trip_and_storage_shape() {
    let db = TestDb::new().await;
    let infractions = db.store.infractions();
    let now = SystemTime::now();
    let mute = Infraction::new(
        "3333:mute",
        u64::from(u32::MAX) * 4,
        2,
        3,
        InfractionKind::Mute,
    )
    .with_created_at(now)
    .with_expires_at(now + Duration::from_secs(600));
    assert_eq!(mute.created_at, truncate_to_millis(now));
    infractions.record(&mute).await.unwrap();
    let read = infractions.get("3333:mute").await.unwrap().unwrap();
    assert_eq!(read, mute);
    assert!(!read.is_expired(now));
    assert!(read.is_expired(now + Duration::from_secs(601)));
    assert_eq!(infractions.get("missing").await.unwrap(), None);

    let stored = db
        .raw("infractions")
        .await
        .find_one(doc! { "_id": "3333:mute" })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.get_str("kind").unwrap(), "mute");
    assert_eq!(stored.get_i64("guild_id").unwrap(), i64::from(u32::MAX) * 4);
    assert!(stored.get_datetime("created_at").is_ok());
    assert!(stored.get("reason").is_none());

    for kind in [
        InfractionKind::Ban,
        InfractionKind::Unban,
        InfractionKind::Kick,
        InfractionKind::Warn,
    ] {
        let id = format!("k:{kind}");
        infractions
            .record(&Infraction::new(&id, 1, 2, 3, kind))
            .await
            .unwrap();
        assert_eq!(infractions.get(&id).await.unwrap().unwrap().kind, kind);
    }

    assert_invalid(
        infractions
            .record(&Infraction::new("", 1, 2, 3, InfractionKind::Warn))
            .await,
    );
    assert_invalid(
        infractions
            .record(
                &Infraction::new("x", 1, 2, 3, InfractionKind::Warn).with_reason("r".repeat(513)),
            )
            .await,
    );
    assert_invalid(
        infractions
            .record(&Infraction::new("y", u64::MAX, 2, 3, InfractionKind::Warn))
            .await,
    );
    assert_invalid(
        infractions
            .record(
                &Infraction::new("z", 1, 2, 3, InfractionKind::Mute)
                    .with_created_at(at(10))
                    .with_expires_at(at(10)),
            )
            .await,
    );
    assert_eq!(infractions.count(1, None).await.unwrap(), 4);
    db.finish().await;
}

#[tokio::test]
async fn list_pages_newest_first() {
    let db = TestDb::new().await;
    let infractions = db.store.infractions();
    // Guild 1: user 2 has infractions at t = 1..=5, user 3 at t = 3 (a tie with user 2's)
    // and t = 6; guild 99 has one that must never show up.
    let mut all = Vec::new();
    for t in 1..=5 {
        all.push(
            Infraction::new(format!("u2-{t}"), 1, 2, 9, InfractionKind::Warn)
                .with_created_at(at(t)),
        );
    }
    all.push(Infraction::new("u3-a", 1, 3, 9, InfractionKind::Kick).with_created_at(at(3)));
    all.push(Infraction::new("u3-b", 1, 3, 9, InfractionKind::Ban).with_created_at(at(6)));
    // Record in a shuffled order: the order must come from the query.
    for index in [3, 6, 0, 5, 2, 4, 1] {
        infractions.record(&all[index]).await.unwrap();
    }
    infractions
        .record(&Infraction::new("other", 99, 2, 9, InfractionKind::Warn).with_created_at(at(4)))
        .await
        .unwrap();

    let ids = |page: &[Infraction]| page.iter().map(|i| i.id.clone()).collect::<Vec<_>>();

    // Whole guild, pages of 2, newest first; the tie at t = 3 is ordered by id descending.
    let mut pages = Vec::new();
    let mut cursor: Option<InfractionCursor> = None;
    loop {
        let page = infractions.list(1, None, 2, cursor.as_ref()).await.unwrap();
        assert!(page.len() <= 2);
        cursor = page.last().map(Infraction::cursor);
        let done = page.len() < 2;
        pages.push(ids(&page));
        if done {
            break;
        }
    }
    assert_eq!(
        pages,
        [
            vec!["u3-b", "u2-5"],
            vec!["u2-4", "u3-a"],
            vec!["u2-3", "u2-2"],
            vec!["u2-1"],
        ]
    );

    // One user.
    let user2 = infractions.list(1, Some(2), 10, None).await.unwrap();
    assert_eq!(ids(&user2), ["u2-5", "u2-4", "u2-3", "u2-2", "u2-1"]);
    assert_eq!(user2[0], all[4]);
    let next = infractions
        .list(1, Some(2), 3, Some(&user2[1].cursor()))
        .await
        .unwrap();
    assert_eq!(ids(&next), ["u2-3", "u2-2", "u2-1"]);

    // A time cursor: strictly before t = 3.
    let older = infractions
        .list(1, None, 10, Some(&InfractionCursor::before(at(3))))
        .await
        .unwrap();
    assert_eq!(ids(&older), ["u2-2", "u2-1"]);

    assert!(infractions.list(1, None, 0, None).await.unwrap().is_empty());
    assert!(
        infractions
            .list(5, None, 10, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(infractions.count(1, None).await.unwrap(), 7);
    assert_eq!(infractions.count(1, Some(3)).await.unwrap(), 2);
    assert_eq!(infractions.count(1, Some(4)).await.unwrap(), 0);
    assert_eq!(infractions.count(99, None).await.unwrap(), 1);
    db.finish().await;
}
