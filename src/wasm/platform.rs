//! What the JS platform supplies, and nothing else: the one `fetch` binding (global `fetch`, so
//! Node ≥ 18, browsers and workers alike; never `window`), timers, the clock, WebCrypto signing,
//! and a value many tasks can await. `driver` and `volume` build on it.

use crate::core::http::{HttpRequest, HttpResponse};
use crate::core::secret::Secret;
use crate::core::step::Input;
use crate::wasm::bindings::get;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    // `catch` on every import that can throw: an exception thrown through a wasm future would
    // leave its Promise pending forever, and a login hook must always finish.
    #[wasm_bindgen(catch, js_name = fetch)]
    fn fetch_with_request(r: &web_sys::Request) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(cb: &js_sys::Function, ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue);

    type SubtleCrypto;
    #[wasm_bindgen(catch, method, js_name = importKey)]
    fn import_key(
        this: &SubtleCrypto,
        format: &str,
        key: &js_sys::Uint8Array,
        alg: &JsValue,
        extractable: bool,
        usages: &js_sys::Array,
    ) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(catch, method)]
    fn sign(
        this: &SubtleCrypto,
        alg: &JsValue,
        key: &JsValue,
        data: &js_sys::Uint8Array,
    ) -> Result<js_sys::Promise, JsValue>;
}

/// A value set once and awaited by any number of tasks (a JS Promise underneath).
pub struct Latch<T> {
    ready: js_sys::Promise,
    resolve: RefCell<Option<js_sys::Function>>,
    value: RefCell<Option<T>>,
}

impl<T: Clone> Latch<T> {
    pub fn new() -> Rc<Self> {
        let resolve = RefCell::new(None);
        let ready = js_sys::Promise::new(&mut |res, _| *resolve.borrow_mut() = Some(res));
        Rc::new(Latch { ready, resolve, value: RefCell::new(None) })
    }

    /// Set the value (the first time only) and wake every waiter.
    pub fn set(&self, value: T) {
        if let Some(res) = self.resolve.borrow_mut().take() {
            *self.value.borrow_mut() = Some(value);
            let _ = res.call0(&JsValue::NULL);
        }
    }

    /// The value, once set.
    pub async fn wait(&self) -> Option<T> {
        let _ = JsFuture::from(self.ready.clone()).await;
        self.value.borrow().clone()
    }
}

/// The clock (Unix ms).
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// Resolve after `ms` milliseconds.
pub async fn sleep(ms: u64) {
    let p = js_sys::Promise::new(&mut |resolve, _| {
        set_timeout(&resolve, ms as f64);
    });
    let _ = JsFuture::from(p).await;
}

/// Send one request with an abort timer; read the whole body under the same timer.
pub async fn send(req: &HttpRequest, timeout_ms: u64) -> Input {
    let controller = match web_sys::AbortController::new() {
        Ok(c) => c,
        Err(_) => return Input::NetworkError("AbortController is not available".into()),
    };
    let init = web_sys::RequestInit::new();
    init.set_method(req.method);
    // Never follow a redirect: fetch would re-send the body (a token request's secrets) or turn a
    // create into a GET to wherever it points. Node hands back the 3xx itself, browsers an
    // `opaqueredirect` response with status 0; the core refuses both (REDIRECT_REFUSED).
    init.set_redirect(web_sys::RequestRedirect::Manual);
    init.set_signal(Some(&controller.signal()));
    let headers = match web_sys::Headers::new() {
        Ok(h) => h,
        Err(_) => return Input::NetworkError("Headers is not available".into()),
    };
    for (name, value) in &req.headers {
        if headers.append(name, &value.expose()).is_err() {
            return Input::NetworkError(format!("header {name} was refused by fetch"));
        }
    }
    init.set_headers(&headers);
    if let Some(body) = &req.body {
        init.set_body(&JsValue::from_str(&body.expose()));
    }
    let request = match web_sys::Request::new_with_str_and_init(&req.url.expose(), &init) {
        Ok(r) => r,
        // The URL may be a secret (Slack webhook): say what failed, not where.
        Err(_) => return Input::NetworkError("the request URL was refused by fetch".into()),
    };
    // Owned by this call and dropped after the timer is cleared: `once_into_js` would leak the
    // closure and its AbortController whenever the request finished first, on every login.
    let abort = Closure::once(move || controller.abort());
    let timer = set_timeout(abort.as_ref().unchecked_ref(), timeout_ms as f64);
    let result = fetch_and_read(&request).await;
    clear_timeout(&timer);
    drop(abort);
    match result {
        Ok(resp) => Input::Response(resp),
        Err(e) if get(&e, "name").as_string().as_deref() == Some("AbortError") => Input::TimedOut,
        Err(e) => Input::NetworkError(describe_js_error(&e)),
    }
}

async fn fetch_and_read(request: &web_sys::Request) -> Result<HttpResponse, JsValue> {
    let resp: web_sys::Response = JsFuture::from(fetch_with_request(request)?).await?.dyn_into()?;
    let body = JsFuture::from(resp.text()?).await?.as_string().unwrap_or_default();
    let mut out = HttpResponse::new(resp.status(), body);
    for name in ["retry-after", "sforce-limit-info", "content-type"] {
        if let Ok(Some(v)) = resp.headers().get(name) {
            out = out.with_header(name, &v);
        }
    }
    Ok(out)
}

/// `TypeError: fetch failed (ECONNREFUSED)` — the message and, in Node, the cause's code.
fn describe_js_error(e: &JsValue) -> String {
    let msg = get(e, "message").as_string().unwrap_or_else(|| "unknown error".into());
    let cause = get(e, "cause");
    match get(&cause, "code").as_string() {
        Some(code) => format!("{msg} ({code})"),
        None => msg,
    }
}

fn subtle() -> Result<SubtleCrypto, String> {
    let crypto = get(&js_sys::global(), "crypto");
    let subtle = get(&crypto, "subtle");
    if subtle.is_undefined() {
        return Err(
            "WebCrypto (globalThis.crypto.subtle) is not available in this runtime; use Node 20 or newer".into()
        );
    }
    Ok(subtle.unchecked_into())
}

fn alg(name: &str) -> JsValue {
    let o = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&o, &"name".into(), &name.into());
    let _ = js_sys::Reflect::set(&o, &"hash".into(), &"SHA-256".into());
    o.into()
}

/// RS256 signature with a PKCS#8 PEM private key, through WebCrypto.
pub async fn sign_rs256(pem: &Secret, data: &[u8]) -> Result<Vec<u8>, String> {
    let der = crate::core::salesforce::pem_to_der(pem.expose()).map_err(|e| e.into_details().message)?;
    let subtle = subtle()?;
    let usages: js_sys::Array = std::iter::once(JsValue::from_str("sign")).collect();
    let algorithm = alg("RSASSA-PKCS1-v1_5");
    let imported = subtle.import_key("pkcs8", &js_sys::Uint8Array::from(der.as_slice()), &algorithm, false, &usages);
    let key = JsFuture::from(imported.map_err(|e| describe_js_error(&e))?)
        .await
        .map_err(|_| "the private key is not an RSA PKCS#8 key WebCrypto accepts".to_string())?;
    let signing = subtle.sign(&algorithm, &key, &js_sys::Uint8Array::from(data)).map_err(|e| describe_js_error(&e))?;
    let sig = JsFuture::from(signing).await.map_err(|e| describe_js_error(&e))?;
    Ok(js_sys::Uint8Array::new(&sig).to_vec())
}

/// HMAC-SHA256, through WebCrypto (Svix webhook signatures).
pub async fn hmac_sha256(key: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
    let subtle = subtle()?;
    let usages: js_sys::Array = std::iter::once(JsValue::from_str("sign")).collect();
    let algorithm = alg("HMAC");
    let imported = subtle.import_key("raw", &js_sys::Uint8Array::from(key), &algorithm, false, &usages);
    let key = JsFuture::from(imported.map_err(|e| describe_js_error(&e))?).await.map_err(|e| describe_js_error(&e))?;
    let signing = subtle.sign(&algorithm, &key, &js_sys::Uint8Array::from(data)).map_err(|e| describe_js_error(&e))?;
    let sig = JsFuture::from(signing).await.map_err(|e| describe_js_error(&e))?;
    Ok(js_sys::Uint8Array::new(&sig).to_vec())
}
