//! The binary as an operator uses it: migrations, the printed default config, the admin
//! verbs on the database, and a clean exit on SIGTERM.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn tongdao(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tongdao"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("TONGDAO_LOG__LEVEL", "warn")
        .env("TONGDAO_SIMULATOR__CONTROL", "127.0.0.1:0")
        .env("TONGDAO_SMPP__LISTEN", "127.0.0.1:0")
        .output()
        .expect("runs")
}

fn json(output: &Output) -> Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&output.stdout)))
}

#[test]
fn migrate_applies_once_and_config_default_prints_a_valid_file() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let first = tongdao(&data, &["migrate"]);
    assert!(String::from_utf8_lossy(&first.stdout).contains("applied 9 migration(s)"), "{first:?}");
    let second = tongdao(&data, &["migrate"]);
    assert!(String::from_utf8_lossy(&second.stdout).contains("applied 0 migration(s)"), "{second:?}");

    let printed = tongdao(&data, &["config", "default"]);
    let text = String::from_utf8_lossy(&printed.stdout).to_string();
    assert!(text.contains("http = \"127.0.0.1:8080\"") && text.contains("# "), "commented: {text}");
    let file = dir.path().join("tongdao.toml");
    std::fs::write(&file, text.replace("127.0.0.1:8080", "127.0.0.1:0")).expect("write");
    let with_file = Command::new(env!("CARGO_BIN_EXE_tongdao"))
        .args(["--config"])
        .arg(&file)
        .args(["migrate", "--data-dir"])
        .arg(&data)
        .output()
        .expect("runs");
    assert!(with_file.status.success(), "the printed file loads: {}", String::from_utf8_lossy(&with_file.stderr));
}

#[test]
fn the_admin_verbs_work_on_the_database() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let created = json(&tongdao(&data, &["customer", "create", "acme", "--contact", "ops@acme.example"]));
    assert!(created["id"].as_str().is_some_and(|id| id.starts_with("cus_")));
    let topped = json(&tongdao(&data, &["topup", "acme", "12.5", "--reference", "tx-1"]));
    assert_eq!(topped["balance"], "12.5000");
    let again = json(&tongdao(&data, &["topup", "acme", "12.5", "--reference", "tx-1"]));
    assert_eq!(again["balance"], "12.5000", "a reference tops up once");
    let bad = tongdao(&data, &["topup", "acme", "1.23456"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("4 decimals"));
    let key = json(&tongdao(&data, &["key", "create", "acme", "--label", "ci"]));
    assert!(key["secret"].as_str().is_some_and(|s| s.starts_with("tdk_")));
    let listed = json(&tongdao(&data, &["key", "list", "acme"]));
    assert_eq!(listed["keys"][0]["label"], "ci");
    assert!(
        !String::from_utf8_lossy(&tongdao(&data, &["key", "list", "acme"]).stdout).contains("tdk_"),
        "secrets are never listed"
    );
    let revoked = json(&tongdao(&data, &["key", "revoke", "acme", key["id"].as_str().expect("id")]));
    assert_eq!(revoked["revoked"], true);
    let customers = json(&tongdao(&data, &["customer", "list"]));
    assert_eq!(customers["customers"][0]["balance"], "12.5000");
    let token = data.join("operator.token");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&token).expect("token").permissions());
    assert_eq!(mode & 0o777, 0o600);

    let account = json(&tongdao(
        &data,
        &["smpp-account", "create", "acme", "--system-id", "acme01", "--allow-ip", "10.0.0.0/8", "--tps", "50"],
    ));
    assert_eq!(account["account"]["system_id"], "acme01");
    assert_eq!(account["account"]["allowed_ips"][0], "10.0.0.0/8");
    let password = account["password"].as_str().expect("password shown once").to_owned();
    assert_eq!(password.len(), 8);
    let listed = tongdao(&data, &["smpp-account", "list", "acme"]);
    assert_eq!(json(&listed)["accounts"][0]["tps"], 50);
    assert!(!String::from_utf8_lossy(&listed.stdout).contains(&password), "never listed");
    let updated = json(&tongdao(&data, &["smpp-account", "update", "acme", "acme01", "--max-binds", "2"]));
    assert_eq!((updated["account"]["max_binds"].as_u64(), updated["account"]["tps"].as_u64()), (Some(2), Some(50)));
    let taken = tongdao(&data, &["smpp-account", "create", "acme", "--system-id", "acme01"]);
    assert!(!taken.status.success() && String::from_utf8_lossy(&taken.stderr).contains("taken"));
    let deleted = json(&tongdao(&data, &["smpp-account", "delete", "acme", "acme01"]));
    assert_eq!(deleted["deleted"], true);
    assert_eq!(json(&tongdao(&data, &["smpp-account", "list", "acme"]))["accounts"], serde_json::json!([]));
}

#[test]
fn sigterm_stops_the_server_cleanly_with_exit_status_zero() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tongdao"))
        .args(["serve", "--demo", "--simulator", "127.0.0.1:0", "--smpp", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    // Wait for the server to say it is listening (not for a port to answer: another
    // process could answer on a recycled port before ours has started).
    let stdout = child.stdout.take().expect("stdout");
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut printed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !printed.iter().any(|l: &String| l.starts_with("listening on")) {
        match lines.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => printed.push(line),
            Err(_) if Instant::now() < deadline => {}
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server did not start: {printed:?}");
            }
        }
    }
    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status:?}");
    let printed = printed.join("\n");
    assert!(printed.contains("operator token:") && printed.contains("demo API key"), "{printed}");
    assert!(printed.contains("demo console users ops@demo and dev@demo"), "{printed}");
    // The console users' passwords, readable by the operator alone.
    let users = data.join("demo.users");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&users).expect("demo.users").permissions());
    assert_eq!(mode & 0o777, 0o600);
    let users: Value = serde_json::from_str(&std::fs::read_to_string(&users).expect("read")).expect("json");
    assert!(users["ops@demo"].as_str().is_some_and(|p| p.len() >= 10), "{users}");
    assert!(users["dev@demo"].as_str().is_some_and(|p| p.len() >= 10), "{users}");
}

#[test]
fn user_verbs_add_list_disable_and_reset_console_users() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let acme = json(&tongdao(&data, &["customer", "create", "acme"]));
    let acme = acme["id"].as_str().expect("id");
    let ops = json(&tongdao(&data, &["user", "create", "Boss@Ops.example", "--role", "admin"]));
    assert_eq!(ops["email"], "boss@ops.example");
    assert_eq!(ops["area"], "operator");
    assert!(ops["password"].as_str().is_some_and(|p| p.len() == 16), "a generated password, printed once: {ops}");
    let dev =
        json(&tongdao(&data, &["user", "create", "dev@acme.example", "--role", "developer", "--customer", "acme"]));
    assert_eq!((dev["area"].as_str(), dev["customer"].as_str()), (Some("customer"), Some(acme)));
    let refused = tongdao(&data, &["user", "create", "x@acme.example", "--role", "finance", "--customer", "acme"]);
    assert!(!refused.status.success(), "finance is an operator role");
    let listed = json(&tongdao(&data, &["user", "list", "--customer", "acme"]));
    assert_eq!(listed["users"].as_array().map(Vec::len), Some(1));
    let disabled = json(&tongdao(&data, &["user", "disable", "dev@acme.example", "--customer", "acme"]));
    assert_eq!(disabled["disabled"], true);
    let reset = json(&tongdao(&data, &["user", "reset-password", "boss@ops.example"]));
    assert_ne!(reset["password"], ops["password"]);
    assert!(!tongdao(&data, &["user", "disable", "nobody@ops.example"]).status.success());
}

#[test]
fn verify_walks_the_ledger_chain_and_names_the_first_entry_that_does_not_match() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    assert!(!tongdao(&data, &["verify"]).status.success(), "no database, nothing to vouch for");
    json(&tongdao(&data, &["customer", "create", "acme"]));
    for reference in ["bank-1", "bank-2", "bank-3"] {
        json(&tongdao(&data, &["topup", "acme", "10.0000", "--reference", reference]));
    }
    let whole = json(&tongdao(&data, &["verify"]));
    assert_eq!((whole["whole"].as_bool(), whole["entries"].as_u64()), (Some(true), Some(3)), "{whole}");

    let conn = rusqlite::Connection::open(data.join("tongdao.db")).expect("open");
    conn.execute_batch(
        "DROP TRIGGER ledger_no_update; UPDATE ledger SET amount = 1000000000 WHERE seq = 2; \
         CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger BEGIN SELECT RAISE(ABORT, 'x'); END;",
    )
    .expect("tampered");
    let broken = tongdao(&data, &["verify"]);
    assert_eq!(broken.status.code(), Some(1), "{broken:?}");
    let report: Value = serde_json::from_slice(&broken.stdout).expect("a JSON report");
    assert_eq!((report["whole"].as_bool(), report["first_bad_entry"].as_i64()), (Some(false), Some(2)), "{report}");
    assert!(String::from_utf8_lossy(&broken.stderr).contains("entry 2"));
}

#[test]
fn export_records_writes_a_private_file_and_its_checksum() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    json(&tongdao(&data, &["customer", "create", "acme"]));
    let output = dir.path().join("records.csv");
    let args =
        ["export", "records", "--customer", "acme", "--from", "2026-01-01T00:00:00Z", "--to", "2027-01-01T00:00:00Z"];
    let mut with_output: Vec<&str> = args.to_vec();
    let path = output.to_str().expect("utf-8 path");
    with_output.extend(["--output", path]);
    let report = json(&tongdao(&data, &with_output));
    assert_eq!(report["records"], 0);
    let written = std::fs::read(&output).expect("written");
    assert_eq!(written, b"id,created_at,sender,recipient,text,status,source\n");
    assert_eq!(std::fs::metadata(&output).expect("meta").permissions().mode() & 0o777, 0o600);
    let checksum = std::fs::read_to_string(dir.path().join("records.csv.sha256")).expect("checksum file");
    assert_eq!(checksum, format!("{}  records.csv\n", report["sha256"].as_str().expect("sha256")));
    let unknown = tongdao(
        &data,
        &[
            "export",
            "records",
            "--customer",
            "nobody",
            "--from",
            "2026-01-01T00:00:00Z",
            "--to",
            "2027-01-01T00:00:00Z",
            "--output",
            path,
        ],
    );
    assert!(!unknown.status.success());
}

#[test]
fn statement_writes_a_private_file_with_its_checksum_and_the_chain_head_and_is_audited() {
    use sha2::Digest;
    use std::os::unix::fs::PermissionsExt;
    use tongdao_domain::Clock;
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let acme = json(&tongdao(&data, &["customer", "create", "acme"]));
    json(&tongdao(&data, &["topup", "acme", "12.5", "--reference", "tx-1"]));
    let month = tongdao_domain::period::CalendarMonth::containing(tongdao_domain::SystemClock.now_ms()).to_string();
    let output = dir.path().join("acme.csv");
    let path = output.to_str().expect("utf-8 path");
    let args = ["statement", "--customer", "acme", "--month", &month, "--format", "csv", "--output", path];
    let summary = json(&tongdao(&data, &args));
    assert_eq!((summary["closing_balance"].as_str(), summary["chain"]["seq"].as_i64()), (Some("12.5000"), Some(1)));
    let written = std::fs::read(&output).expect("written");
    assert!(String::from_utf8_lossy(&written).contains(",1,,12.5000,tx-1,\n"), "the top-up is listed");
    assert_eq!(std::fs::metadata(&output).expect("meta").permissions().mode() & 0o777, 0o600);
    let sha256 = hex::encode(sha2::Sha256::digest(&written));
    assert_eq!(summary["sha256"].as_str(), Some(sha256.as_str()));
    let checksum = std::fs::read_to_string(dir.path().join("acme.csv.sha256")).expect("checksum file");
    assert_eq!(checksum, format!("{sha256}  acme.csv\n"));
    let whole = json(&tongdao(&data, &["verify"]));
    assert_eq!(whole["head"], summary["chain"]["hash"], "the statement's chain head is the verified chain's");

    // Without --output the statement is printed (JSON by default); each export is audited.
    let printed = json(&tongdao(&data, &["statement", "--customer", "acme", "--month", &month]));
    assert_eq!(
        (printed["customer_id"].as_str(), printed["closing_balance"].as_str()),
        (acme["id"].as_str(), Some("12.5000"))
    );
    let conn = rusqlite::Connection::open(data.join("tongdao.db")).expect("open");
    let audited: Vec<(String, String)> = conn
        .prepare("SELECT target, reason FROM audit_log WHERE action = 'statement.export' ORDER BY id")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .expect("audit");
    assert_eq!(audited.len(), 2, "{audited:?}");
    assert_eq!(Some(audited[0].0.as_str()), acme["id"].as_str());
    assert!(audited[0].1.contains(&sha256), "{audited:?}");

    let future = tongdao(&data, &["statement", "--customer", "acme", "--month", "2100-12"]);
    assert!(!future.status.success() && String::from_utf8_lossy(&future.stderr).contains("period_not_started"));
}

/// `migrate` and `verify` on PostgreSQL (`--database-url`), when a test database is given.
#[tokio::test]
async fn migrate_and_verify_work_on_postgresql_without_showing_the_password() {
    let Some(url) = std::env::var("TONGDAO_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "cli: the PostgreSQL check was NOT run (TONGDAO_TEST_DATABASE_URL unset)");
        return;
    };
    let schema = format!("cli_{}", std::process::id());
    let database = tongdao_store::postgres::scratch_schema(&url, &schema).await.expect("schema");
    // The test server trusts loopback and ignores it: a password only to see it never shown.
    let database = match database.split_once('@') {
        Some((user, rest)) if !user.contains(":s3cret") && user.matches(':').count() == 1 => {
            format!("{user}:s3cret-pw@{rest}")
        }
        _ => database,
    };
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let with_url = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--database-url", &database]);
        tongdao(&data, &all)
    };
    let first = with_url(&["migrate"]);
    let said = String::from_utf8_lossy(&first.stdout).to_string();
    assert!(said.contains("applied 3 migration(s) to postgres://"), "{first:?}");
    assert!(database.contains("s3cret-pw") && !said.contains("s3cret-pw"), "the password is not shown: {said}");
    let second = with_url(&["migrate"]);
    assert!(String::from_utf8_lossy(&second.stdout).contains("applied 0 migration(s)"), "{second:?}");
    let verified = json(&with_url(&["verify"]));
    assert_eq!((verified["whole"].as_bool(), verified["entries"].as_u64()), (Some(true), Some(0)), "{verified}");
    assert!(!data.join("tongdao.db").exists(), "nothing was written to SQLite");
    let bad = tongdao(&data, &["migrate", "--database-url", "mysql://nope"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("postgres://"), "{bad:?}");
}
