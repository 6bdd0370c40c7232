//! The batch backfill, driven in memory against a small fake org: exact requests (chunking,
//! bodies, bulk job lifecycle), per-record results, resume after a crash or a
//! REQUEST_LIMIT_EXCEEDED stop without duplicates, lost answers verified before any resend.
#![cfg(not(target_arch = "wasm32"))]

use serde_json::{json, Value};
use sf_lead_rule::core::batch::{self, Backfill, BatchOptions, BatchReport, InputItem, Mode, Status, Step};
use sf_lead_rule::core::batch_api::{csv_line, parse_csv};
use sf_lead_rule::core::config::{Config, SettingsText};
use sf_lead_rule::core::error::ErrorCode;
use sf_lead_rule::core::flow::{FirstLoginFlow, Input, Step as FlowStep};
use sf_lead_rule::core::http::{HttpRequest, HttpResponse};
use sf_lead_rule::core::profile::{FirstLoginSignal, Host, HostEvent};
use sf_lead_rule::core::record::{build_record, SObject};

const LOGIN: &str = "https://acme.my.salesforce.com";
const DATA: &str = "https://acme.my.salesforce.com/services/data/v66.0";

fn config(extra: Value) -> Config {
    let mut base = json!({"clientId": "cid", "clientSecret": "client-secret-1", "loginUrl": LOGIN});
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    Config::parse(base.as_object().unwrap()).unwrap()
}

fn user(n: usize) -> Value {
    json!({"user_id": format!("auth0|{n:05}"), "email": format!("user{n}@example.com"), "given_name": "User",
           "family_name": format!("Number{n}"), "user_metadata": {"company": "Acme"}})
}

fn users(range: std::ops::Range<usize>) -> Vec<Value> {
    range.map(user).collect()
}

fn machine(config: Config, items: Vec<Value>, state: &Value, mode: Mode) -> Backfill {
    let items: Vec<InputItem> = items.iter().map(|v| batch::users_of(Host::Auth0Action, v)).collect();
    machine_of(config, items, state, mode)
}

fn machine_of(config: Config, items: Vec<InputItem>, state: &Value, mode: Mode) -> Backfill {
    let opts = BatchOptions { mode, poll_interval_ms: 100, ..BatchOptions::default() };
    Backfill::new(config, items, state, opts, None, 1_000_000, 7).unwrap()
}

// ---------------------------------------------------------------------------------------------
// A fake org: token, collections, SOQL `IN` lookups and Bulk API 2.0 jobs, with a few knobs.

#[derive(Default)]
struct Org {
    /// (Id, Email, LastName, all fields) of every record.
    leads: Vec<(String, Value)>,
    next_id: usize,
    data_calls: usize,
    /// Data calls answered before REQUEST_LIMIT_EXCEEDED (403).
    limit: Option<usize>,
    /// Emails a duplicate rule matches (existing Leads).
    duplicate_rule: bool,
    /// Answers to give instead of the real one, by data call number (1-based).
    overrides: Vec<(usize, Override)>,
    jobs: Vec<FakeJob>,
    /// Records per query page (Salesforce: up to 2,000); `None`: one page.
    page_size: Option<usize>,
    /// Result sets of paged queries, by locator number.
    cursors: Vec<Vec<Value>>,
}

#[derive(Clone)]
enum Override {
    /// Process the request, then lose the answer.
    ProcessThenTimeOut,
    /// Do not process; answer this.
    Answer(u16, Value),
    Drop,
}

struct FakeJob {
    id: String,
    state: String,
    csv: Option<String>,
    polls: u32,
    ok: Vec<Vec<String>>,
    failed: Vec<Vec<String>>,
    header: Vec<String>,
}

impl Org {
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("00Q5e{:013}", self.next_id)
    }

    fn create(&mut self, fields: &serde_json::Map<String, serde_json::Value>) -> std::result::Result<String, Value> {
        let email = fields.get("Email").and_then(Value::as_str).unwrap_or("").to_lowercase();
        if fields.get("LastName").and_then(Value::as_str) == Some("TOOLONG") {
            return Err(
                json!({"statusCode": "STRING_TOO_LONG", "message": "Last Name: data value too large", "fields": ["LastName"]}),
            );
        }
        if self.duplicate_rule && !email.is_empty() {
            if let Some((id, _)) =
                self.leads.iter().find(|(_, l)| l["Email"].as_str().map(str::to_lowercase) == Some(email.clone()))
            {
                return Err(
                    json!({"statusCode": "DUPLICATES_DETECTED", "message": "Use one of these records?", "fields": [],
                    "duplicateResult": {"matchResults": [{"matchRecords": [{"record": {"Id": id}}]}]}}),
                );
            }
        }
        let id = self.new_id();
        self.leads.push((id.clone(), Value::Object(fields.clone())));
        Ok(id)
    }

    fn answer(&mut self, req: &HttpRequest) -> Input {
        let url = req.url.expose();
        if url.ends_with("/services/oauth2/token") {
            return ok(
                200,
                json!({"access_token": "00Dtok!batch", "instance_url": LOGIN, "token_type": "Bearer"}).to_string(),
            );
        }
        self.data_calls += 1;
        let over = self.overrides.iter().find(|(n, _)| *n == self.data_calls).map(|(_, o)| o.clone());
        if let Some(limit) = self.limit {
            if self.data_calls > limit {
                return ok(
                    403,
                    json!([{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}])
                        .to_string(),
                );
            }
        }
        match over {
            Some(Override::Answer(status, body)) => return ok(status, body.to_string()),
            Some(Override::Drop) => return Input::NetworkError("fetch failed (ECONNRESET)".into()),
            Some(Override::ProcessThenTimeOut) => {
                let _ = self.process(req, &url);
                return Input::TimedOut;
            }
            None => {}
        }
        self.process(req, &url)
    }

    fn process(&mut self, req: &HttpRequest, url: &str) -> Input {
        let body = req.body.as_ref().map(|b| b.expose()).unwrap_or_default();
        let path = url.strip_prefix(DATA).unwrap_or(url).to_string();
        if path == "/composite/sobjects" {
            let v: Value = serde_json::from_str::<Value>(&body).unwrap();
            assert_eq!(v["allOrNone"], false);
            let records = v["records"].as_array().unwrap();
            assert!(records.len() <= 200);
            let out: Vec<Value> = records
                .iter()
                .map(|r| {
                    let mut fields = r.as_object().unwrap().clone();
                    assert_eq!(fields.remove("attributes"), Some(json!({"type": "Lead"})));
                    match self.create(&fields) {
                        Ok(id) => json!({"id": id, "success": true, "errors": []}),
                        Err(e) => json!({"success": false, "errors": [e]}),
                    }
                })
                .collect();
            return ok(200, Value::Array(out).to_string());
        }
        if let Some(q) = path.strip_prefix("/query?q=") {
            let soql = percent_decode(q);
            let (field, list) = soql.split_once(" FROM Lead WHERE ").unwrap().1.split_once(" IN (").unwrap();
            let values: Vec<String> = list
                .trim_end_matches(')')
                .split(',')
                .map(|v| v.trim_matches('\'').replace("\\'", "'").to_lowercase())
                .collect();
            let records: Vec<Value> = self
                .leads
                .iter()
                .filter(|(_, l)| l[field].as_str().is_some_and(|v| values.contains(&v.to_lowercase())))
                .map(|(id, l)| json!({"attributes": {"type": "Lead"}, "Id": id, field: l[field]}))
                .collect();
            self.cursors.push(records);
            return self.query_page(self.cursors.len() - 1, 0);
        }
        if let Some(locator) = path.strip_prefix("/query/01gFAKE") {
            let (cursor, offset) = locator.split_once('-').unwrap();
            return self.query_page(cursor.parse().unwrap(), offset.parse().unwrap());
        }
        if path == "/jobs/ingest" && req.method == "POST" {
            let id = format!("7505e{:013}", self.jobs.len() + 1);
            self.jobs.push(FakeJob {
                id: id.clone(),
                state: "Open".into(),
                csv: None,
                polls: 0,
                ok: vec![],
                failed: vec![],
                header: vec![],
            });
            return ok(200, json!({"id": id, "state": "Open", "object": "Lead", "operation": "insert"}).to_string());
        }
        let rest =
            path.strip_prefix("/jobs/ingest/").unwrap_or_else(|| panic!("unexpected request {} {url}", req.method));
        let (id, sub) = rest.split_once('/').unwrap_or((rest, ""));
        let job = self.jobs.iter().position(|j| j.id == id).expect("unknown job");
        match (req.method, sub) {
            ("PUT", "batches") => {
                assert!(self.jobs[job].csv.is_none(), "one upload per job");
                self.jobs[job].csv = Some(body);
                ok(201, String::new())
            }
            ("PATCH", "") => {
                let target = serde_json::from_str::<Value>(&body).unwrap()["state"].as_str().unwrap().to_string();
                if self.jobs[job].state != "Open" {
                    return ok(400, json!([{"errorCode": "INVALIDJOBSTATE", "message": "not open"}]).to_string());
                }
                self.jobs[job].state = target.clone();
                ok(200, json!({"id": id, "state": target}).to_string())
            }
            ("GET", "") => {
                if self.jobs[job].state == "UploadComplete" {
                    self.jobs[job].polls += 1;
                    if self.jobs[job].polls >= 2 {
                        self.run_job(job);
                    } else {
                        return ok(200, json!({"id": id, "state": "InProgress"}).to_string());
                    }
                }
                ok(200, json!({"id": id, "state": self.jobs[job].state}).to_string())
            }
            ("GET", "successfulResults/") | ("GET", "failedResults/") => {
                let j = &self.jobs[job];
                let (lead, rows) = if sub.starts_with("successful") {
                    (["sf__Id", "sf__Created"], &j.ok)
                } else {
                    (["sf__Id", "sf__Error"], &j.failed)
                };
                let mut out =
                    csv_line(&lead.iter().map(|s| s.to_string()).chain(j.header.iter().cloned()).collect::<Vec<_>>());
                // Salesforce does not keep the upload order: answer in reverse.
                for r in rows.iter().rev() {
                    out.push_str(&csv_line(r));
                }
                ok(200, out)
            }
            other => panic!("unexpected bulk call {other:?}"),
        }
    }

    fn run_job(&mut self, job: usize) {
        let rows = parse_csv(self.jobs[job].csv.as_deref().unwrap_or("")).unwrap();
        let header = rows[0].clone();
        for row in &rows[1..] {
            let mut fields = serde_json::Map::new();
            for (h, v) in header.iter().zip(row) {
                if !v.is_empty() {
                    fields.insert(h.clone(), Value::String(v.clone()));
                }
            }
            match self.create(&fields) {
                Ok(id) => self.jobs[job].ok.push([id, "true".into()].into_iter().chain(row.iter().cloned()).collect()),
                Err(e) => {
                    let err = format!(
                        "{}:{}:{}--",
                        e["statusCode"].as_str().unwrap(),
                        e["message"].as_str().unwrap(),
                        e["fields"][0].as_str().unwrap_or("")
                    );
                    self.jobs[job].failed.push([String::new(), err].into_iter().chain(row.iter().cloned()).collect());
                }
            }
        }
        self.jobs[job].header = header;
        self.jobs[job].state = "JobComplete".into();
    }

    /// The page of a query's result set from `offset`, as Salesforce pages it.
    fn query_page(&self, cursor: usize, offset: usize) -> Input {
        let records = &self.cursors[cursor];
        let end = self.page_size.map_or(records.len(), |n| records.len().min(offset + n));
        let mut page =
            json!({"totalSize": records.len(), "done": end == records.len(), "records": records[offset..end]});
        if end < records.len() {
            page["nextRecordsUrl"] = json!(format!("/services/data/v66.0/query/01gFAKE{cursor}-{end}"));
        }
        ok(200, page.to_string())
    }

    fn emails(&self) -> Vec<String> {
        self.leads.iter().map(|(_, l)| l["Email"].as_str().unwrap_or("").to_string()).collect()
    }
}

fn ok(status: u16, body: String) -> Input {
    Input::Response(HttpResponse::new(status, body))
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8().unwrap().into_owned()
}

/// Drive to the end: requests sent, sleeps taken, and the report.
fn run(m: &mut Backfill, org: &mut Org) -> (Vec<HttpRequest>, Vec<u64>, BatchReport) {
    run_until(m, org, usize::MAX).unwrap_or_else(|r| panic!("stopped at {}", r.url.expose()))
}

/// Drive until `sends` requests were answered; then hand back the next request unanswered (a
/// crash right after it went out).
fn run_until(
    m: &mut Backfill,
    org: &mut Org,
    sends: usize,
) -> Result<(Vec<HttpRequest>, Vec<u64>, BatchReport), HttpRequest> {
    let mut now = 1_000_000;
    let mut requests = Vec::new();
    let mut sleeps = Vec::new();
    let mut step = m.start();
    for _ in 0..100_000 {
        step = match step {
            Step::Done(()) => return Ok((requests, sleeps, m.report())),
            Step::Sleep { ms } => {
                sleeps.push(ms);
                now += ms;
                m.resume(Input::Woke, now)
            }
            Step::Sign { .. } => m.resume(Input::Signed(vec![1]), now),
            Step::Send { request, .. } => {
                if requests.len() == sends {
                    return Err(request);
                }
                let answer = org.answer(&request);
                requests.push(request);
                now += 10;
                m.resume(answer, now)
            }
        };
    }
    panic!("the machine did not finish");
}

fn lines(reqs: &[HttpRequest]) -> Vec<String> {
    reqs.iter().map(|r| format!("{} {}", r.method, r.url.expose().replace(DATA, ""))).collect()
}

fn record_count(req: &HttpRequest) -> usize {
    serde_json::from_str::<Value>(&req.body.as_ref().unwrap().expose()).unwrap()["records"].as_array().unwrap().len()
}

// ---------------------------------------------------------------------------------------------

#[test]
fn chunks_450_users_into_200_200_50_with_exact_requests() {
    let mut org = Org::default();
    let mut m = machine(config(json!({})), users(0..450), &Value::Null, Mode::Auto);
    let (reqs, sleeps, report) = run(&mut m, &mut org);

    assert_eq!(
        lines(&reqs),
        vec![
            "POST https://acme.my.salesforce.com/services/oauth2/token",
            "POST /composite/sobjects",
            "POST /composite/sobjects",
            "POST /composite/sobjects",
        ]
    );
    assert_eq!(reqs[1..].iter().map(record_count).collect::<Vec<_>>(), vec![200, 200, 50]);
    assert!(sleeps.is_empty());
    let first = serde_json::to_value(&reqs[1]).unwrap();
    assert_eq!(first["purpose"], "createCollection");
    assert_eq!(first["headers"]["Authorization"], "Bearer ***");
    assert_eq!(first["headers"]["Content-Type"], "application/json");
    assert_eq!(reqs[1].headers.iter().find(|(k, _)| k == "Authorization").unwrap().1.expose(), "Bearer 00Dtok!batch");
    let body = reqs[1].body.as_ref().unwrap().expose();
    assert!(body.starts_with(
        r#"{"allOrNone":false,"records":[{"attributes":{"type":"Lead"},"FirstName":"User","LastName":"Number0","Email":"user0@example.com","Company":"Acme","LeadSource":"Web"},"#
    ), "{}", &body[..300]);

    assert_eq!(report.mode, Mode::Collections);
    assert_eq!((report.stats.created, report.stats.api_calls, report.stats.requests), (450, 3, 4));
    assert!(report.stopped.is_none());
    assert_eq!(report.results[0].user_key, "auth0|00000");
    assert_eq!(report.results[0].lead_id.as_deref(), Some("00Q5e0000000000001"));
    assert_eq!(report.results[449].lead_id.as_deref(), Some("00Q5e0000000000450"));
    assert_eq!(report.state["users"].as_object().unwrap().len(), 450);
    assert_eq!(report.state["users"]["auth0|00000"], json!({"status": "created", "leadId": "00Q5e0000000000001"}));
    assert_eq!(report.state["instanceUrl"], LOGIN);
    assert_eq!(report.state["format"], batch::STATE_FORMAT);
}

#[test]
fn per_record_results_map_back_to_users() {
    let mut org = Org { duplicate_rule: true, ..Org::default() };
    org.leads.push(("00Qexisting00000001".into(), json!({"Email": "dup@example.com", "LastName": "Old"})));
    let read = |v: Value| batch::users_of(Host::Auth0Action, &v);
    let items: Vec<InputItem> = vec![
        read(user(1)),
        read(json!({"user_id": "auth0|dup", "email": "dup@example.com", "family_name": "Dup"})),
        read(json!({"user_id": "auth0|long", "email": "long@example.com", "family_name": "TOOLONG"})),
        read(json!({"user_id": "auth0|noname"})),
        read(
            json!({"user_id": "auth0|done", "family_name": "Done", "app_metadata": {"recordedAsLead": true, "salesforceLeadId": "00Qold"}}),
        ),
        read(json!("not an object")),
        Err(sf_lead_rule::core::error::RuleError::new(ErrorCode::ProfileInvalid, "line 7 is not JSON")),
        read(user(1)),
    ];
    // LastName only from family_name, so a user without one cannot be built.
    let c = config(json!({"mapping": {"LastName": "family_name", "Email": "email", "Company": "'Acme'"}}));
    let mut m = machine_of(c, items, &Value::Null, Mode::Collections);
    let (reqs, _, report) = run(&mut m, &mut org);

    assert_eq!(reqs.len(), 2, "token + one collection; invalid and skipped users are never sent");
    assert_eq!(record_count(&reqs[1]), 3);
    let by_key = |k: &str| report.results.iter().find(|r| r.user_key == k).unwrap().clone();
    assert_eq!(by_key("auth0|00001").status, Status::Created);
    let dup = by_key("auth0|dup");
    assert_eq!((dup.status, dup.lead_id.as_deref()), (Status::Duplicate, Some("00Qexisting00000001")));
    let long = by_key("auth0|long");
    assert_eq!(long.status, Status::Failed);
    let e = long.error.unwrap();
    assert_eq!(
        (e.code, e.remote_code.as_deref(), e.field.as_deref()),
        (ErrorCode::SalesforceRejected, Some("STRING_TOO_LONG"), Some("LastName"))
    );
    let noname = by_key("auth0|noname");
    assert_eq!((noname.status, noname.error.unwrap().code), (Status::Invalid, ErrorCode::MissingRequiredField));
    let done = by_key("auth0|done");
    assert_eq!((done.status, done.lead_id.as_deref()), (Status::Skipped, Some("00Qold")));
    let bad = by_key("input[5]");
    assert_eq!((bad.status, bad.error.unwrap().code, bad.input), (Status::Invalid, ErrorCode::ProfileInvalid, 5));
    assert_eq!(by_key("input[6]").error.unwrap().message, "line 7 is not JSON");
    assert_eq!(report.results[7].status, Status::Skipped, "a repeated user is skipped");
    assert_eq!(report.results[7].reason.as_deref(), Some("the same user appears earlier in the input"));
    let s = &report.stats;
    assert_eq!((s.created, s.duplicate, s.failed, s.skipped, s.invalid, s.pending), (1, 1, 1, 2, 3, 0));
    assert_eq!(report.state["users"]["auth0|long"]["status"], "failed");
    assert_eq!(report.state["users"]["auth0|long"]["code"], "STRING_TOO_LONG");
}

#[test]
fn duplicates_salesforce_does_not_name_are_looked_up() {
    let mut org = Org::default();
    org.leads.push(("00Qexisting00000002".into(), json!({"Email": "Twin@Example.com", "LastName": "Old"})));
    org.overrides.push((
        1,
        Override::Answer(
            200,
            json!([
                {"success": false, "errors": [{"statusCode": "DUPLICATES_DETECTED", "message": "dup", "fields": []}]},
                {"id": "00Qnew", "success": true, "errors": []},
            ]),
        ),
    ));
    let items = vec![json!({"user_id": "u1", "email": "twin@example.com", "family_name": "Twin"}), user(2)];
    let mut m = machine(config(json!({})), items, &Value::Null, Mode::Collections);
    let (reqs, _, report) = run(&mut m, &mut org);
    assert_eq!(
        lines(&reqs)[2],
        format!(
            "GET /query?q={}",
            sf_lead_rule::core::encoding::percent_encode(
                "SELECT Id, Email FROM Lead WHERE Email IN ('twin@example.com')"
            )
        )
    );
    assert_eq!(report.results[0].status, Status::Duplicate);
    assert_eq!(report.results[0].lead_id.as_deref(), Some("00Qexisting00000002"));
    assert_eq!(report.results[1].lead_id.as_deref(), Some("00Qnew"));
}

#[test]
fn resume_skips_what_is_done_and_sends_only_the_rest() {
    let mut org = Org::default();
    let mut m = machine(config(json!({})), users(0..450), &Value::Null, Mode::Auto);
    let (_, _, first) = run(&mut m, &mut org);

    let mut m = machine(config(json!({})), users(0..460), &first.state, Mode::Auto);
    let (reqs, _, report) = run(&mut m, &mut org);
    assert_eq!(
        lines(&reqs),
        vec!["POST https://acme.my.salesforce.com/services/oauth2/token", "POST /composite/sobjects"]
    );
    assert_eq!(record_count(&reqs[1]), 10);
    assert_eq!((report.stats.skipped, report.stats.created), (450, 10));
    assert_eq!(report.results[0].reason.as_deref(), Some("done in an earlier run"));
    assert_eq!(report.results[0].lead_id, first.results[0].lead_id);
    assert_eq!(org.leads.len(), 460);

    // Everything done: nothing is sent, not even a token request.
    let mut m = machine(config(json!({})), users(0..460), &report.state, Mode::Auto);
    let (reqs, _, report) = run(&mut m, &mut org);
    assert!(reqs.is_empty());
    assert_eq!(report.stats.skipped, 460);
}

#[test]
fn request_limit_exceeded_stops_cleanly_and_resumes_without_duplicates() {
    let mut org = Org { limit: Some(2), ..Org::default() };
    let mut m = machine(config(json!({})), users(0..450), &Value::Null, Mode::Auto);
    let (reqs, _, report) = run(&mut m, &mut org);
    assert_eq!(reqs.len(), 4, "token, two collections, the refused third");
    let stopped = report.stopped.clone().unwrap();
    assert_eq!(
        (stopped.code, stopped.remote_code.as_deref(), stopped.status),
        (ErrorCode::RateLimited, Some("REQUEST_LIMIT_EXCEEDED"), Some(403))
    );
    assert_eq!((report.stats.created, report.stats.pending), (400, 50));
    assert_eq!(report.results[449].status, Status::Pending);
    assert_eq!(report.state["users"].as_object().unwrap().len(), 400, "the refused chunk is not marked sending");

    // The limit resets; the rerun sends only the 50.
    org.limit = None;
    let mut m = machine(config(json!({})), users(0..450), &report.state, Mode::Auto);
    let (reqs, _, report) = run(&mut m, &mut org);
    assert_eq!(reqs.iter().skip(1).map(record_count).collect::<Vec<_>>(), vec![50]);
    assert!(report.stopped.is_none());
    assert_eq!((report.stats.created, report.stats.skipped), (50, 400));
    assert_eq!(org.leads.len(), 450);
}

#[test]
fn a_crash_after_sending_is_resolved_by_lookup_not_by_resending() {
    let mut org = Org::default();
    let mut m = machine(config(json!({})), users(0..450), &Value::Null, Mode::Auto);
    // Answer the token and the first collection, then send the second... and crash before its
    // answer is read. The state persisted before that send marks its 200 users `sending`.
    let second = run_until(&mut m, &mut org, 2).unwrap_err();
    let persisted = m.state_json();
    assert_eq!(persisted["users"]["auth0|00200"], json!({"status": "sending"}));
    // The org did get it.
    org.answer(&second);
    assert_eq!(org.leads.len(), 400);

    let mut m = machine(config(json!({})), users(0..450), &persisted, Mode::Auto);
    let (reqs, _, report) = run(&mut m, &mut org);
    let l = lines(&reqs);
    assert!(
        l[1].starts_with(
            "GET /query?q=SELECT%20Id%2C%20Email%20FROM%20Lead%20WHERE%20Email%20IN%20%28%27user200%40example.com%27"
        ),
        "{}",
        l[1]
    );
    assert_eq!(l.len(), 3, "{l:?}");
    assert_eq!(record_count(&reqs[2]), 50);
    assert_eq!((report.stats.created, report.stats.skipped), (250, 200));
    assert_eq!(org.leads.len(), 450);
    let mut emails = org.emails();
    emails.dedup();
    assert_eq!(emails.len(), 450);
}

#[test]
fn a_lost_answer_is_verified_before_anything_is_sent_again() {
    // First collection: processed, answer lost. Second: dropped before processing.
    let mut org = Org::default();
    org.overrides.push((1, Override::ProcessThenTimeOut));
    org.overrides.push((3, Override::Drop));
    let mut m = machine(config(json!({})), users(0..250), &Value::Null, Mode::Auto);
    let (reqs, _, report) = run(&mut m, &mut org);
    let l = lines(&reqs);
    assert_eq!(&l[1], "POST /composite/sobjects");
    assert!(l[2].starts_with("GET /query?q="), "{l:?}");
    assert_eq!(&l[3], "POST /composite/sobjects");
    assert!(l[4].starts_with("GET /query?q="), "verify the dropped one too: {l:?}");
    assert_eq!(&l[5], "POST /composite/sobjects");
    assert_eq!(l.len(), 6);
    assert_eq!(record_count(&reqs[3]), 50);
    assert_eq!(record_count(&reqs[5]), 50, "not found, so sent again");
    assert_eq!(report.stats.created, 250);
    assert_eq!(org.leads.len(), 250);
}

#[test]
fn a_lookup_reads_every_page_before_deciding() {
    // The collection is processed but its answer lost; the lookup that verifies it answers two
    // records a page: without the later pages, three users would look missing and be sent again.
    let mut org = Org { page_size: Some(2), ..Org::default() };
    org.overrides.push((1, Override::ProcessThenTimeOut));
    let mut m = machine(config(json!({})), users(0..5), &Value::Null, Mode::Auto);
    let (reqs, _, report) = run(&mut m, &mut org);
    let l = lines(&reqs);
    assert_eq!(l.len(), 5, "{l:?}");
    assert!(l[2].starts_with("GET /query?q=SELECT%20Id%2C%20Email%20FROM%20Lead%20WHERE%20Email%20IN"), "{l:?}");
    assert_eq!(&l[3..], ["GET /query/01gFAKE0-2", "GET /query/01gFAKE0-4"]);
    assert!(reqs[3].headers.iter().any(|(n, v)| *n == "Authorization" && v.expose() == "Bearer 00Dtok!batch"));
    assert_eq!(report.stats.created, 5);
    assert_eq!(org.leads.len(), 5, "nothing sent twice");
    let ids: Vec<_> = report.results.iter().map(|r| r.lead_id.clone().unwrap()).collect();
    assert_eq!(ids, org.leads.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>());
}

#[test]
fn an_expired_query_locator_reads_the_lookup_again_from_its_first_page() {
    let mut org = Org { page_size: Some(2), ..Org::default() };
    org.overrides.push((1, Override::ProcessThenTimeOut));
    let gone = json!([{"errorCode": "INVALID_QUERY_LOCATOR", "message": "invalid query locator"}]);
    org.overrides.push((3, Override::Answer(400, gone)));
    let mut m = machine(config(json!({})), users(0..5), &Value::Null, Mode::Auto);
    let (reqs, _, report) = run(&mut m, &mut org);
    let l = lines(&reqs);
    assert_eq!(l[3], "GET /query/01gFAKE0-2");
    assert!(l[4].starts_with("GET /query?q="), "{l:?}");
    assert_eq!(&l[5..], ["GET /query/01gFAKE1-2", "GET /query/01gFAKE1-4"]);
    assert_eq!((report.stats.created, org.leads.len()), (5, 5));
}

#[test]
fn a_next_page_off_the_instance_is_never_requested() {
    let mut org = Org::default();
    org.overrides.push((1, Override::ProcessThenTimeOut));
    let hostile = json!({"totalSize": 9, "done": false, "records": [],
        "nextRecordsUrl": "https://evil.example.net/services/data/v66.0/query/01g-2000"});
    org.overrides.push((2, Override::Answer(200, hostile)));
    let mut m = machine(config(json!({})), users(0..3), &Value::Null, Mode::Auto);
    let (reqs, sleeps, report) = run(&mut m, &mut org);
    let l = lines(&reqs);
    assert!(reqs.iter().all(|r| r.url.expose().starts_with(LOGIN)), "{l:?}");
    // Read as an unusable answer: the lookup is asked again, from its first page.
    assert_eq!(l.len(), 4, "{l:?}");
    assert!(l[2].starts_with("GET /query?q=") && l[3] == l[2], "{l:?}");
    assert_eq!(sleeps.len(), 1);
    assert_eq!((report.stats.created, org.leads.len()), (3, 3));
}

#[test]
fn a_query_that_never_ends_stops_the_run_instead_of_paging_forever() {
    // Each page says "not done" and names a next page: a lookup must not read pages (nor
    // restart it on an expired locator) without end.
    let mut org = Org::default();
    org.overrides.push((1, Override::ProcessThenTimeOut));
    let endless = json!({"totalSize": 9, "done": false, "records": [],
        "nextRecordsUrl": "/services/data/v66.0/query/01gLOOP-2000"});
    let gone = json!([{"errorCode": "INVALID_QUERY_LOCATOR", "message": "invalid query locator"}]);
    for n in 2..=400 {
        // Every third page read is refused as an expired locator, which restarts the lookup.
        let answer =
            if n % 3 == 0 { Override::Answer(400, gone.clone()) } else { Override::Answer(200, endless.clone()) };
        org.overrides.push((n, answer));
    }
    let mut m = machine(config(json!({})), users(0..3), &Value::Null, Mode::Auto);
    let (reqs, _, report) = run(&mut m, &mut org);
    let reads = reqs.iter().filter(|r| r.url.expose().contains("/query")).count();
    assert_eq!(reads, batch::MAX_LOOKUP_PAGES, "{:?}", lines(&reqs));
    let stopped = report.stopped.unwrap();
    assert_eq!(stopped.code, ErrorCode::ResponseInvalid, "{}", stopped.message);
    // Never resent blind: the records the lost create made are looked up by the next run.
    assert_eq!((org.leads.len(), report.stats.created), (3, 0));
    assert_eq!(report.state["users"]["auth0|00000"]["status"], "sending");
}

#[test]
fn users_that_cannot_be_looked_up_are_never_resent_blind() {
    let mut org = Org::default();
    org.overrides.push((1, Override::ProcessThenTimeOut));
    let items = vec![json!({"user_id": "u-no-email", "family_name": "NoMail"})];
    let mut m = machine(config(json!({})), items, &Value::Null, Mode::Auto);
    let (reqs, _, report) = run(&mut m, &mut org);
    assert_eq!(reqs.len(), 2);
    let r = &report.results[0];
    assert_eq!((r.status, r.error.as_ref().unwrap().code), (Status::Failed, ErrorCode::OutcomeUnknown));
    assert_eq!(report.state["users"]["u-no-email"]["status"], "unknown");
    // A rerun does not send it either.
    let mut m = machine(
        config(json!({})),
        vec![json!({"user_id": "u-no-email", "family_name": "NoMail"})],
        &report.state,
        Mode::Auto,
    );
    assert!(run(&mut m, &mut org).0.is_empty());
    assert_eq!(org.leads.len(), 1);
}

#[test]
fn expired_session_is_refreshed_once_per_request() {
    let mut org = Org::default();
    let expired = json!([{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}]);
    org.overrides.push((1, Override::Answer(401, expired.clone())));
    let mut m = machine(config(json!({})), users(0..3), &Value::Null, Mode::Auto);
    let (reqs, _, report) = run(&mut m, &mut org);
    assert_eq!(
        lines(&reqs),
        vec![
            "POST https://acme.my.salesforce.com/services/oauth2/token",
            "POST /composite/sobjects",
            "POST https://acme.my.salesforce.com/services/oauth2/token",
            "POST /composite/sobjects",
        ]
    );
    assert_eq!(reqs[1].body.as_ref().unwrap().expose(), reqs[3].body.as_ref().unwrap().expose());
    assert_eq!(report.stats.created, 3);

    let mut org = Org::default();
    org.overrides.push((1, Override::Answer(401, expired.clone())));
    org.overrides.push((2, Override::Answer(401, expired)));
    let mut m = machine(config(json!({})), users(0..3), &Value::Null, Mode::Auto);
    let (_, _, report) = run(&mut m, &mut org);
    assert_eq!(report.stopped.unwrap().code, ErrorCode::SessionExpired);
    assert_eq!(report.stats.pending, 3);
    assert!(report.state["users"].as_object().unwrap().is_empty(), "refused, so not sending");
}

#[test]
fn unavailable_and_throttled_requests_are_retried_with_backoff() {
    let mut org = Org::default();
    org.overrides.push((1, Override::Answer(503, json!([{"errorCode": "SERVER_UNAVAILABLE", "message": "down"}]))));
    org.overrides
        .push((2, Override::Answer(429, json!([{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "slow down"}]))));
    let mut m = machine(config(json!({})), users(0..3), &Value::Null, Mode::Auto);
    let (reqs, sleeps, report) = run(&mut m, &mut org);
    assert_eq!(reqs.len(), 4);
    assert_eq!(sleeps.len(), 2);
    assert!((500..=1_000).contains(&sleeps[0]), "{sleeps:?}");
    assert!((1_000..=2_000).contains(&sleeps[1]), "{sleeps:?}");
    assert_eq!(report.stats.created, 3);
    assert!(report.stopped.is_none());

    // Never-ending 503s: the run stops (resumable) after the retries, users pending, not sending.
    let mut org = Org::default();
    for n in 1..=10 {
        org.overrides.push((n, Override::Answer(503, json!([{"errorCode": "SERVER_UNAVAILABLE", "message": "down"}]))));
    }
    let mut m = machine(config(json!({})), users(0..3), &Value::Null, Mode::Auto);
    let (reqs, _, report) = run(&mut m, &mut org);
    assert_eq!(reqs.len(), 1 + 6);
    assert_eq!(report.stopped.unwrap().code, ErrorCode::SalesforceUnavailable);
    assert_eq!(report.stats.pending, 3);
}

fn tricky_users() -> Vec<Value> {
    vec![
        json!({"user_id": "b1", "email": "b1@example.com", "family_name": "Comma, Jr.", "user_metadata": {"company": "Acme \"Quoted\" Inc"}}),
        json!({"user_id": "b2", "email": "b2@example.com", "family_name": "=HYPERLINK(\"http://evil\")", "user_metadata": {"company": "+Plus"}}),
        json!({"user_id": "b3", "email": "b3@example.com", "family_name": "Line\nBreak", "user_metadata": {"company": "-Minus"}}),
        json!({"user_id": "b4", "family_name": "TOOLONG", "user_metadata": {"company": "@At"}}),
        json!({"user_id": "b5", "email": "b5@example.com", "family_name": "Plain"}),
    ]
}

#[test]
fn bulk_job_lifecycle_with_exact_requests_and_csv() {
    let mut org = Org::default();
    let c = config(
        // The mapping as JSON text (as `SALESFORCE_MAPPING`, or a JS object read in order): a
        // `json!` object would sort its fields, and the CSV columns follow the mapping's order.
        json!({"mapping": r#"{"LastName": "family_name", "Email": "email", "Company": "user_metadata.company ?? 'Acme'"}"#}),
    );
    let mut m = machine(c, tricky_users(), &Value::Null, Mode::Bulk);
    let (reqs, sleeps, report) = run(&mut m, &mut org);
    let job = "7505e0000000000001";
    assert_eq!(
        lines(&reqs),
        vec![
            "POST https://acme.my.salesforce.com/services/oauth2/token".to_string(),
            "POST /jobs/ingest".into(),
            format!("PUT /jobs/ingest/{job}/batches"),
            format!("PATCH /jobs/ingest/{job}"),
            format!("GET /jobs/ingest/{job}"),
            format!("GET /jobs/ingest/{job}"),
            format!("GET /jobs/ingest/{job}/successfulResults/"),
            format!("GET /jobs/ingest/{job}/failedResults/"),
        ]
    );
    assert_eq!(sleeps.len(), 2, "a pause before each poll");
    assert_eq!(
        reqs[1].body.as_ref().unwrap().expose(),
        r#"{"object":"Lead","operation":"insert","contentType":"CSV","lineEnding":"LF"}"#
    );
    assert_eq!(
        reqs[2].body.as_ref().unwrap().expose(),
        "LastName,Email,Company\n\
         \"Comma, Jr.\",b1@example.com,\"Acme \"\"Quoted\"\" Inc\"\n\
         \"=HYPERLINK(\"\"http://evil\"\")\",b2@example.com,\"+Plus\"\n\
         \"Line\nBreak\",b3@example.com,\"-Minus\"\n\
         TOOLONG,,\"@At\"\n\
         Plain,b5@example.com,Acme\n"
    );
    assert!(reqs[2].headers.iter().any(|(k, v)| k == "Content-Type" && v.expose() == "text/csv"));
    assert_eq!(reqs[3].body.as_ref().unwrap().expose(), r#"{"state":"UploadComplete"}"#);
    // Values arrive exactly, formula signs included.
    assert_eq!(org.leads[1].1["LastName"], "=HYPERLINK(\"http://evil\")");
    assert_eq!(org.leads[2].1["LastName"], "Line\nBreak");

    assert_eq!(report.mode, Mode::Bulk);
    let ids: Vec<_> = report.results.iter().map(|r| (r.user_key.as_str(), r.status, r.lead_id.clone())).collect();
    assert_eq!(
        ids[0],
        ("b1", Status::Created, Some(org.leads[0].0.clone())),
        "matched by content despite the reversed order"
    );
    assert_eq!(ids[4], ("b5", Status::Created, Some(org.leads[3].0.clone())));
    let failed = &report.results[3];
    assert_eq!(failed.status, Status::Failed);
    let e = failed.error.as_ref().unwrap();
    assert_eq!((e.remote_code.as_deref(), e.field.as_deref()), (Some("STRING_TOO_LONG"), Some("LastName")));
    assert_eq!((report.stats.created, report.stats.failed, report.stats.api_calls), (4, 1, 7));
    assert!(report.state.get("bulkJob").is_none(), "the finished job is forgotten");
}

#[test]
fn a_resumed_bulk_job_is_polled_not_recreated() {
    let mut org = Org::default();
    let mut m = machine(config(json!({})), users(0..20), &Value::Null, Mode::Bulk);
    // token, create, upload, close: crash before the first poll is answered.
    run_until(&mut m, &mut org, 4).unwrap_err();
    let persisted = m.state_json();
    assert_eq!(persisted["bulkJob"], json!({"id": "7505e0000000000001", "phase": "closed"}));
    assert_eq!(persisted["users"]["auth0|00003"]["status"], "bulk");

    let mut m = machine(config(json!({})), users(0..20), &persisted, Mode::Collections);
    let (reqs, _, report) = run(&mut m, &mut org);
    let l = lines(&reqs);
    assert_eq!(&l[1], "GET /jobs/ingest/7505e0000000000001");
    assert!(!l.iter().any(|x| x == "POST /jobs/ingest"), "{l:?}");
    assert_eq!(report.stats.created, 20);
    assert_eq!(org.leads.len(), 20);
    assert_eq!(org.jobs.len(), 1);
}

#[test]
fn a_resumed_job_whose_upload_is_unconfirmed_is_aborted_and_redone() {
    let mut org = Org::default();
    let mut m = machine(config(json!({})), users(0..20), &Value::Null, Mode::Bulk);
    // token, create (answered), upload: crash before the upload's answer.
    run_until(&mut m, &mut org, 2).unwrap_err();
    let persisted = m.state_json();
    assert_eq!(persisted["bulkJob"]["phase"], "open");

    let mut m = machine(config(json!({})), users(0..20), &persisted, Mode::Bulk);
    let (reqs, _, report) = run(&mut m, &mut org);
    let l = lines(&reqs);
    assert_eq!(
        &l[1..4],
        &["GET /jobs/ingest/7505e0000000000001", "PATCH /jobs/ingest/7505e0000000000001", "POST /jobs/ingest"]
    );
    assert_eq!(reqs[2].body.as_ref().unwrap().expose(), r#"{"state":"Aborted"}"#);
    assert_eq!(org.jobs[0].state, "Aborted");
    assert_eq!(report.stats.created, 20);
    assert_eq!(org.leads.len(), 20);
}

#[test]
fn auto_mode_switches_to_bulk_above_the_threshold() {
    let mut m = machine(config(json!({"bulkThreshold": 3})), users(0..4), &Value::Null, Mode::Auto);
    assert_eq!(m.mode(), Mode::Bulk);
    let (_, _, report) = run(&mut m, &mut Org::default());
    assert_eq!(report.stats.created, 4);
    let m = machine(config(json!({"bulkThreshold": 4})), users(0..4), &Value::Null, Mode::Auto);
    assert_eq!(m.mode(), Mode::Collections);
    assert_eq!(config(json!({})).bulk_threshold, 50_000);
}

#[test]
fn external_id_is_sent_and_used_for_lookups_and_row_matching() {
    let c = || config(json!({"externalIdField": "Auth0_User_Id__c"}));
    let mut org = Org::default();
    org.overrides.push((1, Override::ProcessThenTimeOut));
    let mut m = machine(c(), users(0..2), &Value::Null, Mode::Collections);
    let (reqs, _, report) = run(&mut m, &mut org);
    assert!(reqs[1].body.as_ref().unwrap().expose().contains(r#""Auth0_User_Id__c":"auth0|00000""#));
    assert!(lines(&reqs)[2].contains(&sf_lead_rule::core::encoding::percent_encode(
        "WHERE Auth0_User_Id__c IN ('auth0|00000','auth0|00001')"
    )));
    assert_eq!(report.stats.created, 2);
    assert_eq!(org.leads.len(), 2);

    let mut org = Org::default();
    let mut m = machine(c(), users(0..3), &Value::Null, Mode::Bulk);
    let (_, _, report) = run(&mut m, &mut org);
    assert_eq!(report.stats.created, 3);
    assert_eq!(report.state["users"]["auth0|00002"]["leadId"], org.leads[2].0.as_str());
}

#[test]
fn dry_run_plans_without_secrets() {
    let m = machine(config(json!({})), users(0..450), &Value::Null, Mode::Auto);
    let plan = batch::plan(m, LOGIN);
    assert_eq!(plan.requests.len(), 4);
    assert_eq!(plan.stats.pending, 450);
    assert_eq!(plan.results[0].status, Status::Planned);
    let text = serde_json::to_string(&plan).unwrap();
    assert!(!text.contains("client-secret-1") && !text.contains("Bearer planned"), "{}", &text[..400]);
    let v = serde_json::to_value(&plan).unwrap();
    assert_eq!(v["requests"][0]["body"], "grant_type=client_credentials&client_id=cid&client_secret=***");
    assert_eq!(v["requests"][1]["headers"]["Authorization"], "Bearer ***");
    assert_eq!(v["requests"][1]["body"]["records"].as_array().unwrap().len(), 200);
    assert_eq!(v["dryRun"], true, "a plan says it is one");

    let m = machine(config(json!({})), users(0..5), &Value::Null, Mode::Bulk);
    let plan = batch::plan(m, LOGIN);
    let methods: Vec<_> = plan.requests.iter().map(|r| r.method).collect();
    assert_eq!(methods, vec!["POST", "POST", "PUT", "PATCH", "GET", "GET", "GET"]);
    assert_eq!(plan.stats.pending, 5);
}

#[test]
fn a_state_from_another_org_is_refused_after_login() {
    let mut org = Org::default();
    let mut m = machine(config(json!({})), users(0..1), &Value::Null, Mode::Auto);
    let (_, _, report) = run(&mut m, &mut org);
    let mut state = report.state.clone();
    state["instanceUrl"] = json!("https://other.my.salesforce.com");
    let mut m = machine(config(json!({})), users(0..2), &state, Mode::Auto);
    let (reqs, _, report) = run(&mut m, &mut org);
    assert_eq!(reqs.len(), 1, "only the token request");
    let e = report.stopped.unwrap();
    assert_eq!((e.code, e.field.as_deref()), (ErrorCode::ConfigInvalid, Some("state")));
}

#[test]
fn a_redirected_collection_stops_the_backfill_without_resending() {
    // Data call 2 (the second chunk) answers 302: refused as a whole, not retried, not followed.
    let mut org = Org {
        overrides: vec![(2, Override::Answer(302, json!([{"id": "00Q000000000001AAA", "success": true}])))],
        ..Org::default()
    };
    let mut m = machine(config(json!({})), users(0..450), &Value::Null, Mode::Auto);
    let (reqs, sleeps, report) = run(&mut m, &mut org);
    assert_eq!(reqs.len(), 3, "token, the first collection, the redirected second");
    assert!(sleeps.is_empty());
    let stopped = report.stopped.clone().unwrap();
    assert_eq!(
        (stopped.code, stopped.remote_code.as_deref(), stopped.status),
        (ErrorCode::RedirectRefused, Some("REDIRECT_REFUSED"), Some(302))
    );
    assert_eq!((report.stats.created, report.stats.pending), (200, 250));
    assert_eq!(report.state["users"].as_object().unwrap().len(), 200, "the redirected chunk is not marked sending");
}

/// Settings read from JSON text as `configure()` and each call read a JS config
/// (`SettingsText`), merged as they are (the call's keys over `configure()`'s).
fn config_from_texts(base: &str, call: &str) -> Config {
    let read = |text: &str| serde_json::from_str::<SettingsText>(text).unwrap().into_map();
    let mut merged = read(base);
    merged.extend(read(call));
    Config::parse(&merged).unwrap()
}

#[test]
fn mapping_field_order_is_the_order_written_in_record_create_body_collections_and_csv() {
    // Not alphabetical: serde_json's objects sort their keys; the mapping keeps the order written.
    let mapping = r#"{"Company": "user_metadata.company ?? 'Acme'", "LastName": "family_name", "Email": "email", "FirstName": "given_name"}"#;
    let order = ["Company", "LastName", "Email", "FirstName"];
    let base = format!(r#"{{"mapping": {mapping}, "clientId": "cid", "loginUrl": "{LOGIN}"}}"#);
    let call = r#"{"clientSecret": "client-secret-1", "object": "Lead"}"#;
    // configure({mapping, …}) then a call's own settings; and the mapping given on the call.
    let configured = config_from_texts(&base, call);
    let on_call = config_from_texts(
        r#"{"clientId": "x"}"#,
        &base.replace(r#""clientId": "cid""#, r#""clientId": "cid", "clientSecret": "client-secret-1""#),
    );
    assert_eq!(configured.mapping, on_call.mapping);
    let fields: Vec<&str> = configured.mapping.fields.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(fields, order);
    assert_eq!(configured.mapping_name, "custom");
    // The same mapping as SALESFORCE_MAPPING text, and as a key-sorted object (order lost).
    let secret = config(json!({"mapping": mapping}));
    assert_eq!(secret.mapping, configured.mapping);
    let sorted = config(serde_json::from_str::<Value>(&format!(r#"{{"mapping": {mapping}}}"#)).unwrap());
    let sorted_fields: Vec<&str> = sorted.mapping.fields.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(sorted_fields, ["Company", "Email", "FirstName", "LastName"]);

    // The record and the create body.
    let profile = user(1);
    let (record, _) = build_record(SObject::Lead, &configured.mapping, &profile).unwrap();
    assert_eq!(
        serde_json::to_string(&record).unwrap(),
        r#"{"Company":"Acme","LastName":"Number1","Email":"user1@example.com","FirstName":"User"}"#
    );
    let event = HostEvent { profile, signal: FirstLoginSignal::FirstLogin };
    let mut flow = FirstLoginFlow::new(configured.clone(), event, None, 1_000_000, 7);
    let token = json!({"access_token": "00Dtok", "instance_url": LOGIN, "token_type": "Bearer"}).to_string();
    let create = match flow.start() {
        FlowStep::Send { .. } => match flow.resume(Input::Response(HttpResponse::new(200, token)), 1_000_010) {
            FlowStep::Send { request, .. } => request,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    assert_eq!(
        create.body.as_ref().unwrap().expose(),
        r#"{"Company":"Acme","LastName":"Number1","Email":"user1@example.com","FirstName":"User"}"#
    );

    // sObject Collections.
    let mut org = Org::default();
    let (reqs, _, _) = run(&mut machine(configured.clone(), users(1..2), &Value::Null, Mode::Collections), &mut org);
    assert_eq!(
        reqs[1].body.as_ref().unwrap().expose(),
        r#"{"allOrNone":false,"records":[{"attributes":{"type":"Lead"},"Company":"Acme","LastName":"Number1","Email":"user1@example.com","FirstName":"User"}]}"#
    );

    // Bulk API 2.0: the CSV columns.
    let mut org = Org::default();
    let (reqs, _, _) = run(&mut machine(configured, users(1..3), &Value::Null, Mode::Bulk), &mut org);
    assert_eq!(
        reqs[2].body.as_ref().unwrap().expose(),
        "Company,LastName,Email,FirstName\nAcme,Number1,user1@example.com,User\nAcme,Number2,user2@example.com,User\n"
    );
}

#[test]
fn settings_text_refuses_unknown_keys_naming_the_key() {
    let map = serde_json::from_str::<SettingsText>(r#"{"mapping": {"LastName": "name"}, "clinetId": "x"}"#)
        .unwrap()
        .into_map();
    let err = Config::parse(&map).unwrap_err();
    assert_eq!((err.code, err.field.as_deref()), (ErrorCode::ConfigInvalid, Some("clinetId")));
    // A mapping that is not an object is kept as given, and refused as before.
    let map = serde_json::from_str::<SettingsText>(r#"{"mapping": 3, "clientId": "x"}"#).unwrap().into_map();
    assert_eq!(map.get("mapping"), Some(&json!(3)));
    let map = serde_json::from_str::<SettingsText>(r#"{"mapping": "auth0-template"}"#).unwrap().into_map();
    assert_eq!(map.get("mapping"), Some(&json!("auth0-template")));
}
