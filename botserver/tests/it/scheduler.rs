//! The scheduler across real server processes: three instances on one PostgreSQL run an
//! every-second job for a minute, each tick counted by a loopback endpoint the script
//! calls; one instance is killed with SIGKILL half-way. Every tick runs (none lost), and
//! none twice except a run the killed instance had in flight (retried by another
//! instance when its lease expires: at least once across a crash, as declared).

#[cfg(all(feature = "tasks", feature = "auto"))]
mod on_servers {
    use crate::process::Server;
    use std::collections::BTreeMap;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    /// Ticks the script reported, with the instance-independent attempt number.
    type Seen = Arc<Mutex<Vec<(i64, i64)>>>;

    /// A loopback endpoint counting `POST /count` bodies (`{due_ms, attempt}`).
    fn counter() -> (u16, Seen) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Seen = Arc::default();
        let sink = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let sink = sink.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0u8; length];
                    let _ = reader.read_exact(&mut body);
                    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                        let due = v["due_ms"].as_i64().unwrap_or(-1);
                        let attempt = v["attempt"].as_i64().unwrap_or(-1);
                        sink.lock().unwrap().push((due, attempt));
                    }
                    let mut out = stream;
                    let _ = out.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                    );
                });
            }
        });
        (port, seen)
    }

    #[test]
    fn three_instances_run_each_second_tick_once_through_a_kill() {
        let Some((_db, url)) = crate::process::postgres_db() else {
            return;
        };
        let (port, seen) = counter();
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("botserver-data/bots/ticker.gbai");
        std::fs::create_dir_all(pkg.join("ticker.gbdialog")).unwrap();
        std::fs::create_dir_all(pkg.join("ticker.gbot")).unwrap();
        std::fs::write(
            pkg.join("ticker.gbdialog/tick.bas"),
            format!("SET SCHEDULE \"* * * * * *\"\nr = POST \"http://127.0.0.1:{port}/count\", body\n"),
        )
        .unwrap();
        std::fs::write(
            pkg.join("ticker.gbot/config.csv"),
            "name,value\nhttp-allow-private,true\n",
        )
        .unwrap();
        let envs = vec![
            ("DATABASE_URL", url),
            ("BOTSERVER_SERVER__RATE_LIMIT__PER_SECOND", "0".to_string()),
            // A short lease, so the killed instance's run is taken over within the test.
            ("BOTSERVER_SCHEDULER__LEASE_SECS", "3".to_string()),
        ];
        // Same folder: the same master key and bots; the first creates the key.
        let first = Server::start(dir.path(), &envs);
        let servers = vec![
            first,
            Server::start(dir.path(), &envs),
            Server::start(dir.path(), &envs),
        ];
        let started = Instant::now();
        std::thread::sleep(Duration::from_secs(30));
        let killed_at = now_ms();
        servers[1].signal("-KILL");
        std::thread::sleep(Duration::from_secs(30));
        let ended_at = now_ms();
        drop(servers);
        let ran = started.elapsed();

        let seen = seen.lock().unwrap().clone();
        let mut count: BTreeMap<i64, usize> = BTreeMap::new();
        for (due, _) in &seen {
            *count.entry(*due).or_default() += 1;
        }
        let first_tick = *count.keys().next().expect("ticks ran");
        // Ticks due up to 3 s before the end had time to run and report.
        let last = (ended_at - 3000) / 1000 * 1000;
        let mut missing = Vec::new();
        let mut doubled = Vec::new();
        let mut t = first_tick;
        while t <= last {
            match count.get(&t).copied().unwrap_or(0) {
                0 => missing.push(t),
                1 => {}
                _ => doubled.push(t),
            }
            t += 1000;
        }
        eprintln!(
            "{} ticks over {:.0} s, {} missing, {} run twice (killed at {killed_at})",
            count.len(),
            ran.as_secs_f64(),
            missing.len(),
            doubled.len()
        );
        assert!(count.len() >= 50, "{} ticks", count.len());
        assert!(missing.is_empty(), "ticks lost: {missing:?}");
        // Only a run in flight on the killed instance may run again (attempt 2), and only
        // around the kill.
        assert!(doubled.len() <= 2, "ticks run twice: {doubled:?}");
        for t in &doubled {
            assert!(
                (t - killed_at).abs() < 5000,
                "a tick far from the kill ran twice: {t}"
            );
            assert!(
                seen.iter().any(|(due, attempt)| due == t && *attempt == 2),
                "{t}: not a retry"
            );
        }
    }

    pub fn now_ms() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    }
}
