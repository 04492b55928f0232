//! The HTTP routes of the interaction control API.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::Value;

use super::{ComponentSpec, ContextMenuSpec, ModalSubmitSpec};
use crate::discord::Shared;
use crate::discord::control::http::{Answer, Body, St};
use crate::discord::control::{Control, CreatedInteraction, InteractionSpec, snowflake};

/// The interaction routes, merged into the control router.
pub(crate) fn router() -> axum::Router<Arc<Shared>> {
    use axum::routing::post;
    axum::Router::new()
        .route("/components", post(component))
        .route("/modals", post(submit_modal).get(open_modals))
        .route("/autocomplete", post(autocomplete))
        .route("/context_menu", post(context_menu))
}

async fn component(
    State(shared): St,
    Body(spec): Body<ComponentSpec>,
) -> Answer<CreatedInteraction> {
    Ok(Json(Control::new(shared).use_component(&spec)?))
}

async fn submit_modal(
    State(shared): St,
    Body(spec): Body<ModalSubmitSpec>,
) -> Answer<CreatedInteraction> {
    Ok(Json(Control::new(shared).submit_modal(&spec)?))
}

#[derive(Deserialize)]
struct ModalsQuery {
    #[serde(with = "snowflake")]
    user_id: u64,
}

async fn open_modals(State(shared): St, Query(q): Query<ModalsQuery>) -> Json<Vec<Value>> {
    Json(Control::new(shared).open_modals(q.user_id))
}

async fn autocomplete(
    State(shared): St,
    Body(spec): Body<InteractionSpec>,
) -> Answer<CreatedInteraction> {
    Ok(Json(Control::new(shared).autocomplete(&spec)?))
}

async fn context_menu(
    State(shared): St,
    Body(spec): Body<ContextMenuSpec>,
) -> Answer<CreatedInteraction> {
    Ok(Json(Control::new(shared).context_menu(&spec)?))
}
