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

/// Writes a package `<dir>/<name>.gbai` with `files` in its .gbdialog folder.
fn package(dir: &std::path::Path, name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let pkg = dir.join(format!("{name}.gbai"));
    std::fs::create_dir_all(pkg.join(format!("{name}.gbdialog"))).unwrap();
    for (f, src) in files {
        std::fs::write(pkg.join(format!("{name}.gbdialog")).join(f), src).unwrap();
    }
    pkg
}

#[cfg(feature = "auto")]
#[test]
fn bot_check_lists_every_error_with_its_line_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let good = package(
        dir.path(),
        "good",
        &[
            ("start.bas", "TALK \"hi\"\n"),
            (
                "order.bas",
                "PARAM item AS STRING\nDESCRIPTION \"Orders\"\nRETURN item\n",
            ),
        ],
    );
    let out = binary().args(["bot", "check"]).arg(&good).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("ok    order.bas: tool order (1 params)"),
        "{stdout}"
    );
    assert!(stdout.contains("good: 2 script(s), 0 error(s)"), "{stdout}");

    let bad = package(
        dir.path(),
        "bad",
        &[
            ("start.bas", "TALK \"hi\"\nPUBLISH x\n"),
            ("other.bas", "x = 1\nIF x THEN\n  TALK x\n"),
            ("fine.bas", "TALK 1\n"),
        ],
    );
    let out = binary().args(["bot", "check"]).arg(&bad).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        stdout.contains("error start.bas:2:1: unknown keyword PUBLISH"),
        "{stdout}"
    );
    assert!(stdout.contains("error other.bas:2:"), "{stdout}");
    assert!(stdout.contains("bad: 3 script(s), 2 error(s)"), "{stdout}");
}

#[cfg(feature = "auto")]
#[test]
fn bot_run_talks_on_stdout_and_hears_from_stdin() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let pkg = package(
        dir.path(),
        "term",
        &[
            (
                "start.bas",
                "TALK \"Hello\"\nHEAR n AS INTEGER WITH \"A number?\"\nTALK \"Double: \" + (n * 2)\n",
            ),
            (
                "add.bas",
                "PARAM a AS INTEGER DESCRIPTION \"First\"\nPARAM b AS INTEGER DESCRIPTION \"Second\"\nDESCRIPTION \"Adds\"\nTALK \"adding\"\nRETURN a + b\n",
            ),
        ],
    );
    let run = |script: Option<&str>, input: &str| {
        let mut cmd = binary();
        cmd.current_dir(dir.path()).args(["bot", "run"]).arg(&pkg);
        if let Some(s) = script {
            cmd.arg(s);
        }
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let (ok, stdout) = run(None, "many\n21\n");
    assert!(ok, "{stdout}");
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.starts_with("botserver:")).collect();
    assert_eq!(
        lines,
        [
            "Hello",
            "A number?",
            "> Please answer with a whole number (for example 42).",
            "> Double: 42"
        ],
        "{stdout}"
    );
    let (ok, stdout) = run(Some("add"), "2\n3\n");
    assert!(ok, "{stdout}");
    assert!(stdout.contains("First:\nSecond:\nadding\n=> 5"), "{stdout}");
}
