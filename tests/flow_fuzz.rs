//! Property test of the whole `FirstLoginFlow`: random configurations and profiles, driven with
//! arbitrary answers (any status, bodies right, wrong, truncated or echoing secrets, odd
//! `Retry-After`s, network errors, time-outs, failed signatures) at arbitrary clock jumps.
//! It must never panic, always finish within a bounded number of steps, confirm a record only on
//! an id Salesforce gave, never send a create twice without a lookup proving the first one lost,
//! send the token only to trusted hosts, and never put a secret in the outcome, a plan or Slack.
//!
//! `PROPTEST_CASES=N cargo test --test flow_fuzz` runs longer; failures are kept in
//! `tests/flow_fuzz.proptest-regressions` and replayed first on every run.
#![cfg(not(target_arch = "wasm32"))]

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{json, Value};
use sf_lead_rule::core::config::Config;
use sf_lead_rule::core::encoding::form_encode;
use sf_lead_rule::core::flow::{cache_identity, CachedToken, FirstLoginFlow, Input, Status, Step};
use sf_lead_rule::core::http::{HttpRequest, HttpResponse, Purpose};
use sf_lead_rule::core::profile::{FirstLoginSignal, HostEvent};
use sf_lead_rule::core::salesforce::is_record_id;
use sf_lead_rule::core::secret::Secret;
use std::sync::atomic::{AtomicUsize, Ordering};

const LOGIN: &str = "https://acme.my.salesforce.com";
const CLIENT_SECRET: &str = "fz-client-secret-Q7x";
const PASSWORD: &str = "fz-pass w0rd&9";
const REFRESH_TOKEN: &str = "fz-refresh-tok-3z";
const BROKER_TOKEN: &str = "00Dfz!broker-tok-77";
const CACHED_TOKEN: &str = "00Dfz!cached-tok-55";
const SLACK_URL: &str = "https://hooks.slack.com/services/T0/B0/fzSlackHookToken1";
const KEY_BODY: &str = "MIIfuzzKeyMaterialQWERTY0123456789";
const WEBHOOK_SECRET: &str = "whsec_fuzzWebhookSecret9";
/// Hard ceiling on driver steps; the flow's own bound is far lower (see `max_steps`).
const STEP_LIMIT: usize = 400;
/// Longest run seen (printed with `FUZZ_STATS=1`).
static MOST_STEPS: AtomicUsize = AtomicUsize::new(0);

fn private_key() -> String {
    format!("-----BEGIN PRIVATE KEY-----\n{KEY_BODY}\n-----END PRIVATE KEY-----")
}

/// Instance URLs a token answer may carry: trusted ones and ones the token must never reach.
const INSTANCES: &[&str] = &[
    LOGIN,
    "https://na1.salesforce.com",
    "https://evil.example.net",
    "http://acme.my.salesforce.com",
    "http://127.0.0.1:1",
    "",
    "not a url",
    "https://acme.my.salesforce.com.evil.net",
];
const TRUSTED: &[&str] = &["https://acme.my.salesforce.com/", "https://na1.salesforce.com/"];

fn ids() -> Vec<String> {
    vec![
        "00Q5e000000fUzZAAA".into(),
        "00Q5e000000fUzZ".into(),
        "003000000000001AAA".into(),
        "short".into(),
        String::new(),
        "00Q5e000000 fUzZAA".into(),
        CLIENT_SECRET.into(),
        format!("Bearer {CACHED_TOKEN}"),
    ]
}

const CODES: &[&str] = &[
    "INVALID_SESSION_ID",
    "DUPLICATES_DETECTED",
    "REQUEST_LIMIT_EXCEEDED",
    "SERVER_UNAVAILABLE",
    "ENTITY_IS_DELETED",
    "NOT_FOUND",
    "REQUIRED_FIELD_MISSING",
    "INVALID_EMAIL_ADDRESS",
    "invalid_grant",
    "invalid_client",
    "unsupported_grant_type",
];

const RETRY_AFTERS: &[&str] = &[
    "0",
    "1",
    "2",
    "0.5",
    "-1",
    "abc",
    "1e309",
    "99999999999999999999",
    "18446744073709551615",
    "NaN",
    "inf",
    " 3 ",
    "",
];

/// A text fragment that may quote a secret, so scrubbing is exercised too.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[ -~]{0,24}",
        1 => "\\PC{0,12}",
        2 => prop::sample::select(vec![
            CLIENT_SECRET.to_string(),
            PASSWORD.to_string(),
            form_encode(PASSWORD),
            REFRESH_TOKEN.to_string(),
            BROKER_TOKEN.to_string(),
            SLACK_URL.to_string(),
            "fzSlackHookToken1".to_string(),
            KEY_BODY.to_string(),
            WEBHOOK_SECRET.to_string(),
            "ISSUED".to_string(), // replaced by the access token the flow holds (an endpoint can only echo what it was sent)
        ]),
    ]
}

/// Profile text: anything a user might type (a user's own data is not a leak, so no secrets).
fn user_text() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[ -~]{0,24}", 1 => "\\PC{0,12}"]
}

/// How to answer one step. Bodies are built for the request being answered, so that the flow
/// gets deep (token → lookup → write → Slack) instead of failing at the first garbled answer.
#[derive(Debug, Clone)]
enum Answer {
    /// A success shaped for the request; `variant` picks ids, instance URLs, `created` flags.
    Ok {
        variant: u8,
    },
    /// A Salesforce/OAuth-style error.
    Error {
        status: u16,
        code: String,
        message: String,
        dup_id: Option<u8>,
        retry_after: Option<String>,
    },
    /// A success body cut short.
    Truncated {
        variant: u8,
        cut: usize,
    },
    /// Anything at all.
    Raw {
        status: u16,
        body: String,
        retry_after: Option<String>,
    },
    Network(String),
    Timeout,
}

fn answer() -> impl Strategy<Value = Answer> {
    let status = prop_oneof![
        4 => prop::sample::select(vec![200u16, 201, 204, 300, 400, 401, 403, 404, 409, 429, 500, 502, 503]),
        1 => 100u16..600,
    ];
    let retry_after = prop::option::weighted(0.4, prop::sample::select(RETRY_AFTERS.to_vec()).prop_map(String::from));
    let code = prop_oneof![4 => prop::sample::select(CODES.to_vec()).prop_map(String::from), 1 => text()];
    prop_oneof![
        8 => any::<u8>().prop_map(|variant| Answer::Ok { variant }),
        4 => (status.clone(), code, text(), prop::option::of(any::<u8>()), retry_after.clone())
            .prop_map(|(status, code, message, dup_id, retry_after)| Answer::Error { status, code, message, dup_id, retry_after }),
        1 => (any::<u8>(), 0usize..120).prop_map(|(variant, cut)| Answer::Truncated { variant, cut }),
        1 => (status, text(), retry_after).prop_map(|(status, body, retry_after)| Answer::Raw { status, body, retry_after }),
        1 => text().prop_map(Answer::Network),
        1 => Just(Answer::Timeout),
    ]
}

#[derive(Debug, Clone)]
struct Scenario {
    config: Value,
    profile: Value,
    signal: FirstLoginSignal,
    cached: bool,
    seed: u64,
    /// (milliseconds the clock moves before the answer, the answer)
    script: Vec<(u32, Answer)>,
    sign_ok: bool,
}

fn config() -> impl Strategy<Value = Value> {
    let grant =
        prop::sample::select(vec!["password", "client_credentials", "jwt_bearer", "refresh_token", "access_token"]);
    (
        grant,
        (any::<bool>(), prop::option::of(Just("Auth0_User_Id__c")), any::<bool>(), any::<bool>()),
        (100u64..20_000, 50u64..5_000, 0u64..=10),
        (
            any::<bool>(),
            any::<bool>(),
            prop::option::of(prop::sample::select(vec!["TRUE", "FALSE", "01Q000000000001"])),
        ),
        prop::sample::select(vec!["recommended", "auth0-template"]),
        prop::option::of(prop::sample::select(vec!["evil.example.net", ".example.net"])),
    )
        .prop_map(
            |(
                grant,
                (dedupe, ext, recreate, slack),
                (deadline, timeout, retries),
                (on_ok, on_fail, assign),
                mapping,
                allow,
            )| {
                let mut c = json!({
                    "loginUrl": LOGIN, "grant": grant, "clientId": "fz-client", "clientSecret": CLIENT_SECRET,
                    "username": "int@acme.com", "password": PASSWORD, "privateKey": private_key(),
                    "refreshToken": REFRESH_TOKEN, "accessToken": BROKER_TOKEN, "instanceUrl": LOGIN,
                    "webhookSecret": WEBHOOK_SECRET, "dedupeByEmail": dedupe, "recreateDeleted": recreate,
                    "deadlineMs": deadline, "requestTimeoutMs": timeout, "maxRetries": retries,
                    "notifyOnSuccess": on_ok, "notifyOnFailure": on_fail, "mapping": mapping,
                });
                if slack {
                    c["slackWebhookUrl"] = json!(SLACK_URL);
                }
                if let Some(f) = ext {
                    c["externalIdField"] = json!(f);
                }
                if let Some(a) = assign {
                    c["autoAssign"] = json!(a);
                }
                if let Some(h) = allow {
                    c["allowedInstanceHosts"] = json!([h]);
                }
                c
            },
        )
}

fn profile() -> impl Strategy<Value = (Value, FirstLoginSignal)> {
    let email = prop::option::of(prop_oneof![
        Just("jane@acme.com".to_string()),
        Just("o'brien@example.com".to_string()),
        Just("x' OR Name != '@example.com".to_string()),
        "[a-z'\\\\]{1,8}@[a-z]{1,6}\\.com",
        user_text(),
    ]);
    let name = prop::option::of(prop_oneof![3 => "[A-Za-z ]{0,12}", 1 => user_text()]);
    let signal = prop_oneof![
        6 => Just(FirstLoginSignal::FirstLogin),
        1 => Just(FirstLoginSignal::ReturningUser),
        1 => Just(FirstLoginSignal::Unknown),
        2 => prop::option::of(prop::sample::select(ids())).prop_map(|lead_id| FirstLoginSignal::AlreadyRecorded { lead_id }),
    ];
    (
        prop::option::of("[a-z0-9|]{1,12}"),
        email,
        name.clone(),
        name.clone(),
        name,
        prop::option::of("[A-Za-z &]{0,12}"),
        signal,
    )
        .prop_map(|(user_id, email, given, family, full, company, signal)| {
            let mut p = json!({"app_metadata": {}, "user_metadata": {}});
            for (k, v) in
                [("user_id", user_id), ("email", email), ("given_name", given), ("family_name", family), ("name", full)]
            {
                if let Some(v) = v {
                    p[k] = json!(v);
                }
            }
            if let Some(c) = company {
                p["user_metadata"]["company"] = json!(c);
            }
            (p, signal)
        })
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        config(),
        profile(),
        any::<bool>(),
        any::<u64>(),
        prop::collection::vec((0u32..4_000, answer()), 0..40),
        any::<bool>(),
    )
        .prop_map(|(config, (profile, signal), cached, seed, script, sign_ok)| Scenario {
            config,
            profile,
            signal,
            cached,
            seed,
            script,
            sign_ok,
        })
}

/// The answer's body for the request it answers.
fn success_body(purpose: Purpose, variant: u8, issued: &str) -> (u16, String) {
    let ids = ids();
    let id = &ids[variant as usize % ids.len()];
    match purpose {
        Purpose::Token => {
            let instance = INSTANCES[variant as usize % INSTANCES.len()];
            (200, json!({"access_token": issued, "instance_url": instance, "token_type": "Bearer"}).to_string())
        }
        Purpose::CreateRecord | Purpose::UpsertRecord => match variant % 4 {
            0 | 1 => (201, json!({"id": id, "success": true, "errors": []}).to_string()),
            2 => (200, json!({"id": id, "success": true, "errors": [], "created": false}).to_string()),
            _ => (204, String::new()),
        },
        Purpose::FindExisting => match variant % 2 {
            0 => (200, json!({"totalSize": 1, "done": true, "records": [{"Id": id}]}).to_string()),
            _ => (200, json!({"totalSize": 0, "done": true, "records": []}).to_string()),
        },
        Purpose::CheckExisting => match variant % 2 {
            0 => (200, json!({"Id": id}).to_string()),
            _ => (404, json!([{"errorCode": "ENTITY_IS_DELETED", "message": "entity is deleted"}]).to_string()),
        },
        _ => (200, "ok".to_string()),
    }
}

fn respond(answer: &Answer, purpose: Purpose, issued: &str) -> Input {
    let fill = |s: &str| s.replace("ISSUED", issued);
    let with_retry = |r: HttpResponse, ra: &Option<String>| match ra {
        Some(v) => r.with_header("Retry-After", v),
        None => r,
    };
    match answer {
        Answer::Ok { variant } => {
            let (status, body) = success_body(purpose, *variant, issued);
            Input::Response(HttpResponse::new(status, body))
        }
        Answer::Error { status, code, message, dup_id, retry_after } => {
            let body = if purpose == Purpose::Token {
                json!({"error": fill(code), "error_description": fill(message)}).to_string()
            } else if purpose == Purpose::NotifySlack {
                fill(code)
            } else {
                let mut e = json!({"errorCode": fill(code), "message": fill(message), "fields": [fill(message)]});
                if let Some(d) = dup_id {
                    let ids = ids();
                    e["duplicateResult"] =
                        json!({"matchResults": [{"matchRecords": [{"record": {"Id": ids[*d as usize % ids.len()]}}]}]});
                }
                json!([e]).to_string()
            };
            Input::Response(with_retry(HttpResponse::new(*status, body), retry_after))
        }
        Answer::Truncated { variant, cut } => {
            let (status, body) = success_body(purpose, *variant, issued);
            let cut = body.char_indices().map(|(i, _)| i).nth(*cut).unwrap_or(body.len());
            Input::Response(HttpResponse::new(status, &body[..cut]))
        }
        Answer::Raw { status, body, retry_after } => {
            Input::Response(with_retry(HttpResponse::new(*status, fill(body)), retry_after))
        }
        Answer::Network(msg) => Input::NetworkError(fill(msg)),
        Answer::Timeout => Input::TimedOut,
    }
}

/// A lookup answer the flow may read as "no such record": only then may a create be resent.
fn says_not_found(resp: &HttpResponse) -> bool {
    match resp.status {
        404 => true,
        200 => serde_json::from_str::<Value>(&resp.body)
            .map(|v| v.get("Id").or_else(|| v.pointer("/records/0/Id")).is_none())
            .unwrap_or(false),
        _ => resp.body.contains("ENTITY_IS_DELETED"),
    }
}

fn has_auth(req: &HttpRequest) -> bool {
    req.headers.iter().any(|(k, _)| k == "Authorization")
}

struct Run {
    steps: usize,
    outcome_json: String,
    plans: String,
    slack_bodies: Vec<String>,
    confirmed_id: Option<String>,
    status: Status,
    /// Responses to Salesforce record calls, with the purpose they answered.
    record_answers: Vec<HttpResponse>,
    issued: Vec<String>,
}

fn run(s: &Scenario) -> std::result::Result<Run, TestCaseError> {
    let config = match Config::parse(s.config.as_object().unwrap()) {
        Ok(c) => c,
        Err(e) => return Err(TestCaseError::fail(format!("generated config must parse: {e}"))),
    };
    let cached = s.cached.then(|| CachedToken {
        identity: cache_identity(&config),
        token: Secret::new(CACHED_TOKEN),
        instance_url: LOGIN.into(),
        obtained_at_ms: 1_000_000,
    });
    let event = HostEvent { profile: s.profile.clone(), signal: s.signal.clone() };
    let mut now: u64 = 1_000_000;
    let mut flow = FirstLoginFlow::new(config, event, cached, now, s.seed);
    let mut script = s.script.iter();
    let mut issued: Vec<String> = Vec::new();
    let mut plans = String::new();
    let mut slack_bodies = Vec::new();
    let mut record_answers = Vec::new();
    // A create whose fate is unknown: no second create until a lookup said "not found".
    let mut create_in_doubt = false;
    let mut step = flow.start();
    for steps in 1..=STEP_LIMIT {
        step = match step {
            Step::Done(outcome) => {
                return Ok(Run {
                    steps,
                    outcome_json: serde_json::to_string(&outcome).unwrap(),
                    plans,
                    slack_bodies,
                    confirmed_id: outcome.confirmed().then(|| outcome.lead_id.clone().unwrap_or_default()),
                    status: outcome.status,
                    record_answers,
                    issued,
                })
            }
            Step::Sleep { ms } => {
                now = now.saturating_add(ms);
                flow.resume(Input::Woke, now)
            }
            Step::Sign { .. } => {
                let input = if s.sign_ok {
                    Input::Signed(vec![7; 256])
                } else {
                    Input::SignFailed(format!("bad key {KEY_BODY}"))
                };
                flow.resume(input, now)
            }
            Step::Send { request, timeout_ms } => {
                prop_assert!(timeout_ms > 0);
                plans.push_str(&serde_json::to_string(&request).unwrap());
                if request.purpose == Purpose::NotifySlack {
                    slack_bodies.push(request.body.as_ref().map(|b| b.expose()).unwrap_or_default());
                }
                if has_auth(&request) {
                    let url = request.url.expose();
                    let allowed =
                        s.config.get("allowedInstanceHosts").is_some() && url.starts_with("https://evil.example.net/");
                    prop_assert!(allowed || TRUSTED.iter().any(|t| url.starts_with(t)), "token sent to {url}");
                }
                if request.purpose == Purpose::CreateRecord {
                    prop_assert!(!create_in_doubt, "a create was sent again before a lookup proved the first one lost");
                }
                let (advance, answer) = script.next().cloned().unwrap_or((timeout_ms as u32, Answer::Timeout));
                if request.purpose == Purpose::Token && matches!(answer, Answer::Ok { .. }) {
                    // Only a readable token answer hands a token over.
                    issued.push(format!("00Dfz!issued-{}", issued.len() + 1));
                }
                let held = match issued.last() {
                    Some(t) => t.clone(),
                    None if s.config["grant"] == "access_token" => BROKER_TOKEN.to_string(),
                    None if s.cached => CACHED_TOKEN.to_string(),
                    None => "no-token-yet".to_string(),
                };
                let input = respond(&answer, request.purpose, &held);
                match (&input, request.purpose) {
                    (Input::Response(r), Purpose::CreateRecord) => {
                        let id_ok = serde_json::from_str::<Value>(&r.body)
                            .ok()
                            .and_then(|v| v.get("id").and_then(Value::as_str).map(is_record_id))
                            .unwrap_or(false);
                        if (200..300).contains(&r.status) && !id_ok {
                            create_in_doubt = true;
                        }
                    }
                    (Input::NetworkError(_) | Input::TimedOut, Purpose::CreateRecord) => create_in_doubt = true,
                    (Input::Response(r), Purpose::FindExisting) if says_not_found(r) => create_in_doubt = false,
                    _ => {}
                }
                if let Input::Response(r) = &input {
                    if matches!(request.purpose, Purpose::CreateRecord | Purpose::UpsertRecord | Purpose::FindExisting)
                    {
                        record_answers.push(r.clone());
                    }
                }
                // An answer comes within the fetch's timeout; a time-out takes all of it.
                let waited =
                    if matches!(answer, Answer::Timeout) { timeout_ms } else { (advance as u64).min(timeout_ms) };
                now = now.saturating_add(waited);
                flow.resume(input, now)
            }
        };
    }
    Err(TestCaseError::fail(format!("the flow did not finish within {STEP_LIMIT} steps")))
}

/// Every secret of the run: the configured ones (the Slack URL only when configured) and every
/// access token handed to the flow.
fn secrets(config: &Value, issued: &[String]) -> Vec<String> {
    let mut s: Vec<String> =
        [CLIENT_SECRET, PASSWORD, REFRESH_TOKEN, BROKER_TOKEN, CACHED_TOKEN, KEY_BODY, WEBHOOK_SECRET]
            .iter()
            .map(|s| s.to_string())
            .collect();
    if config.get("slackWebhookUrl").is_some() {
        s.extend([SLACK_URL.to_string(), "fzSlackHookToken1".to_string()]);
    }
    s.push(form_encode(PASSWORD));
    s.extend(issued.iter().cloned());
    s
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_flow_survives_any_answers(s in scenario()) {
        let r = run(&s)?;
        prop_assert!(r.steps <= STEP_LIMIT);
        let before = MOST_STEPS.fetch_max(r.steps, Ordering::Relaxed);
        if r.steps > before && std::env::var_os("FUZZ_STATS").is_some() {
            eprintln!("new longest run: {} steps (maxRetries {})", r.steps, s.config["maxRetries"]);
        }

        // Confirmed only on an id Salesforce gave: a 2xx write/lookup answer, or a duplicate rule.
        if let Some(id) = &r.confirmed_id {
            prop_assert!(is_record_id(id), "confirmed with {id:?}");
            prop_assert!(
                r.record_answers.iter().any(|a| a.body.contains(id.as_str()) && ((200..300).contains(&a.status) || a.body.contains("DUPLICATES_DETECTED"))),
                "confirmed {id} that no 2xx answer or duplicate rule named"
            );
        }
        if r.status == Status::Created {
            prop_assert!(r.confirmed_id.is_some(), "created without an id");
        }

        // No secret in the outcome, in what the plan shows, or in any Slack message.
        for secret in secrets(&s.config, &r.issued) {
            prop_assert!(!r.outcome_json.contains(&secret), "outcome leaks {secret}: {}", r.outcome_json);
            prop_assert!(!r.plans.contains(&secret), "plan leaks {secret}: {}", r.plans);
            for body in &r.slack_bodies {
                prop_assert!(!body.contains(&secret), "Slack message leaks {secret}: {body}");
            }
        }
    }
}
