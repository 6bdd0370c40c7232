//! Slack incoming-webhook messages: the "new Lead" notice and the failure alert, with every user
//! value mrkdwn-escaped, and the reading of Slack's answer. The webhook URL is a secret.

use crate::core::error::{ErrorCode, RuleError};
use crate::core::http::{redirect_refused, HttpRequest, HttpResponse, Purpose, Text};
use crate::core::record::{RecordPayload, SObject};
use crate::core::salesforce::retry_after_ms;
use crate::core::secret::{scrub, Secret};

/// Append a user value as it must stand in the JSON string of a message: first made inert for
/// mrkdwn, then JSON-escaped, in one pass.
/// - `&`, `<`, `>` become entities, so `<!channel>` is shown, not obeyed.
/// - Slack has no escape for its formatting marks, so `*`, `_`, `~` and backticks (and the
///   full-width `＊`, `＿`, `｀` Slack also reads) become look-alikes that format nothing: `∗`
///   (U+2217), `ˍ` (U+02CD), `∼` (U+223C), `ˋ` (U+02CB). A `*` or `_` between two ASCII letters or
///   digits stays: there Slack formats nothing, and `jane_doe@example.com` stays a real address.
/// - Line breaks (LF, CR, CRLF, VT, FF, NEL, U+2028, U+2029) become one space each: a value
///   cannot start a new line (a quote `>`, a list). Other control characters are dropped.
/// - For JSON: `"` and `\` are escaped; no control character is left to escape.
fn escape_into(out: &mut String, s: &str) {
    escape_value_into(out, s, true);
}

/// As [`escape_into`], but formatting marks are kept: for the URL inside `<url|label>`, which
/// Slack does not format and which must stay the address it is.
fn escape_link_into(out: &mut String, s: &str) {
    escape_value_into(out, s, false);
}

fn escape_value_into(out: &mut String, s: &str, marks: bool) {
    let in_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let mut chars = s.chars().peekable();
    let mut prev = None;
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '*' | '_' | '~' | '`' | '＊' | '＿' | '｀' if !marks => out.push(c),
            '*' | '_' if in_word(prev) && in_word(next) => out.push(c),
            '*' | '＊' => out.push('∗'),
            '_' | '＿' => out.push('ˍ'),
            '~' => out.push('∼'),
            '`' | '｀' => out.push('ˋ'),
            // CRLF is one break: its LF makes the space.
            '\r' if next == Some('\n') => {}
            '\n' | '\r' | '\u{0b}' | '\u{0c}' | '\u{85}' | '\u{2028}' | '\u{2029}' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
        prev = Some(c);
    }
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
        escape_link_into(text, record_url);
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

/// The POST of `body` to the webhook `url`.
pub fn webhook_request(url: &Secret, body: String) -> HttpRequest {
    HttpRequest::new(Purpose::NotifySlack, "POST", Text::secret(url.clone())).json_body(body)
}

/// What Slack's answer means.
#[derive(Debug, Clone, PartialEq)]
pub enum SlackResult {
    /// Slack accepted it.
    Sent,
    /// Worth retrying after a pause (5xx, 429).
    Retryable {
        /// What went wrong.
        error: RuleError,
        /// `Retry-After`, in ms.
        retry_after_ms: Option<u64>,
    },
    /// Refused for good.
    Failed(RuleError),
}

/// What Slack's answer means. `secrets` are masked in the answer before it is shortened: a secret
/// the answer echoes and the shortening cuts in two would no longer match any mask afterwards.
pub fn parse_webhook_response(resp: &HttpResponse, secrets: &[&Secret]) -> SlackResult {
    if resp.status == 200 {
        return SlackResult::Sent;
    }
    if resp.is_redirect() {
        // Slack failures all have one code; the redirect is told by `remoteCode`.
        let mut error = redirect_refused(resp, "Slack", "slackWebhookUrl");
        error.code = ErrorCode::SlackFailed;
        return SlackResult::Failed(error);
    }
    let masked = scrub(resp.body.trim(), secrets);
    // Slack answers with a short error word (`no_service`, `invalid_payload`); keep it short. The
    // mask (`***`) stays visible.
    let word: String =
        masked.chars().take(60).filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '*')).collect();
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
    fn escape_drops_controls_turns_line_breaks_into_spaces_and_encodes_mrkdwn() {
        assert_eq!(escape("é<a&b>\u{0}\u{85}\n\t😀"), "é&lt;a&amp;b&gt;  😀");
        assert_eq!(escape(""), "");
        // Every C0 and C1 control goes, DEL too, but the line breaks, which become spaces; the
        // characters around C1 stay whole.
        let all: String = (0u32..0x250).filter_map(char::from_u32).filter(|c| !"*_~`".contains(*c)).collect();
        let kept: String = all
            .chars()
            .filter_map(|c| match c {
                '\n' | '\r' | '\u{0b}' | '\u{0c}' | '\u{85}' => Some(' '),
                c if c.is_control() => None,
                c => Some(c),
            })
            .collect();
        let expected = kept.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        assert_eq!(escape(&all), expected);
        assert_eq!(escape("\u{7f}a\u{9f}\u{a0}\u{80}&\u{100}"), "a\u{a0}&amp;\u{100}");
    }

    #[test]
    fn line_breaks_in_values_become_one_space_each() {
        assert_eq!(escape("Acme\nCorp"), "Acme Corp");
        assert_eq!(escape("Acme\r\nCorp"), "Acme Corp");
        assert_eq!(escape("a\rb\u{0b}c\u{0c}d\u{85}e\u{2028}f\u{2029}g"), "a b c d e f g");
        assert_eq!(escape("\n\n> quote\n- item"), "  &gt; quote - item");
        assert_eq!(escape("\r\r\n"), "  ");
    }

    #[test]
    fn formatting_marks_in_values_cannot_format() {
        assert_eq!(
            escape("*bold* _italic_ ~strike~ `code` ```block```"),
            "∗bold∗ ˍitalicˍ ∼strike∼ ˋcodeˋ ˋˋˋblockˋˋˋ"
        );
        assert_eq!(escape("＊全角＊ ＿x＿ ｀y｀"), "∗全角∗ ˍxˍ ˋyˋ");
        // Between two ASCII letters or digits Slack formats nothing: the value is kept as it is.
        assert_eq!(escape("jane_doe@example.com"), "jane_doe@example.com");
        assert_eq!(escape("a*b*c snake_case_name"), "a*b*c snake_case_name");
        // At an edge of the value, next to a space or punctuation, or doubled: replaced.
        assert_eq!(escape("_a b_ *c*d e__f (g_) é_é 1_"), "ˍa bˍ ∗c*d eˍˍf (gˍ) éˍé 1ˍ");
        // `~` and backticks are replaced everywhere.
        assert_eq!(escape("a~b`c"), "a∼bˋc");

        // In a whole message, the bold name stays one bold run.
        let r = RecordPayload {
            fields: vec![
                ("FirstName".into(), "*Jane*".into()),
                ("LastName".into(), "_D~o`e_".into()),
                ("Email".into(), "jane_doe@example.com".into()),
                ("Company".into(), "Acme\n*Corp*".into()),
            ],
        };
        let m = created_message(SObject::Lead, &r, "https://a.my.salesforce.com/lightning/r/Lead/00Q_1/view");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&m).unwrap()["text"],
            "New Salesforce Lead: *∗Jane∗ ˍD∼oˋeˍ* (jane_doe@example.com) from Acme ∗Corp∗ — <https://a.my.salesforce.com/lightning/r/Lead/00Q_1/view|open in Salesforce>"
        );
    }

    #[test]
    fn the_failure_alert_neutralises_the_user_and_the_message() {
        let e = RuleError::new(ErrorCode::SalesforceRejected, "Company `*x*` is\ntoo long")
            .with_remote("STRING_TOO_LONG", 400);
        let m = failure_message(SObject::Contact, "_who_@example.com", &e);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&m).unwrap()["text"],
            ":warning: Could not create the Salesforce Contact for ˍwhoˍ@example.com: SALESFORCE_REJECTED — Company ˋ∗x∗ˋ is too long (Salesforce: STRING_TOO_LONG). The user was not marked as recorded; the next login tries again."
        );
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
        assert_eq!(parse_webhook_response(&HttpResponse::new(200, "ok"), &[]), SlackResult::Sent);
        assert!(
            matches!(parse_webhook_response(&HttpResponse::new(404, "no_service"), &[]), SlackResult::Failed(e) if e.remote_code.as_deref() == Some("no_service"))
        );
        assert!(matches!(
            parse_webhook_response(&HttpResponse::new(429, "rate_limited").with_header("Retry-After", "1"), &[]),
            SlackResult::Retryable { retry_after_ms: Some(1000), .. }
        ));
    }

    #[test]
    fn an_echoed_secret_is_masked_before_the_answer_is_shortened() {
        let secret = Secret::new("s3cr3t-T0KEN-value-9876");
        // The answer is cut after 60 characters: the secret starts at 50 and straddles the cut.
        let body = format!("invalid_token_{}{}_tail", "x".repeat(36), secret.expose());
        assert_eq!(body.find(secret.expose()), Some(50));
        let SlackResult::Failed(e) = parse_webhook_response(&HttpResponse::new(403, body.clone()), &[&secret]) else {
            panic!("a 403 is a failure")
        };
        let word = format!("invalid_token_{}***_tail", "x".repeat(36));
        assert_eq!(e.remote_code.as_deref(), Some(word.as_str()));
        assert_eq!(e.message, format!("Slack refused the message (HTTP 403: {word})"));
        // Shortened first, as before, the secret's first ten characters got through (nine once filtered).
        let before: String = body.chars().take(60).filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        assert!(before.ends_with("s3cr3tT0K"), "{before}");
        for piece in ["s3cr3t", "T0KEN", "value", "9876"] {
            assert!(!e.message.contains(piece), "{piece} leaked: {}", e.message);
        }
    }
}
