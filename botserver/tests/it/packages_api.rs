//! The bot package admin routes on a real server: upload a zip and talk to the bot, export
//! it, replace it with compile errors, reload, delete; per-bot access; bad archives.

#[cfg(feature = "auto")]
mod on_a_server {
    use crate::process::{Server, call};
    use serde_json::{Value, json};
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::time::Duration;

    /// A request with a raw body: status, head (lowercased) and body bytes.
    fn raw(
        addr: SocketAddr,
        method: &str,
        path: &str,
        token: &str,
        content_type: &str,
        body: &[u8],
    ) -> (u16, String, Vec<u8>) {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).unwrap();
        let split = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("response head");
        let head = String::from_utf8_lossy(&resp[..split]).to_ascii_lowercase();
        let mut body = resp[split + 4..].to_vec();
        if head.contains("transfer-encoding: chunked") {
            body = dechunk(&body);
        }
        let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        (status, head, body)
    }

    fn dechunk(mut rest: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let n = usize::from_str_radix(String::from_utf8_lossy(&rest[..eol]).trim(), 16).unwrap_or(0);
            rest = &rest[eol + 2..];
            if n == 0 || rest.len() < n {
                break;
            }
            out.extend_from_slice(&rest[..n]);
            rest = rest[n..].strip_prefix(b"\r\n").unwrap_or(&rest[n..]);
        }
        out
    }

    fn put_zip(addr: SocketAddr, bot: &str, token: &str, zip: &[u8]) -> (u16, Value) {
        let (status, _, body) = raw(
            addr,
            "PUT",
            &format!("/api/bots/{bot}/package"),
            token,
            "application/zip",
            zip,
        );
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
        let entries: Vec<(String, Vec<u8>)> = files
            .iter()
            .map(|(n, d)| (n.to_string(), d.as_bytes().to_vec()))
            .collect();
        botserver_auto::admin::write_zip(&entries).unwrap()
    }

    fn login(addr: SocketAddr, user: &str, password: &str) -> String {
        let (status, v) = call(
            addr,
            "POST",
            "/api/auth/login",
            None,
            Some(&json!({"username": user, "password": password})),
        );
        assert_eq!(status, 200, "{v}");
        v["access_token"].as_str().unwrap().to_string()
    }

    fn said(addr: SocketAddr, bot: &str, token: &str, session: &str) -> (u16, Value) {
        call(
            addr,
            "POST",
            &format!("/api/bots/{bot}/dialog"),
            Some(token),
            Some(&json!({"session": session})),
        )
    }

    #[test]
    fn packages_are_uploaded_exported_reloaded_and_deleted_by_their_admins_only() {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(
            dir.path(),
            &[("BOTSERVER_SECRET_ADMIN_PASSWORD", "pkg-admin-pass-1".into())],
        );
        let addr = server.addr;
        let admin = login(addr, "admin", "pkg-admin-pass-1");
        for (name, roles, grants) in [
            ("plain", json!(["user"]), json!([])),
            ("other-admin", json!(["bot-admin"]), json!(["other:admin"])),
        ] {
            let (status, v) = call(
                addr,
                "POST",
                "/api/admin/users",
                Some(&admin),
                Some(
                    &json!({"username": name, "password": "pkg-user-pass-1", "roles": roles, "bot_grants": grants}),
                ),
            );
            assert_eq!(status, 201, "{v}");
        }
        let plain = login(addr, "plain", "pkg-user-pass-1");
        let other_admin = login(addr, "other-admin", "pkg-user-pass-1");

        // Upload: a new bot (201) that answers at once.
        let v1 = zip_of(&[
            (
                "shop.gbai/shop.gbdialog/start.bas",
                "TALK \"hello from the upload\"\n",
            ),
            (
                "shop.gbai/shop.gbot/config.csv",
                "bot-name,Shop\nllm-key,sk-very-secret\n",
            ),
        ]);
        let (status, r) = put_zip(addr, "shop", &admin, &v1);
        assert_eq!(status, 201, "{r}");
        assert_eq!(r, json!({"bot": "shop", "scripts": 1, "errors": []}));
        let (status, r) = said(addr, "shop", &admin, "a");
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["messages"][0]["content"], "hello from the upload");
        assert!(
            dir.path()
                .join("botserver-data/bots/shop.gbai/shop.gbdialog/start.bas")
                .is_file()
        );

        // Export: a zip with start.bas, the secret blanked.
        let (status, head, body) = raw(
            addr,
            "GET",
            "/api/bots/shop/package",
            &admin,
            "application/json",
            b"",
        );
        assert_eq!(status, 200, "{head}");
        assert!(head.contains("content-type: application/zip"), "{head}");
        assert!(
            head.contains("content-disposition: attachment; filename=\"shop.gbai.zip\""),
            "{head}"
        );
        let out = dir.path().join("exported");
        botserver_auto::admin::extract("shop", &body, &out).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("shop.gbdialog/start.bas")).unwrap(),
            "TALK \"hello from the upload\"\n"
        );
        let cfg = std::fs::read_to_string(out.join("shop.gbot/config.csv")).unwrap();
        assert!(
            cfg.contains("llm-key,\n") && !cfg.contains("sk-very-secret"),
            "{cfg}"
        );

        // Replace (200): a broken script is reported; start.bas changed. The exported
        // config (secret blank) keeps the server's secret.
        let v2 = zip_of(&[
            ("shop.gbdialog/start.bas", "TALK \"version two\"\n"),
            ("shop.gbdialog/broken.bas", "TALK \"x\"\nPUBLISH y\n"),
            ("shop.gbot/config.csv", &cfg),
        ]);
        let (status, r) = put_zip(addr, "shop", &admin, &v2);
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["scripts"], 2, "{r}");
        assert_eq!(r["errors"][0]["file"], "broken.bas");
        assert_eq!(r["errors"][0]["line"], 2);
        assert!(
            r["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("unknown keyword PUBLISH"),
            "{r}"
        );
        assert_eq!(
            said(addr, "shop", &admin, "b").1["messages"][0]["content"],
            "version two"
        );
        let on_disk = std::fs::read_to_string(
            dir.path()
                .join("botserver-data/bots/shop.gbai/shop.gbot/config.csv"),
        )
        .unwrap();
        assert!(on_disk.contains("llm-key,sk-very-secret"), "{on_disk}");
        let (status, r) = call(addr, "GET", "/api/bots/shop/errors", Some(&admin), None);
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["bot"], "shop");
        assert_eq!(r["errors"][0]["file"], "broken.bas");

        // The watcher, scanning every second meanwhile, reloads nothing the API installed.
        std::thread::sleep(Duration::from_millis(2500));
        let log = server.stderr();
        assert!(!log.contains("bots folder changed"), "{log}");

        // Reload reads the folder now: a hand edit shows at once.
        std::fs::write(
            dir.path()
                .join("botserver-data/bots/shop.gbai/shop.gbdialog/broken.bas"),
            "TALK \"fixed\"\n",
        )
        .unwrap();
        let (status, r) = call(addr, "POST", "/api/bots/shop/reload", Some(&admin), None);
        assert_eq!(status, 200, "{r}");
        assert_eq!(r, json!({"bot": "shop", "scripts": 2, "errors": []}));

        // Access: a plain user, and an administrator of another bot, get 403 on every route.
        for token in [&plain, &other_admin] {
            assert_eq!(put_zip(addr, "shop", token, &v1).0, 403);
            for (method, path) in [
                ("GET", "/api/bots/shop/package"),
                ("POST", "/api/bots/shop/reload"),
                ("GET", "/api/bots/shop/errors"),
                ("DELETE", "/api/bots/shop"),
            ] {
                assert_eq!(
                    call(addr, method, path, Some(token), None).0,
                    403,
                    "{method} {path}"
                );
            }
        }
        // ... while the other bot's administrator may upload that bot.
        let other = zip_of(&[("other.gbdialog/start.bas", "TALK \"other\"\n")]);
        assert_eq!(put_zip(addr, "other", &other_admin, &other).0, 201);

        // Bad archives: a clear 400, nothing changed.
        let (status, r) = put_zip(addr, "shop", &admin, b"this is not a zip");
        assert_eq!(status, 400, "{r}");
        assert!(r["message"].as_str().unwrap().contains("zip"), "{r}");
        let (status, r) = put_zip(
            addr,
            "shop",
            &admin,
            &zip_of(&[("shop.gbdialog/../../evil.bas", "TALK 1\n")]),
        );
        assert_eq!(status, 400, "{r}");
        assert!(r["message"].as_str().unwrap().contains(".."), "{r}");
        let (status, r) = put_zip(
            addr,
            "shop",
            &admin,
            &zip_of(&[("sales.gbdialog/start.bas", "TALK 1\n")]),
        );
        assert_eq!(status, 400, "{r}");
        assert!(r["message"].as_str().unwrap().contains("another bot"), "{r}");
        assert_eq!(
            said(addr, "shop", &admin, "c").1["messages"][0]["content"],
            "version two"
        );

        // Delete: the bot is gone; the built-in default bot cannot be deleted.
        assert_eq!(call(addr, "DELETE", "/api/bots/shop", Some(&admin), None).0, 204);
        assert_eq!(said(addr, "shop", &admin, "d").0, 404);
        assert_eq!(
            call(addr, "GET", "/api/bots/shop/package", Some(&admin), None).0,
            404
        );
        assert!(!dir.path().join("botserver-data/bots/shop.gbai").exists());
        let (status, r) = call(addr, "DELETE", "/api/bots/default", Some(&admin), None);
        assert_eq!(status, 409, "{r}");
        assert!(r["message"].as_str().unwrap().contains("built in"), "{r}");
        // ... and exports from memory.
        let (status, _, body) = raw(
            addr,
            "GET",
            "/api/bots/default/package",
            &admin,
            "application/json",
            b"",
        );
        assert_eq!(status, 200);
        let out = dir.path().join("default-export");
        botserver_auto::admin::extract("default", &body, &out).unwrap();
        assert!(out.join("default.gbdialog/start.bas").is_file());
    }
}
