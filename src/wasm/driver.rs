//! Performs the core's steps with what `platform` supplies (fetch, timers, WebCrypto), and keeps
//! the in-memory token cache and the single flight of token requests.

use crate::core::config::Config;
use crate::core::flow::FirstLoginFlow;
use crate::core::http::{HttpRequest, Purpose};
use crate::core::outcome::Outcome;
use crate::core::profile::HostEvent;
use crate::core::session::{cache_identity, CachedToken};
use crate::core::step::{Input, Step, TokenUpdate};
use crate::core::volume;
pub use crate::wasm::platform::{hmac_sha256, now_ms, sign_rs256, sleep};
use crate::wasm::platform::{send, Latch};
use std::cell::RefCell;
use std::rc::Rc;

thread_local! {
    /// Tokens by grant identity. A module sees one or two identities, so a list beats a hash map
    /// (and keeps hashing code out of the wasm).
    static TOKENS: RefCell<Vec<(String, CachedToken)>> = const { RefCell::new(Vec::new()) };
    /// Token requests on their way, by grant identity: a login that needs a token meanwhile
    /// waits for that answer instead of sending its own (its flow reads the answer as its own).
    static IN_FLIGHT: RefCell<Vec<(String, Rc<Latch<Input>>)>> = const { RefCell::new(Vec::new()) };
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
    // Module memory already holds each change as it was made: writing the last one there again
    // could put back a token that another login replaced meanwhile.
    update_host_cache(&identity, flow.token_update(), ttl, host_cache);
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
        TokenUpdate::Store(t) => TOKENS.with(|c| {
            let mut c = c.borrow_mut();
            c.retain(|(k, _)| k != identity);
            c.push((identity.to_string(), t.clone()));
        }),
        TokenUpdate::Forget => TOKENS.with(|c| c.borrow_mut().retain(|(k, _)| k != identity)),
    }
    update_host_cache(identity, update, ttl_ms, host_cache);
}

/// Apply a token decision to the host's cache only.
fn update_host_cache(identity: &str, update: &TokenUpdate, ttl_ms: u64, host_cache: Option<&dyn HostTokenCache>) {
    match (update, host_cache) {
        (TokenUpdate::Store(t), Some(h)) => h.store(t, ttl_ms),
        (TokenUpdate::Forget, Some(h)) => h.forget(identity),
        _ => {}
    }
}

pub fn clear_token_cache() {
    TOKENS.with(|t| t.borrow_mut().clear());
}
