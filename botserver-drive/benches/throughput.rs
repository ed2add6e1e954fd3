//! Upload and download throughput through the server's drive routes, next to the same
//! transfers made directly against the S3 server, in one run:
//!
//! ```sh
//! .ci/services start && source .ci/.state/env
//! cargo bench -p botserver-drive --bench throughput
//! ```
//!
//! Each transfer moves `BENCH_MIB` MiB (default 256) three times; the median is reported.
//! The server runs in process on loopback with every middleware, an authenticator test
//! double, SQLite, and the drive on the local disk or on the S3 server. Without
//! `BOT_TEST_S3_URL` only the local-disk figures are measured.

use botserver_core::testing::{TestApp, TokenAuth, test_principal};
use botstate::auth::Role;
use botstate::services::ObjectStore;
use botstate::testing::TestDb;
use bytes::Bytes;
use futures_util::StreamExt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const CHUNK: usize = 256 << 10;

fn chunk() -> Bytes {
    Bytes::from((0..CHUNK).map(|i| (i % 251) as u8).collect::<Vec<u8>>())
}

fn body(size: u64) -> botstate::services::ByteStream {
    let piece = chunk();
    let n = size / CHUNK as u64;
    Box::pin(futures_util::stream::iter((0..n).map(move |_| Ok(piece.clone()))))
}

async fn server(s3: Option<&(String, String, String)>) -> (TestApp, SocketAddr) {
    let s3 = s3.cloned();
    // An authenticator test double: the token `bench` is a signed-in user.
    let callers = TokenAuth::default().with("bench", test_principal("bench", "o", &[Role::User], &[]));
    let app = TestApp::with_auth(TestDb::sqlite(), &[&botserver_drive::MODULE], callers, |c| {
        c.server.port = 0;
        c.server.rate_limit.per_second = 0;
        c.drive.user_quota_bytes = 1 << 40;
        if let Some((url, key, secret)) = s3 {
            c.drive.s3_url = url;
            c.drive.s3_bucket = format!("bench-{}", uuid::Uuid::new_v4().simple());
            c.secrets.values.insert("s3-access-key".into(), key);
            c.secrets.values.insert("s3-secret-key".into(), secret);
        }
    })
    .await;
    let bound = botserver_core::serve::bind(&app.state).await.expect("binds");
    let addr = bound.local_addr().expect("an address");
    tokio::spawn(botserver_core::serve::serve(
        app.state.clone(),
        app.router.clone(),
        bound,
    ));
    (app, addr)
}

async fn upload_through(addr: SocketAddr, size: u64) -> Duration {
    let started = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let head = format!(
        "PUT /api/drive/me/files/bench.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer bench\r\nContent-Length: {size}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let piece = chunk();
    for _ in 0..size / CHUNK as u64 {
        s.write_all(&piece).await.unwrap();
    }
    let mut reader = BufReader::new(s);
    let mut status = String::new();
    reader.read_line(&mut status).await.unwrap();
    assert!(status.contains(" 20"), "upload: {status}");
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).await.unwrap();
    started.elapsed()
}

async fn download_through(addr: SocketAddr, size: u64) -> Duration {
    let started = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /api/drive/me/files/bench.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer bench\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0u64;
    loop {
        let n = s.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got += n as u64;
    }
    assert!(got >= size, "download: {got} bytes");
    started.elapsed()
}

async fn upload_direct(store: &dyn ObjectStore, size: u64) -> Duration {
    let started = Instant::now();
    store
        .put_stream("bench/direct.bin", body(size), None, u64::MAX)
        .await
        .unwrap();
    started.elapsed()
}

async fn download_direct(store: &dyn ObjectStore, size: u64) -> Duration {
    let started = Instant::now();
    let mut stream = store.get_stream("bench/direct.bin", None).await.unwrap().stream;
    let mut got = 0u64;
    while let Some(piece) = stream.next().await {
        got += piece.unwrap().len() as u64;
    }
    assert_eq!(got, size);
    started.elapsed()
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn report(what: &str, size: u64, runs: Vec<Duration>) {
    let d = median(runs);
    println!(
        "{what:<40} {:>8.1} MiB/s  ({} MiB in {:.2} s, median of 3)",
        (size >> 20) as f64 / d.as_secs_f64(),
        size >> 20,
        d.as_secs_f64()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let mib: u64 = std::env::var("BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let size = mib << 20;
    let s3 = botstate::testing::service_url("BOT_TEST_S3_URL").map(|url| {
        (
            url,
            std::env::var("BOT_TEST_S3_ACCESS_KEY").expect("BOT_TEST_S3_ACCESS_KEY"),
            std::env::var("BOT_TEST_S3_SECRET_KEY").expect("BOT_TEST_S3_SECRET_KEY"),
        )
    });

    let (_local, addr) = server(None).await;
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        up.push(upload_through(addr, size).await);
        down.push(download_through(addr, size).await);
    }
    report("upload through the server (local disk)", size, up);
    report("download through the server (local disk)", size, down);

    let Some(s3) = s3 else {
        println!("BOT_TEST_S3_URL not set: the S3 figures are not measured");
        return;
    };
    let (app, addr) = server(Some(&s3)).await;
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        up.push(upload_through(addr, size).await);
        down.push(download_through(addr, size).await);
    }
    report("upload through the server (S3)", size, up);
    report("download through the server (S3)", size, down);

    // The same S3 server and bucket, straight from the store (no HTTP server between).
    let direct = app.state.objects.clone();
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        up.push(upload_direct(&*direct, size).await);
        down.push(download_direct(&*direct, size).await);
    }
    report("upload directly to S3 (aws-sdk-s3)", size, up);
    report("download directly from S3 (aws-sdk-s3)", size, down);
}
