//! Preconditions: built-ins, combinators, failing closed, and the ones implied by a spec.

use swarmcord_commands::CommandSpec;
use swarmcord_commands::precondition::{
    Denied, InvocationContext, Precondition, PreconditionExt, from_fn, guild_only, has_permissions,
    owner_only,
};
use twilight_model::guild::Permissions;
use twilight_model::id::Id;

fn ctx(guild: bool, owner: bool, perms: Option<Permissions>) -> InvocationContext {
    InvocationContext {
        user_id: Id::new(1),
        guild_id: guild.then(|| Id::new(2)),
        channel_id: Id::new(3),
        is_owner: owner,
        member_permissions: perms,
        bot_permissions: None,
        disabled_commands: Vec::new(),
        source: None,
    }
}

async fn allowed(p: &impl Precondition, c: &InvocationContext) -> bool {
    p.check(c).await.is_ok()
}

#[tokio::test]
async fn built_ins_and_combinators() {
    let ban = Some(Permissions::BAN_MEMBERS | Permissions::SEND_MESSAGES);
    let none = Some(Permissions::SEND_MESSAGES);
    let admin = Some(Permissions::ADMINISTRATOR);
    let check = guild_only().and(has_permissions(Permissions::BAN_MEMBERS).or(owner_only()));

    assert!(allowed(&check, &ctx(true, false, ban)).await);
    assert!(
        allowed(&check, &ctx(true, false, admin)).await,
        "administrator implies all"
    );
    assert!(
        allowed(&check, &ctx(true, true, none)).await,
        "owner bypasses permissions"
    );
    assert!(allowed(&check, &ctx(true, true, None)).await);
    assert!(
        !allowed(&check, &ctx(false, true, None)).await,
        "not in a guild"
    );
    assert!(!allowed(&check, &ctx(true, false, none)).await);
    // Fails closed when permissions are unknown.
    assert!(!allowed(&check, &ctx(true, false, None)).await);

    let Err(Denied { reason }) = check.check(&ctx(true, false, none)).await else {
        panic!("expected a denial")
    };
    assert_eq!(
        reason,
        "You need the Ban Members permission to use this command. Alternatively: Only the bot owner can use this command."
    );
    let Err(denied) = check.check(&ctx(false, false, ban)).await else {
        panic!()
    };
    assert_eq!(denied.reason, "This command can only be used in a server.");

    let dm_only = guild_only().not("This command only works in direct messages.");
    assert!(allowed(&dm_only, &ctx(false, false, None)).await);
    assert_eq!(
        dm_only
            .check(&ctx(true, false, None))
            .await
            .unwrap_err()
            .reason,
        "This command only works in direct messages."
    );

    let custom = from_fn(|c: &InvocationContext| {
        if c.channel_id == Id::new(3) {
            Ok(())
        } else {
            Err(Denied::new("wrong channel"))
        }
    });
    assert!(
        allowed(
            &custom.and(owner_only().not("no owners")),
            &ctx(true, false, None)
        )
        .await
    );
    assert!(
        allowed(
            &has_permissions(Permissions::empty()),
            &ctx(false, false, None)
        )
        .await
    );
}

#[tokio::test]
async fn spec_declarations_become_preconditions() {
    let spec = CommandSpec::builder("ban")
        .description("Bans")
        .permissions(Permissions::BAN_MEMBERS)
        .guild_only()
        .precondition(from_fn(|c: &InvocationContext| {
            if c.user_id == Id::new(666) {
                Err(Denied::new("blocked"))
            } else {
                Ok(())
            }
        }))
        .build()
        .unwrap();
    let check = spec.precondition();
    assert!(allowed(&check, &ctx(true, false, Some(Permissions::BAN_MEMBERS))).await);
    assert!(
        allowed(&check, &ctx(true, true, None)).await,
        "owner bypasses permissions"
    );
    assert!(
        !allowed(&check, &ctx(false, true, None)).await,
        "guild-only holds for the owner"
    );
    assert!(
        !allowed(&check, &ctx(true, false, None)).await,
        "unknown permissions deny"
    );
    assert_eq!(
        check
            .check(&ctx(true, false, Some(Permissions::SEND_MESSAGES)))
            .await
            .unwrap_err()
            .reason,
        "You need the Ban Members permission to use this command.",
        "the owner bypass is not advertised to members"
    );
    let manage = CommandSpec::builder("setup")
        .description("Setup")
        .permissions(Permissions::MANAGE_GUILD | Permissions::MANAGE_CHANNELS)
        .build()
        .unwrap();
    assert_eq!(
        manage
            .precondition()
            .check(&ctx(true, false, Some(Permissions::empty())))
            .await
            .unwrap_err()
            .reason,
        "You need the Manage Channels, Manage Server permissions to use this command.",
        "Discord's own names"
    );
    let mut blocked = ctx(true, true, None);
    blocked.user_id = Id::new(666);
    assert_eq!(check.check(&blocked).await.unwrap_err().reason, "blocked");

    let owner = CommandSpec::builder("eval")
        .description("Eval")
        .owner_only()
        .build()
        .unwrap();
    assert!(allowed(&owner.precondition(), &ctx(false, true, None)).await);
    assert!(
        !allowed(
            &owner.precondition(),
            &ctx(true, false, Some(Permissions::all()))
        )
        .await
    );

    let open = CommandSpec::builder("ping")
        .description("Pong")
        .build()
        .unwrap();
    assert!(allowed(&open.precondition(), &ctx(false, false, None)).await);
}
