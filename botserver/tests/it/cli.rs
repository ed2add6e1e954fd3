use crate::process::binary;
use std::process::Output;

fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = binary();
    cmd.current_dir(dir.path()).args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn one_line_error(out: &Output) -> String {
    assert!(!out.status.success(), "exited 0");
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(stderr.lines().count(), 1, "expected one line, got:\n{stderr}");
    stderr
}

#[test]
fn version_and_help() {
    let out = run(&["--version"], &[]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("botserver {}", env!("CARGO_PKG_VERSION"))
    );
    let out = run(&["--help"], &[]);
    let help = String::from_utf8_lossy(&out.stdout);
    for word in ["serve", "migrate", "config", "--port", "--bind", "--data-dir"] {
        assert!(help.contains(word), "{word} missing from --help");
    }
}

#[test]
fn unknown_log_level_exits_non_zero_naming_it() {
    let out = run(&["config", "check"], &[("BOTSERVER_LOG", "verbose")]);
    let line = one_line_error(&out);
    assert!(line.contains("log.level") && line.contains("verbose"), "{line}");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn malformed_database_url_exits_non_zero_naming_it() {
    let out = run(&["serve"], &[("DATABASE_URL", "postgres//nohost")]);
    let line = one_line_error(&out);
    assert!(
        line.contains("database.url") && line.contains("malformed URL"),
        "{line}"
    );
}

#[test]
fn malformed_redis_url_exits_non_zero_naming_it() {
    let out = run(&["serve"], &[("REDIS_URL", "http://x")]);
    let line = one_line_error(&out);
    assert!(line.contains("cache.redis_url"), "{line}");
}

#[test]
fn unknown_key_in_the_config_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("botserver.toml"), "[server]\nprot = 1\n").unwrap();
    let out = binary()
        .current_dir(dir.path())
        .args(["config", "check"])
        .output()
        .unwrap();
    let line = one_line_error(&out);
    assert!(line.contains("server") && line.contains("prot"), "{line}");
}

#[test]
fn unreachable_database_exits_non_zero_with_one_line() {
    let started = std::time::Instant::now();
    let out = run(
        &["serve", "--port", "0"],
        &[
            ("DATABASE_URL", "postgres://bot:topsecret@127.0.0.1:1/bots"),
            ("BOTSERVER_DATABASE__CONNECT_TIMEOUT_SECS", "1"),
        ],
    );
    let line = one_line_error(&out);
    assert!(line.contains("unreachable"), "{line}");
    assert!(!line.contains("topsecret"), "password in the message: {line}");
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn config_check_summarizes_a_valid_configuration_without_secrets() {
    let out = run(
        &["config", "check", "--port", "9999"],
        &[
            ("DATABASE_URL", "postgres://bot:topsecret@db.internal/bots"),
            ("REDIS_URL", "redis://cache:6379"),
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("config ok"), "{text}");
    assert!(text.contains("127.0.0.1:9999"), "{text}");
    assert!(text.contains("postgres") && text.contains("redis"), "{text}");
    assert!(!text.contains("topsecret"), "{text}");
}

#[test]
fn migrate_applies_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = binary()
        .args(["migrate", "--data-dir", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let text = String::from_utf8_lossy(&first.stdout);
    assert!(text.contains("applied core/"), "{text}");
    assert!(data.join("botserver.db").exists());
    let second = binary()
        .args(["migrate", "--data-dir", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&second.stdout).contains("nothing to apply"));
}

#[test]
fn user_commands_manage_accounts_from_the_console() {
    use std::io::Write;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let run_user = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = binary();
        cmd.args(["user"]).args(args).args(["--data-dir", data]);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(input) = stdin {
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    };

    let out = run_user(
        &["create", "alice", "--role", "admin", "--password-stdin"],
        Some("alice-long-password-1\n"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created user alice"));

    let out = run_user(
        &["create", "alice", "--password-stdin"],
        Some("another-long-pass-2\n"),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("taken"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = run_user(&["create", "bob", "--password-stdin"], Some("123456789\n"));
    assert!(!out.status.success(), "a common password was accepted");

    let out = run_user(&["list"], None);
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        list.contains("alice") && list.contains("admin") && list.contains("active"),
        "{list}"
    );

    let out = run_user(&["disable", "alice"], None);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&run_user(&["list"], None).stdout).contains("disabled"));

    let out = run_user(&["reset-password", "alice"], None);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("password: "),
        "generated and shown once"
    );

    let out = run_user(&["disable", "nobody"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such user"));
}
