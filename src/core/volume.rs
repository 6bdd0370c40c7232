//! Volume mode (`batchWindowMs`): the creates of concurrent first logins in one process go to
//! Salesforce together, as sObject Collections requests of at most 200 records. This module
//! decides which creates may share a request, when a batch must go, the request itself, and the
//! answer each create's flow gets from the collection's; the driver keeps the queue and timers.
//! Never sends anything, never reads a clock.

use crate::core::batch::api::COLLECTION_LIMIT;
use crate::core::http::{HttpRequest, HttpResponse, Purpose, Text};
use crate::core::step::Input;
use serde_json::Value;

/// The most creates one batch carries (sObject Collections' limit).
pub const MAX_BATCH: usize = COLLECTION_LIMIT;

/// A create waiting for its batch: when it was queued and the time its flow gave its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    /// When the create joined the queue (Unix ms).
    pub queued_at_ms: u64,
    /// The `timeout_ms` of its `Step::Send`: waiting and the request both come out of it.
    pub timeout_ms: u64,
}

/// Whether `request` may wait for a batch: a create (`POST …/sobjects/{Object}/` with a JSON
/// object body). Upserts, lookups and everything else go out on their own.
pub fn batchable(request: &HttpRequest) -> bool {
    request.purpose == Purpose::CreateRecord
        && request.method == "POST"
        && request.body.as_ref().and_then(Text::as_plain).is_some_and(|b| b.starts_with('{') && b.ends_with('}'))
        && collection_url(request).is_some()
}

/// Whether two creates may share one collection request: the same URL and headers, so the same
/// instance, API version, object, token and `Sforce-Auto-Assign`.
pub fn same_batch(a: &HttpRequest, b: &HttpRequest) -> bool {
    a.method == b.method && a.url == b.url && a.headers == b.headers
}

/// When the batch of `waiting` must go (Unix ms): `window_ms` after its first create, or sooner
/// when a create would otherwise keep less than half of its time for the request itself.
pub fn send_at(window_ms: u64, waiting: &[Waiting]) -> u64 {
    let first = waiting.iter().map(|w| w.queued_at_ms).min().unwrap_or(0);
    waiting
        .iter()
        .map(|w| w.queued_at_ms.saturating_add(w.timeout_ms / 2))
        .fold(first.saturating_add(window_ms), u64::min)
}

/// How long the batch request may take when sent at `now_ms`: the least time any of its
/// creates has left (at least 1 ms), so no flow waits past its own deadline.
pub fn batch_timeout(waiting: &[Waiting], now_ms: u64) -> u64 {
    waiting.iter().map(|w| w.queued_at_ms.saturating_add(w.timeout_ms).saturating_sub(now_ms)).min().unwrap_or(0).max(1)
}

/// `{instance}/services/data/vXX.X/composite/sobjects` and the object, from a create's URL
/// (`{instance}/services/data/vXX.X/sobjects/{Object}/`).
fn collection_url(create: &HttpRequest) -> Option<(String, &str)> {
    let url = create.url.as_plain()?;
    let (base, object) = url.strip_suffix('/')?.rsplit_once("/sobjects/")?;
    let plain = !object.is_empty() && object.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    (plain && base.contains("/services/data/v")).then(|| (format!("{base}/composite/sobjects"), object))
}

/// The collection request for `creates` (each [`batchable`], all [`same_batch`], at most
/// [`MAX_BATCH`]): `allOrNone: false`, so one refused record never holds back the others, each
/// body a record with its `attributes.type`, fields in the order the create had them, and the
/// creates' headers. `None` when they cannot share one request.
pub fn collection_request(creates: &[&HttpRequest]) -> Option<HttpRequest> {
    let first = creates.first()?;
    if creates.len() > MAX_BATCH || !creates.iter().all(|c| batchable(c) && same_batch(first, c)) {
        return None;
    }
    let (url, object) = collection_url(first)?;
    let attributes = format!(r#"{{"attributes":{{"type":"{object}"}}"#);
    let mut body = String::from(r#"{"allOrNone":false,"records":["#);
    for (i, create) in creates.iter().enumerate() {
        let fields = create.body.as_ref().and_then(Text::as_plain)?;
        if i > 0 {
            body.push(',');
        }
        body.push_str(&attributes);
        // `{…fields}` minus its opening brace, after a comma unless it is `{}`.
        let rest = &fields[1..];
        if !rest.trim_start().starts_with('}') {
            body.push(',');
        }
        body.push_str(rest);
    }
    body.push_str("]}");
    let mut req = HttpRequest::new(Purpose::CreateCollection, "POST", Text::plain(url));
    for (name, value) in first.headers.iter().filter(|(n, _)| !n.eq_ignore_ascii_case("content-type")) {
        req = req.header(name.clone(), value.clone());
    }
    Some(req.json_body(body))
}

/// What the creates of a batch get once its request is answered.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchAnswer {
    /// Each create's own answer, in the order of the batch, for its flow to read as the answer
    /// to its create.
    PerRecord(Vec<Input>),
    /// The request was refused as a whole, before any record was looked at: each create is
    /// sent on its own instead.
    SendAlone,
}

/// Split the answer to a batch of `n` creates into each one's answer:
/// - each record's result as a create's own answer would be: `201 {"id","success":true}`, or
///   the record's `errors` as a create's `400 [{"errorCode",…}]` (duplicate rules included);
/// - an answer that says nothing per record (an expired session, 429/5xx, a redirect, the daily
///   limit, a lost or unreadable answer) goes to every create as it is, so each flow does what it
///   does for its own create (renew, retry, look up before sending again, fail);
/// - any other refusal of the request as a whole (400, 404 …: nothing was processed) sends
///   each create on its own.
pub fn split_answer(input: &Input, n: usize) -> BatchAnswer {
    let Input::Response(resp) = input else { return BatchAnswer::PerRecord(vec![input.clone(); n]) };
    if (200..300).contains(&resp.status) {
        return match serde_json::from_str::<Value>(&resp.body) {
            Ok(Value::Array(items)) if items.len() == n => {
                BatchAnswer::PerRecord(items.iter().map(|item| Input::Response(record_answer(item))).collect())
            }
            // Records may have been created: every flow sees an answer without its id and looks up.
            _ => BatchAnswer::PerRecord(vec![input.clone(); n]),
        };
    }
    let said_per_flow = resp.status == 401 || resp.status == 403 || resp.status == 429 || resp.status >= 500;
    if said_per_flow || resp.is_redirect() || !(400..500).contains(&resp.status) {
        return BatchAnswer::PerRecord(vec![input.clone(); n]);
    }
    BatchAnswer::SendAlone
}

/// One collection result as the answer to a single create.
fn record_answer(item: &Value) -> HttpResponse {
    if item.get("success").and_then(Value::as_bool) == Some(true) {
        let id = item.get("id").cloned().unwrap_or(Value::Null);
        return HttpResponse::new(201, serde_json::json!({ "id": id, "success": true, "errors": [] }).to_string());
    }
    // Collections name the code `statusCode`, a single create `errorCode`; the rest is the same.
    let errors: Vec<Value> = item
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| {
            let mut e = e.as_object().cloned().unwrap_or_default();
            if let Some(code) = e.remove("statusCode") {
                e.entry("errorCode").or_insert(code);
            }
            Value::Object(e)
        })
        .collect();
    HttpResponse::new(400, Value::Array(errors).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::Config;
    use crate::core::record::RecordPayload;
    use crate::core::salesforce::{self as sf, AccessToken};
    use crate::core::secret::Secret;
    use serde_json::json;

    fn config(extra: Value) -> Config {
        let mut v = json!({"clientId":"cid","clientSecret":"s","loginUrl":"https://acme.my.salesforce.com"});
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        Config::parse(v.as_object().unwrap()).unwrap()
    }

    fn token(t: &str) -> AccessToken {
        AccessToken { token: Secret::new(t), instance_url: "https://acme.my.salesforce.com".into() }
    }

    fn payload(fields: &[(&str, &str)]) -> RecordPayload {
        RecordPayload { fields: fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
    }

    #[test]
    fn creates_of_one_token_and_object_make_one_collection_request() {
        let c = config(json!({"autoAssign": "01Q000000000001"}));
        let a = sf::create_request(&token("t"), &c, &payload(&[("LastName", "Doe"), ("Email", "d@x.co")]));
        let b = sf::create_request(&token("t"), &c, &payload(&[("LastName", "Roe")]));
        let empty = sf::create_request(&token("t"), &c, &payload(&[]));
        assert!(batchable(&a) && same_batch(&a, &b));
        let req = collection_request(&[&a, &b, &empty]).unwrap();
        assert_eq!((req.purpose, req.method), (Purpose::CreateCollection, "POST"));
        assert_eq!(req.url.expose(), "https://acme.my.salesforce.com/services/data/v66.0/composite/sobjects");
        assert_eq!(
            req.body.as_ref().unwrap().expose(),
            concat!(
                r#"{"allOrNone":false,"records":[{"attributes":{"type":"Lead"},"LastName":"Doe","Email":"d@x.co"},"#,
                r#"{"attributes":{"type":"Lead"},"LastName":"Roe"},{"attributes":{"type":"Lead"}}]}"#
            )
        );
        let body: Value = serde_json::from_str(&req.body.as_ref().unwrap().expose()).unwrap();
        assert_eq!(body["records"].as_array().unwrap().len(), 3);
        let headers: Vec<(String, String)> =
            req.headers.iter().map(|(n, v)| (n.to_string(), v.masked().to_string())).collect();
        assert_eq!(
            headers,
            [
                ("Authorization", "Bearer ***"),
                ("Accept", "application/json"),
                ("Sforce-Auto-Assign", "01Q000000000001"),
                ("Content-Type", "application/json")
            ]
            .map(|(n, v)| (n.to_string(), v.to_string()))
        );
        assert!(req.headers.iter().any(|(n, v)| n == "Authorization" && v.expose() == "Bearer t"));

        // Another token (a renewed session), another object or an upsert cannot join.
        let other_token = sf::create_request(&token("t2"), &c, &payload(&[("LastName", "X")]));
        assert!(!same_batch(&a, &other_token));
        assert_eq!(collection_request(&[&a, &other_token]), None);
        let contact = sf::create_request(&token("t"), &config(json!({"object": "Contact"})), &payload(&[]));
        assert!(!same_batch(&a, &contact));
        let upsert = sf::upsert_request(&token("t"), &c, "Ext__c", "1", &payload(&[("LastName", "X")]));
        assert!(!batchable(&upsert));
        assert_eq!(collection_request(&[]), None);
        let many: Vec<&HttpRequest> = std::iter::repeat(&a).take(MAX_BATCH + 1).collect();
        assert_eq!(collection_request(&many), None);
        assert!(collection_request(&many[..MAX_BATCH]).is_some());
    }

    #[test]
    fn batch_window_ms_is_off_by_default_and_bounded() {
        assert_eq!(config(json!({})).batch_window_ms, 0);
        assert_eq!(config(json!({"batchWindowMs": "1000"})).batch_window_ms, 1_000);
        let mut v = json!({"clientId":"cid","clientSecret":"s","batchWindowMs": 60_001});
        let e = Config::parse(v.as_object_mut().unwrap()).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("batchWindowMs"));
    }

    #[test]
    fn a_batch_goes_after_its_window_or_before_a_create_runs_short_of_time() {
        let w = |queued_at_ms, timeout_ms| Waiting { queued_at_ms, timeout_ms };
        assert_eq!(send_at(1_000, &[w(10_000, 3_000)]), 11_000);
        assert_eq!(send_at(1_000, &[w(10_000, 3_000), w(10_900, 3_000)]), 11_000, "the window is the first's");
        assert_eq!(send_at(5_000, &[w(10_000, 3_000)]), 11_500, "half the request time stays for the request");
        assert_eq!(send_at(1_000, &[w(10_000, 3_000), w(10_200, 1_000)]), 10_700);
        assert_eq!(batch_timeout(&[w(10_000, 3_000), w(10_500, 3_000)], 11_000), 2_000);
        assert_eq!(batch_timeout(&[w(10_000, 3_000)], 20_000), 1);
    }

    #[test]
    fn each_create_gets_its_own_records_answer() {
        let c = config(json!({}));
        let answer = json!([
            {"id": "00Q5e0000000000001", "success": true, "errors": []},
            {"success": false, "errors": [{"statusCode": "STRING_TOO_LONG", "message": "Last Name: data value too large", "fields": ["LastName"]}]},
            {"success": false, "errors": [{"statusCode": "DUPLICATES_DETECTED", "message": "Use one of these records?", "fields": [],
                "duplicateResult": {"matchResults": [{"matchRecords": [{"record": {"Id": "00Q5e0000000000009"}}]}]}}]}
        ]);
        let BatchAnswer::PerRecord(each) =
            split_answer(&Input::Response(HttpResponse::new(200, answer.to_string())), 3)
        else {
            panic!("per record")
        };
        let read: Vec<_> = each
            .iter()
            .map(|i| match i {
                Input::Response(r) => sf::parse_write_response(r, &c),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(read[0], sf::WriteResult::Created { id: "00Q5e0000000000001".into() });
        match &read[1] {
            sf::WriteResult::Failed(e) => {
                assert_eq!((e.remote_code.as_deref(), e.field.as_deref()), (Some("STRING_TOO_LONG"), Some("LastName")))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            read[2],
            sf::WriteResult::Existing {
                id: Some("00Q5e0000000000009".into()),
                via: "duplicate rule matched an existing record"
            }
        );
    }

    #[test]
    fn a_batch_answer_without_per_record_results_goes_to_every_create_or_sends_each_alone() {
        let resp = |status: u16, body: &str| Input::Response(HttpResponse::new(status, body));
        let everyone =
            |input: Input| assert_eq!(split_answer(&input, 2), BatchAnswer::PerRecord(vec![input.clone(); 2]));
        everyone(resp(401, r#"[{"errorCode":"INVALID_SESSION_ID","message":"Session expired"}]"#));
        everyone(resp(429, r#"[{"errorCode":"REQUEST_LIMIT_EXCEEDED","message":"slow down"}]"#));
        everyone(resp(403, r#"[{"errorCode":"REQUEST_LIMIT_EXCEEDED","message":"TotalRequests Limit exceeded."}]"#));
        everyone(resp(500, "[]"));
        everyone(resp(503, "[]"));
        everyone(resp(307, ""));
        everyone(Input::TimedOut);
        everyone(Input::NetworkError("ECONNRESET".into()));
        // Unreadable, or results for the wrong number of records: records may exist, so each
        // flow reads an answer without its id (and looks its record up).
        everyone(resp(200, "{not json"));
        everyone(resp(200, r#"[{"id":"00Q5e0000000000001","success":true}]"#));
        // Refused as a whole before any record was read.
        assert_eq!(split_answer(&resp(400, r#"[{"errorCode":"JSON_PARSER_ERROR"}]"#), 2), BatchAnswer::SendAlone);
        assert_eq!(split_answer(&resp(404, r#"[{"errorCode":"NOT_FOUND"}]"#), 2), BatchAnswer::SendAlone);
    }
}
