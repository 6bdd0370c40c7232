//! Volume mode (`batchWindowMs`): the creates of concurrent first logins in one process go to
//! Salesforce together, as sObject Collections requests of at most 200 records, and so do their
//! plain lookups by email, as one `WHERE Email IN (…)` query. This module decides which requests
//! may share one, when a batch must go, the request itself, and the answer each flow gets from
//! the shared one; the driver keeps the queue and timers. Never sends anything, never reads a
//! clock.

use crate::core::batch::api::{lookup_cost, COLLECTION_LIMIT};
use crate::core::encoding::percent_encode;
use crate::core::http::{HttpRequest, HttpResponse, Purpose, Text};
use crate::core::salesforce::soql_literal;
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

impl Waiting {
    /// The time this request has left at `now_ms` (at least 1 ms): for the batch, or for its
    /// own request once the batch was refused as a whole.
    pub fn time_left(&self, now_ms: u64) -> u64 {
        self.queued_at_ms.saturating_add(self.timeout_ms).saturating_sub(now_ms).max(1)
    }
}

/// Whether `request` may wait for a batch: a create (`POST …/sobjects/{Object}/` with a JSON
/// object body). Upserts, lookups and everything else go out on their own.
pub fn batchable(request: &HttpRequest) -> bool {
    request.purpose == Purpose::CreateRecord
        && request.method == "POST"
        && request.body.as_ref().and_then(Text::as_plain).is_some_and(|b| b.starts_with('{') && b.ends_with('}'))
        && collection_url(request).is_some()
}

/// The most emails one lookup batch asks about.
pub const MAX_LOOKUPS: usize = 200;

/// The longest URL a lookup batch may have: half Salesforce's 16,384-character URI limit, so
/// proxies with shorter limits still pass it.
pub const MAX_LOOKUP_URL: usize = 8_192;

/// What a request waits for in volume mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A create, for an sObject Collections request.
    Create,
    /// A plain lookup by email, for one `WHERE Email IN (…)` query.
    Lookup,
}

/// Which batch `request` may wait for, or `None`: it goes out on its own.
pub fn kind(request: &HttpRequest) -> Option<Kind> {
    if batchable(request) {
        Some(Kind::Create)
    } else if lookup_batchable(request) {
        Some(Kind::Lookup)
    } else {
        None
    }
}

/// Whether `request` is a plain lookup by email ([`HttpRequest::lookup`], never the one after a
/// lost create) whose batch of one would fit [`MAX_LOOKUP_URL`].
pub fn lookup_batchable(request: &HttpRequest) -> bool {
    request.purpose == Purpose::FindExisting
        && request.method == "GET"
        && request.lookup().is_some()
        && query_base(request).is_some_and(|base| lookup_url_len(base, &[request]) <= MAX_LOOKUP_URL)
}

/// Whether two requests may share one batch: two creates with the same URL and headers (so the
/// same instance, API version, object, token and `Sforce-Auto-Assign`), or two lookups of the same
/// object on the same instance and API version with the same headers.
pub fn same_batch(a: &HttpRequest, b: &HttpRequest) -> bool {
    match (a.lookup(), b.lookup()) {
        (None, None) => a.method == b.method && a.url == b.url && a.headers == b.headers,
        (Some(x), Some(y)) => {
            x.object == y.object && query_base(a).is_some() && query_base(a) == query_base(b) && a.headers == b.headers
        }
        _ => false,
    }
}

/// Whether `next` (of the same batch as `batch`) still fits in it: at most [`MAX_BATCH`] creates,
/// at most [`MAX_LOOKUPS`] lookups with a URL of at most [`MAX_LOOKUP_URL`].
pub fn fits(batch: &[&HttpRequest], next: &HttpRequest) -> bool {
    match (kind(next), query_base(next)) {
        (Some(Kind::Lookup), Some(base)) => {
            let all: Vec<&HttpRequest> = batch.iter().copied().chain([next]).collect();
            all.len() <= MAX_LOOKUPS && lookup_url_len(base, &all) <= MAX_LOOKUP_URL
        }
        _ => batch.len() < MAX_BATCH,
    }
}

/// Whether nothing more can join `batch`: it goes now.
pub fn full(batch: &[&HttpRequest]) -> bool {
    match batch.first().and_then(|r| kind(r)) {
        Some(Kind::Lookup) => batch.len() >= MAX_LOOKUPS,
        _ => batch.len() >= MAX_BATCH,
    }
}

/// `{instance}/services/data/vXX.X/` of a lookup's URL.
fn query_base(lookup: &HttpRequest) -> Option<&str> {
    let url = lookup.url.as_plain()?;
    let at = url.find("/query?q=")?;
    url[..at].contains("/services/data/v").then(|| &url[..=at])
}

/// The SOQL of a lookup batch: each distinct email once (SOQL's `=` ignores case, so does this).
fn lookup_soql(object: &str, lookups: &[&HttpRequest]) -> String {
    let mut emails: Vec<&str> = Vec::with_capacity(lookups.len());
    for email in lookups.iter().filter_map(|r| r.lookup()).map(|l| l.email.as_str()) {
        if !emails.iter().any(|e| same_email(e, email)) {
            emails.push(email);
        }
    }
    let list: Vec<String> = emails.iter().map(|e| soql_literal(e)).collect();
    format!("SELECT Id, Email FROM {object} WHERE Email IN ({})", list.join(","))
}

/// An upper bound of the URL length of a lookup batch (duplicates counted), without building it.
fn lookup_url_len(base: &str, lookups: &[&HttpRequest]) -> usize {
    let object = lookups.first().and_then(|r| r.lookup()).map_or("", |l| l.object);
    let skeleton = percent_encode(&format!("SELECT Id, Email FROM {object} WHERE Email IN ()")).len();
    let emails: usize = lookups.iter().filter_map(|r| r.lookup()).map(|l| lookup_cost(&l.email)).sum();
    base.len() + "query?q=".len() + skeleton + emails
}

/// Email equality as SOQL's `=` has it: case-insensitive. ASCII only (Unicode's case tables
/// would cost ~10 kB of wasm); a record that SOQL matched in a case this does not see matches no
/// lookup, and [`split_lookup_answer`] then sends each lookup alone.
fn same_email(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The query for `lookups` (each [`lookup_batchable`], all [`same_batch`], fitting [`fits`]):
/// `SELECT Id, Email FROM {Object} WHERE Email IN ('a','b',…)` with the lookups' headers. `None`
/// when they cannot share one.
pub fn lookup_request(lookups: &[&HttpRequest]) -> Option<HttpRequest> {
    let first = lookups.first()?;
    let base = query_base(first)?;
    let all_fit = lookups.len() <= MAX_LOOKUPS && lookup_url_len(base, lookups) <= MAX_LOOKUP_URL;
    if !all_fit || !lookups.iter().all(|l| lookup_batchable(l) && same_batch(first, l)) {
        return None;
    }
    let soql = lookup_soql(first.lookup()?.object, lookups);
    let mut req =
        HttpRequest::new(Purpose::FindExisting, "GET", Text::plain(format!("{base}query?q={}", percent_encode(&soql))));
    for (name, value) in &first.headers {
        req = req.header(name.clone(), value.clone());
    }
    Some(req)
}

/// Split the answer to a lookup batch into the answer each lookup's own query would have had:
/// - a readable, complete (`done: true`) answer gives each email its record (matched
///   case-insensitively, as SOQL's `=` does) as `{"totalSize":1,"done":true,"records":[{…,"Id"}]}`,
///   or `{"totalSize":0,"done":true,"records":[]}`;
/// - an answer that says nothing per email (an expired session, 429/5xx, a redirect, the daily
///   limit, a lost answer) goes to every lookup as it is, as for creates ([`split_answer`]);
/// - one refused as a whole (400, 414 …), unreadable, not done (more records than a page holds),
///   or with a record whose Email matches none asked (ASCII case aside) sends each lookup on its
///   own: a read is safe to repeat.
pub fn split_lookup_answer(input: &Input, lookups: &[&HttpRequest]) -> BatchAnswer {
    let n = lookups.len();
    let Input::Response(resp) = input else { return BatchAnswer::PerRecord(vec![input.clone(); n]) };
    if (200..300).contains(&resp.status) {
        let emails = || lookups.iter().filter_map(|l| l.lookup()).map(|l| l.email.as_str());
        return match found_by_email(&resp.body) {
            // Each record is one SOQL matched to an email asked: one matching none (another
            // case of a non-ASCII letter) means this split cannot tell whose it is.
            Some(found) if found.iter().all(|(e, _)| emails().any(|asked| same_email(e, asked))) => {
                BatchAnswer::PerRecord(
                    lookups
                        .iter()
                        .map(|l| {
                            let email = l.lookup().map_or("", |l| l.email.as_str());
                            let record = found.iter().find(|(e, _)| same_email(e, email)).map(|(_, r)| r.as_str());
                            Input::Response(single_lookup_answer(record))
                        })
                        .collect(),
                )
            }
            _ => BatchAnswer::SendAlone,
        };
    }
    // 401/403/429/5xx, redirects and other statuses: as for creates.
    split_answer(input, n)
}

/// `(Email, record)` of each record of a complete query answer, the record as a single lookup
/// has it (`{"attributes":…,"Id":…}`, no Email); `None` when it is unreadable, not done, or has
/// a record without a string `Id` and `Email`.
fn found_by_email(body: &str) -> Option<Vec<(String, String)>> {
    let v: Value = serde_json::from_str(body).ok()?;
    if v.get("done") != Some(&Value::Bool(true)) {
        return None;
    }
    v.get("records")?
        .as_array()?
        .iter()
        .map(|r| {
            let email = r.get("Email")?.as_str()?;
            let id = r.get("Id")?.as_str()?;
            let id = Value::String(id.to_string());
            let one = match r.get("attributes") {
                Some(attributes) => format!(r#"{{"attributes":{attributes},"Id":{id}}}"#),
                None => format!(r#"{{"Id":{id}}}"#),
            };
            Some((email.to_string(), one))
        })
        .collect()
}

/// The answer a single `SELECT Id … LIMIT 1` lookup would have had.
fn single_lookup_answer(record: Option<&str>) -> HttpResponse {
    let body = match record {
        Some(r) => format!(r#"{{"totalSize":1,"done":true,"records":[{r}]}}"#),
        None => r#"{"totalSize":0,"done":true,"records":[]}"#.to_string(),
    };
    HttpResponse::new(200, body)
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
    waiting.iter().map(|w| w.time_left(now_ms)).min().unwrap_or(1)
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

/// The one request for a batch ([`collection_request`] or [`lookup_request`], by its kind).
pub fn batch_request(batch: &[&HttpRequest]) -> Option<HttpRequest> {
    match batch.first().and_then(|r| kind(r))? {
        Kind::Create => collection_request(batch),
        Kind::Lookup => lookup_request(batch),
    }
}

/// Each member's answer from the answer to [`batch_request`] ([`split_answer`] or
/// [`split_lookup_answer`], by its kind).
pub fn split_batch_answer(input: &Input, batch: &[&HttpRequest]) -> BatchAnswer {
    match batch.first().and_then(|r| kind(r)) {
        Some(Kind::Lookup) => split_lookup_answer(input, batch),
        _ => split_answer(input, batch.len()),
    }
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

    /// Batch answers that say nothing per record: each waiting flow gets the same one.
    fn answers_for_everyone() -> Vec<Input> {
        let resp = |status: u16, body: &str| Input::Response(HttpResponse::new(status, body));
        vec![
            resp(401, r#"[{"errorCode":"INVALID_SESSION_ID","message":"Session expired"}]"#),
            resp(429, r#"[{"errorCode":"REQUEST_LIMIT_EXCEEDED","message":"slow down"}]"#),
            resp(403, r#"[{"errorCode":"REQUEST_LIMIT_EXCEEDED","message":"TotalRequests Limit exceeded."}]"#),
            resp(500, "[]"),
            resp(503, "[]"),
            resp(307, ""),
            Input::TimedOut,
            Input::NetworkError("ECONNRESET".into()),
        ]
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
        assert_eq!(batch_timeout(&[], 20_000), 1);
        // What a create refused with its batch has left for its own request.
        assert_eq!((w(10_000, 3_000).time_left(12_500), w(10_000, 3_000).time_left(14_000)), (500, 1));
        assert_eq!(w(u64::MAX - 5, 3_000).time_left(u64::MAX - 10), u64::MAX - (u64::MAX - 10));
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
        for input in answers_for_everyone() {
            everyone(input);
        }
        // Unreadable, or results for the wrong number of records: records may exist, so each
        // flow reads an answer without its id (and looks its record up).
        everyone(resp(200, "{not json"));
        everyone(resp(200, r#"[{"id":"00Q5e0000000000001","success":true}]"#));
        // Refused as a whole before any record was read.
        assert_eq!(split_answer(&resp(400, r#"[{"errorCode":"JSON_PARSER_ERROR"}]"#), 2), BatchAnswer::SendAlone);
        assert_eq!(split_answer(&resp(404, r#"[{"errorCode":"NOT_FOUND"}]"#), 2), BatchAnswer::SendAlone);
    }

    fn lookup(t: &str, c: &Config, email: &str) -> HttpRequest {
        sf::find_by_email_request(&token(t), c, email, false)
    }

    fn soql_of(req: &HttpRequest) -> String {
        let url = url::Url::parse(&req.url.expose()).unwrap();
        url.query_pairs().find(|(k, _)| k == "q").map(|(_, v)| v.into_owned()).unwrap()
    }

    #[test]
    fn plain_lookups_of_one_token_and_object_make_one_in_query() {
        let c = config(json!({}));
        let a = lookup("t", &c, "ann@x.co");
        let quoted = lookup("t", &c, r"o'brien\x@x.co");
        let upper = lookup("t", &c, "ANN@X.CO");
        assert_eq!(a.lookup().map(|l| (l.object, l.email.as_str())), Some(("Lead", "ann@x.co")));
        assert_eq!((kind(&a), kind(&quoted)), (Some(Kind::Lookup), Some(Kind::Lookup)));
        assert!(same_batch(&a, &quoted) && same_batch(&a, &upper));

        let req = lookup_request(&[&a, &quoted, &upper]).unwrap();
        assert_eq!((req.purpose, req.method, req.lookup()), (Purpose::FindExisting, "GET", None));
        // The same email in another case is asked once, as SOQL's `=` would match both.
        assert_eq!(soql_of(&req), r"SELECT Id, Email FROM Lead WHERE Email IN ('ann@x.co','o\'brien\\x@x.co')");
        assert_eq!(
            req.url.expose(),
            "https://acme.my.salesforce.com/services/data/v66.0/query?q=SELECT%20Id%2C%20Email%20FROM%20Lead%20WHERE%20Email%20IN%20%28%27ann%40x.co%27%2C%27o%5C%27brien%5C%5Cx%40x.co%27%29"
        );
        let headers: Vec<(String, String)> = req.headers.iter().map(|(n, v)| (n.to_string(), v.expose())).collect();
        assert_eq!(
            headers,
            [("Authorization", "Bearer t"), ("Accept", "application/json")]
                .map(|(n, v)| (n.to_string(), v.to_string()))
        );

        // The lookup after a lost create (CreatedDate), another token or object, and a create
        // never join.
        let after_lost = sf::find_by_email_request(&token("t"), &c, "ann@x.co", true);
        assert_eq!((after_lost.lookup(), kind(&after_lost)), (None, None));
        assert!(!same_batch(&a, &after_lost));
        assert!(!same_batch(&a, &lookup("t2", &c, "bob@x.co")));
        assert!(!same_batch(&a, &lookup("t", &config(json!({"object": "Contact"})), "bob@x.co")));
        let create = sf::create_request(&token("t"), &c, &payload(&[("Email", "ann@x.co")]));
        assert!(!same_batch(&a, &create) && !same_batch(&create, &a));
        assert_eq!(lookup_request(&[&a, &create]), None);
        assert_eq!(batch_request(&[&a, &quoted, &upper]), Some(req.clone()));
        assert_eq!(batch_request(&[&create]), collection_request(&[&create]));
        assert_eq!(batch_request(&[&after_lost]), None);
        assert_eq!(lookup_request(&[&a, &after_lost]), None);
        assert_eq!(lookup_request(&[]), None);
    }

    #[test]
    fn a_lookup_batch_stays_under_200_emails_and_its_url_well_under_salesforces_limit() {
        let c = config(json!({}));
        let short: Vec<HttpRequest> = (0..=MAX_LOOKUPS).map(|i| lookup("t", &c, &format!("u{i}@x.co"))).collect();
        let refs: Vec<&HttpRequest> = short.iter().collect();
        assert!(fits(&refs[..MAX_LOOKUPS - 1], refs[MAX_LOOKUPS - 1]));
        assert!(!fits(&refs[..MAX_LOOKUPS], refs[MAX_LOOKUPS]));
        assert!(!full(&refs[..MAX_LOOKUPS - 1]) && full(&refs[..MAX_LOOKUPS]));
        assert!(lookup_request(&refs[..MAX_LOOKUPS]).is_some());
        assert_eq!(lookup_request(&refs), None);

        // 1,000-character emails: a handful per query, each query's URL at most MAX_LOOKUP_URL.
        let long: Vec<HttpRequest> =
            (0..10).map(|i| lookup("t", &c, &format!("{}{i}@x.co", "a".repeat(994)))).collect();
        let long: Vec<&HttpRequest> = long.iter().collect();
        let room = (1..long.len()).find(|&n| !fits(&long[..n], long[n])).unwrap();
        assert_eq!(room, 7);
        let req = lookup_request(&long[..room]).unwrap();
        assert!(req.url.expose().len() <= MAX_LOOKUP_URL, "{}", req.url.expose().len());
        assert_eq!(lookup_request(&long[..=room]), None);
        // One that could not share a query even alone goes out on its own.
        let huge = lookup("t", &c, &format!("{}@x.co", "a".repeat(MAX_LOOKUP_URL)));
        assert_eq!(kind(&huge), None);
    }

    #[test]
    fn each_lookup_gets_the_answer_its_own_query_would_have_had() {
        let c = config(json!({}));
        let emails = ["ann@x.co", r"o'brien\x@x.co", "none@x.co", "ANN@X.CO"];
        let lookups: Vec<HttpRequest> = emails.iter().map(|e| lookup("t", &c, e)).collect();
        let lookups: Vec<&HttpRequest> = lookups.iter().collect();
        let answer = json!({"totalSize": 2, "done": true, "records": [
            {"attributes": {"type": "Lead", "url": "/services/data/v66.0/sobjects/Lead/00Q5e0000000000001"}, "Id": "00Q5e0000000000001", "Email": "Ann@X.co"},
            {"attributes": {"type": "Lead", "url": "/services/data/v66.0/sobjects/Lead/00Q5e0000000000002"}, "Id": "00Q5e0000000000002", "Email": r"o'brien\x@x.co"}
        ]});
        let answer = Input::Response(HttpResponse::new(200, answer.to_string()));
        assert_eq!(split_batch_answer(&answer, &lookups), split_lookup_answer(&answer, &lookups));
        let BatchAnswer::PerRecord(each) = split_lookup_answer(&answer, &lookups) else { panic!("per lookup") };
        let found = |id: &str| {
            format!(
                r#"{{"totalSize":1,"done":true,"records":[{{"attributes":{{"type":"Lead","url":"/services/data/v66.0/sobjects/Lead/{id}"}},"Id":"{id}"}}]}}"#
            )
        };
        let none = r#"{"totalSize":0,"done":true,"records":[]}"#.to_string();
        let bodies: Vec<(u16, String)> = each
            .iter()
            .map(|i| match i {
                Input::Response(r) => (r.status, r.body.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            bodies,
            [
                (200, found("00Q5e0000000000001")),
                (200, found("00Q5e0000000000002")),
                (200, none),
                (200, found("00Q5e0000000000001"))
            ]
        );
        let read: Vec<_> = each
            .iter()
            .map(|i| match i {
                Input::Response(r) => sf::parse_lookup_response(r, &c),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            read,
            [
                sf::LookupResult::Found("00Q5e0000000000001".into()),
                sf::LookupResult::Found("00Q5e0000000000002".into()),
                sf::LookupResult::NotFound,
                sf::LookupResult::Found("00Q5e0000000000001".into())
            ]
        );
    }

    #[test]
    fn a_lookup_batch_answer_without_per_email_results_goes_to_every_lookup_or_sends_each_alone() {
        let c = config(json!({}));
        let lookups = [lookup("t", &c, "a@x.co"), lookup("t", &c, "b@x.co")];
        let lookups: Vec<&HttpRequest> = lookups.iter().collect();
        let resp = |status: u16, body: &str| Input::Response(HttpResponse::new(status, body));
        let everyone = |input: Input| {
            assert_eq!(split_lookup_answer(&input, &lookups), BatchAnswer::PerRecord(vec![input.clone(); 2]))
        };
        for input in answers_for_everyone() {
            everyone(input);
        }
        // Unreadable, not done, or a record it cannot match: each asks again on its own.
        let alone = |input: Input| assert_eq!(split_lookup_answer(&input, &lookups), BatchAnswer::SendAlone);
        alone(resp(200, "{not json"));
        alone(resp(200, r#"{"totalSize":0,"records":[]}"#));
        alone(resp(
            200,
            r#"{"totalSize":3000,"done":false,"nextRecordsUrl":"/services/data/v66.0/query/01g5e00000000001-2000","records":[]}"#,
        ));
        alone(resp(200, r#"{"totalSize":1,"done":true,"records":[{"Email":"a@x.co"}]}"#));
        alone(resp(200, r#"{"totalSize":1,"done":true,"records":[{"Id":"00Q5e0000000000001"}]}"#));
        // SOQL matched in a case this split does not see (non-ASCII): whose record is it?
        alone(resp(
            200,
            r#"{"totalSize":1,"done":true,"records":[{"Id":"00Q5e0000000000001","Email":"A@X.CO"},{"Id":"00Q5e0000000000002","Email":"bÉ@x.co"}]}"#,
        ));
        alone(resp(400, r#"[{"errorCode":"MALFORMED_QUERY","message":"unexpected token"}]"#));
        alone(resp(414, ""));
    }
}
