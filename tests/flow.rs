//! The first-login flow, driven in memory with scripted Salesforce and Slack answers: every branch
//! (expired session, duplicates, rate limits, network faults, deadlines) with the exact requests.
#![cfg(not(target_arch = "wasm32"))]

use serde_json::{json, Value};
use sf_lead_rule::core::config::Config;
use sf_lead_rule::core::error::ErrorCode;
use sf_lead_rule::core::flow::{CachedToken, FirstLoginFlow, Input, Outcome, Status, Step, TokenUpdate};
use sf_lead_rule::core::http::{HttpRequest, HttpResponse, Purpose};
use sf_lead_rule::core::profile::{FirstLoginSignal, HostEvent};
use sf_lead_rule::core::secret::Secret;

const LOGIN: &str = "https://acme.my.salesforce.com";
const SLACK: &str = "https://hooks.slack.com/services/T0/B0/slacksecret";

fn config(extra: Value) -> Config {
    let mut base = json!({
        "clientId": "cid", "clientSecret": "client-secret-1", "loginUrl": LOGIN, "slackWebhookUrl": SLACK,
    });
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    Config::parse(base.as_object().unwrap()).unwrap()
}

fn jane() -> HostEvent {
    HostEvent {
        profile: json!({"user_id": "auth0|42", "email": "jane@acme.com", "given_name": "Jane", "family_name": "Doe",
                        "name": "Jane Doe", "user_metadata": {"company": "Acme Corp"}}),
        signal: FirstLoginSignal::FirstLogin,
    }
}

fn token_ok() -> Input {
    Input::Response(HttpResponse::new(200, json!({"access_token": "00Dtok!fresh", "instance_url": LOGIN, "token_type": "Bearer", "id": "x", "issued_at": "1", "signature": "s"}).to_string()))
}
fn created(id: &str) -> Input {
    Input::Response(HttpResponse::new(201, json!({"id": id, "success": true, "errors": []}).to_string()))
}
fn sf_error(status: u16, code: &str, msg: &str) -> Input {
    Input::Response(HttpResponse::new(status, json!([{"message": msg, "errorCode": code}]).to_string()))
}
fn slack_ok() -> Input {
    Input::Response(HttpResponse::new(200, "ok"))
}

/// Run the flow, answering each step from `answers` in order; returns the requests and outcome.
fn drive(flow: &mut FirstLoginFlow, answers: Vec<Input>) -> (Vec<HttpRequest>, Vec<Step>, Outcome) {
    let mut now = 1_000_000;
    let mut answers = answers.into_iter();
    let mut requests = Vec::new();
    let mut others = Vec::new();
    let mut step = flow.start();
    loop {
        step = match step {
            Step::Done(o) => return (requests, others, *o),
            Step::Send { request, .. } => {
                requests.push(request);
                let a = answers.next().expect("flow sent more requests than the script answers");
                now += 10;
                flow.resume(a, now)
            }
            Step::Sleep { ms } => {
                others.push(Step::Sleep { ms });
                now += ms;
                flow.resume(Input::Woke, now)
            }
            Step::Sign { input, key } => {
                others.push(Step::Sign { input, key });
                flow.resume(Input::Signed(vec![1, 2, 3]), now)
            }
        };
    }
}

fn new_flow(config: Config, event: HostEvent, cached: Option<CachedToken>) -> FirstLoginFlow {
    FirstLoginFlow::new(config, event, cached, 1_000_000, 7)
}

fn purposes(reqs: &[HttpRequest]) -> Vec<Purpose> {
    reqs.iter().map(|r| r.purpose).collect()
}

fn all_text(reqs: &[HttpRequest], outcome: &Outcome) -> String {
    let mut s = serde_json::to_string(reqs).unwrap();
    s.push_str(&serde_json::to_string(outcome).unwrap());
    for r in reqs {
        if r.purpose == Purpose::NotifySlack {
            s.push_str(&r.body.as_ref().unwrap().expose());
        }
    }
    s
}

#[test]
fn first_login_sends_exactly_token_create_slack() {
    let mut flow = new_flow(config(json!({})), jane(), None);
    let (reqs, _, o) = drive(&mut flow, vec![token_ok(), created("00Q000000000001AAA"), slack_ok()]);
    assert_eq!(purposes(&reqs), [Purpose::Token, Purpose::CreateRecord, Purpose::NotifySlack]);
    assert_eq!(reqs[0].url.expose(), "https://acme.my.salesforce.com/services/oauth2/token");
    assert_eq!(
        reqs[0].body.as_ref().unwrap().expose(),
        "grant_type=client_credentials&client_id=cid&client_secret=client-secret-1"
    );
    assert_eq!(reqs[1].url.expose(), "https://acme.my.salesforce.com/services/data/v66.0/sobjects/Lead/");
    let plan = serde_json::to_value(&reqs[1]).unwrap();
    assert_eq!(
        plan["headers"],
        json!({"Authorization": "Bearer ***", "Accept": "application/json", "Content-Type": "application/json"})
    );
    assert_eq!(reqs[1].headers[0].1.expose(), "Bearer 00Dtok!fresh");
    assert_eq!(
        reqs[1].body.as_ref().unwrap().expose(),
        r#"{"FirstName":"Jane","LastName":"Doe","Email":"jane@acme.com","Company":"Acme Corp","LeadSource":"Web"}"#
    );
    assert_eq!(reqs[2].url.expose(), SLACK);
    assert_eq!(
        serde_json::from_str::<Value>(&reqs[2].body.as_ref().unwrap().expose()).unwrap(),
        json!({"text": "New Salesforce Lead: *Jane Doe* (jane@acme.com) from Acme Corp — <https://acme.my.salesforce.com/lightning/r/Lead/00Q000000000001AAA/view|open in Salesforce>"})
    );
    assert_eq!(o.status, Status::Created);
    assert_eq!(o.lead_id.as_deref(), Some("00Q000000000001AAA"));
    assert_eq!(
        o.record_url.as_deref(),
        Some("https://acme.my.salesforce.com/lightning/r/Lead/00Q000000000001AAA/view")
    );
    assert_eq!((o.slack.status, o.token, o.requests), ("sent", "new", 3));
    assert!(o.confirmed());
    match flow.token_update() {
        TokenUpdate::Store(t) => assert_eq!((t.token.expose(), t.instance_url.as_str()), ("00Dtok!fresh", LOGIN)),
        u => panic!("{u:?}"),
    }
    let text = all_text(&reqs[..2], &o);
    assert!(!text.contains("client-secret-1") && !text.contains("00Dtok!fresh") && !text.contains("slacksecret"));
}

fn cached() -> CachedToken {
    let c = config(json!({}));
    CachedToken {
        identity: sf_lead_rule::core::flow::cache_identity(&c),
        token: Secret::new("00Dtok!cached"),
        instance_url: LOGIN.into(),
        obtained_at_ms: 999_000,
    }
}

#[test]
fn warm_token_costs_one_salesforce_round_trip() {
    let mut flow = new_flow(config(json!({})), jane(), Some(cached()));
    let (reqs, _, o) = drive(&mut flow, vec![created("00Q000000000000001"), slack_ok()]);
    assert_eq!(purposes(&reqs), [Purpose::CreateRecord, Purpose::NotifySlack]);
    assert_eq!(reqs[0].headers[0].1.expose(), "Bearer 00Dtok!cached");
    assert_eq!((o.status, o.token, o.requests), (Status::Created, "cached", 2));
    assert_eq!(flow.token_update(), &TokenUpdate::Unchanged);
}

#[test]
fn stale_or_foreign_cached_token_is_not_used() {
    let mut old = cached();
    old.obtained_at_ms = 0; // older than tokenTtlMs
    let mut flow = new_flow(config(json!({"tokenTtlMs": 60_000})), jane(), Some(old));
    let (reqs, _, _) = drive(&mut flow, vec![token_ok(), created("00Q000000000000001"), slack_ok()]);
    assert_eq!(reqs[0].purpose, Purpose::Token);
    let mut foreign = cached();
    foreign.identity = "client_credentials:other@https://x".into();
    let mut flow = new_flow(config(json!({})), jane(), Some(foreign));
    let (reqs, _, _) = drive(&mut flow, vec![token_ok(), created("00Q000000000000001"), slack_ok()]);
    assert_eq!(reqs[0].purpose, Purpose::Token);
}

#[test]
fn already_recorded_user_is_skipped_without_any_request() {
    let mut e = jane();
    e.signal = FirstLoginSignal::AlreadyRecorded { lead_id: Some("00Q000000000000old".into()) };
    let mut flow = new_flow(config(json!({})), e, None);
    let (reqs, _, o) = drive(&mut flow, vec![]);
    assert!(reqs.is_empty());
    assert_eq!(o.status, Status::Skipped);
    assert!(!o.confirmed());
    let mut e = jane();
    e.signal = FirstLoginSignal::ReturningUser;
    let (reqs, _, o) = drive(&mut new_flow(config(json!({})), e, None), vec![]);
    assert_eq!((reqs.len(), o.status, o.reason.as_str()), (0, Status::Skipped, "not a first login"));
}

#[test]
fn wrong_credentials_fail_with_an_alert_and_no_secret() {
    let cfg = config(json!({"username": "u@acme.com", "password": "pass-word-9", "clientSecret": "client-secret-1"}));
    let mut flow = new_flow(cfg, jane(), None);
    let rejected = Input::Response(HttpResponse::new(
        400,
        r#"{"error":"invalid_grant","error_description":"authentication failure"}"#,
    ));
    let (reqs, _, o) = drive(&mut flow, vec![rejected, slack_ok()]);
    assert_eq!(purposes(&reqs), [Purpose::Token, Purpose::NotifySlack]);
    assert_eq!(
        reqs[0].body.as_ref().unwrap().masked(),
        "grant_type=password&client_id=cid&client_secret=***&username=u%40acme.com&password=***"
    );
    assert_eq!(o.status, Status::Failed);
    let e = o.error.clone().unwrap();
    assert_eq!(
        (e.code, e.remote_code.as_deref(), e.status),
        (ErrorCode::TokenRejected, Some("invalid_grant"), Some(400))
    );
    assert!(!o.confirmed());
    let alert: Value = serde_json::from_str::<Value>(&reqs[1].body.as_ref().unwrap().expose()).unwrap();
    assert_eq!(
        alert["text"],
        ":warning: Could not create the Salesforce Lead for jane@acme.com: TOKEN_REJECTED — Salesforce refused the token request (invalid_grant: authentication failure); orgs created since Summer '23 block the password grant: use client_credentials or jwt_bearer (Salesforce: invalid_grant). The user was not marked as recorded; the next login tries again."
    );
    let text = all_text(&reqs, &o);
    assert!(!text.contains("pass-word-9") && !text.contains("client-secret-1"));
}

#[test]
fn expired_session_gets_one_new_token_then_retries() {
    let mut flow = new_flow(config(json!({})), jane(), Some(cached()));
    let expired = sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid");
    let (reqs, _, o) = drive(&mut flow, vec![expired, token_ok(), created("00Q000000000000002"), slack_ok()]);
    assert_eq!(purposes(&reqs), [Purpose::CreateRecord, Purpose::Token, Purpose::CreateRecord, Purpose::NotifySlack]);
    assert_eq!(reqs[2].headers[0].1.expose(), "Bearer 00Dtok!fresh");
    assert_eq!((o.status, o.token), (Status::Created, "new"));
    assert!(matches!(flow.token_update(), TokenUpdate::Store(_)));
}

#[test]
fn session_rejected_twice_is_session_expired() {
    let mut flow = new_flow(config(json!({})), jane(), Some(cached()));
    let expired = || sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid");
    let (reqs, _, o) = drive(&mut flow, vec![expired(), token_ok(), expired(), slack_ok()]);
    assert_eq!(purposes(&reqs), [Purpose::CreateRecord, Purpose::Token, Purpose::CreateRecord, Purpose::NotifySlack]);
    assert_eq!(o.error.unwrap().code, ErrorCode::SessionExpired);
    assert_eq!(flow.token_update(), &TokenUpdate::Forget);
}

#[test]
fn server_unavailable_is_retried_with_backoff() {
    let mut flow = new_flow(config(json!({})), jane(), Some(cached()));
    let busy = sf_error(503, "SERVER_UNAVAILABLE", "Server is temporarily unavailable");
    let (reqs, sleeps, o) = drive(&mut flow, vec![busy, created("00Q000000000000003"), slack_ok()]);
    assert_eq!(purposes(&reqs), [Purpose::CreateRecord, Purpose::CreateRecord, Purpose::NotifySlack]);
    match &sleeps[..] {
        [Step::Sleep { ms }] => assert!((125..=250).contains(ms), "first backoff {ms}"),
        s => panic!("{s:?}"),
    }
    assert_eq!(o.status, Status::Created);
}

#[test]
fn retry_after_is_honoured_and_retries_are_bounded() {
    let mut flow = new_flow(config(json!({"maxRetries": 2})), jane(), Some(cached()));
    let throttled = || Input::Response(HttpResponse::new(429, "[]").with_header("Retry-After", "1"));
    let (reqs, sleeps, o) = drive(&mut flow, vec![throttled(), throttled(), throttled(), slack_ok()]);
    assert_eq!(sleeps, vec![Step::Sleep { ms: 1000 }, Step::Sleep { ms: 1000 }]);
    assert_eq!(
        purposes(&reqs),
        [Purpose::CreateRecord, Purpose::CreateRecord, Purpose::CreateRecord, Purpose::NotifySlack]
    );
    assert_eq!(o.error.unwrap().code, ErrorCode::SalesforceUnavailable);
}

#[test]
fn retry_after_beyond_the_deadline_gives_up_at_once() {
    let mut flow = new_flow(config(json!({"deadlineMs": 2000})), jane(), Some(cached()));
    let throttled = Input::Response(HttpResponse::new(503, "[]").with_header("Retry-After", "30"));
    let (reqs, sleeps, o) = drive(&mut flow, vec![throttled, slack_ok()]);
    assert!(sleeps.is_empty());
    assert_eq!(purposes(&reqs), [Purpose::CreateRecord, Purpose::NotifySlack]);
    assert!(o.error.unwrap().message.contains("does not fit in deadlineMs"));
}

#[test]
fn request_limit_exceeded_is_not_retried() {
    let mut flow = new_flow(config(json!({})), jane(), Some(cached()));
    let limit = sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.");
    let (reqs, sleeps, o) = drive(&mut flow, vec![limit, slack_ok()]);
    assert!(sleeps.is_empty());
    assert_eq!(purposes(&reqs), [Purpose::CreateRecord, Purpose::NotifySlack]);
    assert_eq!(o.error.unwrap().code, ErrorCode::RateLimited);
}

#[test]
fn duplicate_rule_marks_recorded_with_the_existing_id_and_no_alert() {
    let mut flow = new_flow(config(json!({})), jane(), Some(cached()));
    let dup = Input::Response(HttpResponse::new(400, json!([{"duplicateResult": {"matchResults": [{"matchRecords": [{"record": {"attributes": {"type": "Lead"}, "Id": "00Q0000000existing"}}]}]}, "errorCode": "DUPLICATES_DETECTED", "message": "You're creating a duplicate record."}]).to_string()));
    let (reqs, _, o) = drive(&mut flow, vec![dup]);
    assert_eq!(purposes(&reqs), [Purpose::CreateRecord]);
    assert_eq!((o.status, o.lead_id.as_deref()), (Status::Duplicate, Some("00Q0000000existing")));
    assert!(o.confirmed());
    assert_eq!(o.slack.status, "not_needed");
}

#[test]
fn lost_create_is_looked_up_before_it_is_sent_again() {
    // The POST may have landed: the flow asks Salesforce by email instead of posting blind.
    let mut flow = new_flow(config(json!({})), jane(), Some(cached()));
    let found = Input::Response(HttpResponse::new(
        200,
        r#"{"totalSize":1,"done":true,"records":[{"Id":"00Q000000000landed"}]}"#,
    ));
    let (reqs, _, o) = drive(&mut flow, vec![Input::TimedOut, found, slack_ok()]);
    assert_eq!(purposes(&reqs), [Purpose::CreateRecord, Purpose::FindExisting, Purpose::NotifySlack]);
    assert_eq!(
        reqs[1].url.expose(),
        "https://acme.my.salesforce.com/services/data/v66.0/query?q=SELECT%20Id%2C%20CreatedDate%20FROM%20Lead%20WHERE%20Email%20%3D%20%27jane%40acme.com%27%20ORDER%20BY%20CreatedDate%20DESC%20LIMIT%201"
    );
    assert_eq!((o.status, o.lead_id.as_deref()), (Status::Created, Some("00Q000000000landed")));

    let mut flow = new_flow(config(json!({})), jane(), Some(cached()));
    let none = Input::Response(HttpResponse::new(200, r#"{"totalSize":0,"done":true,"records":[]}"#));
    let (reqs, _, o) = drive(
        &mut flow,
        vec![Input::NetworkError("fetch failed (ECONNRESET)".into()), none, created("00Q000000000000004"), slack_ok()],
    );
    assert_eq!(
        purposes(&reqs),
        [Purpose::CreateRecord, Purpose::FindExisting, Purpose::CreateRecord, Purpose::NotifySlack]
    );
    assert_eq!(o.lead_id.as_deref(), Some("00Q000000000000004"));
}

#[test]
fn a_record_older_than_the_login_is_not_taken_for_the_lost_create() {
    // The flow starts at 1,000,000 ms (1970-01-01T00:16:40Z); Salesforce's clock may be up to
    // two minutes behind.
    let found = |created: &str| {
        Input::Response(HttpResponse::new(
            200,
            json!({"totalSize": 1, "done": true, "records": [{"Id": "00Q000000000landed", "CreatedDate": created}]})
                .to_string(),
        ))
    };
    // Older: another Lead with this email was already there, so the create most likely did not
    // land. The user is recorded with that Lead, as a duplicate, and Slack is not told of a new one.
    let mut flow = new_flow(config(json!({})), jane(), Some(cached()));
    let (reqs, _, o) = drive(&mut flow, vec![Input::TimedOut, found("1970-01-01T00:10:00.000+0000")]);
    assert_eq!(purposes(&reqs), [Purpose::CreateRecord, Purpose::FindExisting]);
    assert_eq!((o.status, o.lead_id.as_deref()), (Status::Duplicate, Some("00Q000000000landed")));
    assert_eq!(o.reason, "not created: a record with this email already existed (the create's answer was lost)");
    assert!(o.confirmed());
    assert_eq!(o.slack.status, "not_needed");
    // Within the clock allowance (or later): the create landed.
    for created in ["1970-01-01T00:14:41.000+0000", "1970-01-01T00:16:41.000+0000"] {
        let mut flow = new_flow(config(json!({})), jane(), Some(cached()));
        let (reqs, _, o) = drive(&mut flow, vec![Input::TimedOut, found(created), slack_ok()]);
        assert_eq!(purposes(&reqs), [Purpose::CreateRecord, Purpose::FindExisting, Purpose::NotifySlack]);
        assert_eq!((o.status, o.lead_id.as_deref()), (Status::Created, Some("00Q000000000landed")), "{created}");
    }
}

#[test]
fn lost_create_without_email_is_not_sent_twice() {
    let e = HostEvent { profile: json!({"user_id": "auth0|1", "name": "Solo"}), signal: FirstLoginSignal::FirstLogin };
    let mut flow = new_flow(config(json!({})), e, Some(cached()));
    let (reqs, _, o) = drive(&mut flow, vec![Input::TimedOut, slack_ok()]);
    assert_eq!(purposes(&reqs), [Purpose::CreateRecord, Purpose::NotifySlack]);
    let err = o.error.unwrap();
    assert_eq!(err.code, ErrorCode::NetworkError);
    assert!(err.message.contains("may or may not have been created"));
}

#[test]
fn upsert_by_external_id_is_retried_safely() {
    let mut flow = new_flow(config(json!({"externalIdField": "Auth0_User_Id__c"})), jane(), Some(cached()));
    let upserted = Input::Response(HttpResponse::new(
        201,
        r#"{"id":"00Q000000000000005","success":true,"errors":[],"created":true}"#,
    ));
    let (reqs, _, o) = drive(&mut flow, vec![Input::TimedOut, upserted, slack_ok()]);
    assert_eq!(purposes(&reqs), [Purpose::UpsertRecord, Purpose::UpsertRecord, Purpose::NotifySlack]);
    assert_eq!(reqs[0].method, "PATCH");
    assert_eq!(
        reqs[0].url.expose(),
        "https://acme.my.salesforce.com/services/data/v66.0/sobjects/Lead/Auth0_User_Id__c/auth0%7C42"
    );
    assert_eq!(o.lead_id.as_deref(), Some("00Q000000000000005"));
    // An upsert that matched an existing record is a duplicate, not a new Lead.
    let mut flow = new_flow(config(json!({"externalIdField": "Auth0_User_Id__c"})), jane(), Some(cached()));
    let updated = Input::Response(HttpResponse::new(
        200,
        r#"{"id":"00Q000000000000006","success":true,"errors":[],"created":false}"#,
    ));
    let (_, _, o) = drive(&mut flow, vec![updated]);
    assert_eq!((o.status, o.lead_id.as_deref()), (Status::Duplicate, Some("00Q000000000000006")));
}

#[test]
fn slack_failure_never_changes_the_record_outcome() {
    let mut flow = new_flow(config(json!({})), jane(), Some(cached()));
    let (_, _, o) =
        drive(&mut flow, vec![created("00Q000000000000007"), Input::Response(HttpResponse::new(404, "no_service"))]);
    assert_eq!(o.status, Status::Created);
    assert_eq!(o.slack.status, "failed");
    assert_eq!(o.slack.error.as_ref().unwrap().remote_code.as_deref(), Some("no_service"));
    let mut flow = new_flow(config(json!({})), jane(), Some(cached()));
    let (reqs, _, o) =
        drive(&mut flow, vec![created("00Q000000000000008"), Input::NetworkError("refused".into()), slack_ok()]);
    assert_eq!(reqs.len(), 3);
    assert_eq!((o.status, o.slack.status), (Status::Created, "sent"));
}

#[test]
fn missing_required_field_fails_before_salesforce() {
    let cfg = config(json!({"mapping": {"LastName": "family_name", "Company": "user_metadata.nothing"}}));
    let mut flow = new_flow(cfg, jane(), None);
    let (reqs, _, o) = drive(&mut flow, vec![slack_ok()]);
    assert_eq!(purposes(&reqs), [Purpose::NotifySlack]);
    let e = o.error.unwrap();
    assert_eq!((e.code, e.field.as_deref()), (ErrorCode::MissingRequiredField, Some("Company")));
}

#[test]
fn jwt_bearer_signs_then_posts_the_assertion() {
    let key = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----";
    let cfg = config(json!({"privateKey": key, "username": "int@acme.com"}));
    let mut flow = new_flow(cfg, jane(), None);
    let (reqs, others, o) = drive(&mut flow, vec![token_ok(), created("00Q000000000000009"), slack_ok()]);
    let Step::Sign { input, .. } = &others[0] else { panic!() };
    let claims = input.split('.').nth(1).unwrap();
    let claims = base64::Engine::decode(&base64::prelude::BASE64_URL_SAFE_NO_PAD, claims).unwrap();
    let claims: Value = serde_json::from_slice(&claims).unwrap();
    assert_eq!(
        claims,
        json!({"iss": "cid", "sub": "int@acme.com", "aud": "https://login.salesforce.com", "exp": 1_000 + 180})
    );
    let body = reqs[0].body.as_ref().unwrap();
    assert_eq!(
        body.expose(),
        format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={input}.AQID")
    );
    assert_eq!(body.masked(), "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=***");
    assert_eq!(o.status, Status::Created);
}

#[test]
fn dedupe_by_email_finds_the_existing_record() {
    let mut flow = new_flow(config(json!({"dedupeByEmail": true})), jane(), Some(cached()));
    let found = Input::Response(HttpResponse::new(
        200,
        r#"{"totalSize":1,"done":true,"records":[{"Id":"00Q00000000000seen"}]}"#,
    ));
    let (reqs, _, o) = drive(&mut flow, vec![found]);
    assert_eq!(purposes(&reqs), [Purpose::FindExisting]);
    assert_eq!((o.status, o.lead_id.as_deref()), (Status::Duplicate, Some("00Q00000000000seen")));
}

#[test]
fn deleted_record_is_recreated_when_configured() {
    let mut e = jane();
    e.signal = FirstLoginSignal::AlreadyRecorded { lead_id: Some("00Q00000000000gone".into()) };
    let mut flow = new_flow(config(json!({"recreateDeleted": true})), e.clone(), Some(cached()));
    let deleted = sf_error(404, "ENTITY_IS_DELETED", "entity is deleted");
    let (reqs, _, o) = drive(&mut flow, vec![deleted, created("00Q000000000000new"), slack_ok()]);
    assert_eq!(purposes(&reqs), [Purpose::CheckExisting, Purpose::CreateRecord, Purpose::NotifySlack]);
    assert_eq!(
        reqs[0].url.expose(),
        "https://acme.my.salesforce.com/services/data/v66.0/sobjects/Lead/00Q00000000000gone?fields=Id"
    );
    assert_eq!(o.lead_id.as_deref(), Some("00Q000000000000new"));
    let mut flow = new_flow(config(json!({"recreateDeleted": true})), e, Some(cached()));
    let exists = Input::Response(HttpResponse::new(200, r#"{"Id":"00Q00000000000gone"}"#));
    let (_, _, o) = drive(&mut flow, vec![exists]);
    assert_eq!(o.status, Status::Skipped);
}

#[test]
fn token_for_a_foreign_instance_is_never_used() {
    let mut flow = new_flow(config(json!({})), jane(), None);
    let evil = Input::Response(HttpResponse::new(
        200,
        r#"{"access_token":"00Dtok!x","instance_url":"https://attacker.example.com"}"#,
    ));
    let (reqs, _, o) = drive(&mut flow, vec![evil, slack_ok()]);
    assert_eq!(purposes(&reqs), [Purpose::Token, Purpose::NotifySlack]);
    assert_eq!(o.error.unwrap().code, ErrorCode::InstanceUrlNotAllowed);
    assert_eq!(flow.token_update(), &TokenUpdate::Unchanged);
}

#[test]
fn pre_issued_access_token_is_used_as_is_and_never_refreshed() {
    let cfg = config(json!({"accessToken": "00Dbroker!tok", "instanceUrl": LOGIN}));
    let mut flow = new_flow(cfg, jane(), None);
    let (reqs, _, o) =
        drive(&mut flow, vec![sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid"), slack_ok()]);
    assert_eq!(purposes(&reqs), [Purpose::CreateRecord, Purpose::NotifySlack]);
    assert_eq!(reqs[0].headers[0].1.expose(), "Bearer 00Dbroker!tok");
    assert_eq!((o.error.unwrap().code, o.token), (ErrorCode::SessionExpired, "config"));
}

#[test]
fn every_fetch_gets_a_timeout_within_the_deadline() {
    let mut flow =
        new_flow(config(json!({"deadlineMs": 1000, "requestTimeoutMs": 3000, "slackWebhookUrl": null})), jane(), None);
    match flow.start() {
        Step::Send { timeout_ms, .. } => assert_eq!(timeout_ms, 1000),
        s => panic!("{s:?}"),
    }
    // With Slack configured, Salesforce gets the deadline minus a fifth kept for the alert.
    let mut flow = new_flow(config(json!({"deadlineMs": 1000, "requestTimeoutMs": 3000})), jane(), None);
    match flow.start() {
        Step::Send { timeout_ms, .. } => assert_eq!(timeout_ms, 800),
        s => panic!("{s:?}"),
    }
    // Past the deadline nothing more is sent for Salesforce.
    match flow.resume(Input::TimedOut, 1_000_000 + 1000) {
        Step::Send { request, .. } => assert_eq!(request.purpose, Purpose::NotifySlack),
        Step::Done(o) => assert_eq!(o.status, Status::Failed),
        s => panic!("{s:?}"),
    }
}

// ---- regressions found by the end-to-end fault tests (tests/node/faults.test.mjs) ----------

#[test]
fn http_429_is_retried_even_when_its_body_says_request_limit_exceeded() {
    // Salesforce's 429 (and the emulator's) carries errorCode REQUEST_LIMIT_EXCEEDED plus a
    // Retry-After: that is "slow down", not the org's daily limit (403), so it is retried.
    let mut flow = new_flow(config(json!({})), jane(), Some(cached()));
    let throttled = Input::Response(
        HttpResponse::new(
            429,
            json!([{"message": "Too many requests.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]).to_string(),
        )
        .with_header("Retry-After", "1"),
    );
    let (reqs, sleeps, o) = drive(&mut flow, vec![throttled, created("00Q000000000000429"), slack_ok()]);
    assert_eq!(sleeps, vec![Step::Sleep { ms: 1000 }]);
    assert_eq!(purposes(&reqs), [Purpose::CreateRecord, Purpose::CreateRecord, Purpose::NotifySlack]);
    assert_eq!((o.status, o.lead_id.as_deref()), (Status::Created, Some("00Q000000000000429")));
}

#[test]
fn token_endpoint_429_and_unreadable_answers_are_retried() {
    let mut flow = new_flow(config(json!({})), jane(), None);
    let throttled = Input::Response(HttpResponse::new(429, "").with_header("Retry-After", "0"));
    let (reqs, sleeps, o) = drive(&mut flow, vec![throttled, token_ok(), created("00Q000000000000001"), slack_ok()]);
    assert_eq!(sleeps, vec![Step::Sleep { ms: 0 }]);
    assert_eq!(purposes(&reqs), [Purpose::Token, Purpose::Token, Purpose::CreateRecord, Purpose::NotifySlack]);
    assert_eq!(o.status, Status::Created);

    let mut flow = new_flow(config(json!({})), jane(), None);
    let garbled = Input::Response(HttpResponse::new(200, "{not json"));
    let (reqs, _, o) = drive(&mut flow, vec![garbled, token_ok(), created("00Q000000000000001"), slack_ok()]);
    assert_eq!(purposes(&reqs), [Purpose::Token, Purpose::Token, Purpose::CreateRecord, Purpose::NotifySlack]);
    assert_eq!(o.status, Status::Created);

    // Refused credentials are final: not retried.
    let mut flow = new_flow(config(json!({})), jane(), None);
    let refused = Input::Response(HttpResponse::new(
        400,
        r#"{"error":"invalid_client","error_description":"invalid client credentials"}"#,
    ));
    let (reqs, sleeps, o) = drive(&mut flow, vec![refused, slack_ok()]);
    assert!(sleeps.is_empty());
    assert_eq!(purposes(&reqs), [Purpose::Token, Purpose::NotifySlack]);
    assert_eq!(o.error.unwrap().code, ErrorCode::TokenRejected);
}

#[test]
fn a_secret_slack_echoes_is_masked_before_the_answer_is_shortened() {
    // The client secret starts at character 52 of the answer; the answer is kept to 60 characters.
    let mut flow = new_flow(config(json!({})), jane(), Some(cached()));
    let body = format!("{}client-secret-1 and more", "e".repeat(52));
    let (_, _, o) =
        drive(&mut flow, vec![created("00Q000000000000007"), Input::Response(HttpResponse::new(400, body))]);
    assert_eq!((o.status, o.slack.status), (Status::Created, "failed"));
    let e = o.slack.error.unwrap();
    let word = format!("{}***and", "e".repeat(52));
    assert_eq!(e.remote_code.as_deref(), Some(word.as_str()));
    assert_eq!(e.message, format!("Slack refused the message (HTTP 400: {word})"));
    assert!(!e.message.contains("client") && !e.message.contains("secret"), "{}", e.message);
}

#[test]
fn slack_transport_failures_are_reported_as_slack_failed() {
    let mut flow = new_flow(config(json!({"maxRetries": 1})), jane(), Some(cached()));
    let (_, _, o) = drive(
        &mut flow,
        vec![created("00Q000000000000007"), Input::NetworkError("fetch failed (ECONNRESET)".into()), Input::TimedOut],
    );
    assert_eq!((o.status, o.slack.status), (Status::Created, "failed"));
    let e = o.slack.error.unwrap();
    assert_eq!(e.code, ErrorCode::SlackFailed);
    assert!(e.message.contains("Slack did not answer in time"), "{}", e.message);
}

#[test]
fn a_new_session_during_the_verifying_lookup_never_resends_the_create_blind() {
    // The create's fate is unknown; the lookup that would tell hits an expired session. After the
    // new token the flow must finish the lookup, not post the create again (a second Lead).
    let mut flow = new_flow(config(json!({})), jane(), Some(cached()));
    let expired = sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid");
    let found = Input::Response(HttpResponse::new(
        200,
        r#"{"totalSize":1,"done":true,"records":[{"Id":"00Q000000000landed"}]}"#,
    ));
    let (reqs, _, o) = drive(&mut flow, vec![Input::TimedOut, expired, token_ok(), found, slack_ok()]);
    assert_eq!(
        purposes(&reqs),
        [Purpose::CreateRecord, Purpose::FindExisting, Purpose::Token, Purpose::FindExisting, Purpose::NotifySlack]
    );
    assert_eq!((o.status, o.lead_id.as_deref()), (Status::Created, Some("00Q000000000landed")));

    // Same when the stored-record check is interrupted: it is asked again, then the create follows.
    let mut e = jane();
    e.signal = FirstLoginSignal::AlreadyRecorded { lead_id: Some("00Q00000000000gone".into()) };
    let mut flow = new_flow(config(json!({"recreateDeleted": true})), e, Some(cached()));
    let gone = sf_error(404, "ENTITY_IS_DELETED", "entity is deleted");
    let expired = sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid");
    let (reqs, _, _) = drive(&mut flow, vec![expired, token_ok(), gone, created("00Q000000000000new"), slack_ok()]);
    assert_eq!(
        purposes(&reqs),
        [Purpose::CheckExisting, Purpose::Token, Purpose::CheckExisting, Purpose::CreateRecord, Purpose::NotifySlack]
    );
}

#[test]
fn a_hanging_salesforce_leaves_time_for_the_alert() {
    // Every Salesforce call times out: the alert still gets its slice of the deadline.
    let cfg = config(json!({"deadlineMs": 1500, "requestTimeoutMs": 300, "maxRetries": 5}));
    let mut flow = new_flow(cfg, jane(), None);
    let mut now = 1_000_000;
    let mut step = flow.start();
    let slack_timeout = loop {
        step = match step {
            Step::Send { request, timeout_ms } if request.purpose == Purpose::NotifySlack => break timeout_ms,
            Step::Send { timeout_ms, .. } => {
                now += timeout_ms;
                assert!(now <= 1_000_000 + 1200, "Salesforce ran into the alert's reserve at {now}");
                flow.resume(Input::TimedOut, now)
            }
            Step::Sleep { ms } => {
                now += ms;
                flow.resume(Input::Woke, now)
            }
            s => panic!("{s:?}"),
        };
    };
    assert!(slack_timeout >= 300, "Slack got {slack_timeout} ms");
}

#[test]
fn a_create_the_lookup_proved_lost_is_resent_without_a_second_pause() {
    let mut flow = new_flow(config(json!({})), jane(), Some(cached()));
    let none = Input::Response(HttpResponse::new(200, r#"{"totalSize":0,"done":true,"records":[]}"#));
    let (reqs, pauses, o) = drive(&mut flow, vec![Input::TimedOut, none, created("00Q000000000000004"), slack_ok()]);
    assert_eq!(
        purposes(&reqs),
        [Purpose::CreateRecord, Purpose::FindExisting, Purpose::CreateRecord, Purpose::NotifySlack]
    );
    assert_eq!(pauses.len(), 1, "one backoff, before the lookup: {pauses:?}");
    assert_eq!(o.status, Status::Created);
}

#[test]
fn answers_that_echo_secrets_never_put_them_in_the_outcome_or_the_alert() {
    // A misbehaving endpoint (a proxy, a fake login URL) echoes what it was sent: in error codes,
    // messages, fields and even in the "id". None of it may reach the outcome or Slack.
    let cfg = config(json!({"username": "u@acme.com", "password": "pass-word-9"}));
    let mut flow = new_flow(cfg.clone(), jane(), None);
    let echo = json!({"error": "client-secret-1", "error_description": "pass-word-9 slacksecret"}).to_string();
    let (reqs, _, o) = drive(&mut flow, vec![Input::Response(HttpResponse::new(400, echo)), slack_ok()]);
    let e = o.error.clone().unwrap();
    assert_eq!((e.code, e.remote_code.as_deref()), (ErrorCode::TokenRejected, Some("***")));
    let text = all_text(&reqs, &o);
    assert!(
        !text.contains("client-secret-1") && !text.contains("pass-word-9") && !text.contains("slacksecret"),
        "{text}"
    );

    let mut flow = new_flow(config(json!({})), jane(), None);
    let bearer = "Bearer 00Dtok!fresh";
    let answers = vec![
        token_ok(),
        Input::Response(HttpResponse::new(201, json!({"id": bearer}).to_string())), // not a record id: fate unknown
        Input::Response(HttpResponse::new(200, json!({"records": [{"Id": "00Dtok!fresh"}]}).to_string())),
        Input::Response(HttpResponse::new(404, "no_service slacksecret")),
    ];
    let (reqs, _, o) = drive(&mut flow, answers);
    assert_eq!(purposes(&reqs), [Purpose::Token, Purpose::CreateRecord, Purpose::FindExisting, Purpose::NotifySlack]);
    assert_eq!((o.status, o.lead_id.as_deref()), (Status::Failed, None));
    let text = all_text(&reqs, &o);
    assert!(!text.contains("00Dtok!fresh") && !text.contains("slacksecret"), "{text}");

    // An error message that quotes the access token in use.
    let mut flow = new_flow(config(json!({})), jane(), None);
    let answers = vec![token_ok(), sf_error(400, "INVALID_FIELD", "bad value near 00Dtok!fresh"), slack_ok()];
    let (reqs, _, o) = drive(&mut flow, answers);
    assert_eq!(purposes(&reqs), [Purpose::Token, Purpose::CreateRecord, Purpose::NotifySlack]);
    assert_eq!(o.error.as_ref().unwrap().message, "Salesforce refused the Lead: bad value near ***");
    let text = all_text(&reqs, &o);
    assert!(!text.contains("00Dtok!fresh") && !text.contains("slacksecret"), "{text}");
}

#[test]
fn a_stored_id_that_is_not_a_record_id_is_never_looked_up() {
    let mut e = jane();
    e.signal = FirstLoginSignal::AlreadyRecorded { lead_id: Some("../../query?q=x".into()) };
    let (reqs, _, o) = drive(&mut new_flow(config(json!({"recreateDeleted": true})), e, Some(cached())), vec![]);
    assert!(reqs.is_empty());
    assert_eq!(o.status, Status::Skipped);
}

#[test]
fn an_empty_success_to_the_verifying_lookup_is_not_read_as_not_found() {
    // Fuzz regression: a 204 to the lookup after a lost create once counted as "no such record",
    // and the create was sent a second time.
    let mut flow = new_flow(config(json!({"maxRetries": 2})), jane(), Some(cached()));
    let (reqs, _, o) = drive(
        &mut flow,
        vec![Input::NetworkError("reset".into()), Input::Response(HttpResponse::new(204, "")), slack_ok()],
    );
    assert_eq!(purposes(&reqs), [Purpose::CreateRecord, Purpose::FindExisting, Purpose::NotifySlack]);
    assert_eq!(o.error.unwrap().code, ErrorCode::ResponseInvalid);
}

#[test]
fn any_success_status_without_an_id_leaves_the_create_in_doubt() {
    // Fuzz regression: a 202 whose body read like INVALID_SESSION_ID made the flow post again.
    let mut flow = new_flow(config(json!({})), jane(), Some(cached()));
    let odd = Input::Response(HttpResponse::new(
        202,
        json!([{"errorCode": "INVALID_SESSION_ID", "message": "?"}]).to_string(),
    ));
    let found = Input::Response(HttpResponse::new(
        200,
        r#"{"totalSize":1,"done":true,"records":[{"Id":"00Q000000000landed"}]}"#,
    ));
    let (reqs, _, o) = drive(&mut flow, vec![odd, found, slack_ok()]);
    assert_eq!(purposes(&reqs), [Purpose::CreateRecord, Purpose::FindExisting, Purpose::NotifySlack]);
    assert_eq!(o.lead_id.as_deref(), Some("00Q000000000landed"));
}
