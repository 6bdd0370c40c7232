//! Host events → one normalised profile (Auth0-style keys) plus the host's own first-login signal.
//! One small adapter per host; each reads only documented fields, tolerates any JSON shape, and
//! never panics. No I/O, no clock: the same event always gives the same profile.

use crate::core::error::{ErrorCode, Result, RuleError};
use serde::Serialize;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Largest event/profile accepted, in bytes of JSON.
pub const MAX_PROFILE_BYTES: usize = 256 * 1024;

/// Deepest nesting of arrays and objects that is read: serde_json's recursion limit of 128 lets
/// 127 levels through.
pub const MAX_DEPTH: usize = 127;

/// Read the JSON text of an event (or any value from JS) that `what` names. Refused with
/// `PROFILE_INVALID`: text that is not JSON, and JSON nested more than [`MAX_DEPTH`] levels deep,
/// with a message of its own (the text is valid JSON; it is only too deep). Reading takes time in
/// proportion to the text (objects are `BTreeMap`s: O(log n) per key, whatever the keys). A lone surrogate escape, which
/// `JSON.stringify` writes for a lone surrogate in a JS string, is read as U+FFFD.
pub fn read_json(text: &str, what: &str) -> Result<Value> {
    read_json_as(text, what)
}

/// [`read_json`] as any type.
pub fn read_json_as<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(&lone_surrogates_replaced(text)).map_err(|e| {
        // serde_json has no error kind for this: its message is the only way to tell.
        let message = if e.to_string().starts_with("recursion limit exceeded") {
            format!("{what} is nested more than {MAX_DEPTH} levels deep (the JSON is valid; it is too deep)")
        } else {
            format!("{what} is not valid JSON: {e}")
        };
        RuleError::new(ErrorCode::ProfileInvalid, message)
    })
}

/// `text` with every `\uXXXX` escape of a lone UTF-16 surrogate (one not paired with its other
/// half) written `\ufffd`: serde_json refuses lone surrogates in a string, JavaScript strings may
/// hold them, and `JSON.stringify` writes them as such escapes. Borrowed when there is none.
fn lone_surrogates_replaced(text: &str) -> Cow<'_, str> {
    fn surrogate_at(bytes: &[u8], i: usize) -> Option<u16> {
        let hex = bytes.get(i..i + 6)?;
        if hex[0] != b'\\' || hex[1] != b'u' {
            return None;
        }
        let n = u16::from_str_radix(std::str::from_utf8(&hex[2..]).ok()?, 16).ok()?;
        (0xD800..0xE000).contains(&n).then_some(n)
    }
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while let Some(at) = bytes.get(i..).and_then(|rest| rest.iter().position(|&b| b == b'\\')) {
        i += at;
        let lone = match surrogate_at(bytes, i) {
            // A pair: kept.
            Some(0xD800..=0xDBFF) if matches!(surrogate_at(bytes, i + 6), Some(0xDC00..=0xDFFF)) => {
                i += 12;
                continue;
            }
            Some(_) => true,
            None => false,
        };
        if lone {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(text.get(copied..i).unwrap_or_default());
            o.push_str("\\ufffd");
            i += 6;
            copied = i;
        } else {
            // Any other escape: step over the backslash and the character it escapes.
            i += 2;
        }
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(text.get(copied..).unwrap_or_default());
            Cow::Owned(o)
        }
    }
}

/// Where an event comes from; picks the adapter that reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Host {
    /// Auth0 Actions post-login `event` (`event.user`, `event.stats.logins_count`).
    Auth0Action,
    /// Legacy Auth0 Rule `(user, context)` merged as `{ "user": …, "context": … }`.
    Auth0Rule,
    /// Ory Actions web hook body: the whole Jsonnet `ctx` (`function(ctx) ctx`), or `{ "ctx": … }`.
    Ory,
    /// Firebase `beforeUserCreated` / `beforeUserSignedIn` event (`AuthBlockingEvent`).
    Firebase,
    /// AWS Cognito PostConfirmation / PostAuthentication trigger event.
    Cognito,
    /// Clerk `user.*` webhook body (verify its Svix signature first: see `webhook`).
    Clerk,
    /// Okta event hook body (`user.lifecycle.create`) or registration inline hook body.
    Okta,
    /// A profile already in the normalised keys, or `{ user, stats?, connection? }` (Auth0 shape).
    Generic,
}

impl Host {
    /// The top-level keys of this host's event that [`normalise`] reads, or `None` when it may
    /// read any. Callers that copy events across a boundary (JS → wasm) copy only these, so the
    /// large parts a login event also carries (Auth0's `request`, `transaction`, `secrets`) are
    /// neither copied nor parsed. A test checks that the subset normalises like the whole.
    pub fn event_keys(self) -> Option<&'static [&'static str]> {
        match self {
            Host::Auth0Action | Host::Auth0Rule => Some(&["user", "stats", "connection", "context"]),
            _ => None,
        }
    }

    /// Every host, in a stable order.
    pub const ALL: [Host; 8] = [
        Host::Auth0Action,
        Host::Auth0Rule,
        Host::Ory,
        Host::Firebase,
        Host::Cognito,
        Host::Clerk,
        Host::Okta,
        Host::Generic,
    ];

    /// The name [`host_from_name`] accepts for this host.
    pub fn name(self) -> &'static str {
        match self {
            Host::Auth0Action => "auth0-action",
            Host::Auth0Rule => "auth0-rule",
            Host::Ory => "ory",
            Host::Firebase => "firebase",
            Host::Cognito => "cognito",
            Host::Clerk => "clerk",
            Host::Okta => "okta",
            Host::Generic => "generic",
        }
    }

    /// The profile's `host` value: both Auth0 flavours are `"auth0"`.
    pub fn profile_tag(self) -> &'static str {
        match self {
            Host::Auth0Action | Host::Auth0Rule => "auth0",
            other => other.name(),
        }
    }
}

/// `"auth0"` / `"auth0-action"`, `"auth0-rule"`, `"ory"`, `"firebase"`, `"cognito"`, `"clerk"`,
/// `"okta"`, `"generic"` (ASCII case and surrounding spaces ignored); anything else is `None`.
pub fn host_from_name(name: &str) -> Option<Host> {
    let name = name.trim().to_ascii_lowercase();
    match name.as_str() {
        "auth0" | "auth0-action" => Some(Host::Auth0Action),
        "auth0-rule" => Some(Host::Auth0Rule),
        other => Host::ALL.into_iter().find(|host| host.name() == other),
    }
}

/// What the host itself says about this login. `AlreadyRecorded` wins over everything: it comes
/// from `app_metadata.recordedAsLead == true`, the marker written after a Lead was created.
/// Serialised as `{"kind": "firstLogin"}`, `{"kind": "alreadyRecorded", "leadId": …}`, ….
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum FirstLoginSignal {
    /// Record this user: a sign-up event, or (Auth0) no marker yet, so an earlier failed attempt
    /// is retried at the next login, as in the Auth0 rule template.
    FirstLogin,
    /// The host says this user existed before (a sign-in, settings update, password reset…).
    ReturningUser,
    /// The marker is set.
    AlreadyRecorded {
        /// `app_metadata.salesforceLeadId`, when present.
        lead_id: Option<String>,
    },
    /// The event does not say (an unrecognised trigger or flow).
    Unknown,
}

/// One user out of a host event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostEvent {
    /// Normalised profile object: `user_id` (always), `email`, `email_verified`, `name`,
    /// `given_name`, `family_name`, `nickname`, `username`, `phone_number`, `picture`,
    /// `created_at`, `logins_count`, `connection`, `host`, `app_metadata`, `user_metadata`.
    /// Keys without a value are left out; the two metadata objects are `{}` when absent.
    pub profile: Value,
    /// What the host says about the user's first login.
    pub signal: FirstLoginSignal,
}

/// Turns one host event into its users. Every host yields exactly one, except Okta: an event hook
/// yields one per `user.lifecycle.create` target (possibly none), and the one-time verification
/// request yields none. Refuses (`PROFILE_INVALID`) a non-object, an event over
/// [`MAX_PROFILE_BYTES`], a body that is not the host's shape, or a user with neither id nor email.
pub fn normalise(host: Host, event: &Value) -> Result<Vec<HostEvent>> {
    if event.is_object() {
        check_size(host, event)?;
    }
    normalise_read(host, event)
}

/// [`normalise`] for an event read from a `JSON.stringify` text of at most [`MAX_PROFILE_BYTES`]
/// bytes (as the wasm bindings read every event): it fits, so the walk that counts its size is
/// skipped. The compact JSON serde_json writes for a value read from such a text is never longer
/// than the text (escapes written as short or shorter, a repeated key kept once, numbers as short:
/// JavaScript writes them without `.0` and in its shortest form). Any other text may have
/// numbers serde_json writes longer (`1e5` as `100000.0`): read it with [`normalise`].
pub fn normalise_read(host: Host, event: &Value) -> Result<Vec<HostEvent>> {
    if !event.is_object() {
        return Err(invalid(format!("the {} event must be a JSON object, got {}", host.name(), json_kind(event))));
    }
    let (profile, signal) = match host {
        Host::Auth0Action | Host::Auth0Rule => auth0_event(event, host)?,
        Host::Generic => generic(event)?,
        Host::Okta => return okta(event),
        Host::Ory => ory(event)?,
        Host::Firebase => firebase(event)?,
        Host::Cognito => cognito(event)?,
        Host::Clerk => clerk(event)?,
    };
    Ok(vec![HostEvent::new(profile, signal)])
}

impl HostEvent {
    fn new(profile: Value, host_signal: FirstLoginSignal) -> Self {
        let signal = already_recorded(&profile).unwrap_or(host_signal);
        HostEvent { profile, signal }
    }
}

fn already_recorded(profile: &Value) -> Option<FirstLoginSignal> {
    let app = profile.get("app_metadata")?;
    (app.get("recordedAsLead") == Some(&Value::Bool(true)))
        .then(|| FirstLoginSignal::AlreadyRecorded { lead_id: text(app.get("salesforceLeadId")) })
}

// ---------------------------------------------------------------------------------------------
// Auth0 (Actions, Rules) and generic

/// The user keys Auth0 profiles share with the normalised profile, copied type-checked.
fn copy_auth0_user(user: &Value, profile: &mut ProfileBuilder) {
    profile.text("user_id", id_text(user.get("user_id")));
    for key in
        ["email", "name", "given_name", "family_name", "nickname", "username", "phone_number", "picture", "created_at"]
    {
        profile.text(key, text(user.get(key)));
    }
    profile.flag("email_verified", flag(user.get("email_verified")));
    profile.count("logins_count", count(user.get("logins_count")));
    profile.object("app_metadata", user.get("app_metadata"));
    profile.object("user_metadata", user.get("user_metadata"));
}

/// An Auth0 event: Actions `{ user, stats, connection, … }` or Rules `{ user, context }`. Both
/// places are read, so either shape works under any Auth0 host name (and under `generic`).
fn auth0_event(event: &Value, host: Host) -> Result<(Value, FirstLoginSignal)> {
    let user = event.get("user").filter(|u| u.is_object()).ok_or_else(|| {
        invalid(match host {
            Host::Auth0Rule => "the Auth0 Rule input must be `{ user, context }` with the rule's `user` object".into(),
            _ => "the Auth0 event has no `user` object: pass the post-login `event` as it is".into(),
        })
    })?;
    let mut profile = ProfileBuilder::default();
    copy_auth0_user(user, &mut profile);
    profile.count(
        "logins_count",
        count(path(event, &["stats", "logins_count"]))
            .or_else(|| count(path(event, &["context", "stats", "loginsCount"]))),
    );
    profile.text(
        "connection",
        text(path(event, &["connection", "name"]))
            .or_else(|| text(event.get("connection")))
            .or_else(|| text(path(event, &["context", "connection"]))),
    );
    Ok((profile.finish(host)?, FirstLoginSignal::FirstLogin))
}

fn generic(event: &Value) -> Result<(Value, FirstLoginSignal)> {
    if event.get("user").is_some_and(Value::is_object) {
        return auth0_event(event, Host::Generic);
    }
    let mut profile = ProfileBuilder::default();
    copy_auth0_user(event, &mut profile);
    profile.text("connection", text(event.get("connection")));
    Ok((profile.finish(Host::Generic)?, FirstLoginSignal::FirstLogin))
}

// ---------------------------------------------------------------------------------------------
// Ory

/// Which Ory self-service flow an after-hook ran for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OryFlow {
    Registration,
    Login,
    Settings,
}

fn ory(event: &Value) -> Result<(Value, FirstLoginSignal)> {
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
        None => FirstLoginSignal::Unknown,
    };
    Ok((profile.finish(Host::Ory)?, signal))
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

/// The path of a URL: after `scheme://host`, before `?` or `#`.
fn url_path(url: &str) -> &str {
    // Without a scheme the URL is taken as a path already; with one, the host is skipped.
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest.split_once('/').map_or("", |(_, path)| path));
    rest.split(['?', '#']).next().unwrap_or("")
}

// ---------------------------------------------------------------------------------------------
// Firebase

fn firebase(event: &Value) -> Result<(Value, FirstLoginSignal)> {
    let user = event.get("data").filter(|d| d.is_object()).ok_or_else(|| {
        invalid("the Firebase event has no `data` user record: pass the `AuthBlockingEvent` of beforeUserCreated/beforeUserSignedIn".into())
    })?;
    let info = event.get("additionalUserInfo");
    let provider_profile = info.and_then(|i| i.get("profile"));

    let mut profile = ProfileBuilder::default();
    profile.text("user_id", id_text(user.get("uid")));
    profile.text("email", text(user.get("email")));
    profile.flag("email_verified", flag(user.get("emailVerified")));
    profile.text("name", text(user.get("displayName")));
    profile.text("given_name", text(provider_profile.and_then(|p| p.get("given_name"))));
    profile.text("family_name", text(provider_profile.and_then(|p| p.get("family_name"))));
    profile.text("username", text(info.and_then(|i| i.get("username"))));
    profile.text("phone_number", text(user.get("phoneNumber")));
    profile.text("picture", text(user.get("photoURL")));
    profile.text("created_at", text(path(user, &["metadata", "creationTime"])));
    profile.text("connection", text(info.and_then(|i| i.get("providerId"))));
    profile.object("app_metadata", user.get("customClaims"));

    let event_type = event.get("eventType").and_then(Value::as_str).unwrap_or("");
    let signal = if event_type.contains("beforeCreate") {
        FirstLoginSignal::FirstLogin
    } else {
        match info.and_then(|i| i.get("isNewUser")).and_then(Value::as_bool) {
            Some(true) => FirstLoginSignal::FirstLogin,
            Some(false) => FirstLoginSignal::ReturningUser,
            None => FirstLoginSignal::Unknown,
        }
    };
    Ok((profile.finish(Host::Firebase)?, signal))
}

// ---------------------------------------------------------------------------------------------
// Cognito

fn cognito(event: &Value) -> Result<(Value, FirstLoginSignal)> {
    let attributes = path(event, &["request", "userAttributes"]).and_then(Value::as_object).ok_or_else(|| {
        invalid("the Cognito event has no `request.userAttributes`: pass the trigger's `event` as it is".into())
    })?;
    let attr = |key: &str| text(attributes.get(key));

    let mut profile = ProfileBuilder::default();
    profile.text("user_id", attr("sub").or_else(|| id_text(event.get("userName"))));
    profile.text("username", text(event.get("userName")).or_else(|| attr("preferred_username")));
    for key in ["email", "name", "given_name", "family_name", "nickname", "phone_number", "picture"] {
        profile.text(key, attr(key));
    }
    profile.flag("email_verified", flag(attributes.get("email_verified")));

    // Custom attributes are the user's own data, except the two that carry our marker (custom
    // attributes are all Cognito lets a trigger write back).
    let mut user_metadata = Map::new();
    let mut app_metadata = Map::new();
    for (key, value) in attributes {
        let Some(name) = key.strip_prefix("custom:").filter(|n| !n.is_empty()) else { continue };
        match name {
            "recordedAsLead" => {
                if let Some(recorded) = flag(Some(value)) {
                    app_metadata.insert(name.into(), recorded.into());
                }
            }
            "salesforceLeadId" => {
                if let Some(id) = text(Some(value)) {
                    app_metadata.insert(name.into(), id.into());
                }
            }
            _ => {
                user_metadata.insert(name.into(), value.clone());
            }
        }
    }
    profile.object("user_metadata", Some(&Value::Object(user_metadata)));
    profile.object("app_metadata", Some(&Value::Object(app_metadata)));

    let trigger = event.get("triggerSource").and_then(Value::as_str).unwrap_or("");
    let signal = if trigger.starts_with("PostConfirmation_ConfirmSignUp") {
        FirstLoginSignal::FirstLogin
    } else if trigger == "PostConfirmation_ConfirmForgotPassword" || trigger.starts_with("PostAuthentication_") {
        FirstLoginSignal::ReturningUser
    } else {
        FirstLoginSignal::Unknown
    };
    Ok((profile.finish(Host::Cognito)?, signal))
}

// ---------------------------------------------------------------------------------------------
// Clerk

fn clerk(event: &Value) -> Result<(Value, FirstLoginSignal)> {
    let event_type = event.get("type").and_then(Value::as_str);
    let user = event.get("data").filter(|d| d.is_object()).ok_or_else(|| {
        invalid("the Clerk webhook body has no `data` object: pass the raw `user.created` body".into())
    })?;
    if let Some(object) = user.get("object").and_then(Value::as_str).filter(|o| *o != "user") {
        return Err(invalid(format!(
            "the Clerk event `{}` carries a `{}`, not a user: subscribe this endpoint to `user.created` only",
            clip(event_type.unwrap_or("?"), 64),
            clip(object, 64)
        )));
    }
    let primary = |list: &str, primary_key: &str| {
        let entries = user.get(list).and_then(Value::as_array)?;
        let wanted = user.get(primary_key).and_then(Value::as_str);
        entries
            .iter()
            .find(|e| wanted.is_some() && e.get("id").and_then(Value::as_str) == wanted)
            .or_else(|| entries.first())
    };
    let email = primary("email_addresses", "primary_email_address_id");
    let phone = primary("phone_numbers", "primary_phone_number_id");
    let given = text(user.get("first_name"));
    let family = text(user.get("last_name"));

    let mut profile = ProfileBuilder::default();
    profile.text("user_id", id_text(user.get("id")));
    profile.text("email", text(email.and_then(|e| e.get("email_address"))));
    profile.flag(
        "email_verified",
        email.and_then(|e| path(e, &["verification", "status"])).and_then(Value::as_str).map(|s| s == "verified"),
    );
    profile.text("name", join_name(given.as_deref(), family.as_deref()));
    profile.text("given_name", given);
    profile.text("family_name", family);
    profile.text("username", text(user.get("username")));
    profile.text("phone_number", text(phone.and_then(|p| p.get("phone_number"))));
    profile.text("picture", text(user.get("image_url")).or_else(|| text(user.get("profile_image_url"))));
    profile.text("created_at", user.get("created_at").and_then(Value::as_u64).and_then(iso_from_epoch_millis));
    // Never `private_metadata`: it is private to the backend, and a mapping could leak it.
    profile.object("app_metadata", user.get("public_metadata"));
    profile.object("user_metadata", user.get("unsafe_metadata"));

    let signal = match event_type {
        Some("user.created") => FirstLoginSignal::FirstLogin,
        Some(_) => FirstLoginSignal::ReturningUser,
        None => FirstLoginSignal::Unknown,
    };
    Ok((profile.finish(Host::Clerk)?, signal))
}

/// `1716883195123` → `"2024-05-28T07:59:55.123Z"` (years 1970–9999: `time`'s range without its
/// `large-dates` feature).
fn iso_from_epoch_millis(millis: u64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).ok()?;
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    ))
}

// ---------------------------------------------------------------------------------------------
// Okta

fn okta(event: &Value) -> Result<Vec<HostEvent>> {
    if let Some(events) = path(event, &["data", "events"]).and_then(Value::as_array) {
        let mut users = Vec::new();
        for item in events {
            if item.get("eventType").and_then(Value::as_str) != Some("user.lifecycle.create") {
                continue;
            }
            let targets = item.get("target").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            for target in targets.iter().filter(|t| t.get("type").and_then(Value::as_str) == Some("User")) {
                let mut profile = ProfileBuilder::default();
                profile.text("user_id", id_text(target.get("id")));
                let login = text(target.get("alternateId"));
                // `alternateId` is the Okta login: usually, but not necessarily, an email.
                match login {
                    Some(login) if login.contains('@') => profile.text("email", Some(login)),
                    other => profile.text("username", other),
                }
                profile.text("name", text(target.get("displayName")));
                profile.text("created_at", text(item.get("published")));
                users.push(HostEvent::new(profile.finish(Host::Okta)?, FirstLoginSignal::FirstLogin));
            }
        }
        return Ok(users);
    }

    let data = event.get("data");
    let context_user = data.and_then(|d| path(d, &["context", "user"]));
    let user_profile = data
        .and_then(|d| d.get("userProfile"))
        .filter(|p| p.is_object())
        .or_else(|| context_user.and_then(|u| u.get("profile")).filter(|p| p.is_object()));
    if let Some(user_profile) = user_profile {
        let field = |key: &str| text(user_profile.get(key));
        let given = field("firstName");
        let family = field("lastName");
        let mut profile = ProfileBuilder::default();
        profile.text("user_id", context_user.and_then(|u| id_text(u.get("id"))).or_else(|| field("login")));
        profile.text("email", field("email"));
        profile.text("name", join_name(given.as_deref(), family.as_deref()));
        profile.text("given_name", given);
        profile.text("family_name", family);
        profile.text("username", field("login"));
        profile.text("phone_number", field("mobilePhone").or_else(|| field("primaryPhone")));
        profile.object("user_metadata", Some(user_profile));
        let signal = match event.get("requestType").and_then(Value::as_str) {
            Some("progressive.profile") => FirstLoginSignal::ReturningUser,
            _ => FirstLoginSignal::FirstLogin,
        };
        return Ok(vec![HostEvent::new(profile.finish(Host::Okta)?, signal)]);
    }

    let is_verification = event
        .get("headers")
        .and_then(Value::as_object)
        .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("x-okta-verification-challenge")));
    if is_verification {
        // The one-time endpoint check carries no user; answer it with
        // `webhook::okta_verification_response`.
        return Ok(Vec::new());
    }
    Err(invalid(
        "the Okta body is neither an event hook (`data.events`) nor a registration inline hook (`data.userProfile`)"
            .into(),
    ))
}

// ---------------------------------------------------------------------------------------------
// Building and checking

/// Collects profile keys, skipping absent values, so no `null` ever reaches the output.
#[derive(Default)]
struct ProfileBuilder {
    fields: Map<String, Value>,
}

impl ProfileBuilder {
    /// Sets `key` when there is a value (replacing an earlier source's); `None` changes nothing.
    fn text(&mut self, key: &str, value: Option<String>) {
        if let Some(value) = value {
            self.fields.insert(key.into(), Value::String(value));
        }
    }

    fn flag(&mut self, key: &str, value: Option<bool>) {
        if let Some(value) = value {
            self.fields.insert(key.into(), Value::Bool(value));
        }
    }

    fn count(&mut self, key: &str, value: Option<u64>) {
        if let Some(value) = value {
            self.fields.insert(key.into(), value.into());
        }
    }

    /// Copies an object; anything else (absent, `null`, a string…) leaves the key unset.
    fn object(&mut self, key: &str, value: Option<&Value>) {
        if let Some(object) = value.filter(|v| v.is_object()) {
            self.fields.insert(key.into(), object.clone());
        }
    }

    /// `user_id` falls back to the email (hosts such as Okta's inline hook run before an id
    /// exists); with neither, nobody can be recorded.
    fn finish(mut self, host: Host) -> Result<Value> {
        if !self.fields.contains_key("user_id") {
            let Some(email) = self.fields.get("email").cloned() else {
                return Err(invalid(format!(
                    "the {} event has no usable user id and no email: cannot tell who signed up",
                    host.name()
                )));
            };
            self.fields.insert("user_id".into(), email);
        }
        self.fields.insert("host".into(), Value::String(host.profile_tag().into()));
        for key in ["app_metadata", "user_metadata"] {
            self.fields.entry(key).or_insert_with(|| Value::Object(Map::new()));
        }
        Ok(Value::Object(self.fields))
    }
}

fn check_size(host: Host, event: &Value) -> Result<()> {
    if !fits(event, MAX_PROFILE_BYTES) {
        return Err(invalid(format!(
            "the {} event is larger than {MAX_PROFILE_BYTES} bytes of JSON: pass the event, not a whole export",
            host.name()
        )));
    }
    Ok(())
}

/// Whether the compact JSON of `v` is at most `limit` bytes.
fn fits(v: &Value, limit: usize) -> bool {
    serde_json::to_string(v).is_ok_and(|text| text.len() <= limit)
}

fn invalid(message: String) -> RuleError {
    RuleError::new(ErrorCode::ProfileInvalid, message)
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

// ---------------------------------------------------------------------------------------------
// Typed reads: each accepts exactly one JSON type (plus documented spellings) and never panics.

fn path<'a>(value: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(value, |v, key| v.get(*key))
}

/// A non-empty string, kept as given.
fn text(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// An id: a non-empty string, or an integer (some exports carry numeric ids).
fn id_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        other => text(Some(other)),
    }
}

/// A boolean, or the strings `"true"` / `"false"` (Cognito sends every attribute as a string).
fn flag(value: Option<&Value>) -> Option<bool> {
    match value? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn count(value: Option<&Value>) -> Option<u64> {
    value.and_then(Value::as_u64)
}

/// `"First Last"` from whichever parts exist.
fn join_name(first: Option<&str>, last: Option<&str>) -> Option<String> {
    let joined = [first, last].into_iter().flatten().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
    (!joined.is_empty()).then_some(joined)
}

fn clip(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or_default()),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
    }

    fn one(host: Host, event: &Value) -> HostEvent {
        let mut users = normalise(host, event).unwrap_or_else(|e| panic!("{host:?}: {e}"));
        assert_eq!(users.len(), 1, "{host:?} yields exactly one user");
        users.remove(0)
    }

    fn refused(host: Host, event: &Value) -> String {
        let err = normalise(host, event).expect_err("must be refused");
        assert_eq!(err.code, ErrorCode::ProfileInvalid);
        err.into_details().message
    }

    /// Every fixture's text (each line of an `.ndjson`).
    fn fixture_texts() -> Vec<String> {
        let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
        let mut texts = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("fixtures") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("read");
            match path.extension().and_then(|e| e.to_str()) {
                Some("json") => texts.push(text),
                Some("ndjson") => texts.extend(text.lines().map(str::to_owned)),
                _ => {}
            }
        }
        texts
    }

    fn recorded(lead: &str) -> FirstLoginSignal {
        FirstLoginSignal::AlreadyRecorded { lead_id: Some(lead.into()) }
    }

    // --- Auth0 -----------------------------------------------------------------------------

    fn ana(app_metadata: Value, logins: u64) -> Value {
        json!({
            "user_id": "auth0|6655a1b2c3d4e5f6a7b8c9d0",
            "email": "ana.pereira@example.com",
            "email_verified": true,
            "name": "Ana Pereira",
            "given_name": "Ana",
            "family_name": "Pereira",
            "nickname": "ana.pereira",
            "picture": "https://s.gravatar.com/avatar/0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e?s=480&r=pg&d=https%3A%2F%2Fcdn.auth0.com%2Favatars%2Fap.png",
            "created_at": "2024-05-28T07:59:55.123Z",
            "logins_count": logins,
            "connection": "Username-Password-Authentication",
            "host": "auth0",
            "app_metadata": app_metadata,
            "user_metadata": { "company": "Acme Corp" }
        })
    }

    #[test]
    fn the_event_keys_of_a_host_are_all_it_reads() {
        for (host, name) in [
            (Host::Auth0Action, "auth0-action-post-login.json"),
            (Host::Auth0Action, "auth0-action-returning.json"),
            (Host::Auth0Action, "auth0-action-database-user.json"),
        ] {
            let event = fixture(name);
            let keys = host.event_keys().expect("Auth0 reads a few keys");
            let subset: Map<String, Value> = event
                .as_object()
                .expect("an object")
                .iter()
                .filter(|(k, _)| keys.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            assert!(subset.len() < event.as_object().map_or(0, Map::len), "{name}: the fixture has other keys");
            assert_eq!(normalise(host, &Value::Object(subset)), normalise(host, &event), "{name}");
        }
    }

    #[test]
    fn auth0_action_post_login() {
        let user = one(Host::Auth0Action, &fixture("auth0-action-post-login.json"));
        assert_eq!(user.profile, ana(json!({}), 1));
        assert_eq!(user.signal, FirstLoginSignal::FirstLogin);
    }

    #[test]
    fn auth0_action_returning_user_is_already_recorded() {
        let user = one(Host::Auth0Action, &fixture("auth0-action-returning.json"));
        assert_eq!(user.profile, ana(json!({ "recordedAsLead": true, "salesforceLeadId": "00Q5e000001abcdEAA" }), 7));
        assert_eq!(user.signal, recorded("00Q5e000001abcdEAA"));
    }

    #[test]
    fn auth0_marker_without_lead_id_or_not_true() {
        let mut event = fixture("auth0-action-returning.json");
        event["user"]["app_metadata"] = json!({ "recordedAsLead": true, "salesforceLeadId": "" });
        assert_eq!(one(Host::Auth0Action, &event).signal, FirstLoginSignal::AlreadyRecorded { lead_id: None });
        for not_recorded in [json!(false), json!("true"), json!(1), Value::Null] {
            event["user"]["app_metadata"] = json!({ "recordedAsLead": not_recorded });
            // Still not recorded: the marker is the signal, so a failed attempt is retried.
            assert_eq!(one(Host::Auth0Action, &event).signal, FirstLoginSignal::FirstLogin);
        }
    }

    #[test]
    fn auth0_action_database_user_keeps_email_as_name() {
        let user = one(Host::Auth0Action, &fixture("auth0-action-database-user.json"));
        assert_eq!(
            user.profile,
            json!({
                "user_id": "auth0|665df1c2a9e8b7d6c5f4e3a2",
                "email": "sam.taylor@example.com",
                "email_verified": false,
                "name": "sam.taylor@example.com",
                "nickname": "sam.taylor",
                "picture": "https://s.gravatar.com/avatar/9f8e7d6c5b4a39281706f5e4d3c2b1a0?s=480&r=pg&d=https%3A%2F%2Fcdn.auth0.com%2Favatars%2Fsa.png",
                "created_at": "2024-06-03T16:42:10.905Z",
                "logins_count": 1,
                "connection": "Username-Password-Authentication",
                "host": "auth0",
                "app_metadata": {},
                "user_metadata": {}
            })
        );
        assert_eq!(user.signal, FirstLoginSignal::FirstLogin);
    }

    fn rule_input() -> Value {
        json!({ "user": fixture("auth0-rule-user.json"), "context": fixture("auth0-rule-context.json") })
    }

    fn david(host: &str) -> Value {
        json!({
            "user_id": "google-oauth2|104857362910473829164",
            "email": "david.okafor@example.com",
            "email_verified": true,
            "name": "David Okafor",
            "given_name": "David",
            "family_name": "Okafor",
            "nickname": "david.okafor",
            "picture": "https://lh3.googleusercontent.com/a/ACg8ocJfakeFakeFakeFakeFakeFake=s96-c",
            "created_at": "2024-05-28T09:14:02.318Z",
            "logins_count": 1,
            "connection": "google-oauth2",
            "host": host,
            "app_metadata": {},
            "user_metadata": {}
        })
    }

    #[test]
    fn auth0_rule_user_and_context() {
        let user = one(Host::Auth0Rule, &rule_input());
        assert_eq!(user.profile, david("auth0"));
        assert_eq!(user.signal, FirstLoginSignal::FirstLogin);
        // Generic accepts the same `{ user, context }` shape.
        assert_eq!(one(Host::Generic, &rule_input()).profile, david("generic"));
    }

    #[test]
    fn auth0_needs_a_user_object() {
        assert!(refused(Host::Auth0Action, &json!({ "stats": {} })).contains("no `user` object"));
        assert!(refused(Host::Generic, &json!({ "user": [] })).contains("no usable user id"));
        assert!(refused(Host::Auth0Action, &json!({ "user": "auth0|1" })).contains("no `user` object"));
        assert!(refused(Host::Auth0Rule, &json!({ "context": {} })).contains("{ user, context }"));
        let msg = refused(Host::Auth0Action, &json!({ "user": { "name": "No Id" } }));
        assert!(msg.contains("no usable user id and no email"), "{msg}");
    }

    #[test]
    fn auth0_wrong_types_are_left_out_not_nulled() {
        let event = json!({
            "user": {
                "user_id": "auth0|1", "email": 42, "name": "", "email_verified": "yes",
                "app_metadata": null, "user_metadata": ["x"], "picture": null
            },
            "stats": { "logins_count": -1 },
            "connection": { "name": 7 }
        });
        assert_eq!(
            one(Host::Auth0Action, &event).profile,
            json!({ "user_id": "auth0|1", "host": "auth0", "app_metadata": {}, "user_metadata": {} })
        );
    }

    // --- Generic ---------------------------------------------------------------------------

    #[test]
    fn auth0_users_export_lines_through_generic() {
        let path = format!("{}/tests/fixtures/auth0-users-export.ndjson", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("export fixture");
        let users: Vec<HostEvent> = text
            .lines()
            .map(|line| one(Host::Generic, &serde_json::from_str::<Value>(line).expect("one JSON object per line")))
            .collect();
        let expected = [
            json!({
                "user_id": "auth0|6601a2b3c4d5e6f7a8b9c0d1", "email": "maria.gonzalez@example.com", "email_verified": true,
                "name": "María González", "given_name": "María", "family_name": "González", "nickname": "maria.gonzalez",
                "created_at": "2024-03-25T10:12:44.510Z", "logins_count": 12, "host": "generic",
                "app_metadata": {}, "user_metadata": { "company": "González Logística S.L." }
            }),
            json!({
                "user_id": "google-oauth2|110384756201938475612", "email": "james.whitaker@example.com", "email_verified": true,
                "name": "James Whitaker", "given_name": "James", "family_name": "Whitaker", "nickname": "james.whitaker",
                "picture": "https://lh3.googleusercontent.com/a/ACg8ocLfakeFakeFake=s96-c",
                "created_at": "2024-04-02T15:47:03.877Z", "logins_count": 1, "host": "generic",
                "app_metadata": {}, "user_metadata": {}
            }),
            json!({
                "user_id": "auth0|6612b3c4d5e6f7a8b9c0d1e2", "email": "no.name.user@example.com", "email_verified": false,
                "nickname": "no.name.user", "created_at": "2024-04-07T22:05:31.009Z", "logins_count": 0, "host": "generic",
                "app_metadata": {}, "user_metadata": {}
            }),
            json!({
                "user_id": "auth0|6623c4d5e6f7a8b9c0d1e2f3", "email": "zoe.lindqvist@example.com", "email_verified": true,
                "name": "Zoë Lindqvist-Ødegård 林", "given_name": "Zoë", "family_name": "Lindqvist-Ødegård 林", "nickname": "zoe",
                "created_at": "2024-04-19T06:30:58.642Z", "logins_count": 4, "host": "generic",
                "app_metadata": {}, "user_metadata": { "company": "Ångström Överlag AB" }
            }),
            json!({
                "user_id": "auth0|6634d5e6f7a8b9c0d1e2f3a4", "email": "sofia.marino@example.com", "email_verified": true,
                "name": "Sofia Marino", "given_name": "Sofia", "family_name": "Marino", "nickname": "sofia.marino",
                "created_at": "2024-05-01T09:18:22.305Z", "logins_count": 3, "host": "generic",
                "app_metadata": { "recordedAsLead": true, "salesforceLeadId": "00Q5e000002qrstEAA" },
                "user_metadata": { "company": "Marino Design" }
            }),
        ];
        assert_eq!(users.len(), expected.len());
        for (user, expected) in users.iter().zip(expected) {
            assert_eq!(user.profile, expected);
        }
        let signals: Vec<_> = users.iter().map(|u| u.signal.clone()).collect();
        assert_eq!(
            signals[..4],
            [
                FirstLoginSignal::FirstLogin,
                FirstLoginSignal::FirstLogin,
                FirstLoginSignal::FirstLogin,
                FirstLoginSignal::FirstLogin
            ]
        );
        assert_eq!(signals[4], recorded("00Q5e000002qrstEAA"));
    }

    #[test]
    fn generic_wraps_an_action_event_and_plain_profiles() {
        let mut event = fixture("auth0-action-post-login.json");
        let mut expected = ana(json!({}), 1);
        expected["host"] = json!("generic");
        assert_eq!(one(Host::Generic, &event).profile, expected);

        event = json!({ "email": "only.email@example.com", "connection": "csv-import", "user_id": 12345, "extra": "ignored" });
        assert_eq!(
            one(Host::Generic, &event).profile,
            json!({
                "user_id": "12345", "email": "only.email@example.com", "connection": "csv-import",
                "host": "generic", "app_metadata": {}, "user_metadata": {}
            })
        );
        // No id: the email stands in for it.
        let user = one(Host::Generic, &json!({ "email": "a@example.com" }));
        assert_eq!(user.profile["user_id"], "a@example.com");
        assert!(refused(Host::Generic, &json!({ "name": "Nobody", "user_id": "" })).contains("no usable user id"));
        assert!(refused(Host::Generic, &json!({ "user_id": 1.5 })).contains("no usable user id"));
    }

    // --- Ory -------------------------------------------------------------------------------

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
        assert_eq!(signal(json!({ "identity": { "id": "i-1" } })), FirstLoginSignal::Unknown);
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

    // --- Firebase --------------------------------------------------------------------------

    #[test]
    fn firebase_before_user_created() {
        let user = one(Host::Firebase, &fixture("firebase-before-user-created.json"));
        assert_eq!(
            user.profile,
            json!({
                "user_id": "kQ3vX9pL2mN8bR4tY6wZ1aC5dE7f",
                "email": "kenji.watanabe@example.com",
                "email_verified": true,
                "name": "Kenji Watanabe",
                "given_name": "Kenji",
                "family_name": "Watanabe",
                "phone_number": "+14155550123",
                "picture": "https://lh3.googleusercontent.com/a/ACg8ocKfakePhotoIdForTestsOnly=s96-c",
                "created_at": "Tue, 28 May 2024 08:08:11 GMT",
                "connection": "google.com",
                "host": "firebase",
                "app_metadata": {},
                "user_metadata": {}
            })
        );
        assert_eq!(user.signal, FirstLoginSignal::FirstLogin);
    }

    #[test]
    fn firebase_before_user_signed_in() {
        let mut event = fixture("firebase-before-user-signed-in.json");
        let user = one(Host::Firebase, &event);
        assert_eq!(
            user.profile,
            json!({
                "user_id": "Vb7nM2xC4zL6kJ8hG0fD1sA3qW5e",
                "email": "chiara.rossi@example.com",
                "email_verified": false,
                "name": "Chiara Rossi",
                "created_at": "Fri, 12 Apr 2024 17:30:45 GMT",
                "connection": "password",
                "host": "firebase",
                "app_metadata": { "plan": "pro" },
                "user_metadata": {}
            })
        );
        assert_eq!(user.signal, FirstLoginSignal::ReturningUser);

        event["data"]["customClaims"] = json!({ "recordedAsLead": true, "salesforceLeadId": "00Q5e000003fbfbEAA" });
        assert_eq!(one(Host::Firebase, &event).signal, recorded("00Q5e000003fbfbEAA"));
        event["data"]["customClaims"] = json!({});
        event["additionalUserInfo"]["isNewUser"] = json!(true);
        assert_eq!(one(Host::Firebase, &event).signal, FirstLoginSignal::FirstLogin);
        event["additionalUserInfo"] = json!({});
        assert_eq!(one(Host::Firebase, &event).signal, FirstLoginSignal::Unknown);
        event["eventType"] = json!("providers/cloud.auth/eventTypes/user.beforeCreate:password");
        assert_eq!(one(Host::Firebase, &event).signal, FirstLoginSignal::FirstLogin);
        assert!(refused(Host::Firebase, &json!({ "data": null })).contains("AuthBlockingEvent"));
    }

    // --- Cognito ---------------------------------------------------------------------------

    fn olivia() -> Value {
        json!({
            "user_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            "username": "olivia.brown",
            "email": "olivia.brown@example.com",
            "email_verified": true,
            "name": "Olivia Brown",
            "given_name": "Olivia",
            "family_name": "Brown",
            "phone_number": "+447700900123",
            "host": "cognito",
            "app_metadata": {},
            "user_metadata": { "company": "Brown & Partners Ltd" }
        })
    }

    #[test]
    fn cognito_post_confirmation_and_authentication() {
        let confirmed = one(Host::Cognito, &fixture("cognito-post-confirmation.json"));
        assert_eq!(confirmed.profile, olivia());
        assert_eq!(confirmed.signal, FirstLoginSignal::FirstLogin);
        let authenticated = one(Host::Cognito, &fixture("cognito-post-authentication.json"));
        assert_eq!(authenticated.profile, olivia());
        assert_eq!(authenticated.signal, FirstLoginSignal::ReturningUser);
    }

    #[test]
    fn cognito_triggers_and_custom_attributes() {
        let mut event = fixture("cognito-post-confirmation.json");
        let signal = |event: &Value| one(Host::Cognito, event).signal;
        event["triggerSource"] = json!("PostConfirmation_ConfirmForgotPassword");
        assert_eq!(signal(&event), FirstLoginSignal::ReturningUser);
        event["triggerSource"] = json!("PreSignUp_SignUp");
        assert_eq!(signal(&event), FirstLoginSignal::Unknown);
        event["triggerSource"] = json!("PostConfirmation_ConfirmSignUp");

        let attributes = &mut event["request"]["userAttributes"];
        attributes["custom:plan"] = json!("enterprise");
        attributes["custom:"] = json!("nameless");
        attributes["custom:recordedAsLead"] = json!("true");
        attributes["custom:salesforceLeadId"] = json!("00Q5e000004cgcgEAA");
        attributes["email_verified"] = json!("False");
        let user = one(Host::Cognito, &event);
        assert_eq!(user.profile["user_metadata"], json!({ "company": "Brown & Partners Ltd", "plan": "enterprise" }));
        assert_eq!(
            user.profile["app_metadata"],
            json!({ "recordedAsLead": true, "salesforceLeadId": "00Q5e000004cgcgEAA" })
        );
        assert_eq!(user.profile["email_verified"], false);
        assert_eq!(user.signal, recorded("00Q5e000004cgcgEAA"));

        // No `sub`: the user name is the id.
        let bare = json!({ "userName": "u-77", "request": { "userAttributes": {} } });
        assert_eq!(one(Host::Cognito, &bare).profile["user_id"], "u-77");
        assert!(refused(Host::Cognito, &json!({ "request": {} })).contains("request.userAttributes"));
    }

    // --- Clerk -----------------------------------------------------------------------------

    #[test]
    fn clerk_user_created() {
        let user = one(Host::Clerk, &fixture("clerk-user-created.json"));
        assert_eq!(
            user.profile,
            json!({
                "user_id": "user_2hA7jX1cV3bN5mQ7wE9rT2yU4iO",
                "email": "dana.brooks@example.com",
                "email_verified": true,
                "name": "Dana Brooks",
                "given_name": "Dana",
                "family_name": "Brooks",
                "username": "dbrooks",
                "phone_number": "+15555550199",
                "picture": "https://img.clerk.com/eyJ0eXBlIjoiZGVmYXVsdCIsImlpZCI6Imluc18yaEE3ZmFrZSIsInJpZCI6InVzZXJfMmhBN2Zha2UifQ",
                "created_at": "2024-05-28T07:59:55.123Z",
                "host": "clerk",
                "app_metadata": {},
                "user_metadata": { "company": "Northwind Traders" }
            })
        );
        assert_eq!(user.signal, FirstLoginSignal::FirstLogin);
        assert!(!user.profile.to_string().contains("cus_FAKE"), "private_metadata must never be copied");
    }

    #[test]
    fn clerk_primary_email_selection() {
        let mut event = fixture("clerk-user-created.json");
        // Primary is the second entry in the fixture; without a primary id, the first is used.
        event["data"]["primary_email_address_id"] = Value::Null;
        let user = one(Host::Clerk, &event);
        assert_eq!(user.profile["email"], "dana.brooks.personal@example.com");
        assert_eq!(user.profile["email_verified"], false);
        // A primary id that matches nothing also falls back to the first.
        event["data"]["primary_email_address_id"] = json!("idn_gone");
        assert_eq!(one(Host::Clerk, &event).profile["email"], "dana.brooks.personal@example.com");
        event["data"]["email_addresses"] = json!([]);
        assert!(one(Host::Clerk, &event).profile.get("email").is_none());
    }

    #[test]
    fn clerk_other_events() {
        let mut event = fixture("clerk-user-created.json");
        event["type"] = json!("user.updated");
        event["data"]["public_metadata"] = json!({ "recordedAsLead": false });
        assert_eq!(one(Host::Clerk, &event).signal, FirstLoginSignal::ReturningUser);
        event["data"]["public_metadata"] = json!({ "recordedAsLead": true, "salesforceLeadId": "00Q5e000005clkEAA" });
        assert_eq!(one(Host::Clerk, &event).signal, recorded("00Q5e000005clkEAA"));
        let untyped = json!({ "data": { "id": "user_1" } });
        assert_eq!(one(Host::Clerk, &untyped).signal, FirstLoginSignal::Unknown);
        let session = json!({ "type": "session.created", "data": { "id": "sess_1", "object": "session" } });
        assert!(refused(Host::Clerk, &session).contains("`session.created` carries a `session`"));
        assert!(refused(Host::Clerk, &json!({ "type": "user.created" })).contains("no `data` object"));
    }

    #[test]
    fn epoch_millis_to_iso() {
        assert_eq!(iso_from_epoch_millis(0).as_deref(), Some("1970-01-01T00:00:00.000Z"));
        assert_eq!(iso_from_epoch_millis(951_782_400_000).as_deref(), Some("2000-02-29T00:00:00.000Z"));
        assert_eq!(iso_from_epoch_millis(1_709_251_199_999).as_deref(), Some("2024-02-29T23:59:59.999Z"));
        assert_eq!(iso_from_epoch_millis(253_402_300_799_999).as_deref(), Some("9999-12-31T23:59:59.999Z"));
        assert_eq!(iso_from_epoch_millis(253_402_300_800_000), None);
        assert_eq!(iso_from_epoch_millis(u64::MAX), None);
    }

    // --- Okta ------------------------------------------------------------------------------

    #[test]
    fn okta_event_hook_yields_created_users_only() {
        let users = normalise(Host::Okta, &fixture("okta-user-lifecycle-create.json")).expect("valid hook");
        assert_eq!(
            users,
            vec![HostEvent {
                profile: json!({
                    "user_id": "00ub0oNGTSWTBKOLGLNR",
                    "email": "priya.sharma@example.com",
                    "name": "Priya Sharma",
                    "created_at": "2024-05-28T08:21:35.512Z",
                    "host": "okta",
                    "app_metadata": {},
                    "user_metadata": {}
                }),
                signal: FirstLoginSignal::FirstLogin,
            }]
        );
    }

    #[test]
    fn okta_multi_event_hook() {
        let mut hook = fixture("okta-user-lifecycle-create.json");
        let create = hook["data"]["events"][0].clone();
        let mut second = create.clone();
        second["target"] = json!([
            { "id": "00uGROUP", "type": "UserGroup", "alternateId": "unknown", "displayName": "Sales" },
            { "id": "00u2", "type": "User", "alternateId": "jo.bloggs", "displayName": "Jo Bloggs" },
            { "id": "00u3", "type": "User", "alternateId": "kim.lee@example.com" },
            { "type": "User", "displayName": "No Id, No Email" }
        ]);
        hook["data"]["events"] = json!([create, hook["data"]["events"][1].clone(), second]);
        let err = normalise(Host::Okta, &hook).expect_err("a User target with neither id nor email");
        assert!(err.message.contains("no usable user id"));

        hook["data"]["events"][2]["target"].as_array_mut().expect("array").pop();
        let users = normalise(Host::Okta, &hook).expect("valid hook");
        let ids: Vec<&str> = users.iter().filter_map(|u| u.profile["user_id"].as_str()).collect();
        assert_eq!(ids, ["00ub0oNGTSWTBKOLGLNR", "00u2", "00u3"]);
        // A login that is not an email is the username.
        assert_eq!(users[1].profile["username"], "jo.bloggs");
        assert!(users[1].profile.get("email").is_none());
        assert!(users.iter().all(|u| u.signal == FirstLoginSignal::FirstLogin));
    }

    #[test]
    fn okta_hook_without_creations_yields_nothing() {
        let mut hook = fixture("okta-user-lifecycle-create.json");
        hook["data"]["events"].as_array_mut().expect("array").remove(0);
        assert_eq!(normalise(Host::Okta, &hook), Ok(vec![]));
        hook["data"]["events"] = json!([]);
        assert_eq!(normalise(Host::Okta, &hook), Ok(vec![]));
        hook["data"]["events"] = json!([{ "eventType": "user.lifecycle.create", "target": "not a list" }, 7, null]);
        assert_eq!(normalise(Host::Okta, &hook), Ok(vec![]));
        // The one-time verification request carries no user either.
        assert_eq!(normalise(Host::Okta, &fixture("okta-verification-request.json")), Ok(vec![]));
        assert!(refused(Host::Okta, &json!({ "data": {} })).contains("neither an event hook"));
    }

    #[test]
    fn okta_registration_inline_hook() {
        let mut event = fixture("okta-registration-inline-hook.json");
        let user = one(Host::Okta, &event);
        assert_eq!(
            user.profile,
            json!({
                "user_id": "tomas.novak@example.com",
                "email": "tomas.novak@example.com",
                "name": "Tomáš Novák",
                "given_name": "Tomáš",
                "family_name": "Novák",
                "username": "tomas.novak@example.com",
                "host": "okta",
                "app_metadata": {},
                "user_metadata": {
                    "firstName": "Tomáš",
                    "lastName": "Novák",
                    "email": "tomas.novak@example.com",
                    "login": "tomas.novak@example.com",
                    "organization": "Novák Stavby s.r.o."
                }
            })
        );
        assert_eq!(user.signal, FirstLoginSignal::FirstLogin);

        // Progressive profiling: an existing user, identified by `data.context.user.id`.
        event["requestType"] = json!("progressive.profile");
        event["data"]["context"]["user"] = json!({ "id": "00u5", "profile": { "login": "x@example.com" } });
        let user = one(Host::Okta, &event);
        assert_eq!(user.profile["user_id"], "00u5");
        assert_eq!(user.signal, FirstLoginSignal::ReturningUser);
    }

    // --- Common refusals -------------------------------------------------------------------

    #[test]
    fn non_objects_are_refused_by_every_host() {
        for host in Host::ALL {
            for (value, kind) in
                [(json!(null), "null"), (json!([{}]), "an array"), (json!("{}"), "a string"), (json!(3), "a number")]
            {
                let msg = refused(host, &value);
                assert!(msg.contains(host.name()) && msg.ends_with(kind), "{msg}");
            }
        }
    }

    #[test]
    fn oversize_events_are_refused_by_every_host() {
        let mut event = fixture("auth0-action-post-login.json");
        event["user"]["user_metadata"]["bio"] = json!("x".repeat(MAX_PROFILE_BYTES));
        for host in Host::ALL {
            assert!(refused(host, &event).contains("larger than 262144 bytes"), "{host:?}");
        }
        // Just under the limit passes.
        let base = fixture("auth0-action-post-login.json").to_string().len();
        let filler = MAX_PROFILE_BYTES - base - r#","bio":"""#.len();
        event["user"]["user_metadata"]["bio"] = json!("x".repeat(filler));
        assert_eq!(event.to_string().len(), MAX_PROFILE_BYTES);
        assert!(normalise(Host::Auth0Action, &event).is_ok());
        event["user"]["user_metadata"]["bio"] = json!("x".repeat(filler + 1));
        assert!(normalise(Host::Auth0Action, &event).is_err());
    }

    #[test]
    fn a_value_read_from_text_is_no_longer_written_than_the_text() {
        // Why `normalise_read` may skip the size walk for text within the limit.
        for text in [
            r#" { "user" : { "user_id" : "\u0061\ud83d\ude00\ud800\/\n\"\\é" , "user_id":"u", "x" : [ 1.5e3 , true , null , { } ] } } "#,
            r#"{"a":"\u00e9\u2028\t\u001f","b":-0.0,"c":[],"d":"😀"}"#,
        ] {
            let v = read_json(text, "event").unwrap();
            assert!(v.to_string().len() <= text.len(), "{text}");
            assert!(fits(&v, text.len()));
            assert_eq!(normalise_read(Host::Generic, &v), normalise(Host::Generic, &v));
        }
        for text in fixture_texts() {
            let v = serde_json::from_str::<Value>(&text).unwrap();
            assert!(v.to_string().len() <= text.len());
        }
    }

    #[test]
    fn host_names() {
        for host in Host::ALL {
            assert_eq!(host_from_name(host.name()), Some(host));
        }
        assert_eq!(host_from_name("auth0"), Some(Host::Auth0Action));
        assert_eq!(host_from_name(" Auth0-Rule "), Some(Host::Auth0Rule));
        assert_eq!(host_from_name("CLERK"), Some(Host::Clerk));
        for unknown in ["", "auth", "keycloak", "auth0 action", "okta-hook"] {
            assert_eq!(host_from_name(unknown), None, "{unknown}");
        }
        assert_eq!(Host::Auth0Rule.profile_tag(), "auth0");
        assert_eq!(Host::Okta.profile_tag(), "okta");
    }

    #[test]
    fn signals_serialise_for_js() {
        let json = |s: FirstLoginSignal| serde_json::to_value(&s).unwrap();
        assert_eq!(json(FirstLoginSignal::FirstLogin), json!({ "kind": "firstLogin" }));
        assert_eq!(json(FirstLoginSignal::ReturningUser), json!({ "kind": "returningUser" }));
        assert_eq!(json(FirstLoginSignal::Unknown), json!({ "kind": "unknown" }));
        assert_eq!(json(recorded("00Q1")), json!({ "kind": "alreadyRecorded", "leadId": "00Q1" }));
    }

    #[test]
    fn profiles_never_hold_nulls() {
        fn no_nulls(profile: &Value) -> bool {
            profile.as_object().is_some_and(|fields| fields.values().all(|v| !v.is_null()))
        }
        let fixtures = [
            (Host::Auth0Action, "auth0-action-post-login.json"),
            (Host::Auth0Action, "auth0-action-returning.json"),
            (Host::Auth0Action, "auth0-action-database-user.json"),
            (Host::Ory, "ory-registration-after.json"),
            (Host::Ory, "ory-settings-after.json"),
            (Host::Firebase, "firebase-before-user-created.json"),
            (Host::Firebase, "firebase-before-user-signed-in.json"),
            (Host::Cognito, "cognito-post-confirmation.json"),
            (Host::Cognito, "cognito-post-authentication.json"),
            (Host::Clerk, "clerk-user-created.json"),
            (Host::Okta, "okta-user-lifecycle-create.json"),
            (Host::Okta, "okta-registration-inline-hook.json"),
        ];
        for (host, name) in fixtures {
            for user in normalise(host, &fixture(name)).expect(name) {
                assert!(no_nulls(&user.profile), "{name}");
            }
        }
    }

    // --- Properties ------------------------------------------------------------------------

    /// Keys the adapters look for, so random events reach deep into every adapter.
    const KEYS: [&str; 40] = [
        "user",
        "context",
        "stats",
        "logins_count",
        "loginsCount",
        "connection",
        "name",
        "user_id",
        "email",
        "email_verified",
        "app_metadata",
        "user_metadata",
        "recordedAsLead",
        "salesforceLeadId",
        "identity",
        "ctx",
        "traits",
        "first",
        "last",
        "verifiable_addresses",
        "via",
        "value",
        "verified",
        "metadata_public",
        "flow",
        "type",
        "request_url",
        "data",
        "uid",
        "additionalUserInfo",
        "isNewUser",
        "eventType",
        "request",
        "userAttributes",
        "triggerSource",
        "email_addresses",
        "primary_email_address_id",
        "events",
        "target",
        "userProfile",
    ];

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e9f64..1e9).prop_map(Value::from),
            prop_oneof![
                Just("User".to_owned()),
                Just("user.lifecycle.create".to_owned()),
                Just("user.created".to_owned()),
                Just("PostConfirmation_ConfirmSignUp".to_owned()),
                Just("https://x.example.com/self-service/registration?flow=1".to_owned()),
                Just("a@example.com".to_owned()),
                ".{0,12}",
            ]
            .prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 64, 8, |inner| {
            let key = prop_oneof![proptest::sample::select(KEYS.to_vec()).prop_map(str::to_owned), "[a-z:_]{0,6}"];
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((key, inner), 0..6)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    fn check_invariants(host: Host, event: &Value) -> std::result::Result<(), TestCaseError> {
        match normalise(host, event) {
            Ok(users) => {
                prop_assert!(host == Host::Okta || users.len() == 1);
                for user in users {
                    let fields = user.profile.as_object().expect("profile is an object");
                    prop_assert!(fields.get("user_id").and_then(Value::as_str).is_some_and(|id| !id.is_empty()));
                    prop_assert!(fields.get("app_metadata").is_some_and(Value::is_object));
                    prop_assert!(fields.get("user_metadata").is_some_and(Value::is_object));
                    prop_assert!(fields.values().all(|v| !v.is_null()));
                }
            }
            Err(err) => prop_assert_eq!(err.code, ErrorCode::ProfileInvalid),
        }
        Ok(())
    }

    fn pointers(value: &Value, prefix: String, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => map.iter().for_each(|(k, v)| {
                let p = format!("{prefix}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(v, p, out);
            }),
            Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| {
                let p = format!("{prefix}/{i}");
                out.push(p.clone());
                pointers(v, p, out);
            }),
            _ => {}
        }
    }

    proptest! {
        #[test]
        fn arbitrary_json_never_panics(event in arb_json()) {
            for host in Host::ALL {
                check_invariants(host, &event)?;
                check_invariants(host, &serde_json::json!({ "user": event.clone(), "data": event.clone(), "identity": event.clone() }))?;
            }
        }

        #[test]
        fn mutated_fixtures_never_panic(pick in any::<proptest::sample::Index>(), replacement in arb_json()) {
            let fixtures = [
                (Host::Auth0Action, "auth0-action-post-login.json"),
                (Host::Ory, "ory-registration-after.json"),
                (Host::Firebase, "firebase-before-user-created.json"),
                (Host::Cognito, "cognito-post-confirmation.json"),
                (Host::Clerk, "clerk-user-created.json"),
                (Host::Okta, "okta-user-lifecycle-create.json"),
                (Host::Okta, "okta-registration-inline-hook.json"),
            ];
            for (host, name) in fixtures {
                let mut event = fixture(name);
                let mut paths = Vec::new();
                pointers(&event, String::new(), &mut paths);
                let target = paths[pick.index(paths.len())].clone();
                if let Some(slot) = event.pointer_mut(&target) {
                    *slot = replacement.clone();
                }
                check_invariants(host, &event)?;
                check_invariants(Host::Generic, &event)?;
            }
        }
    }
}
