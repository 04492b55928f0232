//! File uploads through the REST simulator with a real client (twilight-http 0.18): a channel
//! message and an interaction callback sent as `multipart/form-data` (`payload_json` and
//! `files[n]`) carry the files as attachments, and edits keep or drop them.

use serde_json::Value;
use swarmcord_sim::discord::control::{GuildSpec, InteractionSpec};
use swarmcord_sim::{DiscordConfig, DiscordSim};
use twilight_http::Client;
use twilight_model::http::attachment::Attachment;
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};
use twilight_model::id::Id;

async fn start() -> (DiscordSim, Client, u64, u64, u64) {
    let sim = DiscordSim::start(DiscordConfig::default())
        .await
        .expect("simulator starts");
    let guild = sim.control().create_guild(&GuildSpec {
        name: "files".to_owned(),
        members: 1,
        announce: false,
        ..GuildSpec::default()
    });
    let http = Client::builder()
        .proxy(sim.http_proxy(), true)
        .token(sim.token())
        .build();
    (
        sim,
        http,
        guild.id,
        guild.text_channels[0],
        guild.members[0],
    )
}

fn file(name: &str, bytes: &str, id: u64) -> Attachment {
    let mut file = Attachment::from_bytes(name.to_owned(), bytes.as_bytes().to_vec(), id);
    file.description = Some(format!("about {name}"));
    file
}

#[tokio::test]
async fn uploaded_files_become_the_messages_attachments() {
    let (sim, http, _, channel, _) = start().await;
    let files = [file("a.txt", "hello", 0), file("b.csv", "x,y\n1,2\n", 1)];
    let sent = http
        .create_message(Id::new(channel))
        .content("two files")
        .attachments(&files)
        .await
        .expect("multipart create")
        .model()
        .await
        .expect("message");
    let names: Vec<(&str, u64)> = sent
        .attachments
        .iter()
        .map(|a| (a.filename.as_str(), a.size))
        .collect();
    assert_eq!(names, [("a.txt", 5), ("b.csv", 8)]);
    assert_eq!(
        sent.attachments[0].description.as_deref(),
        Some("about a.txt")
    );
    assert!(
        sent.attachments[0].url.ends_with("/a.txt")
            && sent.attachments[0].id.get() != sent.id.get(),
        "{:?}",
        sent.attachments[0]
    );
    // The request record shows what was uploaded.
    let record = sim
        .shared()
        .recorder
        .since(0, Some("rest"))
        .into_iter()
        .find(|r| r.method == "POST")
        .expect("recorded");
    assert_eq!(record.body["content"], "two files");
    assert_eq!(record.body["__sim_files"][1]["field"], "files[1]");

    // A file alone is a message (no content needed); an edit listing one attachment keeps
    // only that one.
    let only_file = http
        .create_message(Id::new(channel))
        .attachments(&[file("c.txt", "c", 0)])
        .await
        .expect("a message of just a file")
        .model()
        .await
        .expect("message");
    assert_eq!(only_file.attachments.len(), 1);
    let edited = http
        .update_message(Id::new(channel), sent.id)
        .keep_attachment_ids(&[sent.attachments[1].id])
        .await
        .expect("edit")
        .model()
        .await
        .expect("message");
    let kept: Vec<&str> = edited
        .attachments
        .iter()
        .map(|a| a.filename.as_str())
        .collect();
    assert_eq!(kept, ["b.csv"]);
}

#[tokio::test]
async fn interaction_callbacks_and_followups_upload_files() {
    let (sim, http, guild, channel, user) = start().await;
    let interaction = sim
        .control()
        .create_interaction(&InteractionSpec {
            guild_id: Some(guild),
            channel_id: channel,
            user_id: user,
            name: "report".to_owned(),
            options: Value::Null,
        })
        .expect("interaction");
    let app = http.interaction(Id::new(DiscordConfig::default().bot_id));
    let response = InteractionResponse {
        kind: InteractionResponseType::ChannelMessageWithSource,
        data: Some(InteractionResponseData {
            content: Some("your report".to_owned()),
            attachments: Some(vec![file("report.txt", "all good", 0)]),
            ..InteractionResponseData::default()
        }),
    };
    app.create_response(Id::new(interaction.id), &interaction.token, &response)
        .await
        .expect("multipart callback");
    let original = app
        .response(&interaction.token)
        .await
        .expect("original")
        .model()
        .await
        .expect("message");
    assert_eq!(original.content, "your report");
    assert_eq!(original.attachments.len(), 1);
    assert_eq!(original.attachments[0].filename, "report.txt");
    assert_eq!(original.attachments[0].size, 8);
    let followup = app
        .create_followup(&interaction.token)
        .attachments(&[file("more.txt", "more", 0)])
        .await
        .expect("multipart follow-up")
        .model()
        .await
        .expect("message");
    assert_eq!(followup.attachments[0].filename, "more.txt");
}
