//! Plain values for the HTTP the core wants sent (`HttpRequest`) and what came back
//! (`HttpResponse`). Parts of a request that are secret stay `Secret` until the driver sends them;
//! serialising a request (the plan shown to people) masks them.

use crate::core::error::{ErrorCode, Result, RuleError};

use crate::core::secret::{Secret, MASK};
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// Text built from plain and secret pieces, e.g. `Bearer ` + token, or a form body.
#[derive(Debug, Clone)]
pub struct Text(Pieces);

/// Most texts are one piece (a URL, a header value, a JSON body): that one is kept inline, not in
/// a vector of its own (an allocation less for each).
#[derive(Debug, Clone)]
enum Pieces {
    One(Part),
    Many(Vec<Part>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Fixed pieces (`Bearer `, content types) are borrowed, not copied, on every request.
    Plain(Cow<'static, str>),
    Secret(Secret),
}

/// The same pieces, however they are kept.
impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for Text {}

impl Default for Text {
    fn default() -> Self {
        Text(Pieces::Many(Vec::new()))
    }
}

impl Text {
    /// Text shown as is.
    pub fn plain(s: impl Into<Cow<'static, str>>) -> Self {
        Text(Pieces::One(Part::Plain(s.into())))
    }
    /// Text shown as `***`.
    pub fn secret(s: Secret) -> Self {
        Text(Pieces::One(Part::Secret(s)))
    }
    /// This text followed by `s`.
    pub fn push(self, s: impl Into<Cow<'static, str>>) -> Self {
        self.push_part(Part::Plain(s.into()))
    }
    /// This text followed by a secret.
    pub fn push_secret(self, s: Secret) -> Self {
        self.push_part(Part::Secret(s))
    }
    fn push_part(self, part: Part) -> Self {
        let mut parts = match self.0 {
            Pieces::One(first) => vec![first],
            Pieces::Many(parts) => parts,
        };
        parts.push(part);
        Text(Pieces::Many(parts))
    }
    fn parts(&self) -> &[Part] {
        match &self.0 {
            Pieces::One(part) => std::slice::from_ref(part),
            Pieces::Many(parts) => parts,
        }
    }
    /// The bytes to put on the wire.
    pub fn expose(&self) -> String {
        self.exposed_pieces().collect()
    }
    fn exposed_pieces(&self) -> impl Iterator<Item = &str> {
        self.parts().iter().map(|p| match p {
            Part::Plain(s) => s,
            Part::Secret(s) => s.expose(),
        })
    }
    /// The text when it is one plain piece (no secret in it): readable without a copy.
    pub fn as_plain(&self) -> Option<&str> {
        match self.parts() {
            [Part::Plain(s)] => Some(s),
            _ => None,
        }
    }
    /// The text with every secret piece shown as `***`.
    pub fn masked(&self) -> String {
        self.masked_pieces().collect()
    }
    fn masked_pieces(&self) -> impl Iterator<Item = &str> {
        self.parts().iter().map(|p| match p {
            Part::Plain(s) => s,
            Part::Secret(_) => MASK,
        })
    }
}

impl Serialize for Text {
    /// Masked, as a JSON string.
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match self.parts() {
            [Part::Plain(s)] => serializer.serialize_str(s),
            _ => serializer.serialize_str(&self.masked()),
        }
    }
}

/// What a request is for; the flow uses it to interpret the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Purpose {
    /// An OAuth token request.
    Token,
    /// A query for an existing record (email or external id).
    FindExisting,
    /// A GET of a record by id.
    CheckExisting,
    /// A create.
    CreateRecord,
    /// An upsert by external id.
    UpsertRecord,
    /// An sObject Collections create.
    CreateCollection,
    /// The Slack webhook.
    NotifySlack,
    /// A Bulk API 2.0 job request.
    BulkJob,
}

/// A request for the driver to send; secrets stay wrapped until it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// What it is for.
    pub purpose: Purpose,
    /// The HTTP method.
    pub method: &'static str,
    /// The URL.
    pub url: Text,
    /// Names are fixed text; `Cow` so a request can still be given any name.
    pub headers: Vec<(Cow<'static, str>, Text)>,
    /// The body, if any.
    pub body: Option<Text>,
    /// The body is compact JSON this crate wrote ([`HttpRequest::json_body`]), so a plan can show
    /// it as it is instead of reading it back.
    json_body: bool,
    /// What a plain lookup by email asks ([`HttpRequest::lookup`]).
    lookup: Option<Box<EmailLookup>>,
}

/// What a plain lookup by email asks, carried beside its URL so volume mode can ask many in one
/// query without reading the URL back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailLookup {
    /// The object searched (`Lead`, `Contact`).
    pub object: &'static str,
    /// The email, as the lookup's `WHERE Email = …` has it.
    pub email: String,
}

impl HttpRequest {
    /// A request with no header and no body.
    pub fn new(purpose: Purpose, method: &'static str, url: Text) -> Self {
        HttpRequest { purpose, method, url, headers: Vec::new(), body: None, json_body: false, lookup: None }
    }
    /// Marks the request as the plain lookup of `lookup.email` in `lookup.object`.
    pub fn with_lookup(mut self, lookup: EmailLookup) -> Self {
        self.lookup = Some(Box::new(lookup));
        self
    }
    /// What the request looks up, when it is a plain lookup by email.
    pub fn lookup(&self) -> Option<&EmailLookup> {
        self.lookup.as_deref()
    }
    /// Adds a header.
    pub fn header(mut self, name: impl Into<Cow<'static, str>>, value: Text) -> Self {
        self.headers.push((name.into(), value));
        self
    }
    /// Sets the body and its `Content-Type`.
    pub fn body(mut self, content_type: &'static str, body: Text) -> Self {
        self.headers.push((Cow::Borrowed("Content-Type"), Text::plain(content_type)));
        self.body = Some(body);
        self
    }
    /// An `application/json` body: `json` must be the text of [`serde_json::to_string`].
    pub fn json_body(mut self, json: String) -> Self {
        self = self.body("application/json", Text::plain(json));
        self.json_body = true;
        self
    }
    /// The body as compact JSON text, secrets masked; `None` without a body or when it is not
    /// JSON.
    pub fn json_body_text(&self) -> Option<String> {
        self.shown_body()?.ok()
    }
    /// The body as a plan shows it: `Ok` with its compact JSON text (secrets masked) when it is
    /// JSON, else `Err` with its masked text. A body this crate wrote, with no secret in it, is
    /// copied as it is instead of read back and written again.
    fn shown_body(&self) -> Option<std::result::Result<String, String>> {
        let body = self.body.as_ref()?;
        if let (Some(json), true) = (body.as_plain(), self.json_body) {
            return Some(Ok(json.to_string()));
        }
        let masked = body.masked();
        Some(match serde_json::from_str::<serde_json::Value>(&masked) {
            Ok(v) => Ok(v.to_string()),
            Err(_) => Err(masked),
        })
    }
    /// Refuse header values that could split the request (CR/LF) before anything is sent.
    pub fn check_headers(&self) -> Result<()> {
        for (name, value) in &self.headers {
            // Bytes, not chars: CR, LF and ':' are ASCII, and this runs for every header sent.
            // Piece by piece: a line break cannot span two pieces, so nothing is joined.
            if value.exposed_pieces().any(|p| p.bytes().any(|b| b == b'\r' || b == b'\n'))
                || name.bytes().any(|b| matches!(b, b'\r' | b'\n' | b':'))
            {
                return Err(RuleError::new(
                    ErrorCode::HeaderInvalid,
                    format!("header {name} would contain a line break; remove CR/LF from its configured value"),
                )
                .with_field(name.to_string()));
            }
        }
        Ok(())
    }
}

/// Serialised form (the plan): `{purpose, method, url, headers: {name: value}, body}` with
/// secrets masked. A JSON body is shown as JSON, not as a string, so people can read it.
impl Serialize for HttpRequest {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut o = serializer.serialize_struct("HttpRequest", 5)?;
        o.serialize_field("purpose", &self.purpose)?;
        o.serialize_field("method", self.method)?;
        o.serialize_field("url", &self.url)?;
        o.serialize_field("headers", &Headers(&self.headers))?;
        match self.shown_body() {
            None => o.serialize_field("body", &None::<&str>)?,
            Some(Ok(json)) => o.serialize_field("body", &RawJson(&json))?,
            Some(Err(text)) => o.serialize_field("body", &text)?,
        }
        o.end()
    }
}

/// `serialize_with` for compact JSON text this crate wrote (a body, a Slack preview): written as
/// the JSON it is, not as a string; `null` when absent.
pub(crate) fn as_raw_json<S: Serializer>(text: &Option<String>, serializer: S) -> std::result::Result<S::Ok, S::Error> {
    text.as_deref().map(RawJson).serialize(serializer)
}

/// JSON text written as it is (checked, not trusted: text that is not JSON is written `null`).
struct RawJson<'a>(&'a str);

impl Serialize for RawJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match serde_json::from_str::<&RawValue>(self.0) {
            Ok(raw) => raw.serialize(serializer),
            Err(_) => serializer.serialize_none(),
        }
    }
}

/// Headers as a JSON object, values masked.
struct Headers<'a>(&'a [(Cow<'static, str>, Text)]);

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// A response as the driver saw it. Header names are lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpResponse {
    /// The HTTP status.
    pub status: u16,
    /// The headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl HttpResponse {
    /// A response with `status` and `body`, no header.
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        HttpResponse { status, headers: Vec::new(), body: body.into() }
    }
    /// Adds a header (name lower-cased).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.to_string()));
        self
    }
    /// A header's value, the name in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    /// A redirect, not followed: every request is sent with `redirect: "manual"`, so Node
    /// (undici) hands back the 3xx itself and browsers an `opaqueredirect` response, whose status
    /// reads 0. Any 3xx counts (300 too: Salesforce's "several records match" answer to an upsert
    /// is read before this by the one caller that expects it).
    pub fn is_redirect(&self) -> bool {
        self.status == 0 || (300..400).contains(&self.status)
    }
}

/// `REDIRECT_REFUSED` for a redirect from `who`: never followed, never retried. Says which
/// settings to check and never where the redirect pointed.
pub fn redirect_refused(resp: &HttpResponse, who: &str, check: &str) -> RuleError {
    let status = match resp.status {
        0 => "a redirect the browser hides".to_string(),
        n => format!("HTTP {n}"),
    };
    RuleError::new(
        ErrorCode::RedirectRefused,
        format!("{who} answered with a redirect ({status}); redirects are never followed, so nothing was sent where it points: check {check}"),
    )
    .with_remote("REDIRECT_REFUSED", resp.status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_masks_secrets_and_shows_json_bodies() {
        let req = HttpRequest::new(Purpose::CreateRecord, "POST", Text::plain("https://x/y"))
            .header("Authorization", Text::plain("Bearer ").push_secret(Secret::new("tok")))
            .body("application/json", Text::plain(r#"{"LastName":"Doe"}"#));
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"purpose":"createRecord","method":"POST","url":"https://x/y",
                "headers":{"Authorization":"Bearer ***","Content-Type":"application/json"},
                "body":{"LastName":"Doe"}})
        );
        assert_eq!(req.headers[0].1.expose(), "Bearer tok");
    }

    #[test]
    fn a_json_body_is_shown_as_written_and_as_if_read_back() {
        let body = serde_json::json!({"text": "a \"b\" <c>\n", "n": [1, {"x": null}]}).to_string();
        let url = || Text::plain("https://x/y");
        let written = HttpRequest::new(Purpose::NotifySlack, "POST", url()).json_body(body.clone());
        let read = HttpRequest::new(Purpose::NotifySlack, "POST", url()).body("application/json", Text::plain(body));
        assert_eq!(serde_json::to_string(&written).unwrap(), serde_json::to_string(&read).unwrap());
        assert_eq!(
            serde_json::to_string(&written).unwrap(),
            r#"{"purpose":"notifySlack","method":"POST","url":"https://x/y","headers":{"Content-Type":"application/json"},"body":{"n":[1,{"x":null}],"text":"a \"b\" <c>\n"}}"#
        );
        // Not JSON: shown as text.
        let form = HttpRequest::new(Purpose::Token, "POST", url())
            .body("x", Text::plain("a=1&b=").push_secret(Secret::new("s")));
        assert_eq!(serde_json::to_value(&form).unwrap()["body"], "a=1&b=***");
    }

    #[test]
    fn text_is_its_pieces_however_they_are_kept() {
        let one = Text::plain("a=1");
        let pushed = Text::default().push("a=1");
        assert_eq!(one, pushed);
        assert_eq!((one.as_plain(), pushed.as_plain()), (Some("a=1"), Some("a=1")));
        let two = Text::plain("a=").push_secret(Secret::new("s")).push("&b");
        assert_eq!((two.expose(), two.masked(), two.as_plain()), ("a=s&b".into(), "a=***&b".into(), None));
        assert_ne!(two, Text::plain("a=s&b"));
        assert_eq!(Text::secret(Secret::new("s")).masked(), "***");
        assert_eq!((Text::default().expose(), Text::default().as_plain()), (String::new(), None));
    }

    #[test]
    fn crlf_in_header_is_refused() {
        let req = HttpRequest::new(Purpose::CreateRecord, "POST", Text::plain("https://x"))
            .header("Sforce-Auto-Assign", Text::plain("TRUE\r\nX-Evil: 1"));
        assert_eq!(req.check_headers().unwrap_err().code, ErrorCode::HeaderInvalid);
    }
}
