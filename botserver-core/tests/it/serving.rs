use crate::harness::TEST_MODULE;
use botserver_core::testing::TestApp;
use botserver_core::{build_app, serve};
use botstate::testing::TestDb;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start(
    adjust: impl FnOnce(&mut botstate::Config),
) -> (TestApp, SocketAddr, tokio::task::JoinHandle<Result<(), String>>) {
    let app = TestApp::build(TestDb::sqlite(), &[&TEST_MODULE], |c| {
        c.server.port = 0;
        adjust(c);
    })
    .await;
    let bound = serve::bind(&app.state).await.unwrap();
    let addr = bound.local_addr().unwrap();
    let router = build_app(app.state.clone(), &[&TEST_MODULE]);
    let server = tokio::spawn(serve::serve(app.state.clone(), router, bound));
    (app, addr, server)
}

async fn raw_get<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    path: &str,
) -> String {
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_finishes_in_flight_requests_and_stops_accepting() {
    let (app, addr, server) = start(|_| {}).await;
    let mut conn = TcpStream::connect(addr).await.unwrap();
    assert!(raw_get(&mut conn, "/health").await.starts_with("HTTP/1.1 200"));

    let slow = tokio::spawn(async move {
        let mut conn = TcpStream::connect(addr).await.unwrap();
        raw_get(&mut conn, "/api/test/slow").await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.state.shutdown.cancel();

    let answer = slow.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("finally"), "{answer}");
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_closes_websockets_with_going_away() {
    let (app, addr, server) = start(|_| {}).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/test/ws"))
        .await
        .unwrap();
    ws.send(tokio_tungstenite::tungstenite::Message::Text("ping".into()))
        .await
        .unwrap();
    let echoed = ws.next().await.unwrap().unwrap();
    assert_eq!(echoed.into_text().unwrap().as_str(), "ping");

    app.state.shutdown.cancel();
    let frame = tokio::time::timeout(Duration::from_secs(3), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match frame {
        tokio_tungstenite::tungstenite::Message::Close(Some(close)) => {
            assert_eq!(u16::from(close.code), 1001)
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_gives_up_at_its_deadline() {
    let (app, addr, server) = start(|c| c.server.shutdown_deadline_secs = 1).await;
    // A tracked task that ignores shutdown stands for a stuck worker.
    app.state.tasks.spawn(tokio::time::sleep(Duration::from_secs(30)));
    let _ = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    app.state.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_serves_https_with_hsts() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures");
    let (app, addr, server) = start(|c| {
        c.server.tls = Some(botstate::config::TlsConfig {
            cert_path: fixtures.join("cert.pem"),
            key_path: fixtures.join("key.pem"),
        });
    })
    .await;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(fixtures.join("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut tls = connector
        .connect(rustls_pki_types::ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let answer = raw_get(&mut tls, "/health").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer
            .to_lowercase()
            .contains("strict-transport-security: max-age="),
        "{answer}"
    );

    // A client that stalls its handshake does not block others.
    let _stalled = TcpStream::connect(addr).await.unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut tls = connector
        .connect(rustls_pki_types::ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    assert!(raw_get(&mut tls, "/health").await.starts_with("HTTP/1.1 200"));

    app.state.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_missing_certificate_is_named() {
    let app = TestApp::build(TestDb::sqlite(), &[], |c| {
        c.server.port = 0;
        c.server.tls = Some(botstate::config::TlsConfig {
            cert_path: "/nonexistent/cert.pem".into(),
            key_path: "/nonexistent/key.pem".into(),
        });
    })
    .await;
    let err = match serve::bind(&app.state).await {
        Ok(_) => panic!("bound without a certificate"),
        Err(e) => e,
    };
    assert!(err.contains("server.tls.cert_path"), "{err}");
}
