//! Group commit: one thread owns the store's writes. Commands that arrive while a
//! commit is being synced wait in the channel and go into the next commit together,
//! so concurrent writers share fsyncs; each caller is answered only after the commit
//! that holds its command is durable. The thread runs a command to its end even when
//! the caller has gone (a timeout, a disconnect): a retry with the same idempotency
//! key then gets the first answer.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use dealflow_store::{Store, StoreError, Submitted};
use serde_json::Value;
use tokio::sync::oneshot;

use axum::http::StatusCode;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::state::{Clock, Shadow, ShadowDifference, SHADOW_KEPT};

/// The most commands in one commit.
const MAX_BATCH: usize = 256;

struct Job {
    raw: String,
    reply: oneshot::Sender<Result<Submitted, StoreError>>,
}

/// The handle to the writer thread.
pub struct Writer {
    tx: std::sync::Mutex<Option<mpsc::Sender<Job>>>,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    pub fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        shadow: Option<Arc<Shadow>>,
        metrics: Arc<Metrics>,
    ) -> Writer {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("dealflow-writer".into())
            .spawn(move || run(&*store, &*clock, shadow.as_deref(), &metrics, &rx))
            .ok();
        Writer {
            tx: std::sync::Mutex::new(Some(tx)),
            thread: std::sync::Mutex::new(thread),
        }
    }

    /// Applies one command (JSON text); answers once it is durable. A store error
    /// is ours (500); a writer that has stopped is 503.
    pub async fn submit(&self, raw: String) -> Result<Submitted, ApiError> {
        let (reply, answer) = oneshot::channel();
        let sent = match self.tx.lock() {
            Ok(tx) => tx
                .as_ref()
                .is_some_and(|tx| tx.send(Job { raw, reply }).is_ok()),
            Err(_) => false,
        };
        let unavailable = || {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the service is shutting down; retry with the same Idempotency-Key",
            )
        };
        if !sent {
            return Err(unavailable());
        }
        match answer.await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(ApiError::internal(e)),
            Err(_) => Err(unavailable()),
        }
    }

    /// Stops taking commands, lets the thread finish what it holds, and waits.
    pub fn close(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

fn run(
    store: &dyn Store,
    clock: &dyn Clock,
    shadow: Option<&Shadow>,
    metrics: &Metrics,
    rx: &mpsc::Receiver<Job>,
) {
    let mut last = None;
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        // One instant per commit, never earlier than the last (a clock stepped back
        // must not make the store refuse commands as out of order).
        let mut now = clock.now();
        if let Some(l) = last {
            now = now.max(l);
        }
        last = Some(now);
        let batch: Vec<(&str, chrono::DateTime<chrono::Utc>)> =
            jobs.iter().map(|j| (j.raw.as_str(), now)).collect();
        let answers: Vec<Result<(Submitted, Option<Submitted>), StoreError>> = match shadow {
            Some(s) => match store.submit_batch_shadowed(&batch, &s.policy) {
                Ok(a) => a.into_iter().map(Ok).collect(),
                // The whole commit failed: apply each alone, so one command's
                // failure is its own.
                Err(_) => batch
                    .iter()
                    .map(|c| {
                        store
                            .submit_batch_shadowed(std::slice::from_ref(c), &s.policy)?
                            .pop()
                            .ok_or_else(|| StoreError::Invalid("no answer".into()))
                    })
                    .collect(),
            },
            None => match store.submit_batch(&batch) {
                Ok(a) => a.into_iter().map(|x| Ok((x, None))).collect(),
                Err(_) => jobs
                    .iter()
                    .map(|j| store.submit(&j.raw, now).map(|x| (x, None)))
                    .collect(),
            },
        };
        metrics.commits.inc();
        for (job, answer) in jobs.into_iter().zip(answers) {
            let answer = answer.map(|(applied, candidate)| {
                // A repeat was counted (and compared) the first time.
                if !applied.repeated {
                    for d in &applied.decisions {
                        metrics.decision(&d.kind, &d.outcome);
                    }
                    if let (Some(s), Some(c)) = (shadow, &candidate) {
                        compare(s, metrics, &job.raw, &applied, c, now);
                    }
                }
                applied
            });
            let _ = job.reply.send(answer);
        }
    }
}

fn compare(
    s: &Shadow,
    metrics: &Metrics,
    raw: &str,
    applied: &Submitted,
    candidate: &Submitted,
    now: chrono::DateTime<chrono::Utc>,
) {
    s.compared.fetch_add(1, Ordering::Relaxed);
    let a: Vec<String> = applied
        .decisions
        .iter()
        .map(|d| d.outcome.clone())
        .collect();
    let c: Vec<String> = candidate
        .decisions
        .iter()
        .map(|d| d.outcome.clone())
        .collect();
    if a == c {
        return;
    }
    s.different.fetch_add(1, Ordering::Relaxed);
    metrics.shadow_differences.inc();
    let v: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let d = ShadowDifference {
        key: text("key").unwrap_or_default(),
        command_type: text("type").unwrap_or_default(),
        opportunity: text("opportunity").or_else(|| {
            v.get("opportunity")
                .and_then(|o| o.get("id"))
                .and_then(Value::as_str)
                .map(str::to_string)
        }),
        applied: a,
        candidate: c,
        at: dealflow_store::sqlite::ts(now),
    };
    if let Ok(mut q) = s.differences.lock() {
        if q.len() == SHADOW_KEPT {
            q.pop_front();
        }
        q.push_back(d);
    }
}
