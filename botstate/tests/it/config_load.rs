use botstate::config::{Overrides, load};

#[test]
fn a_config_file_with_every_section_loads() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("botserver.toml");
    std::fs::write(
        &file,
        r#"
[server]
bind = "0.0.0.0"
port = 9000
data_dir = "/var/lib/botserver"
body_limit_bytes = 1048576
trusted_proxies = ["10.0.0.1"]
[server.cors]
allowed_origins = ["https://chat.example.com"]
[server.rate_limit]
per_second = 5
burst = 10
[server.tls]
cert_path = "/etc/cert.pem"
key_path = "/etc/key.pem"
[log]
level = "debug"
format = "json"
[database]
url = "postgres://bot:pw@db.internal/bots"
pool_size = 20
[cache]
redis_url = "redis://cache.internal:6379/0"
[secrets]
values = { "llm-key" = "sk-x" }
"#,
    )
    .unwrap();
    let c = load(Some(&file), &[], &Overrides::default()).unwrap();
    assert_eq!(c.server.rate_limit.per_second, 5);
    assert_eq!(c.log.format, botstate::config::LogFormat::Json);
    assert!(c.server.tls.is_some());
    assert_eq!(c.database.pool_size, 20);
}

#[test]
fn missing_config_file_is_named() {
    let err = load(
        Some(std::path::Path::new("/nonexistent/botserver.toml")),
        &[],
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/botserver.toml"), "{err}");
}

#[test]
fn bad_trusted_proxy_is_named_with_its_index() {
    let env = vec![(
        "BOTSERVER_SERVER__TRUSTED_PROXIES".to_string(),
        r#"["10.0.0.1", "proxy"]"#.to_string(),
    )];
    let err = load(None, &env, &Overrides::default()).unwrap_err();
    assert!(err.to_string().contains("server.trusted_proxies[1]"), "{err}");
}
