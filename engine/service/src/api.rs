//! The handlers. Commands are thin: build the command of `docs/commands.md` from the
//! route, the body and the caller, hand it to the group-commit writer, and answer
//! with its decisions in the caller's audience. Reads run on the blocking pool
//! against the store's read connections.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use dealflow_dsl::SourceFile;
use dealflow_engine::{Action, Audience, Context, Policy};
use dealflow_store::{ListQuery, Store};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::auth::{Principal, Scope, ACTORS, ANYONE, VENDOR};
use crate::dto::*;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{parse_json, Body, Path, Query};
use crate::state::AppState;

/// The longest idempotency key accepted.
const MAX_KEY: usize = 200;

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn ok_json(v: &impl Serialize) -> ApiResult<Response> {
    let body = serde_json::to_string(v).map_err(ApiError::internal)?;
    Ok(json_response(StatusCode::OK, body))
}

fn instant(text: &str, field: &str) -> ApiResult<DateTime<Utc>> {
    dealflow_store::command::parse_instant(text)
        .map_err(|e| ApiError::bad_request(e).field(field.to_string()))
}

/// Runs a read on the blocking pool.
async fn read<T, F>(state: &AppState, f: F) -> ApiResult<T>
where
    F: FnOnce(&dyn Store) -> Result<T, dealflow_store::StoreError> + Send + 'static,
    T: Send + 'static,
{
    let store = state.store.clone();
    Ok(tokio::task::spawn_blocking(move || f(&*store)).await??)
}

/// Removes an idempotency key from the in-flight set when the command is done.
struct InFlight<'a> {
    state: &'a AppState,
    key: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.state.in_flight.lock() {
            s.remove(&self.key);
        }
    }
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let k = v
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY && k.chars().all(|c| c.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "`Idempotency-Key` must be 1 to {MAX_KEY} visible ASCII characters"
            ))
            .field("idempotency-key")
        })?;
    Ok(Some(k.to_string()))
}

/// A key for a command sent without one: random, so it never repeats another.
fn fresh_key() -> ApiResult<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(ApiError::internal)?;
    let mut s = String::from("auto-");
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    Ok(s)
}

/// Submits one command and answers with its decisions in the caller's audience.
async fn command(
    state: &AppState,
    p: &Principal,
    headers: &HeaderMap,
    kind: &str,
    body: Map<String, Value>,
) -> ApiResult<Response> {
    let key = match idempotency_key(headers)? {
        Some(k) => format!("{}:{k}", p.key_space()),
        None => format!("{}:{}", p.key_space(), fresh_key()?),
    };
    if key.len() > dealflow_store::command::MAX_KEY {
        return Err(ApiError::bad_request(format!(
            "`Idempotency-Key` is too long for this caller: with its prefix `{}:` it must fit {} bytes",
            p.key_space(),
            dealflow_store::command::MAX_KEY
        ))
        .field("idempotency-key"));
    }
    let mut cmd = Map::new();
    cmd.insert("key".into(), Value::String(key.clone()));
    cmd.insert("type".into(), Value::String(kind.into()));
    cmd.insert("by".into(), p.actor());
    for (k, v) in body {
        cmd.insert(k, v);
    }
    let raw = Value::Object(cmd).to_string();
    {
        let mut f = state
            .in_flight
            .lock()
            .map_err(|_| ApiError::internal("the in-flight set was poisoned"))?;
        if !f.insert(key.clone()) {
            return Err(ApiError::conflict(
                "a command with this Idempotency-Key is still being applied; retry when it is done",
            )
            .field("idempotency-key"));
        }
    }
    let _guard = InFlight {
        state,
        key: key.clone(),
    };
    let out = state.writer.submit(raw).await?;
    let audience = p.audience();
    if out.reused_key {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was already used with another payload; use a new key for a new command",
        )
        .field("idempotency-key"));
    }
    if out.refused {
        let doc: Value = out
            .decisions
            .first()
            .and_then(|d| serde_json::from_str(&d.json).ok())
            .unwrap_or(Value::Null);
        let message = doc
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("the command was refused")
            .to_string();
        if doc.get("not_found") == Some(&Value::Bool(true)) {
            return Err(ApiError::not_found(message));
        }
        return Err(ApiError::refused(message));
    }
    let docs: Vec<&str> = out
        .decisions
        .iter()
        .filter_map(|d| d.for_audience(&audience))
        .collect();
    let body = format!(
        "{{\"decisions\":[{}],\"repeated\":{}}}",
        docs.join(","),
        out.repeated
    );
    Ok(json_response(StatusCode::OK, body))
}

fn id_into(mut doc: Map<String, Value>, id: &str, what: &str) -> ApiResult<Map<String, Value>> {
    // A PUT replaces the document: an empty one would silently erase every field.
    if doc.keys().all(|k| k == "id") {
        return Err(ApiError::bad_request(format!(
            "the {what} document is empty; a PUT replaces every field, so give them all"
        ))
        .field("body"));
    }
    match doc.get("id") {
        None => {
            doc.insert("id".into(), Value::String(id.to_string()));
            Ok(doc)
        }
        Some(Value::String(s)) if s == id => Ok(doc),
        Some(_) => Err(ApiError::bad_request(format!(
            "the {what}'s `id` in the body differs from the path's `{id}`"
        ))
        .field("id")),
    }
}

fn obj(pairs: Vec<(&str, Value)>) -> Map<String, Value> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .filter(|(_, v)| !v.is_null())
        .collect()
}

// ------------------------------------------------------------------ commands

/// Create or update a partner (admin).
#[utoipa::path(put, path = "/v1/partners/{id}", tag = "admin",
    params(("id" = String, Path, description = "The partner id")),
    request_body = PartnerBody,
    responses((status = 200, description = "The decision", body = CommandResponse)),
    security(("bearer" = ["admin"])))]
pub async fn put_partner(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<Response> {
    p.allow(&[Scope::Admin])?;
    let body: PartnerBody = parse_json(&headers, &body)?;
    let partner = id_into(body.0, &id, "partner")?;
    command(
        &s,
        &p,
        &headers,
        "upsert_partner",
        obj(vec![("partner", Value::Object(partner))]),
    )
    .await
}

/// Create or update an account, with its direct ownership (admin).
#[utoipa::path(put, path = "/v1/accounts/{id}", tag = "admin",
    params(("id" = String, Path, description = "The account id")),
    request_body = AccountBody,
    responses((status = 200, description = "The decision", body = CommandResponse)),
    security(("bearer" = ["admin"])))]
pub async fn put_account(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<Response> {
    p.allow(&[Scope::Admin])?;
    let body: AccountBody = parse_json(&headers, &body)?;
    let account = id_into(body.account, &id, "account")?;
    command(
        &s,
        &p,
        &headers,
        "upsert_account",
        obj(vec![
            ("account", Value::Object(account)),
            ("direct", body.direct.into()),
        ]),
    )
    .await
}

/// Create an opportunity (its partner, channel ops, admin).
#[utoipa::path(post, path = "/v1/opportunities", tag = "opportunities",
    request_body = NewOpportunityBody,
    responses((status = 200, description = "The decision", body = CommandResponse)),
    security(("bearer" = ["partner", "channel_ops", "admin"])))]
pub async fn create_opportunity(
    State(s): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<Response> {
    p.allow(ACTORS)?;
    let body: NewOpportunityBody = parse_json(&headers, &body)?;
    command(
        &s,
        &p,
        &headers,
        "create_opportunity",
        obj(vec![("opportunity", Value::Object(body.0))]),
    )
    .await
}

/// Update an opportunity's fields and line items.
#[utoipa::path(patch, path = "/v1/opportunities/{id}", tag = "opportunities",
    params(("id" = String, Path, description = "The opportunity id")),
    request_body = UpdateBody,
    responses((status = 200, description = "The decision", body = CommandResponse)),
    security(("bearer" = ["partner", "channel_ops", "admin"])))]
pub async fn update_opportunity(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<Response> {
    p.allow(ACTORS)?;
    let body: UpdateBody = parse_json(&headers, &body)?;
    let line_items = body.line_items.map_or(Value::Null, Value::Array);
    command(
        &s,
        &p,
        &headers,
        "update_opportunity",
        obj(vec![
            ("opportunity", id.into()),
            ("fields", Value::Object(body.fields)),
            ("line_items", line_items),
        ]),
    )
    .await
}

macro_rules! opportunity_command {
    ($name:ident, $path:literal, $kind:literal, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "opportunities",
                    params(("id" = String, Path, description = "The opportunity id")),
                    responses((status = 200, description = "The decision", body = CommandResponse)),
                    security(("bearer" = ["partner", "channel_ops", "admin"])))]
        pub async fn $name(
            State(s): State<AppState>,
            p: Principal,
            Path(id): Path<String>,
            headers: HeaderMap,
        ) -> ApiResult<Response> {
            p.allow(ACTORS)?;
            command(
                &s,
                &p,
                &headers,
                $kind,
                obj(vec![("opportunity", id.into())]),
            )
            .await
        }
    };
}

opportunity_command!(
    register,
    "/v1/opportunities/{id}/register",
    "register",
    "Register the deal (auto-approved, or queued for review with its SLA)."
);
opportunity_command!(
    withdraw,
    "/v1/opportunities/{id}/withdraw",
    "withdraw",
    "Withdraw the deal's live registration."
);

/// Advance the opportunity to a stage (the decision says what evidence is missing).
#[utoipa::path(post, path = "/v1/opportunities/{id}/advance", tag = "opportunities",
    params(("id" = String, Path, description = "The opportunity id")),
    request_body = AdvanceBody,
    responses((status = 200, description = "The decision", body = CommandResponse)),
    security(("bearer" = ["partner", "channel_ops", "admin"])))]
pub async fn advance(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<Response> {
    p.allow(ACTORS)?;
    let body: AdvanceBody = parse_json(&headers, &body)?;
    command(
        &s,
        &p,
        &headers,
        "advance",
        obj(vec![("opportunity", id.into()), ("to", body.to.into())]),
    )
    .await
}

/// Close the opportunity won (books commission) or lost.
#[utoipa::path(post, path = "/v1/opportunities/{id}/close", tag = "opportunities",
    params(("id" = String, Path, description = "The opportunity id")),
    request_body = CloseBody,
    responses((status = 200, description = "The decision", body = CommandResponse)),
    security(("bearer" = ["partner", "channel_ops", "admin"])))]
pub async fn close(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<Response> {
    p.allow(ACTORS)?;
    let body: CloseBody = parse_json(&headers, &body)?;
    let kind = match body.outcome {
        CloseOutcome::Won => "close_won",
        CloseOutcome::Lost => "close_lost",
    };
    command(
        &s,
        &p,
        &headers,
        kind,
        obj(vec![("opportunity", id.into())]),
    )
    .await
}

/// Log an activity on the opportunity.
#[utoipa::path(post, path = "/v1/opportunities/{id}/activities", tag = "opportunities",
    params(("id" = String, Path, description = "The opportunity id")),
    request_body = ActivityBody,
    responses((status = 200, description = "The decision", body = CommandResponse)),
    security(("bearer" = ["partner", "channel_ops", "admin"])))]
pub async fn log_activity(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<Response> {
    p.allow(ACTORS)?;
    let body: ActivityBody = parse_json(&headers, &body)?;
    command(
        &s,
        &p,
        &headers,
        "log_activity",
        obj(vec![
            ("opportunity", id.into()),
            ("kind", body.kind.into()),
            ("note", body.note.map_or(Value::Null, Value::String)),
        ]),
    )
    .await
}

/// Log a contact by a co-sell resource (presales, executive sponsor...).
#[utoipa::path(post, path = "/v1/opportunities/{id}/cosell", tag = "opportunities",
    params(("id" = String, Path, description = "The opportunity id")),
    request_body = CosellBody,
    responses((status = 200, description = "The decision", body = CommandResponse)),
    security(("bearer" = ["partner", "channel_ops", "admin"])))]
pub async fn log_cosell(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<Response> {
    p.allow(ACTORS)?;
    let body: CosellBody = parse_json(&headers, &body)?;
    command(
        &s,
        &p,
        &headers,
        "log_cosell",
        obj(vec![
            ("opportunity", id.into()),
            ("pool", body.pool.into()),
            ("person", body.person.into()),
            ("note", body.note.map_or(Value::Null, Value::String)),
        ]),
    )
    .await
}

/// Review the deal's pending registration (channel ops).
#[utoipa::path(post, path = "/v1/opportunities/{id}/review", tag = "review",
    params(("id" = String, Path, description = "The opportunity id")),
    request_body = ReviewBody,
    responses((status = 200, description = "The decision", body = CommandResponse)),
    security(("bearer" = ["channel_ops"])))]
pub async fn review(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<Response> {
    p.allow(&[Scope::ChannelOps])?;
    let body: ReviewBody = parse_json(&headers, &body)?;
    let verdict = match body.verdict {
        VerdictBody::Approve => "approve",
        VerdictBody::Reject => "reject",
        VerdictBody::Return => "return",
    };
    command(
        &s,
        &p,
        &headers,
        "review",
        obj(vec![
            ("opportunity", id.into()),
            ("verdict", verdict.into()),
            ("note", body.note.map_or(Value::Null, Value::String)),
        ]),
    )
    .await
}

/// Submit a lead for routing (channel ops, admin).
#[utoipa::path(post, path = "/v1/leads", tag = "leads",
    request_body = LeadBody,
    responses((status = 200, description = "The routing decision", body = CommandResponse)),
    security(("bearer" = ["channel_ops", "admin"])))]
pub async fn submit_lead(
    State(s): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<Response> {
    p.allow(&[Scope::ChannelOps, Scope::Admin])?;
    let body: LeadBody = parse_json(&headers, &body)?;
    command(
        &s,
        &p,
        &headers,
        "submit_lead",
        obj(vec![("lead", Value::Object(body.0))]),
    )
    .await
}

/// Accept a lead offered to the calling partner.
#[utoipa::path(post, path = "/v1/leads/{id}/accept", tag = "leads",
    params(("id" = String, Path, description = "The lead id")),
    request_body = AcceptBody,
    responses((status = 200, description = "The decision", body = CommandResponse)),
    security(("bearer" = ["partner"])))]
pub async fn accept_lead(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<Response> {
    p.allow(&[Scope::Partner])?;
    let body: AcceptBody = parse_json(&headers, &body)?;
    command(
        &s,
        &p,
        &headers,
        "accept_lead",
        obj(vec![
            ("lead", id.into()),
            ("account", body.account.map_or(Value::Null, Value::String)),
        ]),
    )
    .await
}

/// Decline a lead offered to the calling partner (it is rerouted).
#[utoipa::path(post, path = "/v1/leads/{id}/decline", tag = "leads",
    params(("id" = String, Path, description = "The lead id")),
    request_body = DeclineBody,
    responses((status = 200, description = "The decision", body = CommandResponse)),
    security(("bearer" = ["partner"])))]
pub async fn decline_lead(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<Response> {
    p.allow(&[Scope::Partner])?;
    let body: DeclineBody = parse_json(&headers, &body)?;
    command(
        &s,
        &p,
        &headers,
        "decline_lead",
        obj(vec![
            ("lead", id.into()),
            ("reason", body.reason.map_or(Value::Null, Value::String)),
        ]),
    )
    .await
}

// ------------------------------------------------------------------ reads

fn list_query(q: ListParams) -> ListQuery {
    ListQuery {
        after: q.after,
        limit: q.limit.unwrap_or(100).clamp(1, 1000),
        stage: q.stage,
        partner: q.partner,
        status: q.status,
        flag: q.flag,
        kind: q.kind,
        opportunity: q.opportunity,
    }
}

fn page<T: Serialize>(
    items: &[T],
    limit: usize,
    cursor: impl Fn(&T) -> String,
) -> ApiResult<Response> {
    let next = (items.len() == limit)
        .then(|| items.last().map(&cursor))
        .flatten();
    let items = items
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::internal)?;
    ok_json(&Page { items, next })
}

/// List opportunities (paged; filters: stage, partner, status, flag).
#[utoipa::path(get, path = "/v1/opportunities", tag = "opportunities",
    params(ListParams),
    responses((status = 200, description = "A page of opportunities", body = Page)),
    security(("bearer" = ["partner", "channel_ops", "admin", "viewer"])))]
pub async fn list_opportunities(
    State(s): State<AppState>,
    p: Principal,
    Query(q): Query<ListParams>,
) -> ApiResult<Response> {
    p.allow(ANYONE)?;
    let q = list_query(q);
    let (aud, limit, now) = (p.audience(), q.limit, s.clock.now());
    let items = read(&s, move |st| st.opportunities(&aud, &q, now)).await?;
    page(&items, limit, |o| o.id.clone())
}

/// One opportunity with its registrations, events and decisions.
#[utoipa::path(get, path = "/v1/opportunities/{id}", tag = "opportunities",
    params(("id" = String, Path, description = "The opportunity id")),
    responses((status = 200, description = "The opportunity", body = Document)),
    security(("bearer" = ["partner", "channel_ops", "admin", "viewer"])))]
pub async fn get_opportunity(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    p.allow(ANYONE)?;
    let aud = p.audience();
    let found = read(&s, move |st| st.opportunity(&aud, &id)).await?;
    match found {
        Some(o) => ok_json(&o),
        None => Err(ApiError::not_found("no such opportunity")),
    }
}

/// List registrations (paged; filters: status, partner, opportunity).
#[utoipa::path(get, path = "/v1/registrations", tag = "registrations",
    params(ListParams),
    responses((status = 200, description = "A page of registrations", body = Page)),
    security(("bearer" = ["partner", "channel_ops", "admin", "viewer"])))]
pub async fn list_registrations(
    State(s): State<AppState>,
    p: Principal,
    Query(q): Query<ListParams>,
) -> ApiResult<Response> {
    p.allow(ANYONE)?;
    let q = list_query(q);
    let (aud, limit) = (p.audience(), q.limit);
    let items = read(&s, move |st| st.registrations(&aud, &q)).await?;
    page(&items, limit, |r| r.id.clone())
}

/// List leads (paged; filter: status). A partner sees the leads offered to it.
#[utoipa::path(get, path = "/v1/leads", tag = "leads",
    params(ListParams),
    responses((status = 200, description = "A page of leads", body = Page)),
    security(("bearer" = ["partner", "channel_ops", "admin", "viewer"])))]
pub async fn list_leads(
    State(s): State<AppState>,
    p: Principal,
    Query(q): Query<ListParams>,
) -> ApiResult<Response> {
    p.allow(ANYONE)?;
    let q = list_query(q);
    let (aud, limit) = (p.audience(), q.limit);
    let items = read(&s, move |st| st.leads(&aud, &q)).await?;
    page(&items, limit, |l| l.id.clone())
}

/// One lead.
#[utoipa::path(get, path = "/v1/leads/{id}", tag = "leads",
    params(("id" = String, Path, description = "The lead id")),
    responses((status = 200, description = "The lead", body = Document)),
    security(("bearer" = ["partner", "channel_ops", "admin", "viewer"])))]
pub async fn get_lead(
    State(s): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    p.allow(ANYONE)?;
    let aud = p.audience();
    match read(&s, move |st| st.lead(&aud, &id)).await? {
        Some(l) => ok_json(&l),
        None => Err(ApiError::not_found("no such lead")),
    }
}

/// List decisions in log order (paged by sequence number; filters: kind, status
/// (the outcome), partner, opportunity).
#[utoipa::path(get, path = "/v1/decisions", tag = "decisions",
    params(ListParams),
    responses((status = 200, description = "A page of decision documents", body = Page)),
    security(("bearer" = ["partner", "channel_ops", "admin", "viewer"])))]
pub async fn list_decisions(
    State(s): State<AppState>,
    p: Principal,
    Query(q): Query<ListParams>,
) -> ApiResult<Response> {
    p.allow(ANYONE)?;
    let q = list_query(q);
    let (aud, limit) = (p.audience(), q.limit);
    let items = read(&s, move |st| st.decisions_where(&aud, &q)).await?;
    let next = (items.len() == limit)
        .then(|| items.last().map(|d| d.seq.to_string()))
        .flatten();
    // The stored documents are JSON already: joined as they are, not re-parsed.
    let docs: Vec<&str> = items.iter().map(|d| d.json.as_str()).collect();
    let next = serde_json::to_string(&next).map_err(ApiError::internal)?;
    Ok(json_response(
        StatusCode::OK,
        format!("{{\"items\":[{}],\"next\":{next}}}", docs.join(",")),
    ))
}

/// One decision document.
#[utoipa::path(get, path = "/v1/decisions/{seq}", tag = "decisions",
    params(("seq" = u64, Path, description = "The decision's sequence number")),
    responses((status = 200, description = "The decision document", body = Document)),
    security(("bearer" = ["partner", "channel_ops", "admin", "viewer"])))]
pub async fn get_decision(
    State(s): State<AppState>,
    p: Principal,
    Path(seq): Path<String>,
) -> ApiResult<Response> {
    p.allow(ANYONE)?;
    let seq: u64 = seq.parse().map_err(|_| {
        ApiError::bad_request(format!("`{seq}` is not a decision sequence number")).field("seq")
    })?;
    let aud = p.audience();
    match read(&s, move |st| st.decision(&aud, seq)).await? {
        Some(d) => Ok(json_response(StatusCode::OK, d.json)),
        None => Err(ApiError::not_found("no such decision")),
    }
}

/// The review queue: pending registrations, oldest first, with business hours
/// waited and escalation.
#[utoipa::path(get, path = "/v1/queue", tag = "review",
    responses((status = 200, description = "Pending registrations", body = Page)),
    security(("bearer" = ["partner", "channel_ops", "admin", "viewer"])))]
pub async fn queue(State(s): State<AppState>, p: Principal) -> ApiResult<Response> {
    p.allow(ANYONE)?;
    let (aud, now) = (p.audience(), s.clock.now());
    let items = read(&s, move |st| st.queue(&aud, now)).await?;
    let items = items
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::internal)?;
    ok_json(&Page { items, next: None })
}

/// Recompute the decision log's hash chain.
#[utoipa::path(get, path = "/v1/log/verify", tag = "log",
    responses((status = 200, description = "The check: decisions and the first broken link", body = Document)),
    security(("bearer" = ["channel_ops", "admin", "viewer"])))]
pub async fn verify_log(State(s): State<AppState>, p: Principal) -> ApiResult<Response> {
    p.allow(VENDOR)?;
    let v = read(&s, |st| st.verify()).await?;
    ok_json(&v)
}

// ------------------------------------------------------------------ policies

/// Published policy versions, oldest first.
#[utoipa::path(get, path = "/v1/policies", tag = "policies",
    responses((status = 200, description = "Policy versions", body = Page)),
    security(("bearer" = ["channel_ops", "admin", "viewer"])))]
pub async fn list_policies(State(s): State<AppState>, p: Principal) -> ApiResult<Response> {
    p.allow(VENDOR)?;
    let v = read(&s, |st| st.policy_versions()).await?;
    let items = v
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::internal)?;
    ok_json(&Page { items, next: None })
}

/// Lints a policy text; the lint errors as a 422 when it has any.
fn lint_or_refuse(name: &str, text: &str) -> Result<SourceFile, PolicyRefused> {
    let source = SourceFile::new(name.to_string(), text.to_string());
    let analysis = dealflow_dsl::analyze(&source);
    if analysis.has_errors() {
        let errors: Vec<_> = analysis
            .diagnostics
            .iter()
            .filter(|d| d.severity == dealflow_dsl::Severity::Error)
            .cloned()
            .collect();
        return Err(PolicyRefused {
            error: "policy_has_errors".into(),
            message: format!(
                "the policy has {} lint error(s); the version in force stays",
                errors.len()
            ),
            diagnostics: errors
                .iter()
                .map(|d| serde_json::to_value(d.located(&source)).unwrap_or(Value::Null))
                .collect(),
        });
    }
    Ok(source)
}

fn refused_policy(r: &PolicyRefused) -> ApiResult<Response> {
    let text = serde_json::to_string(r).map_err(ApiError::internal)?;
    Ok(json_response(StatusCode::UNPROCESSABLE_ENTITY, text))
}

/// Publish a policy version (admin). A policy with lint errors is refused with its
/// diagnostics, and the version in force stays.
#[utoipa::path(put, path = "/v1/policies", tag = "policies",
    request_body = PublishBody,
    responses(
        (status = 200, description = "The publish decision", body = CommandResponse),
        (status = 422, description = "Lint errors (or a refused command)", body = PolicyRefused)),
    security(("bearer" = ["admin"])))]
pub async fn publish_policy(
    State(s): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<Response> {
    p.allow(&[Scope::Admin])?;
    let body: PublishBody = parse_json(&headers, &body)?;
    let name = body.name.unwrap_or_else(|| "policy.policy".into());
    instant(&body.effective_from, "effective_from")?;
    if let Err(r) = lint_or_refuse(&name, &body.source) {
        return refused_policy(&r);
    }
    command(
        &s,
        &p,
        &headers,
        "publish_policy",
        obj(vec![
            ("name", name.into()),
            ("source", body.source.into()),
            ("effective_from", body.effective_from.into()),
        ]),
    )
    .await
}

/// Replay the recorded program with a candidate policy (admin): what would change.
#[utoipa::path(post, path = "/v1/policies/replay", tag = "policies",
    request_body = ReplayBody,
    responses(
        (status = 200, description = "The replay difference", body = Document),
        (status = 422, description = "Lint errors", body = PolicyRefused)),
    security(("bearer" = ["admin"])))]
pub async fn replay(
    State(s): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<Response> {
    p.allow(&[Scope::Admin])?;
    let body: ReplayBody = parse_json(&headers, &body)?;
    let name = body.name.unwrap_or_else(|| "candidate.policy".into());
    let source = match lint_or_refuse(&name, &body.source) {
        Ok(src) => src,
        Err(r) => return refused_policy(&r),
    };
    let candidate = Policy::compile(&source)
        .map_err(|e| ApiError::refused(format!("the policy does not compile: {e}")))?;
    let w = read(&s, move |st| dealflow_store::replay::what_if(st, candidate)).await?;
    ok_json(&w)
}

/// Decide one action statelessly, like `dealflow eval`: a published policy (by
/// hash), a record, a context, an action and an instant. Nothing is stored.
#[utoipa::path(post, path = "/v1/decide", tag = "decide",
    request_body = DecideBody,
    responses((status = 200, description = "The decision document", body = Document)),
    security(("bearer" = ["partner", "channel_ops", "admin", "viewer"])))]
pub async fn decide(
    State(s): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<Response> {
    p.allow(ANYONE)?;
    let body: DecideBody = parse_json(&headers, &body)?;
    let now = instant(&body.now, "now")?;
    let action: Action = body
        .action
        .parse()
        .map_err(|e: dealflow_engine::ParseActionError| {
            ApiError::bad_request(e.to_string()).field("action")
        })?;
    let policy = policy_by_hash(&s, &body.policy).await?;
    policy
        .check_action(&action)
        .map_err(|e| ApiError::bad_request(e.to_string()).field("action"))?;
    let context = match &body.context {
        None => Context::default(),
        Some(v) => policy
            .parse_context_json(&v.to_string())
            .map_err(|e| record_error(&e, "context"))?,
    };
    let audience = p.audience();
    let decision = if action == Action::RouteLead {
        policy.route_lead(&context, now, &audience)
    } else {
        let Some(record) = &body.record else {
            return Err(ApiError::bad_request(format!(
                "`record` is required for `{action}` (only `route_lead` decides without one)"
            ))
            .field("record"));
        };
        let record = policy
            .parse_record_json(&record.to_string())
            .map_err(|e| record_error(&e, "record"))?;
        policy.decide(&record, &action, &context, now, &audience)
    };
    let text = serde_json::to_string(&decision).map_err(ApiError::internal)?;
    Ok(json_response(StatusCode::OK, text))
}

/// A published version by hash, compiled once and kept (versions never change).
async fn policy_by_hash(s: &AppState, hash: &str) -> ApiResult<std::sync::Arc<Policy>> {
    if let Some(p) = s.policies.lock().ok().and_then(|c| c.get(hash).cloned()) {
        return Ok(p);
    }
    let h = hash.to_string();
    let found = read(s, move |st| st.policy_by_hash(&h))
        .await?
        .ok_or_else(|| {
            ApiError::not_found("no published policy version has this hash").field("policy")
        })?;
    if let Ok(mut c) = s.policies.lock() {
        c.insert(hash.to_string(), found.clone());
    }
    Ok(found)
}

fn record_error(e: &dealflow_engine::RecordErrors, what: &str) -> ApiError {
    let field = e
        .iter()
        .next()
        .map(|x| {
            if x.path.is_empty() {
                what.to_string()
            } else {
                format!("{what}.{}", x.path)
            }
        })
        .unwrap_or_else(|| what.to_string());
    ApiError::bad_request(e.to_string()).field(field)
}

// ------------------------------------------------------------------ operations

/// Move the test clock (admin; only with `--clock fixed:...`), then tick timers.
#[utoipa::path(post, path = "/v1/admin/clock", tag = "admin",
    request_body = ClockBody,
    responses((status = 200, description = "The tick's decisions at the new instant", body = CommandResponse)),
    security(("bearer" = ["admin"])))]
pub async fn set_clock(
    State(s): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    Body(body): Body,
) -> ApiResult<Response> {
    p.allow(&[Scope::Admin])?;
    let body: ClockBody = parse_json(&headers, &body)?;
    let to = instant(&body.now, "now")?;
    if !s.clock.set(to) {
        return Err(ApiError::conflict(
            "the service runs on the real clock; start it with `--clock fixed:RFC3339` to move time",
        ));
    }
    let out = crate::tick(&s).await?;
    let docs: Vec<&str> = out.decisions.iter().map(|d| d.json.as_str()).collect();
    Ok(json_response(
        StatusCode::OK,
        format!(
            "{{\"decisions\":[{}],\"repeated\":{}}}",
            docs.join(","),
            out.repeated
        ),
    ))
}

/// What the shadow policy decided otherwise (the newest 1000), and counts.
#[utoipa::path(get, path = "/v1/shadow", tag = "policies",
    responses((status = 200, description = "Shadow comparison", body = Document)),
    security(("bearer" = ["channel_ops", "admin", "viewer"])))]
pub async fn shadow(State(s): State<AppState>, p: Principal) -> ApiResult<Response> {
    p.allow(VENDOR)?;
    let Some(sh) = &s.shadow else {
        return ok_json(
            &json!({"enabled": false, "compared": 0, "different": 0, "differences": []}),
        );
    };
    let diffs: Vec<_> = sh
        .differences
        .lock()
        .map(|q| q.iter().cloned().collect())
        .unwrap_or_default();
    ok_json(&json!({
        "enabled": true,
        "candidate": sh.policy.hash(),
        "compared": sh.compared.load(std::sync::atomic::Ordering::Relaxed),
        "different": sh.different.load(std::sync::atomic::Ordering::Relaxed),
        "differences": diffs,
    }))
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz() -> Response {
    json_response(StatusCode::OK, "{\"status\":\"ok\"}".into())
}

/// Readiness: the store answers and the service is not shutting down.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "Not ready", body = ErrorBody)))]
pub async fn readyz(State(s): State<AppState>) -> Response {
    if s.draining.load(std::sync::atomic::Ordering::Relaxed) {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "shutting down",
        )
        .into_response();
    }
    match read(&s, |st| st.policy_versions()).await {
        Ok(_) => json_response(StatusCode::OK, "{\"status\":\"ready\"}".into()),
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the store does not answer",
        )
        .into_response(),
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain")))]
pub async fn metrics(State(s): State<AppState>) -> Response {
    let now = s.clock.now();
    if let Ok(q) = read(&s, move |st| st.queue(&Audience::Vendor, now)).await {
        s.metrics
            .queue_depth
            .set(i64::try_from(q.len()).unwrap_or(i64::MAX));
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
        .into_response()
}
