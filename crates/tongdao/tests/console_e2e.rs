//! The web console in a real browser: headless Chromium driven over WebDriver
//! (Debian's `chromium` and `chromium-driver`; `.ci/run` installs them) against the real
//! binary, `tongdao serve --demo`, with its built-in SMSC simulator.
//!
//! Each test starts its own server (temp data dir, ports chosen by the system) and its own
//! chromedriver, and kills both when it ends, even by a panic. Screenshots of the pages go
//! to `target/console-screenshots/<test>-<step>.png`.
//!
//! Without `chromedriver` on the PATH the tests say so on stderr and pass, unless
//! `TONGDAO_REQUIRE_BROWSER=1` (set by `.ci/run`), where they fail.

use std::io::{BufRead, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

/// `tongdao serve --demo` on ports of its own.
struct Server {
    child: Child,
    base: String,
    data: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().expect("dir");
        let data = dir.path().join("data");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tongdao"))
            .args(["serve", "--demo", "--simulator", "127.0.0.1:0", "--smpp", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&data)
            .env("TONGDAO_LOG__LEVEL", "warn")
            .env("TONGDAO_SIMULATOR__CONTROL", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("tongdao starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix("listening on ") {
                        return Server { child, base: addr.trim().to_owned(), data, _dir: dir };
                    }
                }
                Err(_) if Instant::now() < deadline => {}
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("tongdao serve --demo did not start");
                }
            }
        }
    }

    /// The password `--demo` wrote for `email` in `demo.users`.
    fn demo_password(&self, email: &str) -> String {
        let text = std::fs::read_to_string(self.data.join("demo.users")).expect("demo.users");
        let users: Value = serde_json::from_str(&text).expect("json");
        users[email].as_str().expect("password").to_owned()
    }

    /// Runs the CLI on this server's data directory (the database is shared safely).
    fn cli(&self, args: &[&str]) -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_tongdao"))
            .arg("--data-dir")
            .arg(&self.data)
            .args(args)
            .env("TONGDAO_LOG__LEVEL", "warn")
            .output()
            .expect("cli runs");
        assert!(out.status.success(), "tongdao {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("cli prints JSON")
    }

    /// A console user made with the CLI; returns its password.
    fn user(&self, email: &str, role: &str, customer: Option<&str>) -> String {
        let mut args = vec!["user", "create", email, "--role", role];
        if let Some(customer) = customer {
            args.extend(["--customer", customer]);
        }
        self.cli(&args)["password"].as_str().expect("generated password").to_owned()
    }

    /// A call to the operator API with the token the server wrote.
    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let token = std::fs::read_to_string(self.data.join("operator.token")).expect("token");
        let mut request =
            reqwest::Client::new().request(method, format!("{}/admin/v1{path}", self.base)).bearer_auth(token.trim());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("admin call");
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap_or(Value::Null)
    }

    /// A call to the customer API with the demo key.
    async fn demo_api(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let key = std::fs::read_to_string(self.data.join("demo.key")).expect("key");
        let response = reqwest::Client::new()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key.trim())
            .json(&body)
            .send()
            .await
            .expect("api call");
        response.json().await.expect("json")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// chromedriver on a port of its own, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    /// Kills chromedriver's whole process group: the Chromium it started too, which a
    /// test that panicked before closing its session would otherwise leave running.
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn chromedriver() -> Option<Driver> {
    let found = Command::new("chromedriver").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    if found.is_err() {
        let required = std::env::var("TONGDAO_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        assert!(!required, "chromedriver is not installed and TONGDAO_REQUIRE_BROWSER=1");
        let _ = writeln!(
            std::io::stderr(),
            "console_e2e: chromedriver is not installed: the browser tests were NOT run \
             (apt-get install chromium chromium-driver fonts-wqy-microhei)"
        );
        return None;
    }
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        // A process group of its own, with the browsers it starts (see `Drop for Driver`).
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Driver { child, url: format!("http://127.0.0.1:{port}") })
}

/// One browser window on the console.
struct Browser {
    client: Client,
    base: String,
    test: &'static str,
    _driver: Driver,
}

fn screenshots() -> PathBuf {
    // target/tmp → target/console-screenshots
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("target dir").join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

impl Browser {
    /// A headless Chromium preferring `language` (`en` or `zh-CN`); `None` when there is no
    /// chromedriver here (see the module's text).
    async fn open(server: &Server, test: &'static str, language: &str) -> Option<Browser> {
        let driver = chromedriver()?;
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         "--window-size=1280,1000"],
                "prefs": {"intl.accept_languages": language},
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client =
            ClientBuilder::new(connector).capabilities(caps).connect(&driver.url).await.expect("a browser session");
        Some(Browser { client, base: server.base.clone(), test, _driver: driver })
    }

    async fn goto(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.expect("goto");
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client.wait().at_most(WAIT).for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// Sets an input's value as a script would: for `datetime-local`, whose typing is by
    /// segments in the browser's locale.
    async fn set_value(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        let script = "arguments[0].value = arguments[1];";
        let element = serde_json::to_value(&field).expect("element reference");
        self.client.execute(script, vec![element, json!(value)]).await.expect("set value");
    }

    async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    async fn path(&self) -> String {
        self.client.current_url().await.expect("url").path().to_owned()
    }

    async fn source(&self) -> String {
        self.client.source().await.expect("source")
    }

    /// Waits until the text of `css` contains `wanted` (htmx swaps, polling).
    async fn wait_text(&self, css: &str, wanted: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(wanted) {
                return text;
            }
            assert!(Instant::now() < deadline, "{css} never showed {wanted:?}; it shows {text:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Saves a screenshot as `target/console-screenshots/<test>-<name>.png`.
    async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(screenshots().join(format!("{}-{name}.png", self.test)), png).expect("write screenshot");
    }

    async fn sign_in(&self, area: &str, email: &str, password: &str) {
        self.goto(&format!("{area}/sign-in")).await;
        self.fill("#sign-in input[name=email]", email).await;
        self.fill("#sign-in input[name=password]", password).await;
        self.click("#sign-in button[type=submit]").await;
        self.wait_text("#who", email).await;
    }

    async fn sign_out(&self) {
        self.click("#sign-out").await;
        self.find("#sign-in").await;
    }

    async fn close(self) {
        let _ = self.client.close().await;
    }
}

#[tokio::test]
async fn console_e2e_every_kind_of_user_signs_in_and_sees_only_its_own_menu() {
    let server = Server::start();
    let Some(browser) = Browser::open(&server, "sign-in", "en-US,en").await else { return };
    let b = &browser;

    // A wrong password is refused on the form, in the browser's language.
    b.goto("/ops/sign-in").await;
    b.shot("ops-sign-in").await;
    b.fill("#sign-in input[name=email]", "ops@demo").await;
    b.fill("#sign-in input[name=password]", "not the password").await;
    b.click("#sign-in button[type=submit]").await;
    b.wait_text(".problem", "wrong e-mail or password").await;

    b.sign_in("/ops", "ops@demo", &server.demo_password("ops@demo")).await;
    b.shot("ops-dashboard").await;
    for role in ["support", "moderator", "finance"] {
        let email = format!("{role}@ops.example");
        let password = server.user(&email, role, None);
        b.sign_out().await;
        b.sign_in("/ops", &email, &password).await;
        let menu = b.text("nav.menu").await;
        assert!(menu.contains("Tickets"), "{role}: {menu}");
        assert!(!menu.contains("Audit trail") && !menu.contains("Users"), "{role} sees only its menu: {menu}");
        b.goto("/ops/audit").await;
        b.find(".problem[data-code=forbidden]").await;
    }
    b.goto("/ops/").await;
    b.sign_out().await;

    b.sign_in("/console", "dev@demo", &server.demo_password("dev@demo")).await;
    b.shot("portal-dashboard").await;
    for role in ["developer", "viewer"] {
        let email = format!("{role}@demo.example");
        let password = server.user(&email, role, Some("demo"));
        b.sign_out().await;
        b.sign_in("/console", &email, &password).await;
        assert!(!b.text("nav.menu").await.contains("Users"), "{role} manages no users");
    }
    browser.close().await;
}

#[tokio::test]
async fn console_e2e_a_customer_user_reaches_neither_the_operator_console_nor_another_customers_data() {
    let server = Server::start();
    let Some(browser) = Browser::open(&server, "isolation", "en-US,en").await else { return };
    let b = &browser;
    // Another customer with a message of its own.
    let other = server.cli(&["customer", "create", "other-co"]);
    let other_id = other["id"].as_str().expect("id").to_owned();
    let theirs = server.user("admin@other.example", "admin", Some(&other_id));
    b.sign_in("/console", "admin@other.example", &theirs).await;
    b.sign_out().await;

    let sent = server
        .demo_api(reqwest::Method::POST, "/v1/messages", json!({"to": ["+8613800138000"], "text": "demo's own"}))
        .await;
    let demo_message = sent["messages"][0]["id"].as_str().expect("message id").to_owned();

    b.sign_in("/console", "admin@other.example", &theirs).await;
    b.goto(&format!("/console/messages/{demo_message}")).await;
    b.find(".problem[data-code=not_found]").await;
    b.shot("other-customers-message").await;
    b.goto("/console/messages").await;
    assert!(!b.source().await.contains(&demo_message), "another customer's message is not listed");

    // The operator console only opens to operator users: this session is not one.
    b.goto("/ops/").await;
    assert_eq!(b.path().await, "/ops/sign-in");
    b.fill("#sign-in input[name=email]", "admin@other.example").await;
    b.fill("#sign-in input[name=password]", &theirs).await;
    b.click("#sign-in button[type=submit]").await;
    b.wait_text(".problem", "wrong e-mail or password").await;
    b.shot("customer-at-ops").await;
    browser.close().await;
}

#[tokio::test]
async fn console_e2e_a_message_sent_from_the_form_is_quoted_and_reaches_delivered() {
    let server = Server::start();
    let Some(browser) = Browser::open(&server, "send", "en-US,en").await else { return };
    let b = &browser;
    b.sign_in("/console", "dev@demo", &server.demo_password("dev@demo")).await;
    b.goto("/console/send").await;
    b.fill("#send-form textarea[name=to]", "+8613800138000").await;
    b.fill("#send-form textarea[name=text]", "Your verification code is 4096.").await;
    // The live quote: segments and price, before anything is sent.
    b.wait_text("#quote", "1").await;
    b.wait_text("#quote", "0.0450").await;
    b.shot("send-quote").await;
    b.click("#send-form button[type=submit]").await;
    b.find("#message-status").await;
    b.wait_text("#message-status", "delivered").await;
    b.shot("message-delivered").await;
    b.goto("/console/").await;
    b.wait_text("#today-total", "1").await;
    b.shot("dashboard-after-send").await;

    // A refusal shows next to its field.
    b.goto("/console/send").await;
    b.fill("#send-form textarea[name=to]", "12345").await;
    b.fill("#send-form textarea[name=text]", "hello").await;
    b.click("#send-form button[type=submit]").await;
    b.wait_text("#send-form .field-error", "not a valid mobile number").await;
    b.shot("send-refused").await;
    browser.close().await;
}

#[tokio::test]
async fn console_e2e_the_moderator_approves_a_held_message() {
    let server = Server::start();
    let Some(browser) = Browser::open(&server, "moderation", "en-US,en").await else { return };
    let b = &browser;
    // A review-level term of the starter lexicon: held for a person.
    let sent = server
        .demo_api(
            reqwest::Method::POST,
            "/v1/messages",
            json!({"to": ["+8613800138000"], "text": "本周日结佣金已发放，请查收"}),
        )
        .await;
    assert_eq!(sent["messages"][0]["status"], "held", "{sent}");
    let id = sent["messages"][0]["id"].as_str().expect("id").to_owned();

    let password = server.user("mod@ops.example", "moderator", None);
    b.sign_in("/ops", "mod@ops.example", &password).await;
    b.goto("/ops/moderation").await;
    b.wait_text(".held-row", "日结佣金").await;
    b.shot("held-queue").await;
    b.click(".held-row .approve-form button[type=submit]").await;
    let deadline = Instant::now() + WAIT;
    loop {
        let message = server.admin(reqwest::Method::GET, "/moderation/held", None).await;
        if message["messages"].as_array().is_some_and(|m| m.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "the message is still held");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    b.shot("held-approved").await;
    let audit = server.admin(reqwest::Method::GET, "/audit", None).await;
    assert!(audit.to_string().contains("operator:mod@ops.example"), "the audit trail names the moderator: {audit}");
    assert!(audit.to_string().contains(&id));
    browser.close().await;
}

#[tokio::test]
async fn console_e2e_maintenance_scheduled_by_the_operator_is_noticed_in_the_portal() {
    let server = Server::start();
    let Some(browser) = Browser::open(&server, "maintenance", "zh-CN,zh").await else { return };
    let b = &browser;
    b.sign_in("/ops", "ops@demo", &server.demo_password("ops@demo")).await;
    b.goto("/ops/maintenance").await;
    b.shot("maintenance-form").await;
    // The demo agreement asks for 3 days' notice: 10 days ahead is in time.
    let start = time::OffsetDateTime::now_utc().to_offset(time::UtcOffset::from_hms(8, 0, 0).expect("CST"))
        + time::Duration::days(10);
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let starts = start.format(format).expect("format");
    let ends = (start + time::Duration::hours(2)).format(format).expect("format");
    b.set_value("#maintenance-form input[name=starts_at]", &starts).await;
    b.set_value("#maintenance-form input[name=ends_at]", &ends).await;
    b.fill("#maintenance-form [name=description]", "核心网关升级").await;
    // The work is on the simulator's link.
    b.click("#maintenance-form input[name=carriers][value=simulator]").await;
    b.click("#maintenance-form button[type=submit]").await;
    b.wait_text(".window-row", "核心网关升级").await;
    b.shot("maintenance-scheduled").await;
    b.sign_out().await;

    b.sign_in("/console", "dev@demo", &server.demo_password("dev@demo")).await;
    b.wait_text("nav.menu .badge", "1").await;
    b.goto("/console/notices").await;
    b.wait_text(".notice.unread", "维护").await;
    b.shot("portal-notices").await;
    b.click(".notice.unread a").await;
    b.wait_text("main", "核心网关升级").await;
    b.goto("/console/notices").await;
    assert!(b.client.find(Locator::Css(".notice.unread")).await.is_err(), "read once opened");
    b.shot("portal-notice-read").await;
    browser.close().await;
}

#[tokio::test]
async fn console_e2e_a_ticket_opened_in_the_portal_is_answered_in_the_operator_console() {
    let server = Server::start();
    let Some(browser) = Browser::open(&server, "tickets", "en-US,en").await else { return };
    let b = &browser;
    b.sign_in("/console", "dev@demo", &server.demo_password("dev@demo")).await;
    b.goto("/console/tickets").await;
    b.fill("#ticket-form [name=subject]", "Receipts are late").await;
    b.fill("#ticket-form [name=body]", "Since this morning receipts take minutes.").await;
    b.click("#ticket-form button[type=submit]").await;
    b.wait_text("#ticket-thread", "Since this morning").await;
    b.shot("ticket-opened").await;
    b.sign_out().await;

    let password = server.user("help@ops.example", "support", None);
    b.sign_in("/ops", "help@ops.example", &password).await;
    b.goto("/ops/tickets").await;
    b.wait_text(".ticket-row", "Receipts are late").await;
    b.shot("ops-tickets").await;
    b.click(".ticket-row a").await;
    b.fill("#answer-form [name=body]", "A carrier link was slow; it is fixed.").await;
    b.click("#answer-form button[type=submit]").await;
    b.wait_text("#ticket-thread", "it is fixed").await;
    b.shot("ticket-answered").await;
    b.sign_out().await;

    b.sign_in("/console", "dev@demo", &server.demo_password("dev@demo")).await;
    b.goto("/console/tickets").await;
    b.click(".ticket-row a").await;
    b.wait_text("#ticket-thread", "it is fixed").await;
    browser.close().await;
}

#[tokio::test]
async fn console_e2e_pages_fit_a_phone_and_read_in_chinese() {
    let server = Server::start();
    let Some(browser) = Browser::open(&server, "phone", "zh-CN,zh").await else { return };
    let b = &browser;
    b.client.set_window_size(390, 844).await.expect("phone size");
    b.sign_in("/console", "dev@demo", &server.demo_password("dev@demo")).await;
    assert!(b.source().await.contains("<html lang=\"zh\">"));
    b.wait_text("h1", "概览").await;
    // Nothing wider than the screen: the page does not scroll sideways.
    let width = b.client.execute("return document.documentElement.scrollWidth", vec![]).await.expect("width");
    let viewport = b.client.execute("return window.innerWidth", vec![]).await.expect("viewport");
    assert!(width.as_i64() <= viewport.as_i64(), "{width} > {viewport}");
    b.shot("portal-dashboard-phone-zh").await;
    for path in ["/console/send", "/console/messages", "/console/tickets"] {
        b.goto(path).await;
        let width = b.client.execute("return document.documentElement.scrollWidth", vec![]).await.expect("width");
        assert!(width.as_i64() <= viewport.as_i64(), "{path}: {width} > {viewport}");
    }
    b.goto("/console/send").await;
    b.shot("send-phone-zh").await;
    // The switch to English is remembered.
    b.click("a[hreflang=en]").await;
    b.wait_text("h1", "Send").await;
    b.goto("/console/").await;
    b.wait_text("h1", "Dashboard").await;
    browser.close().await;
}

#[tokio::test]
async fn console_e2e_every_main_page_opens_for_its_admin_with_a_screenshot() {
    let server = Server::start();
    let Some(browser) = Browser::open(&server, "pages", "en-US,en").await else { return };
    let b = &browser;
    for text in ["Your verification code is 4096.", "Your parcel is at the front desk."] {
        server.demo_api(reqwest::Method::POST, "/v1/messages", json!({"to": ["+8613800138000"], "text": text})).await;
    }
    let customers = server.cli(&["customer", "list"]);
    let demo = customers["customers"][0]["id"].as_str().expect("demo's id").to_owned();
    let ops_pages = [
        ("/ops/", "ops-dashboard"),
        ("/ops/customers", "ops-customers"),
        (&format!("/ops/customers/{demo}"), "ops-customer"),
        ("/ops/carriers", "ops-carriers"),
        ("/ops/moderation", "ops-moderation"),
        ("/ops/tickets", "ops-tickets"),
        ("/ops/maintenance", "ops-maintenance"),
        ("/ops/breaches", "ops-breaches"),
        ("/ops/money", "ops-money"),
        ("/ops/audit", "ops-audit"),
        ("/ops/users", "ops-users"),
    ];
    b.sign_in("/ops", "ops@demo", &server.demo_password("ops@demo")).await;
    for (path, name) in ops_pages {
        b.goto(path).await;
        b.find("main h1").await;
        let page = b.source().await;
        assert!(!page.contains("class=\"problem\""), "{path} shows a refusal:\n{page}");
        b.shot(name).await;
    }
    let portal_pages = [
        ("/console/", "portal-dashboard"),
        ("/console/send", "portal-send"),
        ("/console/messages", "portal-messages"),
        ("/console/contacts", "portal-contacts"),
        ("/console/templates", "portal-templates"),
        ("/console/integration", "portal-integration"),
        ("/console/statements", "portal-statements"),
        ("/console/tickets", "portal-tickets"),
        ("/console/notices", "portal-notices"),
        ("/console/agreement", "portal-agreement"),
        ("/console/users", "portal-users"),
    ];
    b.sign_in("/console", "dev@demo", &server.demo_password("dev@demo")).await;
    for (path, name) in portal_pages {
        b.goto(path).await;
        b.find("main h1").await;
        let page = b.source().await;
        assert!(!page.contains("class=\"problem\""), "{path} shows a refusal:\n{page}");
        b.shot(name).await;
    }
    b.goto("/console/messages").await;
    b.wait_text("#messages-table", "Your parcel").await;
    browser.close().await;
}
