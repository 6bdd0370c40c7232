//! Performs the core's steps: the one `fetch` binding (global `fetch`, so Node ≥ 18, browsers and
//! workers alike; never `window`), timers, WebCrypto signing, and the in-memory token cache.

use crate::core::config::Config;
use crate::core::flow::FirstLoginFlow;
use crate::core::http::{HttpRequest, HttpResponse, Purpose};
use crate::core::outcome::Outcome;
use crate::core::profile::HostEvent;
use crate::core::secret::Secret;
use crate::core::session::{cache_identity, CachedToken};
use crate::core::step::{Input, Step, TokenUpdate};
use crate::core::volume;
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

thread_local! {
    /// Tokens by grant identity. A module sees one or two identities, so a list beats a hash map
    /// (and keeps hashing code out of the wasm).
    static TOKENS: RefCell<Vec<(String, CachedToken)>> = const { RefCell::new(Vec::new()) };
    /// Token requests on their way, by grant identity: a login that needs a token meanwhile
    /// waits for that answer instead of sending its own (its flow reads the answer as its own).
    static IN_FLIGHT: RefCell<Vec<(String, Rc<Latch<Input>>)>> = const { RefCell::new(Vec::new()) };
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

pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// A token cache the host provides (Auth0 `api.cache`), beside module memory.
pub trait HostTokenCache {
    fn load(&self, identity: &str) -> Option<CachedToken>;
    fn store(&self, token: &CachedToken, ttl_ms: u64);
    fn forget(&self, identity: &str);
}

/// Run one first login to its outcome. Never throws; every failure is in the outcome.
pub async fn run_first_login(config: Config, event: HostEvent, host_cache: Option<&dyn HostTokenCache>) -> Outcome {
    let identity = cache_identity(&config);
    let ttl = config.token_ttl_ms;
    let cached = cached_token(&identity, host_cache);
    let seed = (js_sys::Math::random() * 9.0e15) as u64;
    let window_ms = config.batch_window_ms;
    let mut flow = FirstLoginFlow::new(config, event, cached, now_ms(), seed);
    let mut step = flow.start();
    let mut applied = TokenUpdate::Unchanged;
    let outcome = loop {
        let done = match step {
            Step::Send { request, timeout_ms } if request.purpose == Purpose::Token => {
                Ok(send_token(&identity, &request, timeout_ms).await)
            }
            // Volume mode: a create or plain email lookup waits for its batch; the flow reads its
            // own answer.
            Step::Send { request, timeout_ms } if window_ms > 0 && volume::kind(&request).is_some() => {
                Ok(crate::wasm::volume::send_batched(window_ms, request, timeout_ms).await)
            }
            step => perform(step).await,
        };
        match done {
            Ok(input) => step = flow.resume(input, now_ms()),
            Err(outcome) => break *outcome,
        }
        // A new token goes to module memory at once (a refused one leaves it), so logins that
        // start before this one ends take it rather than ask for another; the host's cache is
        // written once, at the end.
        if flow.token_update() != &applied {
            applied = flow.token_update().clone();
            update_token_cache(&identity, &applied, ttl, None);
        }
    };
    update_token_cache(&identity, flow.token_update(), ttl, host_cache);
    outcome
}

/// Send a token request for `identity`, or wait for the one already on its way and take its
/// answer (single flight): concurrent first logins share one token request.
async fn send_token(identity: &str, request: &HttpRequest, timeout_ms: u64) -> Input {
    let waiting = IN_FLIGHT.with(|f| f.borrow().iter().find(|(k, _)| k == identity).map(|(_, a)| a.clone()));
    if let Some(input) = match waiting {
        Some(answer) => answer.wait().await,
        None => None,
    } {
        return input;
    }
    let answer = Latch::new();
    IN_FLIGHT.with(|f| f.borrow_mut().push((identity.to_string(), answer.clone())));
    let input = send(request, timeout_ms).await;
    IN_FLIGHT.with(|f| f.borrow_mut().retain(|(_, a)| !Rc::ptr_eq(a, &answer)));
    answer.set(input.clone());
    input
}

/// Carry out one step of a core state machine: what happened, to feed back with `resume`, or
/// `Err` with what a finished machine handed back.
pub async fn perform<D>(step: Step<D>) -> Result<Input, D> {
    Ok(match step {
        Step::Done(done) => return Err(done),
        Step::Send { request, timeout_ms } => send(&request, timeout_ms).await,
        Step::Sleep { ms } => {
            sleep(ms).await;
            Input::Woke
        }
        Step::Sign { input, key } => match sign_rs256(&key, input.as_bytes()).await {
            Ok(sig) => Input::Signed(sig),
            Err(why) => Input::SignFailed(why),
        },
    })
}

/// The token cached for `identity`: module memory first, then the host's cache.
pub fn cached_token(identity: &str, host_cache: Option<&dyn HostTokenCache>) -> Option<CachedToken> {
    TOKENS
        .with(|t| t.borrow().iter().find(|(k, _)| k == identity).map(|(_, c)| c.clone()))
        .or_else(|| host_cache.and_then(|c| c.load(identity)))
}

/// Apply what a state machine decided about its token to module memory and the host's cache.
pub fn update_token_cache(identity: &str, update: &TokenUpdate, ttl_ms: u64, host_cache: Option<&dyn HostTokenCache>) {
    match update {
        TokenUpdate::Unchanged => {}
        TokenUpdate::Store(t) => {
            TOKENS.with(|c| {
                let mut c = c.borrow_mut();
                c.retain(|(k, _)| k != identity);
                c.push((identity.to_string(), t.clone()));
            });
            if let Some(h) = host_cache {
                h.store(t, ttl_ms);
            }
        }
        TokenUpdate::Forget => {
            TOKENS.with(|c| c.borrow_mut().retain(|(k, _)| k != identity));
            if let Some(h) = host_cache {
                h.forget(identity);
            }
        }
    }
}

pub fn clear_token_cache() {
    TOKENS.with(|t| t.borrow_mut().clear());
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
