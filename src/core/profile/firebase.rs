//! Firebase blocking functions: the `AuthBlockingEvent` of `beforeUserCreated` /
//! `beforeUserSignedIn`. Custom claims are the app metadata, where the marker lives: either
//! trigger records a user whose claims lack it.

use super::build::{invalid, ProfileBuilder};
use super::value::{flag, id_text, path, text};
use super::{FirstLoginSignal, Host};
use crate::core::error::Result;
use serde_json::Value;

pub(super) fn firebase(event: &Value) -> Result<(Value, FirstLoginSignal)> {
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
    // Both blocking events are a first login until the marker says otherwise (the marker wins in
    // `HostEvent::new`): sign-in covers users who signed up before the function was deployed, or
    // whose create failed. `isNewUser` cannot tell: firebase-functions sets it only on beforeCreate.
    let signal = if event_type.contains("beforeCreate") || event_type.contains("beforeSignIn") {
        FirstLoginSignal::FirstLogin
    } else {
        // A hand-made event without the trigger's `eventType`: only `isNewUser` says anything.
        match info.and_then(|i| i.get("isNewUser")).and_then(Value::as_bool) {
            Some(true) => FirstLoginSignal::FirstLogin,
            Some(false) => FirstLoginSignal::ReturningUser,
            None => FirstLoginSignal::Unknown,
        }
    };
    Ok((profile.finish(Host::Firebase)?, signal))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::profile::test_support::*;
    use serde_json::json;

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
        // Signing in without the marker is a first login, whatever `isNewUser` says (firebase-functions
        // sets it only on beforeCreate, so it is false here).
        assert_eq!(user.signal, FirstLoginSignal::FirstLogin);

        event["data"]["customClaims"] = json!({ "recordedAsLead": true, "salesforceLeadId": "00Q5e000003fbfbEAA" });
        assert_eq!(one(Host::Firebase, &event).signal, recorded("00Q5e000003fbfbEAA"));
        // Only `true` is the marker.
        event["data"]["customClaims"] = json!({ "recordedAsLead": "yes" });
        assert_eq!(one(Host::Firebase, &event).signal, FirstLoginSignal::FirstLogin);
        // Without the trigger's eventType (a hand-made event), `isNewUser` is all there is.
        event["data"]["customClaims"] = json!({});
        event["eventType"] = Value::Null;
        assert_eq!(one(Host::Firebase, &event).signal, FirstLoginSignal::ReturningUser);
        event["additionalUserInfo"]["isNewUser"] = json!(true);
        assert_eq!(one(Host::Firebase, &event).signal, FirstLoginSignal::FirstLogin);
        event["additionalUserInfo"] = json!({});
        assert_eq!(one(Host::Firebase, &event).signal, FirstLoginSignal::Unknown);
        event["eventType"] = json!("providers/cloud.auth/eventTypes/user.beforeCreate:password");
        assert_eq!(one(Host::Firebase, &event).signal, FirstLoginSignal::FirstLogin);
        event["eventType"] = json!("providers/cloud.auth/eventTypes/user.beforeSendEmail");
        assert_eq!(one(Host::Firebase, &event).signal, FirstLoginSignal::Unknown);
        assert!(refused(Host::Firebase, &json!({ "data": null })).contains("AuthBlockingEvent"));
    }
}
