//! Cancel requests for statements left running by an interrupted guest.
//!
//! Dropping a connection mid-statement is not enough: the server notices a closed client only
//! when it next writes to it, so a long query (or a 20 s `pg_sleep`) would go on holding a core,
//! its snapshot and its locks. A connection closed while dirty is first sent a cancel request
//! (a separate connection carrying the backend's key), in the background; the run waits for
//! these, briefly, before it exits.

use std::sync::Mutex;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_postgres::CancelToken;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Cancel requests still on their way.
static PENDING: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

/// How a profile's cancel requests reach the server: over TLS when its connections use TLS.
#[derive(Clone)]
pub struct Canceller {
    tls: Option<MakeRustlsConnect>,
}

impl Canceller {
    pub fn new(tls: Option<MakeRustlsConnect>) -> Self {
        Canceller { tls }
    }

    /// Asks the server to cancel what `token`'s session is running, in the background (a
    /// session running nothing ignores it).
    pub fn cancel(&self, token: CancelToken) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let tls = self.tls.clone();
        let sent = runtime.spawn(async move {
            let outcome = match tls {
                Some(tls) => token.cancel_query(tls).await,
                None => token.cancel_query(tokio_postgres::NoTls).await,
            };
            match outcome {
                Ok(()) => tracing::debug!("sent a cancel request for a statement left running"),
                Err(e) => tracing::warn!("could not send a cancel request for a statement left running (the server ends it when it next writes to the closed connection): {e}"),
            }
        });
        let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|h| !h.is_finished());
        pending.push(sent);
    }
}

/// Waits up to `within` for the cancel requests still on their way; true when all were sent.
pub async fn settle(within: Duration) -> bool {
    let pending = std::mem::take(&mut *PENDING.lock().unwrap_or_else(|p| p.into_inner()));
    if pending.is_empty() {
        return true;
    }
    tokio::time::timeout(within, futures_util::future::join_all(pending))
        .await
        .is_ok()
}
