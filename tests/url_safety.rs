//! Where requests go: URLs read as `fetch` reads them (the confusables corpus against Node's
//! readings), redirects refused and never followed, and external ids that stay one path segment.
#![cfg(not(target_arch = "wasm32"))]

use serde_json::{json, Value};
use sf_lead_rule::core::config::Config;
use sf_lead_rule::core::error::ErrorCode;
use sf_lead_rule::core::flow::{FirstLoginFlow, Input, Outcome, Status, Step};
use sf_lead_rule::core::http::{HttpRequest, HttpResponse, Purpose};
use sf_lead_rule::core::profile::{FirstLoginSignal, HostEvent};
use sf_lead_rule::core::salesforce::{self as sf, AccessToken, WriteResult};
use sf_lead_rule::core::secret::Secret;

const LOGIN: &str = "https://acme.my.salesforce.com";
const SLACK: &str = "https://hooks.slack.com/services/T0/B0/slacksecret";
const SECRETS: [&str; 3] = ["client-secret-1", "slacksecret", "00Dtok!fresh"];

fn config(extra: Value) -> Result<Config, sf_lead_rule::core::error::RuleError> {
    let mut base = json!({
        "clientId": "cid", "clientSecret": "client-secret-1", "loginUrl": LOGIN, "slackWebhookUrl": SLACK,
    });
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    Config::parse(base.as_object().unwrap())
}

/// `host[:port]` of a URL as the crate reads it: what Node's `URL#host` shows.
fn host_of(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    match u.port() {
        Some(p) => format!("{}:{p}", u.host_str().unwrap()),
        None => u.host_str().unwrap().to_string(),
    }
}

struct Entry {
    url: String,
    /// `new URL(url).host` in Node; `None` when Node throws.
    node_host: Option<String>,
}

fn corpus() -> Vec<Entry> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/url-confusables.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let entries = v["entries"].as_array().unwrap();
    assert!(entries.len() >= 40);
    entries
        .iter()
        .map(|e| Entry { url: e["url"].as_str().unwrap().to_string(), node_host: e["host"].as_str().map(String::from) })
        .collect()
}

#[test]
fn every_login_url_is_refused_or_sent_to_the_host_node_reads() {
    let (mut refused, mut sent) = (0, 0);
    for e in corpus() {
        match config(json!({ "loginUrl": e.url })) {
            Err(err) => {
                assert!(matches!(err.code, ErrorCode::ConfigInvalid | ErrorCode::InsecureUrl), "{:?}: {err:?}", e.url);
                assert_eq!(err.field.as_deref(), Some("loginUrl"));
                refused += 1;
            }
            Ok(c) => {
                let req = sf::token_request(&c, None).unwrap();
                let url = req.url.expose();
                assert_eq!(Some(host_of(&url)), e.node_host, "{:?} is sent to {url}", e.url);
                // Plain http only to exactly localhost, 127.0.0.1 or [::1].
                if url.starts_with("http:") {
                    let host = url::Url::parse(&url).unwrap().host_str().unwrap().to_string();
                    assert!(["localhost", "127.0.0.1", "[::1]"].contains(&host.as_str()), "{:?}", e.url);
                }
                sent += 1;
            }
        }
    }
    // Both branches are exercised.
    assert!(refused >= 20 && sent >= 10, "refused {refused}, sent {sent}");
}

#[test]
fn the_confusing_login_urls_are_the_ones_refused() {
    for url in [
        "https://evil.ex\tample.my.salesforce.com",
        "https://acme.my.salesforce.com@evil.example",
        "https://evil．example",
        "https://evil.example%2f.my.salesforce.com",
        "http://127.attacker.example",
        "http://localhost.evil.example",
        "http://127.0.0.2",
        "http://0.0.0.0",
        "http://localhost.",
    ] {
        assert!(config(json!({ "loginUrl": url })).is_err(), "{url:?}");
    }
    for (url, sent) in [
        ("http://[::1]:8080", "http://[::1]:8080/services/oauth2/token"),
        ("http://127.1:4000", "http://127.0.0.1:4000/services/oauth2/token"),
        ("http://2130706433", "http://127.0.0.1/services/oauth2/token"),
        ("https://ACME.MY.SALESFORCE.COM", "https://acme.my.salesforce.com/services/oauth2/token"),
        // Accepted, but as what it is: the request goes to evil.example, which is what every
        // later check (the instance URL's) sees too.
        ("https://evil.example\\.my.salesforce.com", "https://evil.example/.my.salesforce.com/services/oauth2/token"),
    ] {
        let c = config(json!({ "loginUrl": url })).unwrap();
        assert_eq!(sf::token_request(&c, None).unwrap().url.expose(), sent, "{url:?}");
    }
}

#[test]
fn every_instance_url_is_refused_or_sent_to_the_host_node_reads() {
    let c = config(json!({})).unwrap();
    let (mut refused, mut sent) = (0, 0);
    for e in corpus() {
        let answer = HttpResponse::new(200, json!({"access_token": "00Dtok!fresh", "instance_url": e.url}).to_string());
        match sf::parse_token_response(&answer, &c) {
            Err(err) => {
                assert_eq!(err.code, ErrorCode::InstanceUrlNotAllowed, "{:?}", e.url);
                assert!(!err.message.contains("00Dtok"));
                refused += 1;
            }
            Ok(token) => {
                let req = sf::create_request(&token, &c, &Default::default());
                let url = req.url.expose();
                assert_eq!(Some(host_of(&url)), e.node_host, "{:?} is sent to {url}", e.url);
                let host = url::Url::parse(&url).unwrap().host_str().unwrap().to_string();
                assert!(host.ends_with(".salesforce.com") || host == "acme.my.salesforce.com", "{:?}", e.url);
                sent += 1;
            }
        }
    }
    assert!(refused >= 30 && sent >= 5, "refused {refused}, sent {sent}");
    // The issue's attack: the bearer token would have gone to evil.example.
    let answer = HttpResponse::new(
        200,
        json!({"access_token": "T", "instance_url": "https://evil.example\\.my.salesforce.com"}).to_string(),
    );
    let err = sf::parse_token_response(&answer, &c).unwrap_err();
    assert_eq!(err.code, ErrorCode::InstanceUrlNotAllowed);
}

#[test]
fn a_loopback_instance_needs_a_loopback_login_and_exact_loopback() {
    let c = config(json!({"loginUrl": "http://127.0.0.1:4000"})).unwrap();
    let instance = |u: &str| sf::check_instance_url(u, &c).map_err(|e| e.code);
    assert_eq!(instance("http://127.0.0.1:4000/"), Ok("http://127.0.0.1:4000".into()));
    assert_eq!(instance("http://localhost:4001"), Ok("http://localhost:4001".into()));
    assert_eq!(instance("http://[::1]:4002"), Ok("http://[::1]:4002".into()));
    for bad in ["http://127.attacker.example", "http://localhost.evil.example", "http://127.0.0.2:4000"] {
        assert_eq!(instance(bad), Err(ErrorCode::InstanceUrlNotAllowed), "{bad}");
    }
    // A cached token is held to the same rules, and then sent to the serialisation.
    let https = config(json!({})).unwrap();
    assert_eq!(
        sf::check_instance_url("https://Acme.My.Salesforce.com/", &https),
        Ok("https://acme.my.salesforce.com".into())
    );
}

#[test]
fn instance_url_and_access_token_settings_are_read_the_same_way() {
    let access = |u: &str| Config::parse(json!({"accessToken": "t", "instanceUrl": u}).as_object().unwrap());
    assert_eq!(access("http://127.attacker.example").unwrap_err().code, ErrorCode::InsecureUrl);
    assert_eq!(access("https://a.my.salesforce.com@evil.example").unwrap_err().code, ErrorCode::ConfigInvalid);
    assert_eq!(access("https://a.my.salesforce.com?x").unwrap_err().code, ErrorCode::ConfigInvalid);
    assert_eq!(
        access("https://A.my.salesforce.com/").unwrap().grant.cache_identity(),
        "access_token:https://a.my.salesforce.com"
    );
}

// ---------------------------------------------------------------------------------------------
// Redirects

fn jane(extra: Value) -> HostEvent {
    let mut profile = json!({"user_id": "auth0|42", "email": "jane@acme.com", "given_name": "Jane",
        "family_name": "Doe", "user_metadata": {"company": "Acme Corp"}});
    for (k, v) in extra.as_object().unwrap() {
        profile[k] = v.clone();
    }
    HostEvent { profile, signal: FirstLoginSignal::FirstLogin }
}

fn token_ok() -> Input {
    Input::Response(HttpResponse::new(
        200,
        json!({"access_token": "00Dtok!fresh", "instance_url": LOGIN, "token_type": "Bearer"}).to_string(),
    ))
}

fn redirect(status: u16, body: &str) -> Input {
    Input::Response(HttpResponse::new(status, body).with_header("Location", "https://evil.example/x"))
}

/// Run the flow, answering each request from `answers` in order.
fn drive(config: Config, event: HostEvent, answers: Vec<Input>) -> (Vec<HttpRequest>, Outcome) {
    let mut flow = FirstLoginFlow::new(config, event, None, 1_000_000, 7);
    let (mut now, mut answers, mut requests) = (1_000_000, answers.into_iter(), Vec::new());
    let mut step = flow.start();
    loop {
        step = match step {
            Step::Done(o) => {
                assert!(answers.next().is_none(), "the flow stopped before the script's end");
                return (requests, *o);
            }
            Step::Send { request, .. } => {
                requests.push(request);
                now += 10;
                let a = answers.next().expect("the flow sent more requests than the script answers");
                flow.resume(a, now)
            }
            Step::Sleep { ms } => {
                now += ms;
                flow.resume(Input::Woke, now)
            }
            Step::Sign { .. } => flow.resume(Input::Signed(vec![1]), now),
        };
    }
}

fn purposes(reqs: &[HttpRequest]) -> Vec<Purpose> {
    reqs.iter().map(|r| r.purpose).collect()
}

fn assert_no_secret(reqs: &[HttpRequest], outcome: &Outcome) {
    let mut text = serde_json::to_string(outcome).unwrap();
    for r in reqs.iter().filter(|r| r.purpose == Purpose::NotifySlack) {
        text.push_str(&r.body.as_ref().unwrap().expose());
    }
    for s in SECRETS {
        assert!(!text.contains(s), "{s} in {text}");
    }
}

#[test]
fn a_redirected_token_request_fails_at_once_and_is_not_sent_again() {
    for status in [301, 302, 303, 307, 308, 0] {
        let (reqs, o) = drive(config(json!({})).unwrap(), jane(json!({})), vec![redirect(status, ""), slack_ok()]);
        assert_eq!(purposes(&reqs), [Purpose::Token, Purpose::NotifySlack], "HTTP {status}");
        assert_eq!(o.status, Status::Failed);
        let e = o.error.as_ref().unwrap();
        assert_eq!(
            (e.code, e.remote_code.as_deref(), e.status),
            (ErrorCode::RedirectRefused, Some("REDIRECT_REFUSED"), Some(status))
        );
        assert!(!o.confirmed());
        assert_no_secret(&reqs, &o);
        let alert = reqs[1].body.as_ref().unwrap().expose();
        assert!(alert.contains("REDIRECT_REFUSED") && !alert.contains("evil.example"), "{alert}");
    }
    let (_, o) = drive(config(json!({})).unwrap(), jane(json!({})), vec![redirect(307, ""), slack_ok()]);
    assert_eq!(
        o.error.unwrap().message,
        "the Salesforce token endpoint answered with a redirect (HTTP 307); redirects are never followed, so nothing was sent where it points: check loginUrl (the org's login or My Domain URL)"
    );
}

fn slack_ok() -> Input {
    Input::Response(HttpResponse::new(200, "ok"))
}

#[test]
fn a_redirected_create_is_no_record_and_is_not_retried() {
    // The issue's attack: a 302 whose target answered {"id": …} was reported `created`.
    let body = r#"{"id":"00Q000000000001AAA","success":true,"errors":[]}"#;
    for status in [302, 307, 0] {
        let (reqs, o) =
            drive(config(json!({})).unwrap(), jane(json!({})), vec![token_ok(), redirect(status, body), slack_ok()]);
        assert_eq!(purposes(&reqs), [Purpose::Token, Purpose::CreateRecord, Purpose::NotifySlack]);
        assert_eq!(o.status, Status::Failed);
        assert_eq!(o.lead_id, None);
        assert_eq!(o.error.as_ref().unwrap().code, ErrorCode::RedirectRefused);
        assert!(!o.confirmed());
        assert_no_secret(&reqs, &o);
    }
    // An upsert too (300 stays "several records match").
    let c = config(json!({"externalIdField": "Auth0_User_Id__c"})).unwrap();
    let (reqs, o) = drive(c.clone(), jane(json!({})), vec![token_ok(), redirect(308, ""), slack_ok()]);
    assert_eq!(purposes(&reqs), [Purpose::Token, Purpose::UpsertRecord, Purpose::NotifySlack]);
    assert_eq!(o.error.unwrap().code, ErrorCode::RedirectRefused);
    let (_, o) = drive(c, jane(json!({})), vec![token_ok(), redirect(300, "[]"), slack_ok()]);
    assert_eq!(o.error.unwrap().code, ErrorCode::AmbiguousMatch);
}

#[test]
fn a_redirected_lookup_fails_without_creating() {
    let c = config(json!({"dedupeByEmail": true})).unwrap();
    let (reqs, o) = drive(c, jane(json!({})), vec![token_ok(), redirect(302, "{}"), slack_ok()]);
    assert_eq!(purposes(&reqs), [Purpose::Token, Purpose::FindExisting, Purpose::NotifySlack]);
    assert_eq!(o.error.unwrap().code, ErrorCode::RedirectRefused);
}

#[test]
fn a_redirected_slack_message_is_a_slack_failure_only() {
    let created = Input::Response(HttpResponse::new(201, r#"{"id":"00Q000000000001AAA","success":true}"#));
    let (reqs, o) = drive(config(json!({})).unwrap(), jane(json!({})), vec![token_ok(), created, redirect(302, "ok")]);
    assert_eq!(purposes(&reqs), [Purpose::Token, Purpose::CreateRecord, Purpose::NotifySlack]);
    assert_eq!(o.status, Status::Created);
    assert_eq!(o.slack.status, "failed");
    let e = o.slack.error.as_ref().unwrap();
    // One code for every Slack failure; the redirect is told by remoteCode.
    assert_eq!(
        (e.code, e.remote_code.as_deref(), e.status),
        (ErrorCode::SlackFailed, Some("REDIRECT_REFUSED"), Some(302))
    );
    assert!(!e.message.contains("slacksecret") && !e.message.contains("evil.example"), "{}", e.message);
    assert_no_secret(&reqs, &o);
}

#[test]
fn write_answers_with_any_3xx_are_refused() {
    let c = config(json!({})).unwrap();
    for status in [0, 301, 302, 303, 304, 305, 307, 308, 399] {
        match sf::parse_write_response(&HttpResponse::new(status, r#"{"id":"00Q000000000001AAA"}"#), &c) {
            WriteResult::Failed(e) => assert_eq!(e.code, ErrorCode::RedirectRefused, "{status}"),
            r => panic!("{status}: {r:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// External ids as path segments

fn token() -> AccessToken {
    AccessToken { token: Secret::new("00Dtok!fresh"), instance_url: LOGIN.into() }
}

#[test]
fn an_external_id_stays_one_literal_segment() {
    let c = config(json!({"externalIdField": "Auth0_User_Id__c"})).unwrap();
    let base = "https://acme.my.salesforce.com/services/data/v66.0/sobjects/Lead/Auth0_User_Id__c/";
    for (value, segment) in [
        ("a/b", "a%2Fb"),
        ("?x", "%3Fx"),
        ("#x", "%23x"),
        ("%2e", "%252e"),
        ("%2e%2e", "%252e%252e"),
        ("...", "%2E%2E%2E"),
        (".x", "%2Ex"),
        ("auth0|1", "auth0%7C1"),
        ("a b\\c", "a%20b%5Cc"),
        ("Zoë 日本", "Zo%C3%AB%20%E6%97%A5%E6%9C%AC"),
    ] {
        let url = sf::upsert_request(&token(), &c, "Auth0_User_Id__c", value, &Default::default()).url.expose();
        assert_eq!(url, format!("{base}{segment}"), "{value:?}");
        // Read back as fetch reads it: the path still ends with that one segment.
        let parsed = url::Url::parse(&url).unwrap();
        assert_eq!(parsed.host_str(), Some("acme.my.salesforce.com"));
        let last = parsed.path_segments().unwrap().next_back().unwrap().to_string();
        assert_eq!(percent_decode(&last), value, "{value:?}");
        assert_eq!(parsed.path_segments().unwrap().count(), 7, "{value:?}");
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8().unwrap().into_owned()
}

#[test]
fn dot_segment_external_ids_are_refused_before_anything_is_sent() {
    let c = config(json!({"externalIdField": "Auth0_User_Id__c"})).unwrap();
    for value in [".", ".."] {
        let (reqs, o) = drive(c.clone(), jane(json!({ "user_id": value })), vec![slack_ok()]);
        assert_eq!(purposes(&reqs), [Purpose::NotifySlack], "{value:?}: nothing goes to Salesforce");
        assert_eq!(o.status, Status::Failed);
        let e = o.error.unwrap();
        assert_eq!((e.code, e.field.as_deref()), (ErrorCode::ProfileInvalid, Some("user_id")));
        assert_eq!(
            e.message,
            format!(
                "the external id (user_id) is '{value}', which cannot be sent as a URL path segment; nothing was sent"
            )
        );
        // Even encoded, such a segment is dropped by URL parsing (`..` with the one before it):
        // the URL would name no record at all.
        let url = format!("{LOGIN}/services/data/v66.0/sobjects/Lead/Auth0_User_Id__c/{}", value.replace('.', "%2E"));
        let parsed = url::Url::parse(&url).unwrap();
        assert_eq!(parsed.path_segments().unwrap().next_back(), Some(""), "{url}");
    }
    // Without an external id field the user id is no path segment: the create goes ahead.
    let (reqs, _) = drive(
        config(json!({})).unwrap(),
        jane(json!({"user_id": ".."})),
        vec![token_ok(), Input::Response(HttpResponse::new(201, r#"{"id":"00Q000000000001AAA"}"#)), slack_ok()],
    );
    assert_eq!(purposes(&reqs), [Purpose::Token, Purpose::CreateRecord, Purpose::NotifySlack]);
}

#[test]
fn a_stored_record_id_is_one_segment_too() {
    let c = config(json!({})).unwrap();
    let r = sf::get_record_request(&token(), &c, "00Q000000000001AAA");
    assert_eq!(
        r.url.expose(),
        "https://acme.my.salesforce.com/services/data/v66.0/sobjects/Lead/00Q000000000001AAA?fields=Id"
    );
    let r = sf::get_record_request(&token(), &c, "../x?y");
    assert_eq!(
        r.url.expose(),
        "https://acme.my.salesforce.com/services/data/v66.0/sobjects/Lead/%2E%2E%2Fx%3Fy?fields=Id"
    );
}
