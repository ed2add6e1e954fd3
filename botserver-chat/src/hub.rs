//! Delivery of frames to sockets, wherever they are. Each instance keeps the sockets it
//! holds (by session); a frame for a session goes to the local ones directly and, with a
//! shared cache (Redis), to the other instances over one pub/sub channel, where each
//! delivers it to the sockets it holds. The same path cancels an answer still streaming.
//!
//! Nothing here is state a conversation needs: a socket that misses frames (gone, or too
//! slow and dropped) fetches them again from the message log.

use botstate::cache::Cache;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// One serialized frame (cheap to clone: every socket of a session shares it).
pub type Frame = axum::extract::ws::Utf8Bytes;

/// The pub/sub channel instances share.
const CHANNEL: &str = "chat:deliver";

/// Frames a socket may have queued before it counts as too slow and is dropped.
pub const SOCKET_QUEUE: usize = 256;

#[derive(Serialize, Deserialize)]
struct Envelope {
    from: String,
    session: String,
    /// A frame to deliver; `None` cancels the session's streaming answer.
    frame: Option<String>,
}

/// The sockets of each session on this instance: (socket number, its queue).
type Sockets = HashMap<String, Vec<(u64, mpsc::Sender<Frame>)>>;

/// A socket's place in the hub.
pub struct Registration {
    /// The session.
    pub session: String,
    /// Its number on this instance.
    pub id: u64,
    /// Frames for it.
    pub frames: mpsc::Receiver<Frame>,
}

/// The instance's sockets and the link to the other instances.
pub struct Hub {
    instance: String,
    cache: Arc<dyn Cache>,
    shared: bool,
    sockets: Mutex<Sockets>,
    streams: Mutex<HashMap<String, CancellationToken>>,
    next: AtomicU64,
}

impl Hub {
    /// A hub over `cache`; frames cross instances only when the cache is shared.
    pub fn new(cache: Arc<dyn Cache>) -> Arc<Hub> {
        let shared = cache.backend() != "memory";
        Arc::new(Hub {
            instance: uuid::Uuid::new_v4().simple().to_string(),
            cache,
            shared,
            sockets: Mutex::new(HashMap::new()),
            streams: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
        })
    }

    /// Listens for other instances' frames until `stop`; only with a shared cache.
    pub async fn listen(self: Arc<Self>, stop: CancellationToken) {
        if !self.shared {
            return;
        }
        loop {
            let mut sub = match self.cache.subscribe(CHANNEL).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "chat delivery: cannot subscribe; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
                        _ = stop.cancelled() => return,
                    }
                }
            };
            loop {
                let msg = tokio::select! {
                    m = sub.recv() => m,
                    _ = stop.cancelled() => return,
                };
                let Some(msg) = msg else { break };
                let Ok(env) = serde_json::from_slice::<Envelope>(&msg) else {
                    continue;
                };
                if env.from == self.instance {
                    continue;
                }
                match env.frame {
                    Some(f) => self.deliver_local(&env.session, f.into(), None),
                    None => self.cancel_local(&env.session),
                }
            }
        }
    }

    /// Registers a socket of `session`.
    pub fn register(&self, session: &str) -> Registration {
        let (tx, rx) = mpsc::channel(SOCKET_QUEUE);
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.sockets
            .lock()
            .expect("hub")
            .entry(session.to_string())
            .or_default()
            .push((id, tx));
        Registration {
            session: session.to_string(),
            id,
            frames: rx,
        }
    }

    /// Forgets a socket.
    pub fn unregister(&self, session: &str, id: u64) {
        let mut map = self.sockets.lock().expect("hub");
        if let Some(v) = map.get_mut(session) {
            v.retain(|(i, _)| *i != id);
            if v.is_empty() {
                map.remove(session);
            }
        }
    }

    /// Sockets open on this instance.
    pub fn open_sockets(&self) -> usize {
        self.sockets.lock().expect("hub").values().map(Vec::len).sum()
    }

    /// Sends `frame` to every socket of `session` (but `except`, a local socket id), on
    /// every instance.
    pub async fn send(&self, session: &str, frame: String, except: Option<u64>) {
        let frame: Frame = frame.into();
        self.deliver_local(session, frame.clone(), except);
        if self.shared {
            self.publish(session, Some(frame.as_str().to_string())).await;
        }
    }

    /// Cancels the answer streaming for `session`, on every instance.
    pub async fn cancel_stream(&self, session: &str) {
        self.cancel_local(session);
        if self.shared {
            self.publish(session, None).await;
        }
    }

    /// A token cancelled when a new message for `session` arrives; drop it with
    /// [`Hub::end_stream`].
    pub fn begin_stream(&self, session: &str) -> CancellationToken {
        let token = CancellationToken::new();
        self.streams
            .lock()
            .expect("hub")
            .insert(session.to_string(), token.clone());
        token
    }

    /// The stream of `session` is over.
    pub fn end_stream(&self, session: &str) {
        self.streams.lock().expect("hub").remove(session);
    }

    async fn publish(&self, session: &str, frame: Option<String>) {
        let env = Envelope {
            from: self.instance.clone(),
            session: session.to_string(),
            frame,
        };
        let bytes = serde_json::to_vec(&env).expect("json");
        if let Err(e) = self.cache.publish(CHANNEL, &bytes).await {
            // The log still has the message: the client gets it when it fetches history.
            tracing::warn!(error = %e, session, "chat delivery: publish failed");
        }
    }

    fn deliver_local(&self, session: &str, frame: Frame, except: Option<u64>) {
        let mut map = self.sockets.lock().expect("hub");
        let Some(v) = map.get_mut(session) else { return };
        // A socket whose queue is full is dropped: it closes and the client catches up
        // from the log, instead of the server buffering without bound.
        v.retain(|(id, tx)| Some(*id) == except || tx.try_send(frame.clone()).is_ok());
        if v.is_empty() {
            map.remove(session);
        }
    }

    fn cancel_local(&self, session: &str) {
        if let Some(t) = self.streams.lock().expect("hub").remove(session) {
            t.cancel();
        }
    }
}
