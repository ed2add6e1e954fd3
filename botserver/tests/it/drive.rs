//! The drive on a real server process:
//! - a 1 GiB upload and download stream through the server while its resident memory
//!   grows by less than 64 MiB, on the local store and on a real S3 server;
//! - an upload cut off mid-way leaves no file and no temporary file;
//! - bot packages in an S3 bucket: a bot appears, a `.bas` edited in the bucket changes
//!   its behaviour within the poll interval, and deleting the package unloads it;
//! - a bot's script writes into its space, and its admin reads the file over REST.

#[cfg(all(feature = "drive", feature = "auth"))]
mod on_a_server {
    use crate::process::{Server, call};
    use botstate::services::ObjectStore;
    use serde_json::{Value, json};
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{Shutdown, SocketAddr, TcpStream};
    use std::path::Path;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    const GIB: u64 = 1 << 30;
    const MIB: usize = 1 << 20;
    const PASSWORD: &str = "drive-admin-pass-1";

    /// The S3 test server (required under `CI=true`).
    fn s3() -> Option<(String, String, String)> {
        let url = botstate::testing::service_url("BOT_TEST_S3_URL")?;
        Some((
            url,
            std::env::var("BOT_TEST_S3_ACCESS_KEY").expect("BOT_TEST_S3_ACCESS_KEY"),
            std::env::var("BOT_TEST_S3_SECRET_KEY").expect("BOT_TEST_S3_SECRET_KEY"),
        ))
    }

    fn s3_env(bucket: &str) -> Vec<(&'static str, String)> {
        let (url, key, secret) = s3().expect("an S3 server");
        vec![
            ("S3_URL", url),
            ("S3_BUCKET", bucket.to_string()),
            ("S3_ACCESS_KEY", key),
            ("S3_SECRET_KEY", secret),
        ]
    }

    fn start(dir: &Path, extra: Vec<(&'static str, String)>) -> (Server, String) {
        let mut envs = vec![
            ("BOTSERVER_SECRET_ADMIN_PASSWORD", PASSWORD.to_string()),
            ("BOTSERVER_DRIVE__USER_QUOTA_BYTES", (4 * GIB).to_string()),
            ("BOTSERVER_SERVER__RATE_LIMIT__PER_SECOND", "0".to_string()),
        ];
        envs.extend(extra);
        let server = Server::start(dir, &envs);
        let (status, v) = call(
            server.addr,
            "POST",
            "/api/auth/login",
            None,
            Some(&json!({"username": "admin", "password": PASSWORD})),
        );
        assert_eq!(status, 200, "{v}");
        let token = v["access_token"].as_str().unwrap().to_string();
        (server, token)
    }

    fn rss_bytes(pid: u32) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    /// Samples a process's resident memory until stopped; returns the peak.
    struct RssProbe {
        stop: Arc<AtomicBool>,
        peak: Arc<AtomicU64>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl RssProbe {
        fn start(pid: u32) -> RssProbe {
            let stop = Arc::new(AtomicBool::new(false));
            let peak = Arc::new(AtomicU64::new(rss_bytes(pid)));
            let (s, p) = (stop.clone(), peak.clone());
            let thread = std::thread::spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    p.fetch_max(rss_bytes(pid), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
            RssProbe {
                stop,
                peak,
                thread: Some(thread),
            }
        }

        fn finish(mut self) -> u64 {
            self.stop.store(true, Ordering::Relaxed);
            if let Some(t) = self.thread.take() {
                t.join().unwrap();
            }
            self.peak.load(Ordering::Relaxed)
        }
    }

    /// Byte `p` of the test file is `p % 251`: a 1 MiB window of that pattern starting at
    /// any offset is a slice of this buffer.
    fn pattern() -> Vec<u8> {
        (0..MIB + 251).map(|i| (i % 251) as u8).collect()
    }

    fn window(pattern: &[u8], offset: u64, len: usize) -> &[u8] {
        let start = (offset % 251) as usize;
        &pattern[start..start + len]
    }

    fn response_head(stream: &mut BufReader<TcpStream>) -> (u16, String) {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if stream.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                break;
            }
            head.push_str(&line.to_ascii_lowercase());
        }
        let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        (status, head)
    }

    /// Streams `size` bytes of the pattern as `PUT path`; stops after `cut_after` bytes
    /// (closing the connection) when given.
    fn upload(addr: SocketAddr, token: &str, path: &str, size: u64, cut_after: Option<u64>) -> (u16, Value) {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(300))).unwrap();
        write!(
            s,
            "PUT {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n"
        )
        .unwrap();
        let pattern = pattern();
        let mut sent = 0u64;
        while sent < size {
            if cut_after.is_some_and(|c| sent >= c) {
                s.shutdown(Shutdown::Both).unwrap();
                return (0, Value::Null);
            }
            let n = MIB.min((size - sent) as usize);
            s.write_all(window(&pattern, sent, n)).unwrap();
            sent += n as u64;
        }
        let mut reader = BufReader::new(s);
        let (status, _) = response_head(&mut reader);
        let mut body = String::new();
        reader.read_to_string(&mut body).unwrap();
        (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
    }

    /// Downloads `path`, checking every byte against the pattern; returns the status and
    /// the byte count.
    fn download(addr: SocketAddr, token: &str, path: &str) -> (u16, u64) {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(300))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\r\n"
        )
        .unwrap();
        let mut reader = BufReader::with_capacity(MIB, s);
        let (status, head) = response_head(&mut reader);
        assert!(
            !head.contains("transfer-encoding: chunked"),
            "a file has a length: {head}"
        );
        let pattern = pattern();
        let mut buf = vec![0u8; MIB];
        let mut got = 0u64;
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            assert!(
                buf[..n] == *window(&pattern, got, n),
                "byte {got} onwards differs"
            );
            got += n as u64;
        }
        (status, got)
    }

    fn gigabyte_round_trip(backend: &str, extra: Vec<(&'static str, String)>) {
        let dir = tempfile::tempdir().unwrap();
        let (server, token) = start(dir.path(), extra);
        let pid = server.child.id();
        // Warm up (first connections, pools, the route), then measure from there.
        assert_eq!(
            upload(
                server.addr,
                &token,
                "/api/drive/me/files/warm.bin",
                4 * MIB as u64,
                None
            )
            .0,
            201
        );
        let baseline = rss_bytes(pid);
        let probe = RssProbe::start(pid);
        let started = Instant::now();
        let (status, v) = upload(server.addr, &token, "/api/drive/me/files/big.bin", GIB, None);
        let up = started.elapsed();
        assert_eq!(status, 201, "{backend}: {v}");
        assert_eq!(v["size"], GIB);
        let started = Instant::now();
        let (status, got) = download(server.addr, &token, "/api/drive/me/files/big.bin");
        let down = started.elapsed();
        assert_eq!((status, got), (200, GIB), "{backend}");
        let peak = probe.finish();
        let growth = peak.saturating_sub(baseline);
        eprintln!(
            "{backend}: 1 GiB up in {:.1} s, down in {:.1} s (debug build); RSS {} MiB, peak +{} MiB",
            up.as_secs_f64(),
            down.as_secs_f64(),
            baseline >> 20,
            growth >> 20
        );
        assert!(growth < 64 << 20, "{backend}: RSS grew by {} MiB", growth >> 20);

        // Cut off after 64 MiB: no file, and no temporary file left behind.
        let (status, _) = upload(
            server.addr,
            &token,
            "/api/drive/me/files/cut.bin",
            GIB,
            Some(64 << 20),
        );
        assert_eq!(status, 0);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, _) = call(
                server.addr,
                "GET",
                "/api/drive/me/meta/cut.bin",
                Some(&token),
                None,
            );
            assert_eq!(status, 404, "{backend}: a cut-off upload is not a file");
            let tmp = dir.path().join("botserver-data/drive/.botserver-tmp");
            let left = std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0);
            if left == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{backend}: {left} temporary files left in {tmp:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    #[test]
    fn a_gigabyte_streams_through_the_server_in_bounded_memory_on_the_local_store() {
        gigabyte_round_trip("local", vec![]);
    }

    #[test]
    fn a_gigabyte_streams_through_the_server_in_bounded_memory_on_s3() {
        if s3().is_none() {
            eprintln!("BOT_TEST_S3_URL not set: skipping (CI=true makes this a failure)");
            return;
        }
        let bucket = format!("gib-{}", uuid::Uuid::new_v4().simple());
        gigabyte_round_trip("s3", s3_env(&bucket));
    }

    /// The messages a fresh conversation with `bot` starts with, or the HTTP status.
    fn greeting(addr: SocketAddr, token: &str, bot: &str) -> Result<Vec<String>, u16> {
        let session = uuid::Uuid::new_v4().simple().to_string();
        let (status, v) = call(
            addr,
            "POST",
            &format!("/api/bots/{bot}/dialog"),
            Some(token),
            Some(&json!({ "session": session })),
        );
        if status != 200 {
            return Err(status);
        }
        Ok(v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap_or_default().to_string())
            .collect())
    }

    fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) -> Duration {
        let started = Instant::now();
        while !ok() {
            assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
        started.elapsed()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn packages_in_a_bucket_load_change_and_unload_without_a_restart() {
        let Some((url, key, secret)) = s3() else {
            eprintln!("BOT_TEST_S3_URL not set: skipping (CI=true makes this a failure)");
            return;
        };
        let bucket = format!("pkg-{}", uuid::Uuid::new_v4().simple());
        let store = botserver_drive::store::s3::S3Store::connect(botserver_drive::store::s3::S3Options {
            endpoint: url,
            bucket: bucket.clone(),
            region: "us-east-1".into(),
            path_style: true,
            access_key: key,
            secret_key: secret,
        })
        .await
        .unwrap();
        let start_bas = "packages/hello.gbai/hello.gbdialog/start.bas";
        store
            .put(start_bas, "TALK \"version one\"\n".into(), None)
            .await
            .unwrap();
        store
            .put(
                "packages/hello.gbai/hello.gbot/config.csv",
                "name,value\nbot-name,Hello\n".into(),
                None,
            )
            .await
            .unwrap();
        // Not a package: ignored.
        store.put("packages/readme.txt", "x".into(), None).await.unwrap();

        let dir = tempfile::tempdir().unwrap();
        let mut env = s3_env(&bucket);
        env.push(("DRIVE_PACKAGES_PREFIX", "packages/".into()));
        env.push(("BOTSERVER_DRIVE__PACKAGES_POLL_SECS", "1".into()));
        let (server, token) = tokio::task::spawn_blocking({
            let path = dir.path().to_path_buf();
            move || start(&path, env)
        })
        .await
        .unwrap();
        let addr = server.addr;
        let t = token.clone();
        let first = tokio::task::spawn_blocking(move || greeting(addr, &t, "hello"))
            .await
            .unwrap();
        assert_eq!(first, Ok(vec!["version one".to_string()]), "loaded at start");

        store
            .put(start_bas, "TALK \"version two\"\n".into(), None)
            .await
            .unwrap();
        let t = token.clone();
        let took = tokio::task::spawn_blocking(move || {
            wait_for("the edited script", Duration::from_secs(10), || {
                greeting(addr, &t, "hello") == Ok(vec!["version two".to_string()])
            })
        })
        .await
        .unwrap();
        eprintln!(
            "an edit in the bucket took effect in {} ms (poll every 1 s)",
            took.as_millis()
        );

        // A script that no longer compiles keeps the last good version serving.
        store
            .put(start_bas, "TALK \"broken\n".into(), None)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(4)).await;
        let t = token.clone();
        let still = tokio::task::spawn_blocking(move || greeting(addr, &t, "hello"))
            .await
            .unwrap();
        assert_eq!(still, Ok(vec!["version two".to_string()]));

        for k in [start_bas, "packages/hello.gbai/hello.gbot/config.csv"] {
            store.delete(k).await.unwrap();
        }
        let t = token.clone();
        tokio::task::spawn_blocking(move || {
            wait_for("unloading the deleted package", Duration::from_secs(10), || {
                greeting(addr, &t, "hello") == Err(404)
            })
        })
        .await
        .unwrap();
        drop(server);
    }

    #[test]
    fn a_bots_script_writes_its_space_and_its_admin_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("botserver-data/bots/notes.gbai/notes.gbdialog");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(
            pkg.join("start.bas"),
            "WRITE \"minutes/today.txt\", \"Decided: ship it\"\nSEND FILE \"minutes/today.txt\", \"Minutes\"\n",
        )
        .unwrap();
        let (server, token) = start(dir.path(), vec![]);
        let out = greeting(server.addr, &token, "notes").unwrap();
        assert_eq!(out.len(), 1, "{out:?}");
        // The link works for anyone who has it (the chat user has no account).
        let link = out[0]
            .strip_prefix("[Minutes](")
            .and_then(|l| l.strip_suffix(')'))
            .unwrap_or_else(|| panic!("{out:?}"))
            .to_string();
        let (status, body) = call(server.addr, "GET", &link, None, None);
        assert_eq!((status, body), (200, Value::String("Decided: ship it".into())));
        // The bot's admin sees the file in the bot's space, counted in its usage.
        let (status, file) = call(
            server.addr,
            "GET",
            "/api/drive/bot:notes/meta/minutes/today.txt",
            Some(&token),
            None,
        );
        assert_eq!(status, 200, "{file}");
        assert_eq!(file["size"], 16);
        let (_, usage) = call(server.addr, "GET", "/api/drive/bot:notes", Some(&token), None);
        assert_eq!(usage["files_bytes"], 16, "{usage}");
    }
}
