//! AWS Cognito PostConfirmation / PostAuthentication trigger events. Every attribute is a string,
//! and custom attributes carry both the user's data and our marker.

use super::build::{invalid, ProfileBuilder};
use super::value::{flag, id_text, path, text};
use super::{FirstLoginSignal, Host};
use crate::core::error::Result;
use serde_json::{Map, Value};

pub(super) fn cognito(event: &Value) -> Result<(Value, FirstLoginSignal)> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::profile::test_support::*;
    use serde_json::json;

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
}
