//! Slack incoming-webhook messages: the "new Lead" notice and the failure alert, with every user
//! value mrkdwn-escaped, and the reading of Slack's answer. The webhook URL is a secret.

use crate::core::error::{ErrorCode, RuleError};
use crate::core::http::{HttpRequest, HttpResponse, Purpose, Text};
use crate::core::record::{RecordPayload, SObject};
use crate::core::salesforce::retry_after_ms;
use crate::core::secret::Secret;

/// Append `s` mrkdwn-escaped, so a profile value like `<!channel>` is shown, not obeyed, and
/// then JSON-escaped, as inside the JSON string of a message: one pass and no copy of the text.
/// Byte-wise: every character that changes is either ASCII (`&`, `<`, `>`, C0 controls, DEL,
/// and for JSON `"`, `\`) or a C1 control (U+0080–U+009F, always `C2 80`–`C2 9F` in UTF-8), so
/// no character needs decoding; `\n` is the one control kept (`\n` in JSON). What is left after
/// the mrkdwn escape needs no other JSON escape: `JSON.stringify` escapes only controls, `"` and `\`.
fn escape_into(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    // Copy the runs between the characters that change, not character by character.
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let (with, len) = match bytes[i] {
            b'&' => ("&amp;", 1),
            b'<' => ("&lt;", 1),
            b'>' => ("&gt;", 1),
            b'\n' => ("\\n", 1),
            b'"' => ("\\\"", 1),
            b'\\' => ("\\\\", 1),
            0..=0x1f | 0x7f => ("", 1),
            0xc2 if matches!(bytes.get(i + 1), Some(0x80..=0x9f)) => ("", 2),
            _ => {
                i += 1;
                continue;
            }
        };
        out.push_str(s.get(start..i).unwrap_or_default());
        out.push_str(with);
        i += len;
        start = i;
    }
    out.push_str(s.get(start..).unwrap_or_default());
}

/// First and last name joined by a space, escaped, or `(no name)` when that join is empty.
fn push_person(out: &mut String, record: &RecordPayload) {
    // Decided on the text before escaping: a name of controls only is shown as nothing.
    let mut joined_len = 0;
    for (i, name) in [record.get("FirstName"), record.get("LastName")].into_iter().flatten().enumerate() {
        if i > 0 {
            out.push(' ');
            joined_len += 1;
        }
        escape_into(out, name);
        joined_len += name.len();
    }
    if joined_len == 0 {
        out.push_str("(no name)");
    }
}

/// The body of an incoming-webhook message, `{"text": …}`, with `text` written by `write` (its
/// fixed pieces have nothing to escape, its values go through [`escape_into`]).
fn message(write: impl FnOnce(&mut String)) -> String {
    let mut out = String::with_capacity(192);
    out.push_str("{\"text\":\"");
    write(&mut out);
    out.push_str("\"}");
    out
}

/// The notice for a newly created record.
pub fn created_message(object: SObject, record: &RecordPayload, record_url: &str) -> String {
    message(|text| {
        text.push_str("New Salesforce ");
        text.push_str(object.name());
        text.push_str(": *");
        push_person(text, record);
        text.push('*');
        if let Some(email) = record.get("Email") {
            text.push_str(" (");
            escape_into(text, email);
            text.push(')');
        }
        if let Some(company) = record.get("Company") {
            text.push_str(" from ");
            escape_into(text, company);
        }
        // The URL is ours (instance URL + percent-encoded id), but escape it anyway: it came from a response.
        text.push_str(" — <");
        escape_into(text, record_url);
        text.push_str("|open in Salesforce>");
    })
}

/// The alert for a record that could not be created. `who` identifies the user (email or id);
/// the error message was built by us and scrubbed of secrets.
pub fn failure_message(object: SObject, who: &str, error: &RuleError) -> String {
    message(|text| {
        text.push_str(":warning: Could not create the Salesforce ");
        text.push_str(object.name());
        text.push_str(" for ");
        escape_into(text, who);
        text.push_str(": ");
        text.push_str(error.code.as_str());
        text.push_str(" — ");
        escape_into(text, &error.message);
        if let Some(remote) = &error.remote_code {
            text.push_str(" (Salesforce: ");
            escape_into(text, remote);
            text.push(')');
        }
        text.push_str(". The user was not marked as recorded; the next login tries again.");
    })
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

    /// The text a message shows for `s`: escaped into a message, read back.
    fn escape(s: &str) -> String {
        let m = message(|text| escape_into(text, s));
        serde_json::from_str::<serde_json::Value>(&m).unwrap()["text"].as_str().unwrap().to_string()
    }

    #[test]
    fn messages_are_the_json_of_their_text() {
        // As `JSON.stringify({text})` of the mrkdwn-escaped text writes it, byte for byte.
        let all: String = (0u32..0x250).filter_map(char::from_u32).collect();
        for s in [all.as_str(), "a\"b\\c\nd", "", "plain"] {
            let m = message(|text| escape_into(text, s));
            assert_eq!(m, serde_json::json!({"text": escape(s)}).to_string(), "{s:?}");
        }
    }

    #[test]
    fn escape_drops_controls_but_newlines_and_encodes_mrkdwn() {
        assert_eq!(escape("é<a&b>\u{0}\u{85}\n\t😀"), "é&lt;a&amp;b&gt;\n😀");
        assert_eq!(escape(""), "");
        // Every C0 and C1 control but LF goes, DEL too; the characters around C1 stay whole.
        let all: String = (0u32..0x250).filter_map(char::from_u32).collect();
        let kept: String = all.chars().filter(|c| !c.is_control() || *c == '\n').collect();
        let expected = kept.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        assert_eq!(escape(&all), expected);
        assert_eq!(escape("\u{7f}a\u{9f}\u{a0}\u{80}&\u{100}"), "a\u{a0}&amp;\u{100}");
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
            serde_json::from_str::<serde_json::Value>(&m).unwrap()["text"],
            "New Salesforce Lead: *&lt;!channel&gt; A&amp;B* (x@y.com) from &lt;script&gt; — <https://a.my.salesforce.com/lightning/r/Lead/00Q1/view|open in Salesforce>"
        );
    }

    #[test]
    fn the_name_shown_is_the_escaped_join_or_no_name() {
        let text = |fields: &[(&str, &str)]| {
            let r = RecordPayload { fields: fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() };
            let m = created_message(SObject::Lead, &r, "u");
            serde_json::from_str::<serde_json::Value>(&m).unwrap()["text"].as_str().unwrap().to_string()
        };
        assert_eq!(text(&[]), "New Salesforce Lead: *(no name)* — <u|open in Salesforce>");
        assert_eq!(text(&[("FirstName", "")]), "New Salesforce Lead: *(no name)* — <u|open in Salesforce>");
        assert_eq!(text(&[("FirstName", ""), ("LastName", "")]), "New Salesforce Lead: * * — <u|open in Salesforce>");
        assert_eq!(text(&[("LastName", "\u{0}")]), "New Salesforce Lead: ** — <u|open in Salesforce>");
        assert_eq!(text(&[("LastName", "<D>")]), "New Salesforce Lead: *&lt;D&gt;* — <u|open in Salesforce>");
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
