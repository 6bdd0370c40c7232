//! Slack incoming-webhook messages: the "new Lead" notice and the failure alert, with every user
//! value mrkdwn-escaped, and the reading of Slack's answer. The webhook URL is a secret.

use crate::core::error::{ErrorCode, RuleError};
use crate::core::http::{HttpRequest, HttpResponse, Purpose, Text};
use crate::core::json::json;
use crate::core::record::{RecordPayload, SObject};
use crate::core::salesforce::retry_after_ms;
use crate::core::secret::Secret;

/// Escape text for Slack mrkdwn so a profile value like `<!channel>` is shown, not obeyed.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    // Copy the runs between the characters that change, not character by character.
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let with = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            c if c.is_control() && c != '\n' => "",
            _ => continue,
        };
        out.push_str(s.get(start..i).unwrap_or_default());
        out.push_str(with);
        start = i + c.len_utf8();
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out
}

fn person(record: &RecordPayload) -> String {
    let name = [record.get("FirstName"), record.get("LastName")].into_iter().flatten().collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        "(no name)".to_string()
    } else {
        name
    }
}

/// The notice for a newly created record.
pub fn created_message(object: SObject, record: &RecordPayload, record_url: &str) -> String {
    let mut text = format!("New Salesforce {}: *{}*", object.name(), escape(&person(record)));
    if let Some(email) = record.get("Email") {
        text.push_str(&format!(" ({})", escape(email)));
    }
    if let Some(company) = record.get("Company") {
        text.push_str(&format!(" from {}", escape(company)));
    }
    // The URL is ours (instance URL + percent-encoded id), but escape it anyway: it came from a response.
    text.push_str(&format!(" — <{}|open in Salesforce>", escape(record_url)));
    json!({ "text": text }).to_string()
}

/// The alert for a record that could not be created. `who` identifies the user (email or id);
/// the error message was built by us and scrubbed of secrets.
pub fn failure_message(object: SObject, who: &str, error: &RuleError) -> String {
    let mut text = format!(
        ":warning: Could not create the Salesforce {} for {}: {} — {}",
        object.name(),
        escape(who),
        error.code,
        escape(&error.message)
    );
    if let Some(remote) = &error.remote_code {
        text.push_str(&format!(" (Salesforce: {})", escape(remote)));
    }
    text.push_str(". The user was not marked as recorded; the next login tries again.");
    json!({ "text": text }).to_string()
}

pub fn webhook_request(url: &Secret, body: String) -> HttpRequest {
    HttpRequest::new(Purpose::NotifySlack, "POST", Text::secret(url.clone())).json_body(body)
}

/// What Slack's answer means.
#[derive(Debug, Clone, PartialEq)]
pub enum SlackResult {
    Sent,
    Retryable { error: RuleError, retry_after_ms: Option<u64> },
    Failed(RuleError),
}

pub fn parse_webhook_response(resp: &HttpResponse) -> SlackResult {
    if resp.status == 200 {
        return SlackResult::Sent;
    }
    // Slack answers with a short error word (`no_service`, `invalid_payload`); keep it short.
    let word: String = resp.body.trim().chars().take(60).filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    let word = if word.is_empty() { format!("http_{}", resp.status) } else { word };
    let error =
        RuleError::new(ErrorCode::SlackFailed, format!("Slack refused the message (HTTP {}: {word})", resp.status))
            .with_remote(word, resp.status);
    if resp.status == 429 || resp.status >= 500 {
        SlackResult::Retryable { error, retry_after_ms: retry_after_ms(resp) }
    } else {
        SlackResult::Failed(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::json;

    #[test]
    fn escape_drops_controls_but_newlines_and_encodes_mrkdwn() {
        assert_eq!(escape("é<a&b>\u{0}\u{85}\n\t😀"), "é&lt;a&amp;b&gt;\n😀");
        assert_eq!(escape(""), "");
    }

    #[test]
    fn user_values_cannot_ping_everyone() {
        let r = RecordPayload {
            fields: vec![
                ("FirstName".into(), "<!channel>".into()),
                ("LastName".into(), "A&B".into()),
                ("Email".into(), "x@y.com".into()),
                ("Company".into(), "<script>".into()),
            ],
        };
        let m = created_message(SObject::Lead, &r, "https://a.my.salesforce.com/lightning/r/Lead/00Q1/view");
        assert_eq!(
            json::from_str(&m).unwrap()["text"],
            "New Salesforce Lead: *&lt;!channel&gt; A&amp;B* (x@y.com) from &lt;script&gt; — <https://a.my.salesforce.com/lightning/r/Lead/00Q1/view|open in Salesforce>"
        );
    }

    #[test]
    fn slack_answers() {
        assert_eq!(parse_webhook_response(&HttpResponse::new(200, "ok")), SlackResult::Sent);
        assert!(
            matches!(parse_webhook_response(&HttpResponse::new(404, "no_service")), SlackResult::Failed(e) if e.remote_code.as_deref() == Some("no_service"))
        );
        assert!(matches!(
            parse_webhook_response(&HttpResponse::new(429, "rate_limited").with_header("Retry-After", "1")),
            SlackResult::Retryable { retry_after_ms: Some(1000), .. }
        ));
    }
}
