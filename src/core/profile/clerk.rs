//! Clerk `user.*` webhook bodies (the Svix signature is checked before, in `webhook`). Only
//! `user.created` is a first login; `private_metadata` is never read.

use super::build::{invalid, ProfileBuilder};
use super::value::{clip, id_text, join_name, path, text};
use super::{FirstLoginSignal, Host};
use crate::core::error::Result;
use serde_json::Value;

pub(super) fn clerk(event: &Value) -> Result<(Value, FirstLoginSignal)> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::profile::test_support::*;
    use serde_json::json;

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
}
