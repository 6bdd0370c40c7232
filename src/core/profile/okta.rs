//! Okta event hooks (`user.lifecycle.create`, any number of users per body, including the one-time
//! verification request with none) and registration inline hooks (one user, maybe without an id).

use super::build::{invalid, ProfileBuilder};
use super::value::{id_text, join_name, path, text};
use super::{FirstLoginSignal, Host, HostEvent};
use crate::core::error::Result;
use serde_json::Value;

pub(super) fn okta(event: &Value) -> Result<Vec<HostEvent>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::profile::normalise;
    use crate::core::profile::test_support::*;
    use serde_json::json;

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
}
