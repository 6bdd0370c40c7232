//! Salesforce's many-record APIs on the wire: sObject Collections (`composite/sobjects`), the
//! SOQL lookups that verify what a lost answer did, and Bulk API 2.0 ingest jobs (create, upload
//! CSV, close, poll, results). Builds requests and reads answers; never sends anything.

use crate::core::config::Config;
use crate::core::encoding::percent_encode;
use crate::core::error::{ErrorCode, Result, RuleError};
use crate::core::http::{HttpRequest, HttpResponse, Purpose, Text};
use crate::core::record::{RecordPayload, SObject};
use crate::core::salesforce::{self as sf, AccessToken};
use crate::core::secret::scrub;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::Value;

/// sObject Collections takes at most this many records per request.
pub const COLLECTION_LIMIT: usize = 200;

/// How Salesforce answered a request, before its body is read for records.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// 2xx: read the body.
    Ok,
    /// 401 / `INVALID_SESSION_ID`: get a new token and send the same request again.
    SessionInvalid,
    /// 403 `REQUEST_LIMIT_EXCEEDED`: the org's API allowance is used up; stop, resume later.
    LimitExceeded(RuleError),
    /// 429 or 5xx: wait (`Retry-After` when given) and send it again.
    Retry {
        /// What went wrong.
        error: RuleError,
        /// `Retry-After`, in ms.
        retry_after_ms: Option<u64>,
    },
    /// Any other refusal of the request as a whole.
    Refused(RuleError),
}

/// What `resp` means for a collection or bulk request, before its body is read.
pub fn classify(resp: &HttpResponse, config: &Config) -> Answer {
    if (200..300).contains(&resp.status) {
        return Answer::Ok;
    }
    if resp.is_redirect() {
        // Refused as a whole and not retried: nothing is sent where it points.
        return Answer::Refused(sf::redirect_error(resp));
    }
    let errors = sf::parse_api_errors(&resp.body);
    let first = errors.first();
    let remote = first.map(|e| e.code.clone()).unwrap_or_else(|| format!("HTTP_{}", resp.status));
    let message = first.map(|e| scrub(&e.message, &config.secrets())).unwrap_or_default();
    let said = if message.is_empty() { String::new() } else { format!(": {message}") };
    if resp.status == 401 || remote == "INVALID_SESSION_ID" {
        return Answer::SessionInvalid;
    }
    // A 429 carries REQUEST_LIMIT_EXCEEDED too, but means "slow down": only the 403 is final.
    if resp.status == 429 || resp.status >= 500 {
        let error = RuleError::new(
            ErrorCode::SalesforceUnavailable,
            format!("Salesforce is unavailable (HTTP {}){said}", resp.status),
        )
        .with_remote(remote, resp.status);
        return Answer::Retry { error, retry_after_ms: sf::retry_after_ms(resp) };
    }
    if remote == "REQUEST_LIMIT_EXCEEDED" {
        return Answer::LimitExceeded(
            RuleError::new(ErrorCode::RateLimited, format!("Salesforce API request limit exceeded{said}"))
                .with_remote(remote, resp.status),
        );
    }
    Answer::Refused(
        RuleError::new(
            ErrorCode::SalesforceRejected,
            format!("Salesforce refused the request (HTTP {}){said}", resp.status),
        )
        .with_remote(remote, resp.status),
    )
}

// ---------------------------------------------------------------------------------------------
// sObject Collections

/// The body of a collection request (written in this order).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CollectionBody<'a> {
    all_or_none: bool,
    records: Vec<CollectionRecord<'a>>,
}

/// `{"attributes": {"type": object}, …fields}`, the fields in mapping order.
struct CollectionRecord<'a> {
    object: SObject,
    fields: &'a RecordPayload,
}

impl Serialize for CollectionRecord<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = serializer.serialize_map(Some(self.fields.fields.len() + 1))?;
        m.serialize_entry("attributes", &Attributes { r#type: self.object })?;
        for (k, v) in &self.fields.fields {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct Attributes {
    r#type: SObject,
}

/// The body of a Bulk API 2.0 insert job (written in this order).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JobBody {
    object: SObject,
    operation: &'static str,
    content_type: &'static str,
    line_ending: &'static str,
}

/// `POST …/composite/sobjects` creating `records` (at most [`COLLECTION_LIMIT`]), `allOrNone:
/// false` so one bad record never holds back the others. Field order follows the mapping.
pub fn collection_request(token: &AccessToken, config: &Config, records: &[&RecordPayload]) -> HttpRequest {
    let records = records.iter().map(|&fields| CollectionRecord { object: config.object, fields }).collect();
    // Infallible: every key is a string.
    let body = serde_json::to_string(&CollectionBody { all_or_none: false, records }).unwrap_or_default();
    let req = HttpRequest::new(Purpose::CreateCollection, "POST", sf::data_url(token, config, "composite/sobjects"));
    sf::with_sforce_headers(sf::authorized(req, token), config).json_body(body)
}

/// What Salesforce did with one record of a collection.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordResult {
    /// Salesforce created it.
    Created {
        /// The new record's id.
        id: String,
    },
    /// A duplicate rule (`DUPLICATES_DETECTED`) or a unique field (`DUPLICATE_VALUE`) points at an
    /// existing record; `id` when Salesforce named it.
    Duplicate {
        /// The existing record's id, when named.
        id: Option<String>,
    },
    /// Salesforce refused the record.
    Failed(RuleError),
}

/// One result per record, in request order: `[{id, success, errors: [{statusCode, message,
/// fields}]}]`. A body that is not such an array, or has the wrong length, is `RESPONSE_INVALID`.
pub fn parse_collection_results(resp: &HttpResponse, config: &Config, expected: usize) -> Result<Vec<RecordResult>> {
    let items = match serde_json::from_str::<Value>(&resp.body) {
        Ok(Value::Array(items)) if items.len() == expected => items,
        Ok(Value::Array(items)) => {
            return Err(sf::invalid_response(&format!("{} results for {expected} records", items.len()), resp.status))
        }
        _ => return Err(sf::invalid_response("collection results are not a JSON array", resp.status)),
    };
    let object = config.object.name();
    let secrets = config.secrets();
    Ok(items
        .iter()
        .map(|item| {
            let id = item.get("id").and_then(Value::as_str).filter(|s| !s.is_empty()).map(String::from);
            if item.get("success").and_then(Value::as_bool) == Some(true) {
                return match id {
                    Some(id) => RecordResult::Created { id },
                    None => RecordResult::Failed(sf::invalid_response("a successful result has no id", resp.status)),
                };
            }
            let errors = item.get("errors").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            let code_of = |e: &Value| {
                e.get("statusCode")
                    .or_else(|| e.get("errorCode"))
                    .and_then(Value::as_str)
                    .unwrap_or("UNKNOWN_ERROR")
                    .to_string()
            };
            if let Some(dup) =
                errors.iter().find(|e| matches!(code_of(e).as_str(), "DUPLICATES_DETECTED" | "DUPLICATE_VALUE"))
            {
                let named = duplicate_ids(dup)
                    .into_iter()
                    .next()
                    .or_else(|| id_in_message(dup.get("message").and_then(Value::as_str).unwrap_or("")));
                return RecordResult::Duplicate { id: named };
            }
            let first = errors.first();
            let code = first.map(code_of).unwrap_or_else(|| "UNKNOWN_ERROR".into());
            let message = first
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .map(|m| scrub(m, &secrets))
                .unwrap_or_default();
            let mut error = RuleError::new(
                ErrorCode::SalesforceRejected,
                if message.is_empty() {
                    format!("Salesforce refused the {object}")
                } else {
                    format!("Salesforce refused the {object}: {message}")
                },
            )
            .with_remote(code, resp.status);
            if let Some(f) = first
                .and_then(|e| e.get("fields"))
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(Value::as_str)
            {
                error = error.with_field(f);
            }
            RecordResult::Failed(error)
        })
        .collect())
}

fn duplicate_ids(e: &Value) -> Vec<String> {
    let results = e.pointer("/duplicateResult/matchResults").and_then(Value::as_array);
    results
        .into_iter()
        .flatten()
        .flat_map(|r| r.get("matchRecords").and_then(Value::as_array).into_iter().flatten())
        .filter_map(|m| m.pointer("/record/Id").and_then(Value::as_str).map(String::from))
        .collect()
}

/// `duplicate value found: F duplicates value on record with id: 00Q…` names the record.
fn id_in_message(message: &str) -> Option<String> {
    let (_, rest) = message.rsplit_once("with id: ")?;
    let id: String = rest.chars().take_while(char::is_ascii_alphanumeric).collect();
    (id.len() == 15 || id.len() == 18).then_some(id)
}

// ---------------------------------------------------------------------------------------------
// Lookups

/// `SELECT Id, {field} FROM {object} WHERE {field} IN (…)`, values as escaped SOQL literals.
pub fn lookup_request(token: &AccessToken, config: &Config, field: &str, values: &[&str]) -> HttpRequest {
    let list = values.iter().map(|v| sf::soql_literal(v)).collect::<Vec<_>>().join(",");
    let soql = format!("SELECT Id, {field} FROM {} WHERE {field} IN ({list})", config.object.name());
    let url = sf::data_url(token, config, &format!("query?q={}", percent_encode(&soql)));
    sf::authorized(HttpRequest::new(Purpose::FindExisting, "GET", url), token)
}

/// Length of the percent-encoded literal `value` adds to a lookup URL (for keeping URLs short).
pub fn lookup_cost(value: &str) -> usize {
    percent_encode(&sf::soql_literal(value)).len() + 3
}

/// One page of a lookup's answer: `(field value, Id)` of each record on it, and where the next
/// page is (`nextRecordsUrl`) while Salesforce says `done: false`.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupPage {
    /// `(field value, Id)` of each record on the page.
    pub found: Vec<(String, String)>,
    /// The next page's path (`/services/data/vXX.X/query/01g…-2000`), when there is one.
    pub next: Option<String>,
}

/// Read one page of a lookup's answer. `done: false` must come with a `nextRecordsUrl` that is a
/// path on the instance ([`next_page_request`] builds its request); anything else is
/// `RESPONSE_INVALID`, so a hostile answer never sends the token elsewhere.
pub fn parse_lookup(resp: &HttpResponse, field: &str) -> Result<LookupPage> {
    let v: Value = serde_json::from_str::<Value>(&resp.body)
        .map_err(|_| sf::invalid_response("query response is not JSON", resp.status))?;
    let records = v
        .get("records")
        .and_then(Value::as_array)
        .ok_or_else(|| sf::invalid_response("query response has no records", resp.status))?;
    let found = records
        .iter()
        .filter_map(|r| {
            let obj = r.as_object()?;
            let id = obj.get("Id").and_then(Value::as_str)?;
            let value = obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(field)).and_then(|(_, v)| v.as_str())?;
            Some((value.to_string(), id.to_string()))
        })
        .collect();
    let next = match v.get("done") {
        Some(Value::Bool(false)) => {
            let url = v.get("nextRecordsUrl").and_then(Value::as_str).unwrap_or_default();
            if !is_next_page_path(url) {
                return Err(sf::invalid_response(
                    "query answer is not done but its nextRecordsUrl is not a query page of this instance",
                    resp.status,
                ));
            }
            Some(url.to_string())
        }
        _ => None,
    };
    Ok(LookupPage { found, next })
}

/// `/services/data/vNN.N/query/<locator>` (or `queryAll`): a path, so the page is read from the
/// instance the token belongs to, with nothing `fetch` could resolve elsewhere (`..`, `//`, `\`,
/// `%`, `?`, `#`, `@`, a scheme).
fn is_next_page_path(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("/services/data/v") else { return false };
    let mut parts = rest.split('/');
    let version_ok = parts.next().is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
    let route_ok = matches!(parts.next(), Some("query" | "queryAll"));
    let locator_ok = parts
        .next()
        .is_some_and(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    version_ok && route_ok && locator_ok && parts.next().is_none()
}

/// The GET of a lookup's next page (`path` from [`LookupPage::next`]) on the token's instance.
pub fn next_page_request(token: &AccessToken, path: &str) -> HttpRequest {
    let url = format!("{}{path}", token.instance_url);
    sf::authorized(HttpRequest::new(Purpose::FindExisting, "GET", Text::plain(url)), token)
}

// ---------------------------------------------------------------------------------------------
// Bulk API 2.0 ingest

fn jobs_url(token: &AccessToken, config: &Config, rest: &str) -> Text {
    sf::data_url(token, config, &format!("jobs/ingest{rest}"))
}

fn bulk(token: &AccessToken, method: &'static str, url: Text) -> HttpRequest {
    sf::authorized(HttpRequest::new(Purpose::BulkJob, method, url), token)
}

/// `POST …/jobs/ingest`: an insert job for CSV with LF line endings.
pub fn create_job_request(token: &AccessToken, config: &Config) -> HttpRequest {
    let body = JobBody { object: config.object, operation: "insert", content_type: "CSV", line_ending: "LF" };
    // Infallible: every key is a string.
    let body = serde_json::to_string(&body).unwrap_or_default();
    sf::with_sforce_headers(bulk(token, "POST", jobs_url(token, config, "")), config).json_body(body)
}

/// `PUT …/jobs/ingest/{id}/batches` with the whole CSV (one upload per job).
pub fn upload_request(token: &AccessToken, config: &Config, job_id: &str, csv: String) -> HttpRequest {
    let url = jobs_url(token, config, &format!("/{}/batches", percent_encode(job_id)));
    bulk(token, "PUT", url).body("text/csv", Text::plain(csv))
}

/// `PATCH …/jobs/ingest/{id}` to `UploadComplete` (close) or `Aborted`.
pub fn set_job_state_request(token: &AccessToken, config: &Config, job_id: &str, state: &str) -> HttpRequest {
    let url = jobs_url(token, config, &format!("/{}", percent_encode(job_id)));
    bulk(token, "PATCH", url).json_body(serde_json::json!({ "state": state }).to_string())
}

/// `GET …/jobs/ingest/{id}`: the job's state.
pub fn job_info_request(token: &AccessToken, config: &Config, job_id: &str) -> HttpRequest {
    bulk(token, "GET", jobs_url(token, config, &format!("/{}", percent_encode(job_id))))
}

/// Which result file of a finished job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultKind {
    /// `successfulResults/`: rows created.
    Successful,
    /// `failedResults/`: rows refused.
    Failed,
}

/// `GET …/jobs/ingest/{id}/successfulResults/` or `failedResults/` (CSV).
pub fn results_request(token: &AccessToken, config: &Config, job_id: &str, kind: ResultKind) -> HttpRequest {
    let which = match kind {
        ResultKind::Successful => "successfulResults",
        ResultKind::Failed => "failedResults",
    };
    let url = jobs_url(token, config, &format!("/{}/{which}/", percent_encode(job_id)));
    let mut req = HttpRequest::new(Purpose::BulkJob, "GET", url)
        .header("Authorization", Text::plain("Bearer ").push_secret(token.token.clone()));
    req = req.header("Accept", Text::plain("text/csv"));
    req
}

/// The parts of a job's info the backfill acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// The job's id.
    pub id: String,
    /// `Open`, `UploadComplete`, `InProgress`, `JobComplete`, `Failed` or `Aborted`.
    pub state: String,
    /// Salesforce's `errorMessage` for a failed job.
    pub error_message: Option<String>,
}

impl JobInfo {
    /// Whether the job will change no more (complete, failed or aborted).
    pub fn finished(&self) -> bool {
        matches!(self.state.as_str(), "JobComplete" | "Failed" | "Aborted")
    }
}

/// Read a job info answer (create, close or poll).
pub fn parse_job_info(resp: &HttpResponse) -> Result<JobInfo> {
    let v: Value = serde_json::from_str::<Value>(&resp.body)
        .map_err(|_| sf::invalid_response("job info is not JSON", resp.status))?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(String::from);
    match (text("id"), text("state")) {
        (Some(id), Some(state)) => Ok(JobInfo { id, state, error_message: text("errorMessage") }),
        _ => Err(sf::invalid_response("job info has no id or state", resp.status)),
    }
}

/// One row of a result file: Salesforce's own columns, then the uploaded columns by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultRow {
    /// `sf__Id` (empty for most failed rows).
    pub id: String,
    /// `sf__Created` of a successful row.
    pub created: bool,
    /// `sf__Error` of a failed row: `CODE:message:fields --`.
    pub error: Option<String>,
    /// The uploaded cells, by column name, in the file's column order.
    pub columns: Vec<(String, String)>,
}

/// Read a `successfulResults/` or `failedResults/` CSV. An empty body is no rows.
pub fn parse_result_rows(resp: &HttpResponse) -> Result<Vec<ResultRow>> {
    let rows = parse_csv(&resp.body)
        .map_err(|e| sf::invalid_response(&format!("result CSV line {}: {}", e.line, e.message), resp.status))?;
    let Some((header, rows)) = rows.split_first() else { return Ok(Vec::new()) };
    let find = |name: &str| header.iter().position(|h| h == name);
    let (id_col, created_col, error_col) = (find("sf__Id"), find("sf__Created"), find("sf__Error"));
    Ok(rows
        .iter()
        .map(|row| {
            let at = |i: Option<usize>| i.and_then(|i| row.get(i)).cloned();
            ResultRow {
                id: at(id_col).unwrap_or_default(),
                created: at(created_col).is_some_and(|c| c.eq_ignore_ascii_case("true")),
                error: at(error_col),
                columns: header
                    .iter()
                    .zip(row.iter())
                    .filter(|(h, _)| !h.starts_with("sf__"))
                    .map(|(h, v)| (h.clone(), v.clone()))
                    .collect(),
            }
        })
        .collect())
}

/// `REQUIRED_FIELD_MISSING:Required fields are missing: [Company]:Company --` as an error.
pub fn bulk_row_error(sf_error: &str, config: &Config) -> RuleError {
    let text = sf_error.trim().trim_end_matches('-').trim_end();
    let (code, rest) = text.split_once(':').unwrap_or((text, ""));
    let (message, fields) = match rest.rsplit_once(':') {
        Some((m, f)) if !f.contains(' ') || f.trim().is_empty() => (m, f.trim()),
        _ => (rest, ""),
    };
    let message = scrub(message.trim(), &config.secrets());
    let code = if code.trim().is_empty() { "UNKNOWN_ERROR" } else { code.trim() };
    let mut e = RuleError::new(
        ErrorCode::SalesforceRejected,
        format!("Salesforce refused the {}: {message}", config.object.name()),
    )
    .with_remote(code, 200);
    if let Some(f) = fields.split(',').map(str::trim).find(|f| !f.is_empty()) {
        e = e.with_field(f);
    }
    e
}

// ---------------------------------------------------------------------------------------------
// Bulk API 2.0 CSV, written and read with csv-core (RFC 4180). Values are data, never formulas: a
// leading `=`, `+`, `-` or `@` is kept as it is (Salesforce stores text, it does not evaluate it).

/// One CSV record of `cells`, ending in LF (the job's `lineEnding`).
pub fn csv_line<S: AsRef<str>>(cells: &[S]) -> String {
    let mut out = Vec::new();
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_csv_cell(&mut out, cell.as_ref());
    }
    out.push(b'\n');
    // Valid UTF-8: whole values with ASCII quotes and commas around them.
    String::from_utf8_lossy(&out).into_owned()
}

/// One cell: bare when it is plain; quoted, inner quotes doubled, when csv-core says RFC 4180
/// needs it (a quote, comma, CR or LF), and also when it starts with a space, tab or formula sign
/// or ends with a space or tab, so no reader can trim or evaluate it. An empty cell is nothing.
fn push_csv_cell(out: &mut Vec<u8>, value: &str) {
    use csv_core::{QuoteStyle, WriterBuilder};
    if value.is_empty() {
        // csv-core would write `""` for an empty field that is alone in its record.
        return;
    }
    let guarded = value.starts_with([' ', '\t', '=', '+', '-', '@']) || value.ends_with([' ', '\t']);
    let style = if guarded { QuoteStyle::Always } else { QuoteStyle::Necessary };
    let mut writer = WriterBuilder::new().quote_style(style).build();
    let start = out.len();
    // Room for csv-core's worst case: two quotes around a value of quotes only, each doubled.
    out.resize(start + 2 + 2 * value.len(), 0);
    let (_, _, field) = writer.field(value.as_bytes(), &mut out[start..]);
    let (_, closing) = writer.finish(&mut out[start + field..]);
    out.truncate(start + field + closing);
}

/// A CSV file that did not read as a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvError {
    /// 1-based line where reading the record that went wrong began (blank lines before it count).
    pub line: u64,
    /// What was wrong.
    pub message: String,
}

/// Rows of cells, as csv-core reads RFC 4180: LF or CRLF ends a record outside quotes, blank
/// lines are skipped, inside quotes `""` is one quote and line breaks are data. Every row must
/// have as many cells as the first (the header): a quote left open swallows the lines after it
/// into one cell, and that is refused here with the line where it started.
pub fn parse_csv(text: &str) -> std::result::Result<Vec<Vec<String>>, CsvError> {
    use csv_core::{ReadRecordResult, Reader};
    let mut reader = Reader::new();
    let mut input = text.as_bytes();
    // Buffers for one record, grown when a record does not fit (csv-core's own pattern); they are
    // reused for the next record, so a large result file costs no more than its largest record.
    let mut cells = vec![0u8; 1024];
    let mut ends = vec![0usize; 64];
    let (mut cells_len, mut ends_len) = (0, 0);
    let mut record_line = reader.line();
    let mut rows: Vec<Vec<String>> = Vec::new();
    loop {
        let (result, read, written, ended) = reader.read_record(
            input,
            cells.get_mut(cells_len..).unwrap_or_default(),
            ends.get_mut(ends_len..).unwrap_or_default(),
        );
        input = input.get(read..).unwrap_or_default();
        cells_len += written;
        ends_len += ended;
        match result {
            // All of the text was given at once: the next call, with no input, ends it.
            ReadRecordResult::InputEmpty => continue,
            ReadRecordResult::OutputFull => cells.resize(cells.len() * 2, 0),
            ReadRecordResult::OutputEndsFull => ends.resize(ends.len() * 2, 0),
            ReadRecordResult::Record => {
                let mut start = 0;
                let mut row = Vec::with_capacity(ends_len);
                for &end in ends.get(..ends_len).unwrap_or_default() {
                    row.push(String::from_utf8_lossy(cells.get(start..end).unwrap_or_default()).into_owned());
                    start = end;
                }
                if let Some(width) = rows.first().map(Vec::len).filter(|w| *w != row.len()) {
                    let message = format!("{} cells where the header has {width} (a quote not closed?)", row.len());
                    return Err(CsvError { line: record_line, message });
                }
                rows.push(row);
                (cells_len, ends_len) = (0, 0);
                record_line = reader.line();
            }
            ReadRecordResult::End => return Ok(rows),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> Config {
        Config::parse(json!({"clientId":"cid","clientSecret":"s3cret-value"}).as_object().unwrap()).unwrap()
    }
    fn token() -> AccessToken {
        AccessToken {
            token: crate::core::secret::Secret::new("tok!"),
            instance_url: "https://a.my.salesforce.com".into(),
        }
    }

    #[test]
    fn collection_request_keeps_order_and_masks_the_token() {
        let p = RecordPayload { fields: vec![("LastName".into(), "Doe".into()), ("Company".into(), "Acme".into())] };
        let r = collection_request(&token(), &config(), &[&p]);
        assert_eq!(r.url.expose(), "https://a.my.salesforce.com/services/data/v66.0/composite/sobjects");
        assert_eq!(
            r.body.as_ref().unwrap().expose(),
            r#"{"allOrNone":false,"records":[{"attributes":{"type":"Lead"},"LastName":"Doe","Company":"Acme"}]}"#
        );
        assert_eq!(serde_json::to_value(&r).unwrap()["headers"]["Authorization"], "Bearer ***");
    }

    #[test]
    fn collection_results_per_record() {
        let body = json!([
            {"id": "00Q1", "success": true, "errors": []},
            {"success": false, "errors": [{"statusCode": "DUPLICATES_DETECTED", "message": "dup", "fields": [],
                "duplicateResult": {"matchResults": [{"matchRecords": [{"record": {"Id": "00Qold"}}]}]}}]},
            {"success": false, "errors": [{"statusCode": "DUPLICATE_VALUE", "message": "duplicate value found: Auth0_User_Id__c duplicates value on record with id: 00Q5e0000000001AAA", "fields": []}]},
            {"success": false, "errors": [{"statusCode": "STRING_TOO_LONG", "message": "Signup Source: data value too large", "fields": ["Signup_Source__c"]}]},
            {"success": false, "errors": [{"statusCode": "DUPLICATES_DETECTED", "message": "dup", "fields": []}]},
        ]);
        let r = parse_collection_results(&HttpResponse::new(200, body.to_string()), &config(), 5).unwrap();
        assert_eq!(r[0], RecordResult::Created { id: "00Q1".into() });
        assert_eq!(r[1], RecordResult::Duplicate { id: Some("00Qold".into()) });
        assert_eq!(r[2], RecordResult::Duplicate { id: Some("00Q5e0000000001AAA".into()) });
        match &r[3] {
            RecordResult::Failed(e) => {
                assert_eq!(
                    (e.remote_code.as_deref(), e.field.as_deref()),
                    (Some("STRING_TOO_LONG"), Some("Signup_Source__c"))
                );
                assert_eq!(e.message, "Salesforce refused the Lead: Signup Source: data value too large");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r[4], RecordResult::Duplicate { id: None });
        let short = parse_collection_results(&HttpResponse::new(200, "[]"), &config(), 1).unwrap_err();
        assert_eq!(short.code, ErrorCode::ResponseInvalid);
    }

    #[test]
    fn answers_are_classified() {
        let c = config();
        assert_eq!(classify(&HttpResponse::new(200, "[]"), &c), Answer::Ok);
        assert_eq!(
            classify(&HttpResponse::new(401, r#"[{"errorCode":"INVALID_SESSION_ID","message":"x"}]"#), &c),
            Answer::SessionInvalid
        );
        let limit = HttpResponse::new(
            403,
            r#"[{"errorCode":"REQUEST_LIMIT_EXCEEDED","message":"TotalRequests Limit exceeded."}]"#,
        );
        assert!(matches!(classify(&limit, &c), Answer::LimitExceeded(e) if e.code == ErrorCode::RateLimited));
        let slow = HttpResponse::new(429, r#"[{"errorCode":"REQUEST_LIMIT_EXCEEDED","message":"slow"}]"#)
            .with_header("Retry-After", "2");
        assert!(matches!(classify(&slow, &c), Answer::Retry { retry_after_ms: Some(2000), .. }));
        assert!(
            matches!(classify(&HttpResponse::new(404, "[]"), &c), Answer::Refused(e) if e.remote_code.as_deref() == Some("HTTP_404"))
        );
    }

    #[test]
    fn lookup_escapes_values() {
        let r = lookup_request(&token(), &config(), "Email", &["o'brien@x.com", "a@b.co"]);
        let url = r.url.expose();
        let q = url.split_once("q=").unwrap().1;
        assert_eq!(q, percent_encode(r"SELECT Id, Email FROM Lead WHERE Email IN ('o\'brien@x.com','a@b.co')"));
        let found = parse_lookup(
            &HttpResponse::new(200, r#"{"records":[{"attributes":{},"Id":"00Q1","Email":"A@B.co"}]}"#),
            "email",
        )
        .unwrap();
        assert_eq!(found, LookupPage { found: vec![("A@B.co".to_string(), "00Q1".to_string())], next: None });
    }

    #[test]
    fn lookup_pages_follow_next_records_url_on_the_instance_only() {
        let page = |done: bool, next: Value| {
            HttpResponse::new(
                200,
                serde_json::json!({"totalSize": 3, "done": done, "nextRecordsUrl": next,
                    "records": [{"Id": "00Q1", "Email": "a@b.co"}]})
                .to_string(),
            )
        };
        let first = parse_lookup(&page(false, "/services/data/v66.0/query/01g5e00000000012-2000".into()), "Email");
        let first = first.unwrap();
        assert_eq!(first.next.as_deref(), Some("/services/data/v66.0/query/01g5e00000000012-2000"));
        assert_eq!(first.found.len(), 1);
        let r = next_page_request(&token(), first.next.as_deref().unwrap());
        assert_eq!(
            (r.method, r.purpose, r.url.expose()),
            (
                "GET",
                Purpose::FindExisting,
                "https://a.my.salesforce.com/services/data/v66.0/query/01g5e00000000012-2000".into()
            )
        );
        assert!(r.headers.iter().any(|(n, _)| *n == "Authorization"));
        assert_eq!(parse_lookup(&page(true, Value::Null), "Email").unwrap().next, None);
        assert_eq!(
            parse_lookup(&page(false, "/services/data/v66.0/queryAll/01gX-200".into()), "Email")
                .unwrap()
                .next
                .as_deref(),
            Some("/services/data/v66.0/queryAll/01gX-200")
        );
        for hostile in [
            Value::Null,
            "".into(),
            "https://evil.example.net/services/data/v66.0/query/01g-2000".into(),
            "//evil.example.net/services/data/v66.0/query/01g-2000".into(),
            "/services/data/v66.0/query/../../../evil".into(),
            "/services/data/v66.0/query/01g-2000/../x".into(),
            "/services/data/v66.0/query/01g@evil.example.net".into(),
            "/services/data/v66.0/query/01g%2F..".into(),
            "/services/data/v66.0/query/01g-2000?x=1".into(),
            "/services/data/v66.0/sobjects/Lead".into(),
            "/services/data/v66.0/query/".into(),
            "\\evil.example.net/services/data/v66.0/query/01g".into(),
            12.into(),
        ] {
            let e = parse_lookup(&page(false, hostile.clone()), "Email").unwrap_err();
            assert_eq!(e.code, ErrorCode::ResponseInvalid, "{hostile}");
        }
    }

    #[test]
    fn bulk_requests_and_results() {
        let (t, c) = (token(), config());
        let create = create_job_request(&t, &c);
        assert_eq!(
            (create.method, create.url.expose()),
            ("POST", "https://a.my.salesforce.com/services/data/v66.0/jobs/ingest".to_string())
        );
        assert_eq!(
            create.body.unwrap().expose(),
            r#"{"object":"Lead","operation":"insert","contentType":"CSV","lineEnding":"LF"}"#
        );
        let up = upload_request(&t, &c, "7501", "LastName\nDoe\n".into());
        assert_eq!(
            (up.method, up.url.expose()),
            ("PUT", "https://a.my.salesforce.com/services/data/v66.0/jobs/ingest/7501/batches".to_string())
        );
        assert!(up.headers.iter().any(|(k, v)| k == "Content-Type" && v.expose() == "text/csv"));
        let close = set_job_state_request(&t, &c, "7501", "UploadComplete");
        assert_eq!(
            (close.method, close.body.unwrap().expose()),
            ("PATCH", r#"{"state":"UploadComplete"}"#.to_string())
        );
        assert_eq!(
            results_request(&t, &c, "7501", ResultKind::Failed).url.expose(),
            "https://a.my.salesforce.com/services/data/v66.0/jobs/ingest/7501/failedResults/"
        );

        let ok = HttpResponse::new(
            200,
            "\"sf__Id\",\"sf__Created\",\"LastName\",\"Company\"\n\"00Q1\",\"true\",\"Doe\",\"Acme, Inc.\"\n",
        );
        assert_eq!(
            parse_result_rows(&ok).unwrap(),
            vec![ResultRow {
                id: "00Q1".into(),
                created: true,
                error: None,
                columns: vec![("LastName".into(), "Doe".into()), ("Company".into(), "Acme, Inc.".into())]
            }]
        );
        let e = bulk_row_error("REQUIRED_FIELD_MISSING:Required fields are missing: [Company]:Company --", &c);
        assert_eq!((e.remote_code.as_deref(), e.field.as_deref()), (Some("REQUIRED_FIELD_MISSING"), Some("Company")));
        assert_eq!(e.message, "Salesforce refused the Lead: Required fields are missing: [Company]");
        let e = bulk_row_error(
            "STRING_TOO_LONG:Signup Source: data value too large: xxx (max length=255):Signup_Source__c--",
            &c,
        );
        assert_eq!((e.remote_code.as_deref(), e.field.as_deref()), (Some("STRING_TOO_LONG"), Some("Signup_Source__c")));
        let info = parse_job_info(&HttpResponse::new(
            200,
            r#"{"id":"7501","state":"Failed","errorMessage":"InvalidBatch : Field name not found : Foo"}"#,
        ))
        .unwrap();
        assert!(info.finished());
        assert_eq!(info.error_message.as_deref(), Some("InvalidBatch : Field name not found : Foo"));
    }

    #[test]
    fn csv_quotes_only_what_needs_it() {
        let cell = |v: &str| csv_line(&[v]).trim_end_matches('\n').to_string();
        assert_eq!(cell("Doe"), "Doe");
        assert_eq!(cell(""), "");
        assert_eq!(cell("O'Brien"), "O'Brien");
        assert_eq!(cell("Acme, Inc."), "\"Acme, Inc.\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("\"\""), "\"\"\"\"\"\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(cell("cr\r"), "\"cr\r\"");
        assert_eq!(cell(" padded "), "\" padded \"");
        assert_eq!(cell("tab\t"), "\"tab\t\"");
        assert_eq!(cell("a;b|c'd"), "a;b|c'd");
        assert_eq!(csv_line(&["", "x", ""]), ",x,\n");
        assert_eq!(csv_line::<&str>(&[]), "\n");
    }

    #[test]
    fn csv_formula_signs_are_kept_as_data_and_quoted() {
        for v in ["=HYPERLINK(\"http://x\")", "+1 555 0100", "-5", "@SUM(A1)"] {
            let c = csv_line(&[v]);
            assert!(c.starts_with('"') && c.ends_with("\"\n"), "{c}");
            assert_eq!(parse_csv(&c).unwrap(), vec![vec![v.to_string()]], "round trip of {v}");
        }
        assert_eq!(csv_line(&["=1", "-2"]), "\"=1\",\"-2\"\n");
    }

    #[test]
    fn csv_reads_records_longer_and_wider_than_its_first_buffers() {
        // 300 cells of up to 40 bytes each, quoted and not: more than the first 1 KiB and 64 ends.
        let row = |r: usize| -> Vec<String> {
            (0..300)
                .map(|c| if c % 3 == 0 { format!("{r}-{c}, \"q\" {}", "x".repeat(c % 30)) } else { format!("{r}.{c}") })
                .collect()
        };
        let rows: Vec<Vec<String>> = (0..5).map(row).collect();
        let text: String = rows.iter().map(|r| csv_line(r)).collect();
        assert!(text.lines().all(|l| l.len() > 2048), "every record outgrows the first buffer");
        assert_eq!(parse_csv(&text).unwrap(), rows);
    }

    #[test]
    fn csv_round_trips_lines() {
        let rows = vec![
            vec!["LastName".to_string(), "Company".into(), "Description".into()],
            vec!["Doe".into(), "Acme, \"the\" company".into(), "line one\nline two\r\nthree".into()],
            vec!["".into(), "=1+1".into(), "é 林".into()],
        ];
        let text: String = rows.iter().map(|r| csv_line(r)).collect();
        assert_eq!(parse_csv(&text).unwrap(), rows);
        let crlf = "a,b\r\n\"x\",\"\"\r\n\r\n";
        assert_eq!(parse_csv(crlf).unwrap(), vec![vec!["a".to_string(), "b".into()], vec!["x".into(), "".into()]]);
        assert_eq!(
            parse_csv("a,b\n\nc,d").unwrap(),
            vec![vec!["a".to_string(), "b".into()], vec!["c".into(), "d".into()]]
        );
        assert_eq!(parse_csv("").unwrap(), Vec::<Vec<String>>::new());
    }

    #[test]
    fn csv_with_rows_of_another_width_is_an_error_with_its_line() {
        let open = parse_csv("a,b\n\"open,x\ny,z\n").unwrap_err();
        assert_eq!(open, CsvError { line: 2, message: "1 cells where the header has 2 (a quote not closed?)".into() });
        assert_eq!(parse_csv("a,b\nx,y\n\"two\nlines\",z\nshort\n").unwrap_err().line, 5);
        // csv-core reads stray quotes leniently, as data.
        assert_eq!(parse_csv("a\nx\"y\n").unwrap(), vec![vec!["a".to_string()], vec!["x\"y".into()]]);
    }
}
