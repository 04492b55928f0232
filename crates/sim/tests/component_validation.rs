//! The simulator rejects invalid components, modals and autocomplete results the way Discord
//! does: `400` with `{"code": 50035, "message": "Invalid Form Body", "errors": …}` in the nested
//! error format; the valid limit of each rule is accepted. Raw HTTP, exact bodies.

use std::net::SocketAddr;

use serde_json::{Value, json};
use swarmcord_sim::discord::control::{
    CreatedGuild, CreatedInteraction, GuildSpec, InteractionSpec,
};
use swarmcord_sim::{DiscordConfig, DiscordSim};
use swarmcord_testkit::http;

async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let body = body.to_string();
    let answer = http::discord(&addr.to_string(), method, path, token, Some(&body))
        .await
        .expect("answers");
    (answer.status, answer.json().expect("JSON"))
}

struct Fixture {
    sim: DiscordSim,
    guild: CreatedGuild,
}

impl Fixture {
    async fn new() -> Self {
        let mut config = DiscordConfig::default();
        config.rest_limits.enabled = false;
        let sim = DiscordSim::start(config).await.expect("simulator starts");
        let guild = sim.control().create_guild(&GuildSpec {
            announce: false,
            ..GuildSpec::default()
        });
        Self { sim, guild }
    }

    /// The bot posts a message with `components`.
    async fn send(&self, components: &Value) -> (u16, Value) {
        let path = format!("/channels/{}/messages", self.guild.text_channels[0]);
        let body = json!({"content": "x", "components": components});
        raw(
            self.sim.addr(),
            "POST",
            &path,
            Some(&self.sim.token()),
            &body,
        )
        .await
    }

    fn interaction(&self) -> CreatedInteraction {
        self.sim
            .control()
            .create_interaction(&InteractionSpec {
                guild_id: Some(self.guild.id),
                channel_id: self.guild.text_channels[0],
                user_id: self.guild.members[0],
                name: "x".to_owned(),
                options: Value::Null,
            })
            .expect("interaction")
    }

    async fn callback(&self, created: &CreatedInteraction, body: &Value) -> (u16, Value) {
        let path = format!("/interactions/{}/{}/callback", created.id, created.token);
        raw(self.sim.addr(), "POST", &path, None, body).await
    }
}

/// Discord's 400 body with `errors`.
fn invalid(errors: &Value) -> (u16, Value) {
    (
        400,
        json!({"code": 50035, "message": "Invalid Form Body", "errors": errors}),
    )
}

/// `{"_errors": [{code, message}]}`.
fn error(code: &str, message: &str) -> Value {
    json!({"_errors": [{"code": code, "message": message}]})
}

fn button(custom_id: &str) -> Value {
    json!({"type": 2, "style": 1, "custom_id": custom_id, "label": "B"})
}

fn row(components: Vec<Value>) -> Value {
    let mut row = json!({"type": 1});
    row["components"] = Value::Array(components);
    row
}

fn select(options: usize) -> Value {
    let options: Vec<Value> = (0..options)
        .map(|i| json!({"label": format!("l{i}"), "value": format!("v{i}")}))
        .collect();
    json!({"type": 3, "custom_id": "s", "options": options})
}

/// Error at `components.0.components.{index}.{rest}`.
fn at_component(index: usize, inner: &Value) -> Value {
    json!({"components": {"0": {"components": {index.to_string(): inner}}}})
}

#[tokio::test]
async fn action_rows_and_their_width() {
    let f = Fixture::new().await;
    let rows = |n: usize| {
        Value::Array(
            (0..n)
                .map(|i| row(vec![button(&format!("b{i}"))]))
                .collect(),
        )
    };
    assert_eq!(f.send(&rows(5)).await.0, 200);
    assert_eq!(
        f.send(&rows(6)).await,
        invalid(
            &json!({"components": error("BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")})
        )
    );
    let buttons = |n: usize| json!([row((0..n).map(|i| button(&format!("b{i}"))).collect())]);
    assert_eq!(f.send(&buttons(5)).await.0, 200);
    assert_eq!(
        f.send(&buttons(6)).await,
        invalid(
            &json!({"components": {"0": {"components": error("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")}}})
        )
    );
    assert_eq!(
        f.send(&json!([row(vec![])])).await,
        invalid(
            &json!({"components": {"0": {"components": error("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")}}})
        )
    );
    assert_eq!(
        f.send(&json!([row(vec![button("a"), select(2)])])).await,
        invalid(&at_component(
            1,
            &error(
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width"
            )
        ))
    );
    assert_eq!(
        f.send(&json!([button("top")])).await,
        invalid(
            &json!({"components": {"0": {"type": error("UNION_TYPE_CHOICES", "Value of field \"type\" must be one of (1,).")}}})
        )
    );
    let text_input = json!({"type": 4, "custom_id": "t", "style": 1, "label": "T"});
    assert_eq!(
        f.send(&json!([row(vec![text_input])])).await,
        invalid(&at_component(
            0,
            &error(
                "UNION_TYPE_CHOICES",
                "Value of field \"type\" must be one of (2, 3, 5, 6, 7, 8)."
            )
        ))
    );
}

#[tokio::test]
async fn buttons() {
    let f = Fixture::new().await;
    let one = |b: Value| json!([row(vec![button("first"), b])]);
    assert_eq!(f.send(&one(button(&"c".repeat(100)))).await.0, 200);
    assert_eq!(
        f.send(&one(button(&"c".repeat(101)))).await,
        invalid(&at_component(
            1,
            &json!({"custom_id": error("BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")})
        ))
    );
    assert_eq!(
        f.send(&one(button("first"))).await,
        invalid(&at_component(
            1,
            &json!({"custom_id": error("COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id was already specified")})
        ))
    );
    assert_eq!(
        f.send(&one(json!({"type": 2, "style": 1, "label": "no id"})))
            .await,
        invalid(&at_component(
            1,
            &json!({"custom_id": error("BUTTON_COMPONENT_CUSTOM_ID_REQUIRED", "A custom id is required")})
        ))
    );
    let exclusive = error(
        "BUTTON_COMPONENT_CUSTOM_ID_URL_MUTUALLY_EXCLUSIVE",
        "A custom id and url cannot both be specified",
    );
    assert_eq!(
        f.send(&one(
            json!({"type": 2, "style": 5, "label": "L", "url": "https://x.y", "custom_id": "l"})
        ))
        .await,
        invalid(&at_component(
            1,
            &json!({"custom_id": exclusive, "url": exclusive})
        ))
    );
    assert_eq!(
        f.send(&one(json!({"type": 2, "style": 5, "label": "L"})))
            .await,
        invalid(&at_component(
            1,
            &json!({"url": error("BASE_TYPE_REQUIRED", "This field is required")})
        ))
    );
    assert_eq!(
        f.send(&one(
            json!({"type": 2, "style": 5, "label": "L", "url": "https://x.y", "custom_id": null})
        ))
        .await
        .0,
        200,
        "null fields are absent ones"
    );
    assert_eq!(
        f.send(&one(json!({"type": 2, "style": 7, "custom_id": "x"})))
            .await,
        invalid(&at_component(
            1,
            &json!({"style": error("BASE_TYPE_CHOICES", "Value must be one of (1, 2, 3, 4, 5, 6).")})
        ))
    );
    let labelled =
        |n: usize| json!({"type": 2, "style": 2, "custom_id": "l", "label": "a".repeat(n)});
    assert_eq!(f.send(&one(labelled(80))).await.0, 200);
    assert_eq!(
        f.send(&one(labelled(81))).await,
        invalid(&at_component(
            1,
            &json!({"label": error("BASE_TYPE_MAX_LENGTH", "Must be 80 or fewer in length.")})
        ))
    );
    let emoji = |e: Value| json!({"type": 2, "style": 2, "custom_id": "e", "emoji": e});
    assert_eq!(f.send(&one(emoji(json!({"name": "👍"})))).await.0, 200);
    assert_eq!(
        f.send(&one(emoji(json!({"id": "123", "name": "custom"}))))
            .await
            .0,
        200
    );
    assert_eq!(
        f.send(&one(emoji(json!({})))).await,
        invalid(&at_component(
            1,
            &json!({"emoji": error("BUTTON_COMPONENT_INVALID_EMOJI", "Invalid emoji")})
        ))
    );
    assert_eq!(
        f.send(&one(emoji(json!({"id": "abc"})))).await,
        invalid(&at_component(
            1,
            &json!({"emoji": {"id": error("NUMBER_TYPE_COERCE", "Value \"abc\" is not snowflake.")}})
        ))
    );
}

#[tokio::test]
async fn select_menus() {
    let f = Fixture::new().await;
    let one = |s: Value| json!([row(vec![s])]);
    assert_eq!(f.send(&one(select(25))).await.0, 200);
    assert_eq!(
        f.send(&one(select(26))).await,
        invalid(&at_component(
            0,
            &json!({"options": error("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 25 in length.")})
        ))
    );
    let mut placeholder = select(2);
    placeholder["placeholder"] = json!("p".repeat(150));
    assert_eq!(f.send(&one(placeholder.clone())).await.0, 200);
    placeholder["placeholder"] = json!("p".repeat(151));
    assert_eq!(
        f.send(&one(placeholder)).await,
        invalid(&at_component(
            0,
            &json!({"placeholder": error("BASE_TYPE_MAX_LENGTH", "Must be 150 or fewer in length.")})
        ))
    );
    let mut long_label = select(2);
    long_label["options"][1]["label"] = json!("l".repeat(101));
    long_label["options"][0]["description"] = json!("d".repeat(100));
    assert_eq!(
        f.send(&one(long_label)).await,
        invalid(&at_component(
            0,
            &json!({"options": {"1": {"label": error("BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")}}})
        ))
    );
    let mut duplicated = select(2);
    duplicated["options"][1]["value"] = json!("v0");
    assert_eq!(
        f.send(&one(duplicated)).await,
        invalid(&at_component(
            0,
            &json!({"options": {"1": error("SELECT_COMPONENT_OPTION_VALUE_DUPLICATED", "The specified option value is already used")}})
        ))
    );
    let mut values = select(3);
    values["max_values"] = json!(3);
    values["min_values"] = json!(0);
    assert_eq!(f.send(&one(values.clone())).await.0, 200);
    values["max_values"] = json!(26);
    assert_eq!(
        f.send(&one(values.clone())).await,
        invalid(&at_component(
            0,
            &json!({"max_values": error("NUMBER_TYPE_MAX", "int value should be less than or equal to 25.")})
        ))
    );
    values["max_values"] = json!(4);
    assert_eq!(
        f.send(&one(values.clone())).await,
        invalid(&at_component(
            0,
            &json!({"options": error("BASE_TYPE_MIN_LENGTH", "Must be 4 or more in length.")})
        ))
    );
    values["max_values"] = json!(1);
    values["options"][0]["default"] = json!(true);
    values["options"][2]["default"] = json!(true);
    assert_eq!(
        f.send(&one(values)).await,
        invalid(&at_component(
            0,
            &json!({"options": error("SELECT_COMPONENT_TOO_MANY_DEFAULT_VALUES", "The specified number of default values exceeds the specified maximum values")})
        ))
    );
    assert_eq!(
        f.send(&one(json!({"type": 5, "options": []}))).await,
        invalid(&at_component(
            0,
            &json!({"custom_id": error("BASE_TYPE_REQUIRED", "This field is required")})
        ))
    );
    assert_eq!(
        f.send(&one(json!({"type": 5, "custom_id": "u", "max_values": 25})))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn responses_followups_and_edits_are_validated_too() {
    let f = Fixture::new().await;
    let bad = json!([row((0..6).map(|i| button(&format!("b{i}"))).collect())]);
    let expected = invalid(
        &json!({"data": {"components": {"0": {"components": error("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")}}}}),
    );
    let created = f.interaction();
    let (status, body) = f
        .callback(
            &created,
            &json!({"type": 4, "data": {"content": "x", "components": bad}}),
        )
        .await;
    // Discord nests a callback's message errors under `data`.
    assert_eq!((status, body), expected);
    assert_eq!(
        f.callback(&created, &json!({"type": 4, "data": {"content": "ok"}}))
            .await
            .0,
        204
    );

    let app = DiscordConfig::default().bot_id;
    let followup = format!("/webhooks/{app}/{}", created.token);
    let (status, body) = raw(
        f.sim.addr(),
        "POST",
        &followup,
        None,
        &json!({"content": "x", "components": bad}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"]["components"]["0"]["components"]["_errors"][0]["code"],
        "BASE_TYPE_BAD_LENGTH"
    );

    let (_, sent) = f.send(&json!([row(vec![button("a")])])).await;
    let edit = format!(
        "/channels/{}/messages/{}",
        f.guild.text_channels[0],
        sent["id"].as_str().expect("id")
    );
    let (status, body) = raw(
        f.sim.addr(),
        "PATCH",
        &edit,
        Some(&f.sim.token()),
        &json!({"components": [row(vec![button("a"), button("a")])]}),
    )
    .await;
    assert_eq!(
        (status, body),
        invalid(&at_component(
            1,
            &json!({"custom_id": error("COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id was already specified")})
        ))
    );
}

fn text_input(custom_id: &str) -> Value {
    json!({"type": 4, "custom_id": custom_id, "label": "L", "style": 1})
}

fn modal(title: &str, rows: Vec<Value>) -> Value {
    let mut modal = json!({"type": 9, "data": {"custom_id": "m", "title": title}});
    modal["data"]["components"] = Value::Array(rows);
    modal
}

#[tokio::test]
async fn modals() {
    let f = Fixture::new().await;
    let rows = |n: usize| {
        (0..n)
            .map(|i| row(vec![text_input(&format!("t{i}"))]))
            .collect::<Vec<_>>()
    };
    let check = async |body: Value| {
        let created = f.interaction();
        f.callback(&created, &body).await
    };
    assert_eq!(check(modal(&"t".repeat(45), rows(5))).await.0, 204);
    assert_eq!(
        check(modal(&"t".repeat(46), rows(1))).await,
        invalid(
            &json!({"data": {"title": error("BASE_TYPE_MAX_LENGTH", "Must be 45 or fewer in length.")}})
        )
    );
    assert_eq!(
        check(modal("t", rows(6))).await,
        invalid(
            &json!({"data": {"components": error("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")}})
        )
    );
    assert_eq!(
        check(modal(
            "t",
            vec![row(vec![text_input("a"), text_input("b")])]
        ))
        .await,
        invalid(
            &json!({"data": {"components": {"0": {"components": {"1": error("COMPONENT_LAYOUT_WIDTH_EXCEEDED", "The specified component exceeds the maximum width")}}}}})
        )
    );
    assert_eq!(
        check(modal(
            "t",
            vec![row(vec![text_input("a")]), row(vec![text_input("a")])]
        ))
        .await,
        invalid(
            &json!({"data": {"components": {"1": {"components": {"0": {"custom_id": error("COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id was already specified")}}}}}})
        )
    );
    let mut input = text_input("a");
    input["label"] = json!("l".repeat(46));
    input["style"] = json!(3);
    input["min_length"] = json!(4001);
    assert_eq!(
        check(modal("t", vec![row(vec![input])])).await,
        invalid(&json!({"data": {"components": {"0": {"components": {"0": {
            "label": error("BASE_TYPE_MAX_LENGTH", "Must be 45 or fewer in length."),
            "style": error("BASE_TYPE_CHOICES", "Value must be one of (1, 2)."),
            "min_length": error("NUMBER_TYPE_MAX", "int value should be less than or equal to 4000."),
        }}}}}}))
    );
    assert_eq!(
        check(modal("t", vec![row(vec![button("b")])])).await,
        invalid(
            &json!({"data": {"components": {"0": {"components": {"0": error("UNION_TYPE_CHOICES", "Value of field \"type\" must be one of (4,).")}}}}})
        )
    );
    assert_eq!(
        check(json!({"type": 9, "data": {"title": "t", "components": rows(1)}})).await,
        invalid(
            &json!({"data": {"custom_id": error("BASE_TYPE_REQUIRED", "This field is required")}})
        )
    );
}

#[tokio::test]
async fn autocomplete_choices() {
    let f = Fixture::new().await;
    let check = async |choices: Value| {
        let created = f
            .sim
            .control()
            .autocomplete(&InteractionSpec {
                guild_id: Some(f.guild.id),
                channel_id: f.guild.text_channels[0],
                user_id: f.guild.members[0],
                name: "x".to_owned(),
                options: json!([{"type": 3, "name": "q", "value": "", "focused": true}]),
            })
            .expect("autocomplete");
        f.callback(&created, &json!({"type": 8, "data": {"choices": choices}}))
            .await
    };
    let choices = |n: usize| {
        Value::Array(
            (0..n)
                .map(|i| json!({"name": format!("c{i}"), "value": i}))
                .collect(),
        )
    };
    assert_eq!(check(choices(25)).await.0, 204);
    assert_eq!(
        check(choices(26)).await,
        invalid(
            &json!({"data": {"choices": error("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")}})
        )
    );
    assert_eq!(
        check(json!([{"name": "n".repeat(101), "value": "v".repeat(101)}])).await,
        invalid(&json!({"data": {"choices": {"0": {
            "name": error("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."),
            "value": error("BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length."),
        }}}}))
    );
}
