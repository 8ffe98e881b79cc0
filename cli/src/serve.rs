//! `dealflow serve` (the decision service on a store) and `dealflow token` (its API
//! tokens). The HTTP protocol lives in `dealflow-service`; this starts it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use dealflow_dsl::SourceFile;
use dealflow_engine::Policy;
use dealflow_service::{AppState, Clock, FixedClock, Limits, SystemClock};
use dealflow_store::sqlite::SqliteStore;
use dealflow_store::{Grant, Role, Store};

use crate::ExitStatus;

/// Log line format of `dealflow serve`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Arguments of `dealflow serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The store (created by `dealflow init`).
    #[arg(long, value_name = "PATH")]
    pub db: PathBuf,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Also decide every command with this candidate policy (never applied); see
    /// `GET /v1/shadow` and the `dealflow_shadow_differences` metric.
    #[arg(long, value_name = "CANDIDATE.policy")]
    pub shadow: Option<PathBuf>,
    /// `system` (default) or `fixed:RFC3339`: a test clock, moved with
    /// `POST /v1/admin/clock`.
    #[arg(long, value_name = "CLOCK", default_value = "system")]
    pub clock: String,
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// The largest request body, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub max_body: usize,
    /// The longest a request may take, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub timeout: u64,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// Arguments of `dealflow token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Issue a token for a partner or a vendor role; prints the secret once.
    Create {
        #[arg(long, value_name = "PATH")]
        db: PathBuf,
        /// A partner token: sees and changes only this partner's records.
        #[arg(
            long,
            value_name = "ID",
            conflicts_with = "vendor",
            required_unless_present = "vendor"
        )]
        partner: Option<String>,
        /// A vendor token with this role.
        #[arg(long, value_enum, value_name = "ROLE")]
        vendor: Option<VendorRole>,
        /// A name to recognise the token by.
        #[arg(long)]
        name: Option<String>,
    },
    /// Revoke a token by its id (`tok_...`).
    Revoke {
        #[arg(long, value_name = "PATH")]
        db: PathBuf,
        #[arg(value_name = "ID")]
        id: String,
    },
    /// List tokens (never their secrets).
    List {
        #[arg(long, value_name = "PATH")]
        db: PathBuf,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum VendorRole {
    #[value(name = "channel_ops", alias = "channel-ops")]
    ChannelOps,
    Admin,
    Viewer,
}

fn fail(msg: impl std::fmt::Display) -> ExitStatus {
    eprintln!("error: {msg}");
    ExitStatus::Error
}

fn open(db: &Path) -> Result<SqliteStore, ExitStatus> {
    SqliteStore::open_existing(db).map_err(|e| fail(format!("{}: {e}", db.display())))
}

pub fn token(args: &TokenArgs) -> ExitStatus {
    match &args.command {
        TokenCommand::Create {
            db,
            partner,
            vendor,
            name,
        } => {
            let grant = match (partner, vendor) {
                (Some(p), None) => Grant::Partner(p.clone()),
                (None, Some(r)) => Grant::Vendor(match r {
                    VendorRole::ChannelOps => Role::ChannelOps,
                    VendorRole::Admin => Role::Admin,
                    VendorRole::Viewer => Role::Viewer,
                }),
                _ => return fail("give --partner ID or --vendor ROLE"),
            };
            let store = match open(db) {
                Ok(s) => s,
                Err(e) => return e,
            };
            match store.create_token(&grant, name.as_deref(), Utc::now()) {
                Ok((id, secret)) => {
                    eprintln!("created {id}; the secret is shown once:");
                    println!("{secret}");
                    ExitStatus::Success
                }
                Err(e) => fail(e),
            }
        }
        TokenCommand::Revoke { db, id } => {
            let store = match open(db) {
                Ok(s) => s,
                Err(e) => return e,
            };
            match store.revoke_token(id, Utc::now()) {
                Ok(true) => {
                    println!("revoked {id}");
                    ExitStatus::Success
                }
                Ok(false) => {
                    eprintln!("no live token `{id}`");
                    ExitStatus::Failure
                }
                Err(e) => fail(e),
            }
        }
        TokenCommand::List { db } => {
            let store = match open(db) {
                Ok(s) => s,
                Err(e) => return e,
            };
            match store.tokens() {
                Ok(ts) => {
                    for t in ts {
                        let grant = match &t.grant {
                            Grant::Partner(p) => format!("partner:{p}"),
                            Grant::Vendor(r) => r.as_str().to_string(),
                        };
                        println!(
                            "{}  {grant}  {}  created {}{}",
                            t.id,
                            t.name.as_deref().unwrap_or("-"),
                            t.created_at,
                            t.revoked_at
                                .map(|r| format!("  revoked {r}"))
                                .unwrap_or_default()
                        );
                    }
                    ExitStatus::Success
                }
                Err(e) => fail(e),
            }
        }
    }
}

fn clock_of(text: &str) -> Result<Arc<dyn Clock>, String> {
    if text == "system" {
        return Ok(Arc::new(SystemClock));
    }
    match text.strip_prefix("fixed:") {
        Some(t) => dealflow_store::command::parse_instant(t)
            .map(|at| Arc::new(FixedClock::new(at)) as Arc<dyn Clock>),
        None => Err(format!("`--clock {text}`: use `system` or `fixed:RFC3339`")),
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

pub fn serve(args: &ServeArgs) -> ExitStatus {
    init_logging(args.log_format);
    let clock = match clock_of(&args.clock) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let shadow = match &args.shadow {
        None => None,
        Some(path) => {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => return fail(format!("{}: {e}", path.display())),
            };
            match Policy::compile(&SourceFile::new(path.display().to_string(), text)) {
                Ok(p) => Some(p),
                Err(e) => {
                    return fail(format!(
                        "{}: the shadow policy does not compile: {e}",
                        path.display()
                    ))
                }
            }
        }
    };
    let store = match open(&args.db) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let limits = Limits {
        body_bytes: args.max_body,
        request_timeout: Duration::from_secs(args.timeout.max(1)),
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    // Blocking work is store reads over 4 read connections: a few threads serve
    // them; hundreds (tokio's default limit is 512) only queue on the connections.
    rt.enable_all().max_blocking_threads(8);
    if let Some(n) = args.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = match rt.build() {
        Ok(rt) => rt,
        Err(e) => return fail(format!("could not start the runtime: {e}")),
    };
    let listen = args.listen;
    let result = rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("could not listen on {listen}: {e}"))?;
        let state = AppState::new(Arc::new(store), clock, shadow);
        tracing::info!(address = %listen, "dealflow serve: listening");
        dealflow_service::serve(
            listener,
            state,
            limits,
            shutdown_signal(),
            Duration::from_secs(10),
        )
        .await
        .map_err(|e| format!("the server stopped: {e}"))
    });
    match result {
        Ok(()) => {
            tracing::info!("dealflow serve: stopped cleanly");
            ExitStatus::Success
        }
        Err(e) => fail(e),
    }
}

/// SIGTERM or SIGINT.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("dealflow serve: shutting down");
}
