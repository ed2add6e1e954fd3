//! WebSocket helpers every socket-serving domain uses, so shutdown reaches sockets: run the
//! socket as a tracked task and close it with 1001 ("going away") when the server stops.

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use botstate::AppState;
use std::future::Future;

/// Close code for "server going away".
pub const GOING_AWAY: u16 = 1001;

/// Runs `handler` for an upgraded socket as a task shutdown waits for. When shutdown
/// starts, the handler's future is dropped and the socket is closed with 1001, inside the
/// same tracked task, so the close frame is sent before the process exits.
pub async fn run_socket<F, Fut>(state: &AppState, socket: WebSocket, handler: F)
where
    F: FnOnce(SocketHandle) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let stop = state.shutdown.clone();
    let task = state.tasks.spawn(async move {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let handle = SocketHandle {
            socket: Some(socket),
            on_drop: Some(tx),
        };
        let cancelled = tokio::select! {
            _ = handler(handle) => false,
            _ = stop.cancelled() => true,
        };
        // The handler and its handle are gone, so the socket came back through `rx`.
        if cancelled && let Ok(Some(mut socket)) = rx.await {
            close_going_away(&mut socket).await;
        }
    });
    let _ = task.await;
}

/// The socket lent to a handler; dropping it (handler finished or cancelled) hands the
/// socket back, so a cancelled conversation can still be closed properly.
pub struct SocketHandle {
    socket: Option<WebSocket>,
    on_drop: Option<tokio::sync::oneshot::Sender<Option<WebSocket>>>,
}

impl SocketHandle {
    /// The socket.
    pub fn socket(&mut self) -> &mut WebSocket {
        // Present until drop; only `Drop` takes it.
        self.socket.as_mut().expect("socket present until drop")
    }
}

impl Drop for SocketHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.on_drop.take() {
            let _ = tx.send(self.socket.take());
        }
    }
}

/// Sends a 1001 close frame and flushes it.
pub async fn close_going_away(socket: &mut WebSocket) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: GOING_AWAY,
            reason: "server shutting down".into(),
        })))
        .await;
}
