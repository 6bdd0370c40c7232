//! The wasm bindings in a real JS engine (Node, through wasm-bindgen-test-runner): JS values in,
//! JS values and `Error`s with stable codes out, and the real global `fetch` failing cleanly.
#![cfg(target_arch = "wasm32")]

use js_sys::{Reflect, JSON};
use sf_lead_rule::wasm::exports::{build_lead, check_mapping, configure, on_first_login, plan_first_login};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

fn js(json: &str) -> JsValue {
    JSON::parse(json).unwrap()
}

fn prop(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &k.into()).unwrap()
}

fn text(v: &JsValue) -> String {
    JSON::stringify(v).unwrap().as_string().unwrap()
}

#[wasm_bindgen_test]
fn build_lead_returns_a_plain_object_in_mapping_order() {
    let lead = build_lead(
        js(r#"{"given_name":"Zoë","family_name":"Ångström","email":"zoe@example.org"}"#),
        JsValue::UNDEFINED,
    )
    .unwrap();
    assert_eq!(
        text(&lead),
        r#"{"FirstName":"Zoë","LastName":"Ångström","Email":"zoe@example.org","Company":"Web channel signups","LeadSource":"Web"}"#
    );
}

#[wasm_bindgen_test]
fn lone_surrogates_in_js_strings_become_u_fffd() {
    // JSON.parse of these escapes makes JS strings with lone surrogates (half of an emoji, as a
    // UTF-16 cut leaves it), in values and in a key. They reach Salesforce as U+FFFD, not an error.
    let profile = js(
        r#"{"given_name":"Zo\ud83d","family_name":"\ude00x","email":"zoe@example.org","user_metadata":{"k\udbff":"\ud800\ud800"}}"#,
    );
    let config = js(
        r#"{"mapping":{"FirstName":"given_name","LastName":"family_name | upper","Description":"user_metadata[\"k\ufffd\"]","Company":"'A'"}}"#,
    );
    let lead = build_lead(profile, config).unwrap();
    // Read back through JSON.stringify, which would write a lone surrogate left in the result as
    // a `\ud83d` escape (as_string() would hide it: it too reads one as U+FFFD).
    assert_eq!(
        text(&lead),
        "{\"FirstName\":\"Zo\u{FFFD}\",\"LastName\":\"\u{FFFD}X\",\"Description\":\"\u{FFFD}\u{FFFD}\",\"Company\":\"A\"}"
    );
}

#[wasm_bindgen_test]
fn errors_are_js_errors_with_code_field_and_position() {
    let err = build_lead(js(r#"{"name":"x"}"#), js(r#"{"mapping":{"LastName":"name |"}}"#)).unwrap_err();
    assert!(err.is_instance_of::<js_sys::Error>());
    assert_eq!(prop(&err, "code").as_string().unwrap(), "MAPPING_INVALID");
    assert_eq!(prop(&err, "field").as_string().unwrap(), "LastName");
    assert!(prop(&err, "position").as_f64().is_some());
    let err = build_lead(js(r#"{"name":"x","email":"x@example.com"}"#), js(r#"{"mapping":{"LastName":"name"}}"#))
        .unwrap_err();
    assert_eq!(prop(&err, "code").as_string().unwrap(), "MISSING_REQUIRED_FIELD");
    assert_eq!(prop(&err, "field").as_string().unwrap(), "Company");
    let err = build_lead(js("42"), JsValue::UNDEFINED).unwrap_err();
    assert_eq!(prop(&err, "code").as_string().unwrap(), "PROFILE_INVALID");
    let ok = check_mapping(js(r#"{"LastName":"name"}"#));
    assert!(ok.is_null());
    let bad = check_mapping(js(r#"{"LastName":"nam e"}"#));
    assert_eq!(prop(&bad, "code").as_string().unwrap(), "MAPPING_INVALID");
}

#[wasm_bindgen_test]
fn build_lead_follows_the_mapping_of_each_call() {
    let profile = || js(r#"{"name":"Ana Pereira","email":"ana@example.com"}"#);
    let first = js(r#"{"mapping":{"LastName":"name","Company":"'A'"}}"#);
    let second = js(r#"{"mapping":{"LastName":"name | nameLast","Company":"'B'"}}"#);
    for _ in 0..2 {
        assert_eq!(text(&build_lead(profile(), first.clone()).unwrap()), r#"{"LastName":"Ana Pereira","Company":"A"}"#);
        assert_eq!(text(&build_lead(profile(), second.clone()).unwrap()), r#"{"LastName":"Pereira","Company":"B"}"#);
        // A bad mapping after a good one is still refused; the good one still works after it.
        let err = build_lead(profile(), js(r#"{"mapping":{"LastName":"name |"}}"#)).unwrap_err();
        assert_eq!(prop(&err, "code").as_string().unwrap(), "MAPPING_INVALID");
    }
}

#[wasm_bindgen_test]
fn a_new_configure_applies_to_the_same_config_argument() {
    // The same argument text is cached between calls; configure() must still change the result.
    let profile = || js(r#"{"name":"Ana Pereira","email":"ana@example.com"}"#);
    let event = || js(r#"{"user":{"user_id":"auth0|1","email":"ana@example.com","name":"Ana Pereira"}}"#);
    let build_config = js(r#"{"object":"Lead"}"#);
    let plan_config = js(r#"{"clientId":"cid","clientSecret":"cs"}"#);
    let lead = |config: &JsValue| text(&build_lead(profile(), config.clone()).unwrap());
    let url = |config: &JsValue| {
        let plan = plan_first_login(event(), config.clone()).unwrap();
        text(&prop(&js_sys::Array::from(&prop(&plan, "requests")).get(0), "url"))
    };
    configure(js(r#"{"mapping":{"LastName":"name","Company":"'A'"},"loginUrl":"https://a.my.salesforce.com"}"#))
        .unwrap();
    assert_eq!(lead(&build_config), r#"{"LastName":"Ana Pereira","Company":"A"}"#);
    assert_eq!(url(&plan_config), r#""https://a.my.salesforce.com/services/oauth2/token""#);
    configure(js(r#"{"mapping":{"LastName":"name","Company":"'B'"},"loginUrl":"https://b.my.salesforce.com"}"#))
        .unwrap();
    assert_eq!(lead(&build_config), r#"{"LastName":"Ana Pereira","Company":"B"}"#);
    assert_eq!(url(&plan_config), r#""https://b.my.salesforce.com/services/oauth2/token""#);
    // A refused configure() changes nothing, cached results included.
    assert!(configure(js(r#"{"mapping":{"LastName":"name |"}}"#)).is_err());
    assert_eq!(lead(&build_config), r#"{"LastName":"Ana Pereira","Company":"B"}"#);
    configure(js("{}")).unwrap();
    assert_eq!(
        lead(&build_config),
        r#"{"FirstName":"Ana","LastName":"Pereira","Email":"ana@example.com","Company":"Web channel signups","LeadSource":"Web"}"#
    );
}

#[wasm_bindgen_test]
fn values_without_json_text_read_as_absent() {
    // JSON.stringify gives `undefined` for a function or a Symbol: no panic, a coded error or
    // the defaults.
    let function: JsValue = js_sys::Function::new_no_args("return 1").into();
    let symbol: JsValue = js_sys::Symbol::for_("s").into();
    for v in [&function, &symbol] {
        let err = build_lead(v.clone(), JsValue::UNDEFINED).unwrap_err();
        assert_eq!(prop(&err, "code").as_string().unwrap(), "PROFILE_INVALID");
        let lead = build_lead(js(r#"{"name":"Ana Pereira","email":"ana@example.com"}"#), v.clone()).unwrap();
        assert_eq!(prop(&lead, "LastName").as_string().unwrap(), "Pereira");
    }
}

#[wasm_bindgen_test]
fn an_event_over_the_size_limit_is_refused() {
    // 256 KiB of text in one field: refused when read (the normaliser does not walk it again).
    let big = js(&format!(r#"{{"user":{{"user_id":"u","bio":"{}"}}}}"#, "x".repeat(262_144)));
    let err =
        plan_first_login(big.clone(), js(r#"{"host":"auth0","clientId":"cid","clientSecret":"cs"}"#)).unwrap_err();
    assert_eq!(prop(&err, "code").as_string().unwrap(), "PROFILE_INVALID");
    let err = build_lead(big, js(r#"{"host":"auth0"}"#)).unwrap_err();
    assert_eq!(prop(&err, "code").as_string().unwrap(), "PROFILE_INVALID");
}

#[wasm_bindgen_test]
fn circular_input_is_refused_not_a_panic() {
    let o = js_sys::Object::new();
    Reflect::set(&o, &"self".into(), &o).unwrap();
    let err = build_lead(o.into(), JsValue::UNDEFINED).unwrap_err();
    assert_eq!(prop(&err, "code").as_string().unwrap(), "PROFILE_INVALID");
}

#[wasm_bindgen_test]
fn deep_nesting_is_refused_as_too_deep_not_as_invalid() {
    // JSON.stringify copes with 200 nested arrays; the reader refuses them with its own message.
    let deep = "[".repeat(200) + &"]".repeat(200);
    let event = js(&format!(r#"{{"user":{{"user_id":"auth0|1","email":"a@b.co","name":"A B","unmapped":{deep}}}}}"#));
    assert!(text(&event).contains(&deep));
    let err = plan_first_login(event, js(r#"{"host":"auth0","clientId":"cid","clientSecret":"cs"}"#)).unwrap_err();
    assert_eq!(prop(&err, "code").as_string().unwrap(), "PROFILE_INVALID");
    assert_eq!(
        prop(&err, "message").as_string().unwrap(),
        "event is nested more than 127 levels deep (the JSON is valid; it is too deep)"
    );
}

#[wasm_bindgen_test]
fn a_lone_surrogate_reads_as_the_replacement_character() {
    // A JS string may hold one; JSON.stringify writes it as `\ud800`.
    let profile = js(r#"{"name":"Ana Pe\ud800reira","email":"ana@example.com"}"#);
    let lead = build_lead(profile, JsValue::UNDEFINED).unwrap();
    assert_eq!(prop(&lead, "LastName").as_string().unwrap(), "Pe\u{FFFD}reira");
}

#[wasm_bindgen_test]
fn plan_masks_every_secret() {
    let plan = plan_first_login(
        js(r#"{"user":{"user_id":"auth0|1","email":"a@b.co","name":"A B"}}"#),
        js(r#"{"clientId":"cid","clientSecret":"very-secret-value","username":"u@x.co","password":"pw-secret-value","slackWebhookUrl":"https://hooks.slack.com/services/T/B/hooksecret"}"#),
    )
    .unwrap();
    let t = text(&plan);
    assert_eq!(prop(&plan, "action").as_string().unwrap(), "create");
    for s in ["very-secret-value", "pw-secret-value", "hooksecret"] {
        assert!(!t.contains(s), "{s} leaked in {t}");
    }
    assert!(t.contains("Bearer ***"));
}

#[wasm_bindgen_test]
async fn bad_configuration_rejects_with_a_code() {
    let err = on_first_login(js(r#"{"email":"a@b.co"}"#), js(r#"{"clientId":"x"}"#)).await.unwrap_err();
    assert_eq!(prop(&err, "code").as_string().unwrap(), "CONFIG_MISSING");
    assert_eq!(prop(&err, "field").as_string().unwrap(), "clientSecret");
}

#[wasm_bindgen_test]
async fn unreachable_salesforce_resolves_to_a_failed_outcome() {
    // Port 9 on loopback: nothing listens, the real fetch fails, the promise still resolves.
    let outcome = on_first_login(
        js(r#"{"email":"a@b.co","name":"A B"}"#),
        js(r#"{"clientId":"x","clientSecret":"s3cr3t-value","loginUrl":"http://127.0.0.1:9","maxRetries":0}"#),
    )
    .await
    .unwrap();
    assert_eq!(prop(&outcome, "status").as_string().unwrap(), "failed");
    let error = prop(&outcome, "error");
    assert_eq!(prop(&error, "code").as_string().unwrap(), "NETWORK_ERROR");
    assert!(!text(&outcome).contains("s3cr3t-value"));
}

#[wasm_bindgen_test]
fn case_filters_follow_unicode_through_the_js_engine() {
    let lead = build_lead(
        js(r#"{"email":"x@example.com","family_name":"ÅNGSTRÖM","given_name":"zoë","nickname":"straße"}"#),
        js(r#"{"mapping":{"LastName":"family_name | lower","FirstName":"given_name | capitalize","Title":"nickname | upper","Company":"'C'"}}"#),
    )
    .unwrap();
    assert_eq!(text(&lead), r#"{"LastName":"ångström","FirstName":"Zoë","Title":"STRASSE","Company":"C"}"#);
}
