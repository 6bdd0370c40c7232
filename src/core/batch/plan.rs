//! The dry run: what a run would send, without sending.

use crate::core::http::{HttpRequest, HttpResponse, Purpose};
use crate::core::step::Input;

use super::api;
use super::input::Mode;
use super::machine::Backfill;
use super::report::{Stats, UserResult};
use super::Step;
use crate::core::outcome::Status;

use serde::Serialize;
use serde_json::{json, Value};

/// What a run would send, without sending: the machine driven with simulated successful answers
/// (so the plan cannot drift from a real run), requests serialised with secrets as `***`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchPlan {
    /// Always `true`: what tells a plan from a report in JS.
    #[serde(rename = "dryRun")]
    pub dry_run: bool,
    /// `collections` or `bulk`: the API a run would use.
    pub mode: Mode,
    /// The requests a run would send, in order.
    pub requests: Vec<HttpRequest>,
    /// `planned` for users that would be sent; skipped and invalid ones as a run would report them.
    pub results: Vec<UserResult>,
    /// The counts a run would report.
    pub stats: Stats,
}

/// Id shown for records and jobs a plan would create.
pub const PLANNED_JOB_ID: &str = "750000000000000AAA";

/// Drive `machine` with simulated successful answers from `instance_url` and collect what it would send.
pub fn plan(mut machine: Backfill, instance_url: &str) -> BatchPlan {
    let now = machine.now;
    let mut requests = Vec::new();
    let mut uploaded = String::new();
    let mut step = machine.start();
    // Bounded: every simulated answer settles users or advances a job.
    for _ in 0..(machine.users.len() * 4 + 64) {
        step = match step {
            Step::Done(()) => break,
            Step::Sleep { .. } => machine.resume(Input::Woke, now),
            Step::Sign { .. } => machine.resume(Input::Signed(vec![0; 256]), now),
            Step::Send { request, .. } => {
                let resp = simulated_response(&request, instance_url, &mut uploaded);
                requests.push(request);
                machine.resume(Input::Response(resp), now)
            }
        };
    }
    let mut report = machine.report();
    for r in &mut report.results {
        if r.status == Status::Created {
            r.status = Status::Planned;
            r.lead_id = None;
        }
    }
    let mut stats = report.stats;
    stats.pending += stats.created;
    stats.created = 0;
    BatchPlan { dry_run: true, mode: report.mode, requests, results: report.results, stats }
}

fn simulated_response(req: &HttpRequest, instance: &str, uploaded: &mut String) -> HttpResponse {
    let planned = crate::core::plan::PLANNED_ID;
    let url = req.url.masked();
    match (req.purpose, req.method) {
        (Purpose::Token, _) => HttpResponse::new(
            200,
            json!({"access_token": "planned", "instance_url": instance, "token_type": "Bearer"}).to_string(),
        ),
        (Purpose::FindExisting, _) => HttpResponse::new(200, r#"{"totalSize":0,"done":true,"records":[]}"#),
        (Purpose::CreateCollection, _) => {
            let n = req
                .body
                .as_ref()
                .and_then(|b| serde_json::from_str::<Value>(&b.expose()).ok())
                .and_then(|v| v.get("records").and_then(Value::as_array).map(Vec::len))
                .unwrap_or(0);
            let one = json!({"id": planned, "success": true, "errors": []});
            HttpResponse::new(200, Value::Array(vec![one; n]).to_string())
        }
        (Purpose::BulkJob, "PUT") => {
            *uploaded = req.body.as_ref().map(|b| b.expose()).unwrap_or_default();
            HttpResponse::new(201, "")
        }
        (Purpose::BulkJob, "GET") if url.ends_with("/successfulResults/") => {
            let rows = api::parse_csv(uploaded).unwrap_or_default();
            let mut out = String::new();
            for (n, row) in rows.iter().enumerate() {
                let lead: [&str; 2] = if n == 0 { ["sf__Id", "sf__Created"] } else { [planned, "true"] };
                let cells: Vec<&str> = lead.iter().copied().chain(row.iter().map(String::as_str)).collect();
                out.push_str(&api::csv_line(&cells));
            }
            HttpResponse::new(200, out)
        }
        (Purpose::BulkJob, "GET") if url.ends_with("/failedResults/") => HttpResponse::new(200, "sf__Id,sf__Error\n"),
        (Purpose::BulkJob, "GET") => {
            HttpResponse::new(200, json!({"id": PLANNED_JOB_ID, "state": "JobComplete"}).to_string())
        }
        (Purpose::BulkJob, "PATCH") => {
            HttpResponse::new(200, json!({"id": PLANNED_JOB_ID, "state": "UploadComplete"}).to_string())
        }
        (Purpose::BulkJob, _) => HttpResponse::new(200, json!({"id": PLANNED_JOB_ID, "state": "Open"}).to_string()),
        _ => HttpResponse::new(200, "{}"),
    }
}
