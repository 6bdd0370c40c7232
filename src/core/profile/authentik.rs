//! authentik generic webhook notifications: the default body, whose `event_user_email` and
//! `event_user_username` name the user who caused the event, or the body of the webhook mapping
//! README gives, `{ "user": { pk, username, email, name, attributes } }`. `user_email` and
//! `user_username` name the notification's recipient (an admin), never the new user: not read.

use super::build::{invalid, ProfileBuilder};
use super::value::{id_text, text};
use super::{FirstLoginSignal, Host};
use crate::core::error::Result;
use serde_json::Value;

/// The username authentik gives events nobody signed in for (guardian's anonymous user).
const ANONYMOUS_USERNAME: &str = "AnonymousUser";

/// Why a notification names nobody to record (no event user, or the anonymous one), or `None`.
pub fn authentik_no_user(event: &Value) -> Option<String> {
    let username = match event.get("user") {
        Some(user) => text(user.get("username")),
        None => {
            let username = text(event.get("event_user_username"));
            if username.is_none() && text(event.get("event_user_email")).is_none() {
                return Some(
                    "the notification names no event user (`event_user_email`, `event_user_username`): \
                     bind the rule to events the new user causes, such as `user_write`"
                        .into(),
                );
            }
            username
        }
    };
    (username.as_deref() == Some(ANONYMOUS_USERNAME))
        .then(|| format!("the event user is authentik's `{ANONYMOUS_USERNAME}`: nobody signed up"))
}

pub(super) fn authentik(event: &Value) -> Result<(Value, FirstLoginSignal)> {
    if let Some(reason) = event.get("user").is_none().then(|| authentik_no_user(event)).flatten() {
        return Err(invalid(reason));
    }
    let mut profile = ProfileBuilder::default();
    match event.get("user") {
        Some(user) => {
            if !user.is_object() {
                return Err(invalid(
                    "the authentik body's `user` must be an object, as the webhook mapping in README returns".into(),
                ));
            }
            if let Some(reason) = authentik_no_user(event) {
                return Err(invalid(reason));
            }
            profile.text("user_id", id_text(user.get("pk")).or_else(|| text(user.get("username"))));
            profile.text("email", text(user.get("email")));
            profile.text("name", text(user.get("name")));
            profile.text("username", text(user.get("username")));
            profile.object("user_metadata", user.get("attributes"));
        }
        None => {
            // No pk in the default body; usernames are unique in authentik.
            profile.text("user_id", text(event.get("event_user_username")));
            profile.text("email", text(event.get("event_user_email")));
            profile.text("username", text(event.get("event_user_username")));
        }
    }
    // The notification rule chooses the events (README: `user_write` with `created`).
    Ok((profile.finish(Host::Authentik)?, FirstLoginSignal::FirstLogin))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::profile::test_support::*;
    use serde_json::json;

    #[test]
    fn authentik_default_body_reads_the_event_user_only() {
        let event = fixture("authentik-notification-default.json");
        let user = one(Host::Authentik, &event);
        assert_eq!(
            user.profile,
            json!({
                "user_id": "jberg",
                "email": "jonas.berg@example.com",
                "username": "jberg",
                "host": "authentik",
                "app_metadata": {},
                "user_metadata": {}
            })
        );
        assert_eq!(user.signal, FirstLoginSignal::FirstLogin);
        assert!(!user.profile.to_string().contains("akadmin"), "the recipient is never the new user");
        assert_eq!(authentik_no_user(&event), None);
    }

    #[test]
    fn authentik_mapped_body() {
        let event = fixture("authentik-notification-mapped.json");
        let user = one(Host::Authentik, &event);
        assert_eq!(
            user.profile,
            json!({
                "user_id": "42",
                "email": "jonas.berg@example.com",
                "name": "Jonas Berg",
                "username": "jberg",
                "host": "authentik",
                "app_metadata": {},
                "user_metadata": { "company": "Berg Engineering AB" }
            })
        );
        assert_eq!(user.signal, FirstLoginSignal::FirstLogin);
        assert_eq!(authentik_no_user(&event), None);
    }

    #[test]
    fn authentik_without_a_real_user_is_refused_with_the_reason() {
        let mut default = fixture("authentik-notification-default.json");
        default["event_user_username"] = json!("AnonymousUser");
        default["event_user_email"] = json!("");
        assert!(refused(Host::Authentik, &default).contains("`AnonymousUser`"));
        assert!(authentik_no_user(&default).is_some_and(|r| r.contains("nobody signed up")));
        for key in ["event_user_username", "event_user_email"] {
            default.as_object_mut().expect("object").remove(key);
        }
        assert!(refused(Host::Authentik, &default).contains("names no event user"));
        assert!(authentik_no_user(&default).is_some_and(|r| r.contains("`user_write`")));

        let mut mapped = fixture("authentik-notification-mapped.json");
        mapped["user"]["username"] = json!("AnonymousUser");
        assert!(refused(Host::Authentik, &mapped).contains("`AnonymousUser`"));
        mapped["user"] = json!("jberg");
        assert!(refused(Host::Authentik, &mapped).contains("must be an object"));
        mapped["user"] = json!({ "name": "No Id" });
        assert!(refused(Host::Authentik, &mapped).contains("no usable user id"));
    }
}
