//! Auth0 Event Streams webhook deliveries: CloudEvents whose `data.object` is the Auth0 user (the
//! `Authorization` header is checked before, in `webhook::respond`). Only `user.created` is a
//! first login.

use super::auth0::copy_auth0_user;
use super::build::{invalid, ProfileBuilder};
use super::value::{clip, path, text};
use super::{FirstLoginSignal, Host};
use crate::core::error::Result;
use serde_json::Value;

/// The event `type` that records a user. Auth0's schema names it `user.created`; its overview page
/// shows `com.auth0.user.created`, which is read the same.
pub fn is_user_created(event_type: &str) -> bool {
    matches!(event_type, "user.created" | "com.auth0.user.created")
}

pub(super) fn auth0_events(event: &Value) -> Result<(Value, FirstLoginSignal)> {
    let event_type = event.get("type").and_then(Value::as_str);
    let user = path(event, &["data", "object"]).filter(|u| u.is_object()).ok_or_else(|| {
        invalid("the Auth0 Event Streams body has no `data.object`: pass the CloudEvent as delivered".into())
    })?;
    if user.get("user_id").is_none() && event_type.is_some_and(|t| !t.contains("user.")) {
        return Err(invalid(format!(
            "the Auth0 event `{}` carries no user: subscribe the stream to `user.created`",
            clip(event_type.unwrap_or("?"), 64)
        )));
    }
    let mut profile = ProfileBuilder::default();
    copy_auth0_user(user, &mut profile);
    // The connection the user signed up with: the first identity's.
    let first_identity = user.get("identities").and_then(Value::as_array).and_then(|ids| ids.first());
    profile.text("connection", first_identity.and_then(|i| text(i.get("connection"))));
    let signal = match event_type {
        Some(t) if is_user_created(t) => FirstLoginSignal::FirstLogin,
        Some(_) => FirstLoginSignal::ReturningUser,
        None => FirstLoginSignal::Unknown,
    };
    Ok((profile.finish(Host::Auth0Events)?, signal))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::profile::test_support::*;
    use serde_json::json;

    #[test]
    fn auth0_events_user_created() {
        let user = one(Host::Auth0Events, &fixture("auth0-events-user-created.json"));
        assert_eq!(
            user.profile,
            json!({
                "user_id": "auth0|684a9e1f7c3d2b0012ab34cd",
                "email": "marta.kowalska@example.com",
                "email_verified": false,
                "name": "Marta Kowalska",
                "given_name": "Marta",
                "family_name": "Kowalska",
                "nickname": "marta.kowalska",
                "phone_number": "+15555550142",
                "picture": "https://s.gravatar.com/avatar/5e8a1c2b3d4f5a6b7c8d9e0f1a2b3c4d?s=480&r=pg&d=https%3A%2F%2Fcdn.auth0.com%2Favatars%2Fmk.png",
                "created_at": "2025-06-12T09:41:27.114Z",
                "connection": "Username-Password-Authentication",
                "host": "auth0",
                "app_metadata": {},
                "user_metadata": { "company": "Kowalska Logistics" }
            })
        );
        assert_eq!(user.signal, FirstLoginSignal::FirstLogin);
    }

    #[test]
    fn auth0_events_other_types_and_shapes() {
        let mut event = fixture("auth0-events-user-created.json");
        event["type"] = json!("com.auth0.user.created");
        assert_eq!(one(Host::Auth0Events, &event).signal, FirstLoginSignal::FirstLogin);
        for other in ["user.updated", "user.deleted"] {
            event["type"] = json!(other);
            assert_eq!(one(Host::Auth0Events, &event).signal, FirstLoginSignal::ReturningUser, "{other}");
        }
        event.as_object_mut().expect("object").remove("type");
        assert_eq!(one(Host::Auth0Events, &event).signal, FirstLoginSignal::Unknown);
        event["type"] = json!("user.created");
        event["data"]["object"]["app_metadata"] = json!({ "recordedAsLead": true, "salesforceLeadId": "00Q1" });
        assert_eq!(one(Host::Auth0Events, &event).signal, recorded("00Q1"));

        let organization =
            json!({ "type": "organization.created", "data": { "object": { "id": "org_1", "name": "acme" } } });
        assert!(refused(Host::Auth0Events, &organization).contains("`organization.created` carries no user"));
        assert!(refused(Host::Auth0Events, &json!({ "type": "user.created", "data": {} })).contains("no `data.object`"));
        assert!(refused(Host::Auth0Events, &json!({ "type": "user.created", "data": { "object": {} } }))
            .contains("no usable user id"));
    }
}
