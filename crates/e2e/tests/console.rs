//! The web console in a real browser: Debian's headless Chromium, driven through chromedriver,
//! against the running stack. An on-call engineer signs in, sees an incident arrive without
//! reloading, watches its analysis complete, merges a second incident into it and resolves it;
//! an alert whose title is markup is shown as text and runs nothing; after a dropped
//! connection the list catches up with what happened meanwhile.
//!
//! Screenshots of the list and the incident page are left in `target/e2e-artifacts/`.
//! `make test` installs `chromium` and `chromium-driver`; without them these tests fail, saying
//! so.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aurora_domain::SourceType;
use aurora_e2e::http::get_json;
use aurora_e2e::{Stack, TestUser, eventually};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Longest wait for anything the page shows: the analysis included, on a loaded 2-core machine.
const PATIENCE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

/// A headless Chromium, closed (with its chromedriver) when dropped.
struct Browser {
    client: Option<Client>,
    _chromedriver: Child,
}

impl Browser {
    async fn start() -> Self {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(binary).exists(),
                "{binary} is missing: install Debian's `chromium` and `chromium-driver` (`make test` does)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let chromedriver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        eventually(
            "chromedriver to listen",
            Duration::from_secs(20),
            || async { reqwest::get(format!("{url}/status")).await.ok().map(drop) },
        )
        .await;
        let options = json!({
            "binary": CHROMIUM,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
                "--window-size=1280,800",
            ],
        });
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await
            .expect("a browser session");
        Self {
            client: Some(client),
            _chromedriver: chromedriver,
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("open until dropped")
    }

    async fn goto(&self, url: &str) {
        self.client().goto(url).await.expect("the page loads");
    }

    /// Signs in at the console's front page with `token`, and waits for the incident list.
    async fn sign_in(&self, api_url: &str, token: &str) {
        self.goto(api_url).await;
        self.wait(Locator::Id("token"))
            .await
            .send_keys(token)
            .await
            .expect("token typed");
        self.click(Locator::Css("form button[type=submit]")).await;
        self.wait_text(Locator::Css("main h1"), "Incidents").await;
        self.wait(Locator::Css("#live[data-state='live']")).await;
    }

    /// The first element `locator` finds, waiting for it to appear.
    async fn wait(&self, locator: Locator<'_>) -> Element {
        match self
            .client()
            .wait()
            .at_most(PATIENCE)
            .every(POLL)
            .for_element(locator)
            .await
        {
            Ok(element) => element,
            Err(err) => {
                self.fail(&format!("{locator:?} never appeared: {err}"))
                    .await
            }
        }
    }

    /// Clicks the first element `locator` finds, once it appears.
    async fn click(&self, locator: Locator<'_>) {
        self.wait(locator).await.click().await.expect("clicked");
    }

    /// Waits until the first element `locator` finds shows `text` (among other text).
    async fn wait_text(&self, locator: Locator<'_>, text: &str) -> Element {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Ok(element) = self.client().find(locator).await
                && let Ok(shown) = element.text().await
                && shown.contains(text)
            {
                return element;
            }
            if tokio::time::Instant::now() >= deadline {
                self.fail(&format!("{locator:?} never showed {text:?}"))
                    .await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Asserts that every control on the page has a name a screen reader can say: a label,
    /// an `aria-label` or its own text.
    async fn assert_controls_labelled(&self) {
        let unnamed = self
            .eval(
                "return [...document.querySelectorAll('input, select, button, textarea')]
                    .filter((c) => !(c.labels && c.labels.length) && !c.getAttribute('aria-label')
                        && !c.textContent.trim())
                    .map((c) => c.outerHTML);",
            )
            .await;
        assert_eq!(unnamed, json!([]), "controls without a name");
    }

    /// Runs `script` in the page and answers what it returns.
    async fn eval(&self, script: &str) -> serde_json::Value {
        self.client()
            .execute(script, Vec::new())
            .await
            .expect("the script runs")
    }

    async fn resize(&self, width: u32, height: u32) {
        self.client()
            .set_window_rect(0, 0, width, height)
            .await
            .expect("resized");
    }

    /// Fails the test with what the page shows, leaving a screenshot (`failure.png`).
    async fn fail(&self, why: &str) -> ! {
        self.screenshot("failure").await;
        let shown = self.eval("return document.body.innerText;").await;
        panic!(
            "{why}; the page shows:\n{}",
            shown.as_str().unwrap_or_default()
        );
    }

    /// Saves what the browser shows as `target/e2e-artifacts/<name>.png`.
    async fn screenshot(&self, name: &str) {
        let dir = artifacts();
        std::fs::create_dir_all(&dir).expect("artifacts directory");
        let png = self.client().screenshot().await.expect("a screenshot");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot saved");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends the session (and Chromium) before chromedriver is killed; best effort.
        if let Some(client) = self.client.take() {
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                let _ = runtime.block_on(client.close());
            })
            .join();
        }
    }
}

/// Where the screenshots go: the workspace's `target/e2e-artifacts`.
fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("e2e-artifacts")
}

/// The id of `user`'s incident titled `title`, once it exists.
async fn incident_titled(stack: &Stack, user: &TestUser, title: &str) -> String {
    let url = format!("{}/api/incidents?include_merged=true", stack.api_url);
    eventually(title, PATIENCE, || async {
        let (_, page) = get_json(&url, Some(&user.api_token)).await;
        page["incidents"]
            .as_array()?
            .iter()
            .find(|i| i["alert_title"] == title)
            .and_then(|i| i["id"].as_str().map(str::to_owned))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engineer_watches_an_incident_arrive_be_analysed_absorb_another_and_resolve() {
    let stack = Stack::start().await;
    let alice = stack.user("alice").await;
    let token = stack
        .integration(&alice, SourceType::Alertmanager, &[])
        .await;
    let browser = Browser::start().await;
    browser.sign_in(&stack.api_url, &alice.api_token).await;
    // Set on this page only: still there later proves the list updated without a reload.
    browser
        .eval("window.auroraTestMarker = 'no reload'; return true;")
        .await;

    stack
        .fire(
            &token,
            "checkout",
            "CheckoutLatencyHigh",
            "checkout",
            "critical",
        )
        .await;
    let row = browser
        .wait_text(Locator::Css("#incident-rows"), "CheckoutLatencyHigh")
        .await;
    assert_eq!(
        browser.eval("return window.auroraTestMarker;").await,
        "no reload"
    );
    assert!(row.text().await.unwrap().contains("checkout"));
    // The list's headline figure counts the alert.
    browser
        .wait_text(Locator::Id("noise"), "1 alert → 1 incident")
        .await;
    browser.screenshot("console-list").await;
    browser.assert_controls_labelled().await;

    // Open it and watch the analysis complete.
    let first = incident_titled(&stack, &alice, "CheckoutLatencyHigh").await;
    browser
        .click(Locator::LinkText("CheckoutLatencyHigh"))
        .await;
    browser
        .wait_text(Locator::Id("incident-title"), "CheckoutLatencyHigh")
        .await;
    let url = browser.client().current_url().await.unwrap();
    assert_eq!(url.path(), format!("/incidents/{first}"));
    browser
        .wait_text(Locator::Id("rca-status"), "complete")
        .await;
    browser
        .wait_text(Locator::Id("summary-text"), "What happened")
        .await;
    let thoughts = browser
        .wait_text(Locator::Id("thoughts"), "conclusion")
        .await;
    assert!(thoughts.text().await.unwrap().contains("observation"));

    // A second incident, on another service, shows up among those to merge.
    stack
        .fire(&token, "ledger", "LedgerQueueBacklog", "ledger", "high")
        .await;
    let second = incident_titled(&stack, &alice, "LedgerQueueBacklog").await;
    let option = browser
        .wait(Locator::Css(&format!(
            "#merge-source option[value='{second}']"
        )))
        .await;
    option.click().await.expect("chosen");
    browser
        .wait(Locator::Id("merge-reason"))
        .await
        .send_keys("same outage")
        .await
        .unwrap();
    browser.click(Locator::Id("merge")).await;
    browser.wait_text(Locator::Id("notice"), "Merged").await;
    browser
        .wait_text(Locator::Id("alert-list"), "LedgerQueueBacklog")
        .await;
    browser.wait_text(Locator::Id("events"), "merged").await;
    let (_, source) = get_json(
        &format!("{}/api/incidents/{second}", stack.api_url),
        Some(&alice.api_token),
    )
    .await;
    assert_eq!(source["status"], "merged");
    assert_eq!(source["merged_into_incident_id"], first.as_str());

    browser.wait_text(Locator::Id("hypotheses"), "%").await;
    // The headline figure follows on this page too: two alerts opened two incidents.
    browser
        .wait_text(Locator::Id("noise"), "2 alerts → 2 incidents")
        .await;
    browser.assert_controls_labelled().await;
    // The whole page, for the README, then at a phone's width: nothing runs off the side.
    browser.resize(1280, 1500).await;
    browser.screenshot("console-incident").await;
    browser.resize(390, 844).await;
    browser.screenshot("console-phone").await;
    assert_eq!(
        browser
            .eval("return document.documentElement.scrollWidth <= window.innerWidth;")
            .await,
        true,
        "the incident page fits a phone's width"
    );
    browser.resize(1280, 800).await;

    // The chat tab is remembered for everyone who opens the incident.
    browser.click(Locator::Id("tab-chat")).await;
    let detail = format!("{}/api/incidents/{first}", stack.api_url);
    eventually("the chat tab to be kept", PATIENCE, || async {
        let (_, incident) = get_json(&detail, Some(&alice.api_token)).await;
        (incident["active_tab"] == "chat").then_some(())
    })
    .await;
    browser.client().refresh().await.unwrap();
    browser
        .wait(Locator::Css("#tab-chat[aria-selected='true']"))
        .await;

    // Resolve, reopen, mark analysed, resolve: each button does what it says.
    for (button, status) in [
        ("resolve", "resolved"),
        ("reopen", "investigating"),
        ("mark-analyzed", "analyzed"),
        ("resolve", "resolved"),
    ] {
        browser.click(Locator::Id(button)).await;
        browser
            .wait_text(Locator::Id("incident-status"), status)
            .await;
        let (_, incident) = get_json(&detail, Some(&alice.api_token)).await;
        assert_eq!(incident["status"], status, "after {button}");
    }
    browser.wait(Locator::Id("reopen")).await;

    // The merged incident's own page says where it went.
    browser
        .goto(&format!("{}/incidents/{second}", stack.api_url))
        .await;
    browser
        .wait_text(Locator::Id("merged-into"), "Merged into")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_title_made_of_markup_is_shown_as_text_and_runs_nothing() {
    let stack = Stack::start().await;
    let mallory = stack.user("mallory").await;
    let token = stack
        .integration(&mallory, SourceType::Alertmanager, &[])
        .await;
    let browser = Browser::start().await;
    browser.sign_in(&stack.api_url, &mallory.api_token).await;

    let title =
        r#"<script>window.auroraPwned = 1</script><img src=x onerror="window.auroraPwned = 2">"#;
    stack
        .fire(&token, "checkout", title, "checkout", "critical")
        .await;
    let row = browser
        .wait_text(Locator::Css("#incident-rows"), "<script>")
        .await;
    assert!(row.text().await.unwrap().contains(title));
    assert_eq!(
        browser
            .eval("return document.querySelectorAll('main script, main img').length;")
            .await,
        0
    );

    let id = incident_titled(&stack, &mallory, title).await;
    browser
        .goto(&format!("{}/incidents/{id}", stack.api_url))
        .await;
    let heading = browser
        .wait_text(Locator::Id("incident-title"), "<img")
        .await;
    assert_eq!(heading.text().await.unwrap(), title);
    // The summary quotes the title: rendered from Markdown, still only text.
    browser
        .wait_text(Locator::Id("summary-text"), "<script>")
        .await;
    browser
        .wait_text(Locator::Id("alert-list"), "onerror=")
        .await;
    assert_eq!(
        browser
            .eval("return [document.querySelectorAll('main script, main img, main iframe').length, typeof window.auroraPwned];")
            .await,
        json!([0, "undefined"])
    );
}

/// A TCP proxy in front of the api that can cut every connection and refuse new ones, as a
/// load balancer restarting or a laptop changing networks would.
struct FlakyProxy {
    url: String,
    accepting: Arc<AtomicBool>,
    connections: Arc<Mutex<CancellationToken>>,
}

impl FlakyProxy {
    async fn start(upstream: &str) -> Self {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepting = Arc::new(AtomicBool::new(true));
        let connections = Arc::new(Mutex::new(CancellationToken::new()));
        let (open, current) = (accepting.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !open.load(Ordering::SeqCst) {
                    continue; // dropped: the browser sees the connection refused at once
                }
                let cut = current.lock().unwrap().clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        () = cut.cancelled() => {}
                    }
                });
            }
        });
        Self {
            url,
            accepting,
            connections,
        }
    }

    /// Cuts every open connection and refuses new ones until [`Self::restore`].
    fn cut(&self) {
        self.accepting.store(false, Ordering::SeqCst);
        let mut current = self.connections.lock().unwrap();
        current.cancel();
        *current = CancellationToken::new();
    }

    fn restore(&self) {
        self.accepting.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_dropped_connection_the_list_resumes_with_what_happened_meanwhile() {
    let stack = Stack::start().await;
    let carol = stack.user("carol").await;
    let token = stack
        .integration(&carol, SourceType::Alertmanager, &[])
        .await;
    let proxy = FlakyProxy::start(&stack.api_url).await;
    let browser = Browser::start().await;
    browser.sign_in(&proxy.url, &carol.api_token).await;
    browser
        .eval("window.auroraTestMarker = 'no reload'; return true;")
        .await;
    stack
        .fire(&token, "before", "PaymentsBefore", "payments", "high")
        .await;
    browser
        .wait_text(Locator::Css("#incident-rows"), "PaymentsBefore")
        .await;

    // The connection drops; an incident opens while the console cannot hear of it.
    proxy.cut();
    browser.wait(Locator::Css("#live[data-state='down']")).await;
    stack
        .fire(&token, "during", "SearchDuring", "search", "critical")
        .await;
    incident_titled(&stack, &carol, "SearchDuring").await;
    let rows = browser
        .client()
        .find(Locator::Css("#incident-rows"))
        .await
        .unwrap();
    assert!(!rows.text().await.unwrap().contains("SearchDuring"));

    // Back: the stream resumes from the last event it saw (Last-Event-ID), and the missed
    // change brings the incident into the list without a reload.
    proxy.restore();
    browser.wait(Locator::Css("#live[data-state='live']")).await;
    browser
        .wait_text(Locator::Css("#incident-rows"), "SearchDuring")
        .await;
    assert_eq!(
        browser.eval("return window.auroraTestMarker;").await,
        "no reload"
    );

    // The filters: critical ones only, then a title search.
    browser
        .click(Locator::Css("#f-severity option[value='critical']"))
        .await;
    let rows = Locator::Css("#incident-rows");
    eventually("only the critical incident", PATIENCE, || async {
        let shown = browser.client().find(rows).await.ok()?.text().await.ok()?;
        (!shown.contains("PaymentsBefore") && shown.contains("SearchDuring")).then_some(())
    })
    .await;
    browser
        .click(Locator::Css("#f-severity option[value='']"))
        .await;
    browser
        .wait(Locator::Id("f-q"))
        .await
        .send_keys("payments")
        .await
        .unwrap();
    eventually("only the payments incident", PATIENCE, || async {
        let shown = browser.client().find(rows).await.ok()?.text().await.ok()?;
        (shown.contains("PaymentsBefore") && !shown.contains("SearchDuring")).then_some(())
    })
    .await;
    let url = browser.client().current_url().await.unwrap();
    assert_eq!(url.query(), Some("q=payments"), "the filter is in the URL");
}
