//! Ory Actions web hook body: the Jsonnet `ctx` of an `after` hook. The flow (registration, login,
//! settings) is the first-login signal; a body with no flow data at all (`{ identity }`) is the
//! `registration.after` hook it is documented for, gated by the `metadata_public` marker.

use super::build::{invalid, ProfileBuilder};
use super::value::{flag, id_text, join_name, path, text};
use super::{FirstLoginSignal, Host};
use crate::core::error::Result;
use serde_json::Value;
use std::borrow::Cow;
use url::Url;

/// Which Ory self-service flow an after-hook ran for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OryFlow {
    Registration,
    Login,
    Settings,
}

pub(super) fn ory(event: &Value) -> Result<(Value, FirstLoginSignal)> {
    let ctx = if event.get("identity").is_some() { event } else { event.get("ctx").unwrap_or(event) };
    let identity = ctx.get("identity").filter(|i| i.is_object()).ok_or_else(|| {
        invalid("the Ory web hook body has no `identity` object: use the Jsonnet body `function(ctx) ctx` on an `after` hook".into())
    })?;
    let traits = identity.get("traits");
    let addresses = identity.get("verifiable_addresses").and_then(Value::as_array);
    let email_address = |email: Option<&str>| {
        addresses?.iter().find(|a| {
            a.get("via").and_then(Value::as_str).map_or(true, |via| via == "email")
                && email.map_or(true, |e| a.get("value").and_then(Value::as_str) == Some(e))
        })
    };

    let mut profile = ProfileBuilder::default();
    profile.text("user_id", id_text(identity.get("id")));
    let email =
        text(traits.and_then(|t| t.get("email"))).or_else(|| text(email_address(None).and_then(|a| a.get("value"))));
    profile.flag("email_verified", email_address(email.as_deref()).and_then(|a| flag(a.get("verified"))));
    profile.text("email", email);

    let name = traits.and_then(|t| t.get("name"));
    let given = text(name.and_then(|n| n.get("first"))).or_else(|| text(traits.and_then(|t| t.get("first_name"))));
    let family = text(name.and_then(|n| n.get("last"))).or_else(|| text(traits.and_then(|t| t.get("last_name"))));
    profile.text("name", text(name).or_else(|| join_name(given.as_deref(), family.as_deref())));
    profile.text("given_name", given);
    profile.text("family_name", family);
    profile.text("username", text(traits.and_then(|t| t.get("username"))));
    profile.text(
        "phone_number",
        text(traits.and_then(|t| t.get("phone"))).or_else(|| text(traits.and_then(|t| t.get("phone_number")))),
    );
    profile.text("picture", text(traits.and_then(|t| t.get("picture"))));
    profile.text("created_at", text(identity.get("created_at")));
    profile.object("user_metadata", traits);
    profile.object("app_metadata", identity.get("metadata_public"));

    let signal = match ory_flow(ctx) {
        Some(OryFlow::Registration) => FirstLoginSignal::FirstLogin,
        Some(OryFlow::Login | OryFlow::Settings) => FirstLoginSignal::ReturningUser,
        // A body trimmed to the identity can only say "a user": README configures it on
        // `registration.after`, and the marker (set by the answer) stops a second record.
        None if names_no_flow(ctx) => FirstLoginSignal::FirstLogin,
        // Flow data that names no known flow: creating would risk a record per login.
        None => FirstLoginSignal::Unknown,
    };
    Ok((profile.finish(Host::Ory)?, signal))
}

/// Whether the body carries no flow data at all: neither `flow` nor `request_url` (null counts as
/// absent, as a Jsonnet body may write `flow: null`).
fn names_no_flow(ctx: &Value) -> bool {
    ["flow", "request_url"].iter().all(|key| ctx.get(*key).map_or(true, Value::is_null))
}

/// The flow, from `flow.type` when it names one, else from the path of the request URL, the
/// flow's form action or the flow's own request URL (an OIDC callback URL names no flow, so
/// the next one is tried).
fn ory_flow(ctx: &Value) -> Option<OryFlow> {
    let from_word = |word: &str| match word {
        "registration" => Some(OryFlow::Registration),
        "login" => Some(OryFlow::Login),
        "settings" => Some(OryFlow::Settings),
        _ => None,
    };
    if let Some(kind) = path(ctx, &["flow", "type"]).and_then(Value::as_str).and_then(from_word) {
        return Some(kind);
    }
    [ctx.get("request_url"), path(ctx, &["flow", "ui", "action"]), path(ctx, &["flow", "request_url"])]
        .into_iter()
        .filter_map(|url| url.and_then(Value::as_str))
        .find_map(|url| url_path(url).split('/').find_map(from_word))
}

/// The path of a URL, read by the WHATWG rules as in `endpoint` (so a `?query` or `#fragment` is
/// never taken for it). A text those rules do not read as a URL with a path is taken as a path
/// itself, up to `?` or `#`: a relative path (`/self-service/registration`), and an absolute URL
/// with a host the crate cannot read (built without IDNA tables, `url` refuses a non-ASCII host)
/// still names its flow in its segments.
fn url_path(url: &str) -> Cow<'_, str> {
    match Url::parse(url) {
        Ok(parsed) if !parsed.cannot_be_a_base() => Cow::Owned(parsed.path().to_owned()),
        _ => Cow::Borrowed(url.split(['?', '#']).next().unwrap_or("")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::profile::test_support::*;
    use serde_json::json;

    fn lena(email_verified: bool, company: &str, app_metadata: Value) -> Value {
        json!({
            "user_id": "a3b8c0d2-5e6f-4a1b-9c7d-2e4f6a8b0c1d",
            "email": "lena.fischer@example.com",
            "email_verified": email_verified,
            "name": "Lena Fischer",
            "given_name": "Lena",
            "family_name": "Fischer",
            "created_at": "2024-05-28T10:04:12.118424Z",
            "host": "ory",
            "app_metadata": app_metadata,
            "user_metadata": {
                "company": company,
                "email": "lena.fischer@example.com",
                "name": { "first": "Lena", "last": "Fischer" }
            }
        })
    }

    #[test]
    fn ory_registration_after() {
        let event = fixture("ory-registration-after.json");
        let user = one(Host::Ory, &event);
        assert_eq!(user.profile, lena(false, "Fischer Analytics GmbH", json!({})));
        assert_eq!(user.signal, FirstLoginSignal::FirstLogin);
        // `{ ctx: … }` is the same thing.
        assert_eq!(one(Host::Ory, &json!({ "ctx": event })), user);
    }

    #[test]
    fn ory_settings_after() {
        let mut event = fixture("ory-settings-after.json");
        let user = one(Host::Ory, &event);
        let marker = json!({ "recordedAsLead": true, "salesforceLeadId": "00Q5e000001xyzwEAA" });
        assert_eq!(user.profile, lena(true, "Fischer Analytics AG", marker));
        assert_eq!(user.signal, recorded("00Q5e000001xyzwEAA"));

        event["identity"]["metadata_public"] = json!({});
        assert_eq!(one(Host::Ory, &event).signal, FirstLoginSignal::ReturningUser);
    }

    #[test]
    fn ory_flow_detection() {
        let signal = |ctx: Value| one(Host::Ory, &ctx).signal;
        let with = |flow: Value, request_url: Value| json!({ "identity": { "id": "i-1" }, "flow": flow, "request_url": request_url });
        assert_eq!(signal(with(json!({ "type": "registration" }), Value::Null)), FirstLoginSignal::FirstLogin);
        assert_eq!(signal(with(json!({ "type": "login" }), Value::Null)), FirstLoginSignal::ReturningUser);
        // An OIDC callback URL names no flow: the form action decides.
        let oidc = with(
            json!({ "type": "browser", "ui": { "action": "https://a.example.com/self-service/registration?flow=1" } }),
            json!("https://a.example.com/self-service/methods/oidc/callback/google"),
        );
        assert_eq!(signal(oidc), FirstLoginSignal::FirstLogin);
        let login = with(json!({ "request_url": "https://a.example.com/self-service/login/browser" }), Value::Null);
        assert_eq!(signal(login), FirstLoginSignal::ReturningUser);
        // The query string is not the path.
        let query = with(json!({}), json!("https://a.example.com/self-service/settings?return_to=/registration"));
        assert_eq!(signal(query), FirstLoginSignal::ReturningUser);
        assert_eq!(signal(with(json!({}), json!("/self-service/registration"))), FirstLoginSignal::FirstLogin);
        assert_eq!(signal(with(json!({}), json!("https://a.example.com"))), FirstLoginSignal::Unknown);
    }

    #[test]
    fn an_identity_only_body_is_the_registration_hook_gated_by_the_marker() {
        let signal = |ctx: Value| one(Host::Ory, &ctx).signal;
        let identity = fixture("ory-identity-only.json");
        assert_eq!(signal(identity.clone()), FirstLoginSignal::FirstLogin);
        assert_eq!(signal(json!({ "ctx": identity.clone() })), FirstLoginSignal::FirstLogin);
        assert_eq!(
            signal(json!({ "identity": identity["identity"], "flow": null, "request_url": null })),
            FirstLoginSignal::FirstLogin
        );
        // The profile is the same as from the whole ctx.
        let whole = one(Host::Ory, &fixture("ory-registration-after.json")).profile;
        assert_eq!(one(Host::Ory, &identity).profile, whole);
        let mut marked = identity.clone();
        marked["identity"]["metadata_public"] =
            json!({ "recordedAsLead": true, "salesforceLeadId": "00Q5e000001xyzwEAA" });
        assert_eq!(signal(marked), recorded("00Q5e000001xyzwEAA"));
        // Flow data that names no flow is not taken for a registration.
        assert_eq!(signal(json!({ "identity": { "id": "i-1" }, "flow": {} })), FirstLoginSignal::Unknown);
        assert_eq!(
            signal(json!({ "identity": { "id": "i-1" }, "request_url": "https://a.example.com/x" })),
            FirstLoginSignal::Unknown
        );
    }

    #[test]
    fn ory_flow_from_url_paths() {
        let signal = |request_url: &str| {
            one(Host::Ory, &json!({ "identity": { "id": "i-1" }, "request_url": request_url })).signal
        };
        // A query or fragment right after the host is not a path.
        assert_eq!(signal("https://a.example.com?return_to=/registration"), FirstLoginSignal::Unknown);
        assert_eq!(signal("https://a.example.com#/login"), FirstLoginSignal::Unknown);
        // Hosts `url` does not read still give their path: non-ASCII (no IDNA tables), a bad port.
        assert_eq!(signal("https://bücher.example/self-service/registration?flow=1"), FirstLoginSignal::FirstLogin);
        assert_eq!(signal("https://a.example.com:99999/self-service/login"), FirstLoginSignal::ReturningUser);
        assert_eq!(signal("http://[::1]:4433/self-service/settings/browser"), FirstLoginSignal::ReturningUser);
        assert_eq!(signal("self-service/registration"), FirstLoginSignal::FirstLogin);
        assert_eq!(signal("mailto:registration"), FirstLoginSignal::Unknown);
    }

    #[test]
    fn ory_trait_variants() {
        let ctx = json!({ "identity": {
            "id": "i-2",
            "traits": { "name": "Ravi Kumar", "username": "ravik", "phone": "+919800000001" },
            "verifiable_addresses": [
                { "value": "+919800000001", "via": "sms", "verified": true },
                { "value": "ravi.kumar@example.com", "via": "email", "verified": true }
            ],
            "metadata_public": "not an object"
        }});
        assert_eq!(
            one(Host::Ory, &ctx).profile,
            json!({
                "user_id": "i-2", "email": "ravi.kumar@example.com", "email_verified": true, "name": "Ravi Kumar",
                "username": "ravik", "phone_number": "+919800000001", "host": "ory", "app_metadata": {},
                "user_metadata": { "name": "Ravi Kumar", "username": "ravik", "phone": "+919800000001" }
            })
        );
        let first_only = json!({ "identity": { "id": "i-3", "traits": { "name": { "first": "Mei" } } } });
        assert_eq!(one(Host::Ory, &first_only).profile["name"], "Mei");
        assert!(refused(Host::Ory, &json!({ "flow": {} })).contains("function(ctx) ctx"));
        assert!(refused(Host::Ory, &json!({ "identity": { "traits": {} } })).contains("no usable user id"));
    }
}
