//! The HTTP routes of the interaction control API.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{ComponentSpec, ContextMenuSpec, ModalSubmitSpec};
use crate::discord::Shared;
use crate::discord::control::{
    Control, ControlError, CreatedInteraction, InteractionSpec, error_response, parse, snowflake,
};

type St = State<Arc<Shared>>;

fn answer(result: Result<CreatedInteraction, ControlError>) -> Response {
    match result {
        Ok(created) => Json(created).into_response(),
        Err(e) => error_response(&e),
    }
}

/// The interaction routes, merged into the control router.
pub(crate) fn router() -> axum::Router<Arc<Shared>> {
    use axum::routing::post;
    axum::Router::new()
        .route("/components", post(http_component))
        .route("/modals", post(http_submit_modal).get(http_open_modals))
        .route("/autocomplete", post(http_autocomplete))
        .route("/context_menu", post(http_context_menu))
}

async fn http_component(State(shared): St, body: axum::body::Bytes) -> Response {
    match parse::<ComponentSpec>(&body) {
        Ok(spec) => answer(Control::new(shared).use_component(&spec)),
        Err(r) => *r,
    }
}

async fn http_submit_modal(State(shared): St, body: axum::body::Bytes) -> Response {
    match parse::<ModalSubmitSpec>(&body) {
        Ok(spec) => answer(Control::new(shared).submit_modal(&spec)),
        Err(r) => *r,
    }
}

#[derive(Deserialize)]
struct ModalsQuery {
    #[serde(with = "snowflake")]
    user_id: u64,
}

async fn http_open_modals(State(shared): St, Query(q): Query<ModalsQuery>) -> Response {
    Json(Control::new(shared).open_modals(q.user_id)).into_response()
}

async fn http_autocomplete(State(shared): St, body: axum::body::Bytes) -> Response {
    match parse::<InteractionSpec>(&body) {
        Ok(spec) => answer(Control::new(shared).autocomplete(&spec)),
        Err(r) => *r,
    }
}

async fn http_context_menu(State(shared): St, body: axum::body::Bytes) -> Response {
    match parse::<ContextMenuSpec>(&body) {
        Ok(spec) => answer(Control::new(shared).context_menu(&spec)),
        Err(r) => *r,
    }
}
