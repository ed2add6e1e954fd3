//! Serving: bind (plain or TLS), run, and shut down gracefully on SIGTERM/SIGINT: stop
//! accepting, let in-flight requests finish, tell sockets and workers to close (they watch
//! `AppState::shutdown`), all within the configured deadline.

use crate::middleware::ClientAddr;
use crate::tls::TlsListener;
use axum::Router;
use botstate::AppState;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// A bound listening socket, before serving starts.
pub enum Bound {
    /// Plain HTTP.
    Plain(TcpListener),
    /// HTTPS.
    Tls(TlsListener),
}

impl Bound {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            Bound::Plain(l) => l.local_addr(),
            Bound::Tls(l) => axum::serve::Listener::local_addr(l),
        }
    }
}

/// Binds the configured address (and loads TLS material when configured).
pub async fn bind(state: &AppState) -> Result<Bound, String> {
    let server = &state.config.server;
    let addr = format!("{}:{}", server.bind, server.port);
    let tcp = TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    match &server.tls {
        None => Ok(Bound::Plain(tcp)),
        Some(tls) => {
            let acceptor = crate::tls::acceptor(tls)?;
            Ok(Bound::Tls(
                TlsListener::new(tcp, acceptor).map_err(|e| e.to_string())?,
            ))
        }
    }
}

/// Cancels `state.shutdown` on SIGTERM or SIGINT.
pub fn cancel_on_signals(state: &AppState) {
    let token = state.shutdown.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
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
            _ = ctrl_c => tracing::info!("SIGINT received, shutting down"),
            _ = term => tracing::info!("SIGTERM received, shutting down"),
            _ = token.cancelled() => return,
        }
        token.cancel();
    });
}

/// Serves `app` until `state.shutdown` is cancelled, then drains within the deadline.
pub async fn serve(state: Arc<AppState>, app: Router, bound: Bound) -> Result<(), String> {
    let deadline = Duration::from_secs(state.config.server.shutdown_deadline_secs);
    let make = app.into_make_service_with_connect_info::<ClientAddr>();
    let stop = state.shutdown.clone();
    let server = match bound {
        // Small frames (chat messages, streamed pieces) must not wait for the peer's
        // delayed ACK (Nagle's algorithm would hold the second of two quick writes ~40 ms).
        Bound::Plain(l) => tokio::spawn(
            axum::serve(crate::tls::PlainListener(l), make)
                .with_graceful_shutdown(stop.cancelled_owned())
                .into_future(),
        ),
        Bound::Tls(l) => tokio::spawn(
            axum::serve(l, make)
                .with_graceful_shutdown(stop.cancelled_owned())
                .into_future(),
        ),
    };
    let mut server = server;
    // Wait for shutdown, or for the server to stop by itself (an error unless shutdown
    // began at the same moment: both can be ready together, and draining must happen
    // either way).
    let finished_early = tokio::select! {
        biased;
        _ = state.shutdown.cancelled() => None,
        finished = &mut server => Some(finished),
    };
    if let Some(finished) = &finished_early
        && !state.shutdown.is_cancelled()
    {
        return match finished {
            Ok(Ok(())) => Err("server stopped unexpectedly".into()),
            Ok(Err(e)) => Err(format!("server failed: {e}")),
            Err(e) => Err(format!("server task failed: {e}")),
        };
    }
    state.tasks.close();
    let drained = tokio::time::timeout(deadline, async {
        if finished_early.is_none() {
            let _ = server.await;
        }
        state.tasks.wait().await;
    })
    .await;
    match drained {
        Ok(()) => tracing::info!("shutdown complete"),
        Err(_) => tracing::warn!(
            deadline_secs = deadline.as_secs(),
            tasks_left = state.tasks.len(),
            "shutdown deadline passed; abandoning what is still running"
        ),
    }
    Ok(())
}
