//! Client-Server API handlers, one file per area; each handler parses with ruma,
//! calls the domain, and maps the answer.

mod account;
mod account_data;
mod dehydrated;
mod devices;
mod directory;
mod discovery;
mod filters;
mod key_backup;
mod keys;
mod profile;
mod push_rules;
mod register;
mod relations;
mod room_events;
mod rooms;
mod session;
mod sync;
mod tags;
mod thirdparty;
mod threepid;
mod to_device;
mod voip;

use axum::Router;

use super::AppState;

/// Adds every client endpoint to `router`.
pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let router = discovery::routes(router);
    let router = register::routes(router);
    let router = session::routes(router);
    let router = account::routes(router);
    let router = threepid::routes(router);
    let router = devices::routes(router);
    let router = profile::routes(router);
    let router = account_data::routes(router);
    let router = rooms::routes(router);
    let router = room_events::routes(router);
    let router = sync::routes(router);
    let router = tags::routes(router);
    let router = push_rules::routes(router);
    let router = voip::routes(router);
    let router = thirdparty::routes(router);
    let router = directory::routes(router);
    let router = relations::routes(router);
    let router = keys::routes(router);
    let router = to_device::routes(router);
    let router = key_backup::routes(router);
    let router = dehydrated::routes(router);
    filters::routes(router)
}
