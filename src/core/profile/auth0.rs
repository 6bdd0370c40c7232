//! Auth0 (Actions post-login `event`, legacy Rules `{ user, context }`) and generic profiles, which
//! are Auth0-shaped: a plain profile or `{ user, stats?, connection? }`.

use super::build::{invalid, ProfileBuilder};
use super::value::{count, flag, id_text, path, text};
use super::{FirstLoginSignal, Host};
use crate::core::error::Result;
use serde_json::Value;

/// The user keys Auth0 profiles share with the normalised profile, copied type-checked.
pub(super) fn copy_auth0_user(user: &Value, profile: &mut ProfileBuilder) {
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
pub(super) fn auth0_event(event: &Value, host: Host) -> Result<(Value, FirstLoginSignal)> {
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

pub(super) fn generic(event: &Value) -> Result<(Value, FirstLoginSignal)> {
    if event.get("user").is_some_and(Value::is_object) {
        return auth0_event(event, Host::Generic);
    }
    let mut profile = ProfileBuilder::default();
    copy_auth0_user(event, &mut profile);
    profile.text("connection", text(event.get("connection")));
    Ok((profile.finish(Host::Generic)?, FirstLoginSignal::FirstLogin))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::profile::test_support::*;
    use crate::core::profile::{normalise, HostEvent};
    use serde_json::{json, Map};

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
}
