//! Volume mode in memory: several first-login flows whose creates share one sObject Collections
//! request (`core::volume`), and whose email lookups one query, each reading its own result, and
//! the fallbacks when the batch as a whole fails.
#![cfg(not(target_arch = "wasm32"))]

use serde_json::{json, Value};
use sf_lead_rule::core::config::Config;
use sf_lead_rule::core::error::ErrorCode;
use sf_lead_rule::core::flow::{cache_identity, CachedToken, FirstLoginFlow, Input, Status, Step};
use sf_lead_rule::core::http::{HttpRequest, HttpResponse, Purpose};
use sf_lead_rule::core::profile::{FirstLoginSignal, HostEvent};
use sf_lead_rule::core::secret::Secret;
use sf_lead_rule::core::volume::{self, BatchAnswer};

const LOGIN: &str = "https://acme.my.salesforce.com";
const NOW: u64 = 1_000_000;

fn config() -> Config {
    let v = json!({"clientId": "cid", "clientSecret": "s", "loginUrl": LOGIN, "batchWindowMs": 1000});
    Config::parse(v.as_object().unwrap()).unwrap()
}

fn person(i: usize) -> HostEvent {
    HostEvent {
        profile: json!({"user_id": format!("u{i}"), "email": format!("p{i}@acme.com"), "family_name": if i == 1 { "TOOLONG" } else { "Doe" }}),
        signal: FirstLoginSignal::FirstLogin,
    }
}

/// `n` flows with a warm token under `c`, each run to its first request, which must be `purpose`.
fn flows_at(c: Config, n: usize, purpose: Purpose) -> (Vec<FirstLoginFlow>, Vec<HttpRequest>) {
    let cached = CachedToken {
        identity: cache_identity(&c),
        token: Secret::new("00Dtok!warm"),
        instance_url: LOGIN.into(),
        obtained_at_ms: NOW,
    };
    let mut flows: Vec<FirstLoginFlow> =
        (0..n).map(|i| FirstLoginFlow::new(c.clone(), person(i), Some(cached.clone()), NOW, 7)).collect();
    let requests = flows
        .iter_mut()
        .map(|f| match f.start() {
            Step::Send { request, .. } if request.purpose == purpose => request,
            other => panic!("{other:?}"),
        })
        .collect();
    (flows, requests)
}

/// `n` flows with a warm token, each run to its create.
fn flows_at_create(n: usize) -> (Vec<FirstLoginFlow>, Vec<HttpRequest>) {
    flows_at(config(), n, Purpose::CreateRecord)
}

/// `n` flows that look their email up first (webhook hosts' default), each run to its lookup.
fn flows_at_lookup(n: usize) -> (Vec<FirstLoginFlow>, Vec<HttpRequest>) {
    let mut v = json!({"clientId": "cid", "clientSecret": "s", "loginUrl": LOGIN, "batchWindowMs": 1000, "dedupeByEmail": true});
    flows_at(Config::parse(v.as_object_mut().unwrap()).unwrap(), n, Purpose::FindExisting)
}

/// Feed each flow its share of a refused batch (a 401): each asks for a token, gets a new one and
/// sends its request again, which is returned.
fn renewed(flows: &mut [FirstLoginFlow], each: Vec<Input>) -> Vec<HttpRequest> {
    let token = resp(200, json!({"access_token": "00Dtok!new", "instance_url": LOGIN}));
    let mut again = Vec::new();
    for (f, input) in flows.iter_mut().zip(each) {
        match f.resume(input, NOW + 1_200) {
            Step::Send { request, .. } => assert_eq!(request.purpose, Purpose::Token),
            other => panic!("{other:?}"),
        }
        match f.resume(token.clone(), NOW + 1_300) {
            Step::Send { request, .. } => again.push(request),
            other => panic!("{other:?}"),
        }
    }
    again
}

fn resp(status: u16, body: Value) -> Input {
    Input::Response(HttpResponse::new(status, body.to_string()))
}

#[test]
fn three_logins_one_collection_request_each_its_own_outcome() {
    let (mut flows, creates) = flows_at_create(3);
    assert!(creates.iter().all(volume::batchable));
    let batch = volume::collection_request(&creates.iter().collect::<Vec<_>>()).unwrap();
    assert_eq!(batch.url.expose(), format!("{LOGIN}/services/data/v66.0/composite/sobjects"));
    let body: Value = serde_json::from_str(&batch.body.as_ref().unwrap().expose()).unwrap();
    let emails: Vec<_> = body["records"].as_array().unwrap().iter().map(|r| r["Email"].as_str().unwrap()).collect();
    assert_eq!(emails, ["p0@acme.com", "p1@acme.com", "p2@acme.com"]);
    assert_eq!(body["allOrNone"], false);

    let answer = resp(
        200,
        json!([
            {"id": "00Q5e0000000000001", "success": true, "errors": []},
            {"success": false, "errors": [{"statusCode": "STRING_TOO_LONG", "message": "Last Name: data value too large", "fields": ["LastName"]}]},
            {"success": false, "errors": [{"statusCode": "DUPLICATES_DETECTED", "message": "Use one of these records?", "fields": [],
                "duplicateResult": {"matchResults": [{"matchRecords": [{"record": {"Id": "00Q5e0000000000009"}}]}]}}]}
        ]),
    );
    let BatchAnswer::PerRecord(each) = volume::split_answer(&answer, 3) else { panic!("per record") };
    let outcomes: Vec<_> = flows
        .iter_mut()
        .zip(each)
        .map(|(f, input)| match f.resume(input, NOW + 1_100) {
            Step::Done(o) => *o,
            other => panic!("no Slack configured, so done: {other:?}"),
        })
        .collect();
    assert_eq!((outcomes[0].status, outcomes[0].lead_id.as_deref()), (Status::Created, Some("00Q5e0000000000001")));
    assert_eq!(outcomes[1].status, Status::Failed);
    let e = outcomes[1].error.as_ref().unwrap();
    assert_eq!(
        (e.code, e.remote_code.as_deref(), e.field.as_deref()),
        (ErrorCode::SalesforceRejected, Some("STRING_TOO_LONG"), Some("LastName"))
    );
    assert_eq!((outcomes[2].status, outcomes[2].lead_id.as_deref()), (Status::Duplicate, Some("00Q5e0000000000009")));
    assert!(outcomes[0].confirmed() && !outcomes[1].confirmed());
}

#[test]
fn a_lost_batch_answer_makes_each_flow_look_its_record_up_before_sending_again() {
    let (mut flows, _) = flows_at_create(2);
    let BatchAnswer::PerRecord(each) = volume::split_answer(&Input::TimedOut, 2) else { panic!() };
    each_looks_its_record_up(&mut flows, each, "lost answer");
}

/// Feed each flow its share of a batch answer that says nothing reliable per record: each must
/// look its own record up (alone, never batched) before sending anything again.
fn each_looks_its_record_up(flows: &mut [FirstLoginFlow], each: Vec<Input>, case: &str) {
    assert_eq!(each.len(), flows.len(), "{case}: one input per flow, or the loop below checks nothing");
    for (i, (f, input)) in flows.iter_mut().zip(each).enumerate() {
        let mut step = f.resume(input, NOW + 1_500);
        if let Step::Sleep { ms } = step {
            step = f.resume(Input::Woke, NOW + 1_500 + ms);
        }
        match step {
            Step::Send { request, .. } => {
                assert_eq!(request.purpose, Purpose::FindExisting, "{case}: never a blind resend");
                assert_eq!(volume::kind(&request), None, "{case}: the lookup after a lost create goes alone");
                assert!(request.url.expose().contains(&format!("p{i}%40acme.com")), "{}", request.url.expose());
            }
            other => panic!("{case}: {other:?}"),
        }
    }
}

#[test]
fn a_batch_answer_with_a_result_count_unlike_its_records_makes_each_flow_look_up_never_resend() {
    // 200 with fewer (or more) results than records: which record each belongs to is unknown,
    // but records may have been made: every flow looks its own up before sending anything again.
    for results in [1, 3] {
        let (mut flows, _) = flows_at_create(2);
        let items: Vec<Value> = (0..results)
            .map(|i| json!({"id": format!("00Q5e000000000000{i}"), "success": true, "errors": []}))
            .collect();
        let BatchAnswer::PerRecord(each) = volume::split_answer(&resp(200, Value::Array(items)), 2) else { panic!() };
        each_looks_its_record_up(&mut flows, each, &format!("{results} results"));
    }
}

#[test]
fn an_expired_session_renews_each_flow_and_its_create_joins_the_next_batch() {
    let (mut flows, _) = flows_at_create(2);
    let expired = resp(401, json!([{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}]));
    let BatchAnswer::PerRecord(each) = volume::split_answer(&expired, 2) else { panic!() };
    assert_eq!(each.len(), 2, "one input per flow, or the loop below checks nothing");
    let again = renewed(&mut flows, each);
    assert!(again.iter().all(|r| r.purpose == Purpose::CreateRecord && r.headers[0].1.expose() == "Bearer 00Dtok!new"));
    assert!(
        volume::collection_request(&again.iter().collect::<Vec<_>>()).is_some(),
        "the retried creates batch together"
    );
}

#[test]
fn a_batch_refused_as_a_whole_sends_each_create_alone() {
    let (mut flows, creates) = flows_at_create(2);
    let refused = resp(400, json!([{"errorCode": "JSON_PARSER_ERROR", "message": "bad"}]));
    assert_eq!(volume::split_answer(&refused, 2), BatchAnswer::SendAlone);
    // The driver sends each create as it was; each flow reads its own answer.
    match flows[0].resume(resp(201, json!({"id": "00Q5e0000000000003", "success": true, "errors": []})), NOW + 1_500) {
        Step::Done(o) => assert_eq!(o.lead_id.as_deref(), Some("00Q5e0000000000003")),
        other => panic!("{other:?}"),
    }
    assert_eq!(creates[1].url.expose(), format!("{LOGIN}/services/data/v66.0/sobjects/Lead/"));
}

#[test]
fn three_lookups_one_query_then_only_the_new_ones_create_together() {
    let (mut flows, lookups) = flows_at_lookup(3);
    let lookups: Vec<&HttpRequest> = lookups.iter().collect();
    assert!(lookups.iter().all(|r| volume::kind(r) == Some(volume::Kind::Lookup)));
    let query = volume::lookup_request(&lookups).unwrap();
    let url = url::Url::parse(&query.url.expose()).unwrap();
    assert_eq!(url.path(), "/services/data/v66.0/query");
    let q = url.query_pairs().find(|(k, _)| k == "q").unwrap().1.into_owned();
    assert_eq!(q, "SELECT Id, Email FROM Lead WHERE Email IN ('p0@acme.com','p1@acme.com','p2@acme.com')");

    // p2 already has a record (stored in another case).
    let answer = resp(
        200,
        json!({"totalSize": 1, "done": true, "records": [
            {"attributes": {"type": "Lead", "url": "/services/data/v66.0/sobjects/Lead/00Q5e0000000000007"}, "Id": "00Q5e0000000000007", "Email": "P2@Acme.com"}
        ]}),
    );
    let BatchAnswer::PerRecord(each) = volume::split_lookup_answer(&answer, &lookups) else { panic!("per lookup") };
    assert_eq!(each.len(), 3, "one input per flow, or the loop below checks nothing");
    let mut creates = Vec::new();
    for (i, (f, input)) in flows.iter_mut().zip(each).enumerate() {
        match f.resume(input, NOW + 1_100) {
            Step::Send { request, .. } if i < 2 => creates.push(request),
            Step::Done(o) if i == 2 => {
                assert_eq!((o.status, o.lead_id.as_deref()), (Status::Duplicate, Some("00Q5e0000000000007")));
                assert_eq!(o.reason, "not created: a record with this email already exists");
            }
            other => panic!("{i}: {other:?}"),
        }
    }
    assert!(creates.iter().all(volume::batchable));
    let batch = volume::collection_request(&creates.iter().collect::<Vec<_>>()).unwrap();
    let body: Value = serde_json::from_str(&batch.body.as_ref().unwrap().expose()).unwrap();
    let emails: Vec<_> = body["records"].as_array().unwrap().iter().map(|r| r["Email"].as_str().unwrap()).collect();
    assert_eq!(emails, ["p0@acme.com", "p1@acme.com"]);
}

#[test]
fn an_expired_session_on_a_lookup_batch_renews_each_flow_and_the_lookups_batch_again() {
    let (mut flows, lookups) = flows_at_lookup(2);
    let expired = resp(401, json!([{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}]));
    let BatchAnswer::PerRecord(each) = volume::split_lookup_answer(&expired, &lookups.iter().collect::<Vec<_>>())
    else {
        panic!()
    };
    assert_eq!(each.len(), 2, "one input per flow, or the loop below checks nothing");
    let again = renewed(&mut flows, each);
    assert!(again.iter().all(|r| volume::kind(r) == Some(volume::Kind::Lookup)));
    let query = volume::lookup_request(&again.iter().collect::<Vec<_>>()).unwrap();
    assert_eq!(query.headers[0].1.expose(), "Bearer 00Dtok!new");
}
