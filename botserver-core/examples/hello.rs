//! A bare axum server answering `GET /health` with the same body as botserver: the
//! baseline `.ci/bench-http` measures botserver's middleware against.
//!
//! `cargo run --release -p botserver-core --example hello -- 127.0.0.1:8090`

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8090".into());
    let app = Router::new().route(
        "/health",
        get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!("hello listening on http://{addr}");
    axum::serve(listener, app).await.expect("serve");
}
