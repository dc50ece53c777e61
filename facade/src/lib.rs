//! unidm's HTTP facade: REST + JSON under `/api/v1`, Server-Sent Events, an OpenAPI document
//! generated from the handlers, Prometheus metrics, and the `unidm` binary's `serve` and `sim`
//! commands.
//!
//! ```no_run
//! # async fn run(engine: unidm_core::Engine) -> std::io::Result<()> {
//! let app = unidm::app(engine, None);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await
//! # }
//! ```
//!
//! Errors are `application/problem+json` with a stable `type` (`urn:unidm:problem:<slug>`);
//! with no token configured only loopback clients are served.
#![deny(missing_docs)]

pub mod access;
pub mod auth;
pub mod bench;
pub mod config;
pub mod conformance;
pub mod console;
pub mod database;
pub mod demo;
pub mod extract;
pub mod metrics;
pub mod northbound;
pub mod onem2m;
pub mod openapi;
pub mod problem;
pub mod routes;
pub mod sim;

use std::sync::Arc;
use std::time::Instant;

use axum::http::StatusCode;
use axum::routing::get;
use axum::{middleware, Json, Router};
use unidm_core::Engine;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::metrics::HttpMetrics;
use crate::problem::Problem;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub engine: Engine,
    /// API tokens, roles and the audit log.
    pub access: Arc<access::Access>,
    /// HTTP counters.
    pub metrics: Arc<HttpMetrics>,
    /// When the server started.
    pub started: Instant,
    /// The files directory, when one is configured.
    pub files: Option<routes::files::FilesConfig>,
    /// The LwM2M adapter, for its bootstrap configurations.
    pub lwm2m: Option<Arc<unidm_lwm2m::Lwm2mAdapter>>,
    /// The OMA DM adapter, for its clients' settings.
    pub omadm: Option<Arc<unidm_omadm::server::OmadmAdapter>>,
    /// The TR-069 adapter, for CPE credentials.
    pub tr069: Option<Arc<unidm_tr069::Tr069Adapter>>,
    /// The LwM2M northbound client, its status and its settings.
    pub northbound: Option<Arc<northbound::NorthboundSlot>>,
    /// Conformance runs.
    pub conformance: Arc<conformance::Runs>,
    /// The oneM2M mirror, when configured.
    pub onem2m: Option<Arc<onem2m::Mirror>>,
}

/// What the HTTP application serves besides the engine.
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    /// Bearer token required from clients (an admin's); `None` and no [`AppOptions::tokens`]
    /// nor stored ones: loopback clients only.
    pub token: Option<String>,
    /// More tokens, each with its role.
    pub tokens: Vec<access::ConfiguredToken>,
    /// The files directory behind `/api/v1/files`.
    pub files: Option<routes::files::FilesConfig>,
    /// The LwM2M adapter behind `/api/v1/lwm2m/bootstrap`.
    pub lwm2m: Option<Arc<unidm_lwm2m::Lwm2mAdapter>>,
    /// The OMA DM adapter behind `/api/v1/omadm/clients`.
    pub omadm: Option<Arc<unidm_omadm::server::OmadmAdapter>>,
    /// The TR-069 adapter behind the credentials of TR-069 devices.
    pub tr069: Option<Arc<unidm_tr069::Tr069Adapter>>,
    /// The LwM2M northbound client behind `/api/v1/lwm2m/northbound` (`None`: 409 there).
    pub northbound: Option<Arc<northbound::NorthboundSlot>>,
    /// The oneM2M mirror behind `/onem2m/notify` and `/api/v1/onem2m` (`None`: 409 there).
    pub onem2m: Option<Arc<onem2m::Mirror>>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "unidm",
        description = "One API for LwM2M, TR-069 and OMA DM device management, in oneM2M's vocabulary. \
            Errors are application/problem+json; with no token configured only loopback clients are served."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "devices", description = "The device registry"),
        (name = "management", description = "Management functions on one device; each creates a durable operation"),
        (name = "operations", description = "Durable operations"),
        (name = "groups", description = "Groups and group operations"),
        (name = "rules", description = "Provisioning rules"),
        (name = "topology", description = "Gateways and the devices behind them"),
        (name = "events", description = "The event stream"),
        (name = "lwm2m", description = "LwM2M bootstrap configurations"),
        (name = "omadm", description = "OMA DM clients: push targets, credentials, Package #0"),
        (name = "files", description = "Files served to devices (firmware, configuration) and uploads from them"),
        (name = "access", description = "API tokens with roles (viewer, operator, admin) and the audit log"),
        (name = "onem2m", description = "The oneM2M mirror: devices as <node>s and <mgmtObj>s in a CSE"),
        (name = "conformance", description = "Conformance runs: OMA ETS (LwM2M) and CWMP cases on one device, with reports")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![SecurityRequirement::new("bearer", Vec::<String>::new())]);
    }
}

fn api() -> OpenApiRouter<AppState> {
    use routes::{
        access as tokens, conformance, credentials, devices, events, files, groups, lwm2m, omadm, onem2m, operations,
        rules,
    };
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(devices::list, devices::provision))
        .routes(routes!(devices::get, devices::delete))
        .routes(routes!(devices::put_labels))
        .routes(routes!(credentials::get, credentials::put, credentials::delete))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::delete))
        .routes(routes!(tokens::audit))
        .routes(routes!(devices::topology))
        .routes(routes!(devices::reboot))
        .routes(routes!(devices::factory_reset))
        .routes(routes!(devices::firmware))
        .routes(routes!(devices::software))
        .routes(routes!(devices::ping))
        .routes(routes!(devices::traceroute))
        .routes(routes!(devices::refresh))
        .routes(routes!(devices::native))
        .routes(routes!(operations::of_device))
        .routes(routes!(operations::list, operations::create))
        .routes(routes!(operations::create_batch))
        .routes(routes!(operations::get))
        .routes(routes!(operations::cancel))
        .routes(routes!(groups::list, groups::create))
        .routes(routes!(groups::get, groups::update, groups::delete))
        .routes(routes!(groups::members))
        .routes(routes!(groups::start, groups::operations))
        .routes(routes!(groups::get_operation))
        .routes(routes!(groups::cancel_operation))
        .routes(routes!(rules::list, rules::create))
        .routes(routes!(rules::get, rules::put, rules::delete))
        .routes(routes!(events::stream))
        .routes(routes!(events::topology))
        .routes(routes!(files::upload, files::list))
        .routes(routes!(files::delete))
        .routes(routes!(lwm2m::list))
        .routes(routes!(lwm2m::registration))
        .routes(routes!(lwm2m::northbound, lwm2m::put_northbound, lwm2m::delete_northbound))
        .routes(routes!(lwm2m::get, lwm2m::put, lwm2m::delete))
        .routes(routes!(omadm::get))
        .routes(routes!(omadm::put_push, omadm::delete_push))
        .routes(routes!(omadm::put_credentials, omadm::delete_credentials))
        .routes(routes!(omadm::package0))
        .routes(routes!(conformance::list, conformance::create))
        .routes(routes!(conformance::get, conformance::cancel))
        .routes(routes!(conformance::report))
        .routes(routes!(conformance::catalogue))
        .routes(routes!(onem2m::status))
}

/// The OpenAPI document of every `/api/v1` route, completed by [`openapi::complete`].
pub fn openapi() -> serde_json::Value {
    openapi::complete(serde_json::to_value(generated()).unwrap_or_default())
}

fn generated() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = api().split_for_parts();
    doc.paths.paths.insert(
        "/api/v1/openapi.json".into(),
        utoipa::openapi::path::PathItem::new(
            utoipa::openapi::HttpMethod::Get,
            utoipa::openapi::path::OperationBuilder::new()
                .summary(Some("This document"))
                .tag("meta")
                .response("200", utoipa::openapi::Response::new("OpenAPI 3.1 JSON")),
        ),
    );
    doc
}

/// Where a oneM2M CSE sends the notifications of unidm's subscriptions (outside `/api/v1`
/// and its bearer tokens, which a CSE does not carry; a notification only makes unidm read the
/// resource back from the CSE).
pub const ONEM2M_NOTIFY: &str = "/onem2m/notify";

/// `ok`, or 503 with the reason when the database does not answer (a load balancer then sends
/// no requests here). A node of several says which, and how many it sees alive.
async fn healthz(axum::extract::State(state): axum::extract::State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(std::time::Duration::from_secs(5), state.engine.store_health()).await {
        Ok(Ok(())) => match state.engine.cluster_status() {
            Some(c) => {
                let alive = c.nodes.iter().filter(|n| n.alive).count();
                let role = if c.leader { ", the leader" } else { "" };
                format!("ok: node {}{role}; {alive} of {} nodes alive\n", c.node, c.nodes.len()).into_response()
            }
            None => "ok".into_response(),
        },
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, format!("unhealthy: {e}\n")).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "unhealthy: the database did not answer in 5 s\n").into_response(),
    }
}

/// The whole HTTP application: `/api/v1`, `/api/v1/openapi.json`, `/metrics`, `/healthz`. Serve
/// it with connect info (`into_make_service_with_connect_info::<SocketAddr>()`) so the
/// loopback rule can see the client's address.
pub fn app(engine: Engine, token: Option<String>) -> Router {
    app_with(engine, AppOptions { token, ..AppOptions::default() })
}

/// [`app`] with every option.
pub fn app_with(engine: Engine, options: AppOptions) -> Router {
    let mut tokens = options.tokens;
    if let Some(t) = options.token.filter(|t| !t.trim().is_empty()) {
        tokens.push(access::ConfiguredToken::plain("admin", access::Role::Admin, &t));
    }
    let conformance = conformance::Runs::start(engine.clone(), options.lwm2m.clone());
    let state = AppState {
        access: access::Access::start(engine.clone(), tokens),
        engine,
        metrics: Arc::new(HttpMetrics::default()),
        started: Instant::now(),
        files: options.files,
        lwm2m: options.lwm2m.clone(),
        omadm: options.omadm,
        tr069: options.tr069,
        northbound: options.northbound,
        conformance,
        onem2m: options.onem2m,
    };
    let (router, _) = api().split_for_parts();
    let doc = Arc::new(openapi());
    router
        .route("/api/v1/openapi.json", get(move || async move { Json(doc.as_ref().clone()) }))
        .route("/metrics", get(metrics::render))
        .route("/healthz", get(healthz))
        .route("/", get(console::index))
        .route("/console/app.js", get(console::app))
        .route("/console/style.css", get(console::style))
        .route(ONEM2M_NOTIFY, axum::routing::post(routes::onem2m::notify))
        .fallback(|| async {
            Problem::new(StatusCode::NOT_FOUND, "no-such-route", "Not found", "no such route; see /api/v1/openapi.json")
        })
        .layer(axum::extract::DefaultBodyLimit::max(extract::MAX_BODY))
        .layer(middleware::from_fn_with_state(state.clone(), auth::require))
        .layer(middleware::from_fn_with_state(state.clone(), metrics::track))
        .with_state(state)
}
