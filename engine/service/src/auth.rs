//! Authentication is an extractor (a bearer token checked against the store);
//! authorisation is data: each route names the scopes it admits (the same list is
//! its `security` in `/openapi.json`), and the store filters every read by the
//! caller's audience.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use dealflow_engine::Audience;
use dealflow_store::{Grant, Role};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::{AppState, TOKEN_CACHE_MAX, TOKEN_TTL};
use std::time::Instant;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Partner,
    ChannelOps,
    Admin,
    Viewer,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Partner => "partner",
            Scope::ChannelOps => "channel_ops",
            Scope::Admin => "admin",
            Scope::Viewer => "viewer",
        }
    }
}

/// Every scope: routes any authenticated caller may use.
pub const ANYONE: &[Scope] = &[
    Scope::Partner,
    Scope::ChannelOps,
    Scope::Admin,
    Scope::Viewer,
];
/// Vendor users only.
pub const VENDOR: &[Scope] = &[Scope::ChannelOps, Scope::Admin, Scope::Viewer];
/// Those who act on an opportunity: its partner, channel ops, admins.
pub const ACTORS: &[Scope] = &[Scope::Partner, Scope::ChannelOps, Scope::Admin];

/// The authenticated caller.
#[derive(Clone, Debug)]
pub struct Principal {
    /// The token's id (the vendor user's name in the decision log).
    pub token: String,
    pub grant: Grant,
}

impl Principal {
    pub fn scope(&self) -> Scope {
        match &self.grant {
            Grant::Partner(_) => Scope::Partner,
            Grant::Vendor(Role::ChannelOps) => Scope::ChannelOps,
            Grant::Vendor(Role::Admin) => Scope::Admin,
            Grant::Vendor(Role::Viewer) => Scope::Viewer,
        }
    }

    /// 403 unless the caller's scope is one of `allowed`.
    pub fn allow(&self, allowed: &[Scope]) -> Result<(), ApiError> {
        if allowed.contains(&self.scope()) {
            return Ok(());
        }
        Err(ApiError::forbidden(format!(
            "a token with scope `{}` may not do this; it needs one of: {}",
            self.scope().as_str(),
            allowed
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }

    pub fn audience(&self) -> Audience {
        match &self.grant {
            Grant::Partner(p) => Audience::Partner(p.clone()),
            Grant::Vendor(_) => Audience::Vendor,
        }
    }

    /// The command's `by`.
    pub fn actor(&self) -> Value {
        match &self.grant {
            Grant::Partner(p) => json!({ "partner": p }),
            Grant::Vendor(r) => json!({ "user": self.token, "role": r.as_str() }),
        }
    }

    /// Idempotency keys are per caller: two partners' key `1` are different keys.
    pub fn key_space(&self) -> String {
        match &self.grant {
            Grant::Partner(p) => format!("partner:{p}"),
            // Each vendor token is its own user (its id is `by.user`).
            Grant::Vendor(_) => format!("user:{}", self.token),
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(h) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return Err(ApiError::unauthorized(
                "no `Authorization: Bearer TOKEN` header; create a token with `dealflow token create`",
            )
            .field("authorization"));
        };
        let secret = h
            .to_str()
            .ok()
            // The scheme name is case-insensitive (RFC 9110 section 11.1).
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(rest)
            })
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.len() <= 256);
        let Some(secret) = secret.map(str::to_string) else {
            return Err(ApiError::unauthorized(
                "the `Authorization` header must be `Bearer TOKEN`",
            )
            .field("authorization"));
        };
        let cached = state.tokens.lock().ok().and_then(|c| {
            c.get(&secret)
                .filter(|(_, _, at)| at.elapsed() < TOKEN_TTL)
                .map(|(id, g, _)| (id.clone(), g.clone()))
        });
        if let Some((token, grant)) = cached {
            return Ok(Principal { token, grant });
        }
        let store = state.store.clone();
        let key = secret.clone();
        let found = tokio::task::spawn_blocking(move || store.authenticate(&key)).await??;
        match found {
            Some((token, grant)) => {
                if let Ok(mut c) = state.tokens.lock() {
                    if c.len() >= TOKEN_CACHE_MAX {
                        c.clear();
                    }
                    c.insert(secret, (token.clone(), grant.clone(), Instant::now()));
                }
                Ok(Principal { token, grant })
            }
            None => Err(
                ApiError::unauthorized("the token is unknown or was revoked")
                    .field("authorization"),
            ),
        }
    }
}
