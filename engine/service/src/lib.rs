//! The dealflow decision service: an HTTP API (tokio, axum, tower-http) in front of
//! the store. It is a thin door: every command goes to the store, which decides,
//! logs and filters by audience; the service authenticates, maps answers to HTTP
//! statuses, commits in groups, ticks the timers and reports metrics.
//!
//! [`app`] builds the whole router (tests call it directly); [`serve`] binds nothing
//! itself: it takes a listener and a shutdown future from its caller.

pub mod api;
pub mod auth;
pub mod dto;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod state;
pub mod writer;

use std::future::Future;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use dealflow_store::Submitted;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{RefOr, Response as OaResponse};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use state::{AppState, Clock, FixedClock, SystemClock};

use crate::error::{ApiError, ErrorBody};

/// Limits of the HTTP layer.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The largest request body, in bytes.
    pub body_bytes: usize,
    /// The longest a request may take, end to end.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "dealflow decision service",
        description = "Deal registration, stage advancement, co-sell, commission and lead routing decisions that explain themselves. Every command answers with the decision documents of docs/decisions.md in the caller's audience; a partner token sees only its own records.",
        license(name = "Apache-2.0")
    ),
    components(schemas(ErrorBody)),
    modifiers(&Security)
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let c = api.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Every operation documents the error statuses it can answer, with the one
/// error body (applied to the finished document: the routes' paths are merged in
/// after `ApiDoc`'s own modifiers run).
struct Errors;

impl Modify for Errors {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let error = |why: &str| -> RefOr<OaResponse> {
            utoipa::openapi::ResponseBuilder::new()
                .description(why)
                .content(
                    "application/json",
                    utoipa::openapi::ContentBuilder::new()
                        .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .into()
        };
        for (path, item) in api.paths.paths.iter_mut() {
            let authed = path.starts_with("/v1/");
            let writes = [
                &mut item.put,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ];
            let ops = std::iter::once((false, &mut item.get))
                .chain(writes.into_iter().map(|w| (true, w)))
                .filter_map(|(write, op)| op.as_mut().map(|op| (write, op)));
            for (write, op) in ops {
                let r = &mut op.responses.responses;
                let has_body = op.request_body.is_some();
                // Every write under /v1 may be in flight, refused or met by a drain.
                let command = authed && write;
                let mut add = |code: &str, why: &str| {
                    r.entry(code.to_string()).or_insert_with(|| error(why));
                };
                add(
                    "400",
                    "Malformed request: body, query, path or header (says which)",
                );
                add("408", "The request took too long");
                add("500", "Internal error (details in the service log)");
                if authed {
                    add("401", "No, unknown or revoked bearer token");
                    add("403", "The token's role may not do this");
                    add("404", "No such record, or not the caller's");
                }
                if command {
                    add(
                        "409",
                        "A command with this Idempotency-Key is still in flight",
                    );
                    add(
                        "422",
                        "The command was refused (the reason is in `message`)",
                    );
                    add(
                        "503",
                        "The service is shutting down; retry with the same key",
                    );
                }
                if has_body {
                    add("413", "The body is larger than the limit");
                    add("415", "The body is not `application/json`");
                }
            }
        }
    }
}

/// The route table: every route, with its OpenAPI operation.
fn router() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = routes();
    Errors.modify(&mut doc);
    (router, doc)
}

fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(api::put_partner))
        .routes(routes!(api::put_account))
        .routes(routes!(api::create_opportunity, api::list_opportunities))
        .routes(routes!(api::get_opportunity, api::update_opportunity))
        .routes(routes!(api::register))
        .routes(routes!(api::advance))
        .routes(routes!(api::close))
        .routes(routes!(api::log_activity))
        .routes(routes!(api::log_cosell))
        .routes(routes!(api::review))
        .routes(routes!(api::withdraw))
        .routes(routes!(api::submit_lead, api::list_leads))
        .routes(routes!(api::get_lead))
        .routes(routes!(api::accept_lead))
        .routes(routes!(api::decline_lead))
        .routes(routes!(api::list_registrations))
        .routes(routes!(api::list_decisions))
        .routes(routes!(api::get_decision))
        .routes(routes!(api::queue))
        .routes(routes!(api::verify_log))
        .routes(routes!(api::list_policies, api::publish_policy))
        .routes(routes!(api::replay))
        .routes(routes!(api::decide))
        .routes(routes!(api::set_clock))
        .routes(routes!(api::shadow))
        .routes(routes!(api::healthz))
        .routes(routes!(api::readyz))
        .routes(routes!(api::metrics))
        .split_for_parts()
}

/// The OpenAPI 3.1 document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    router().1
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route; see /openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take this method; see /openapi.json",
    )
}

/// Counts requests by matched route and status, and their latency.
async fn track(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_string();
    let method = req.method().to_string();
    let started = Instant::now();
    let res = next.run(req).await;
    s.metrics
        .requests
        .get_or_create(&metrics::RequestLabels {
            route: route.clone(),
            method,
            status: res.status().as_u16(),
        })
        .inc();
    s.metrics
        .latency
        .get_or_create(&metrics::RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
    res
}

/// tower-http's timeout answers 408 with an empty body: give it the one error shape.
async fn timeout_as_json(res: Response) -> Response {
    if res.status() == StatusCode::REQUEST_TIMEOUT {
        return ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            "the request took longer than the service allows",
        )
        .into_response();
    }
    res
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error; the details are in the service log",
    )
    .into_response()
}

/// The whole application: routes, OpenAPI document, fallbacks and the middleware
/// stack (outside in: trace, metrics, panic catcher, timeouts, body limit; metrics
/// sit outside the panic catcher so that a panic is counted as the 500 it becomes).
pub fn app(state: AppState, limits: Limits) -> Router {
    let (routes, doc) = router();
    let doc = doc.to_json().unwrap_or_default();
    routes
        .route(
            "/openapi.json",
            get(move || async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    doc.clone(),
                )
            }),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(limits.body_bytes))
        .layer(RequestBodyTimeoutLayer::new(limits.request_timeout))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(axum::middleware::map_response(timeout_as_json))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn_with_state(state.clone(), track))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Ticks the timers at the clock's now (the store fires what is due).
pub async fn tick(state: &AppState) -> Result<Submitted, ApiError> {
    let raw = serde_json::json!({"type": "tick", "by": "system"}).to_string();
    state.writer.submit(raw).await
}

/// How often the service ticks its timers on the real clock.
pub const TICK_EVERY: Duration = Duration::from_secs(60);

/// Serves `state` on `listener` until `shutdown` resolves: ticks on start-up and
/// every minute, then on shutdown stops accepting, lets requests in flight finish
/// (at most `grace`), and closes the writer (every acknowledged command is
/// durable).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let ticker_state = state.clone();
    let ticker = tokio::spawn(async move {
        let mut every = tokio::time::interval(TICK_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match tick(&ticker_state).await {
                Ok(out) if !out.decisions.is_empty() => {
                    tracing::info!(fired = out.decisions.len(), "timers fired");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e.message, "tick failed"),
            }
        }
    });
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let draining = state.clone();
    let signal = async move {
        shutdown.await;
        draining
            .draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = stop_tx.send(());
    };
    let app = app(state.clone(), limits);
    let server = axum::serve(listener, app).with_graceful_shutdown(signal);
    // A deadline on the drain: idle keep-alive connections must not hold it open.
    let result = tokio::select! {
        r = server => r,
        () = async {
            let _ = stop_rx.await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!("requests still in flight after the grace period; closing");
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("requests were still in flight {} s after shutdown began", grace.as_secs()),
            ))
        }
    };
    ticker.abort();
    let writer = state.clone();
    let _ = tokio::task::spawn_blocking(move || writer.writer.close()).await;
    result
}
