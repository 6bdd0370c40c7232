//! Volume mode's queue and timers (`batchWindowMs`): a create or a plain lookup by email waits
//! here for its batch, which `core::volume` forms, times, builds and answers; each waiting login
//! then reads its own answer (or sends its request alone when the batch was refused as a whole).

use crate::core::http::HttpRequest;
use crate::core::step::Input;
use crate::core::volume::{self, BatchAnswer, Waiting};
use crate::wasm::platform::{self, Latch};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen_futures::spawn_local;

thread_local! {
    /// Batches still gathering requests.
    static OPEN: RefCell<Vec<Batch>> = const { RefCell::new(Vec::new()) };
    static NEXT_ID: Cell<u64> = const { Cell::new(0) };
}

/// Creates that will share one collection request, or lookups one query.
struct Batch {
    id: u64,
    window_ms: u64,
    members: Vec<Queued>,
    /// When the earliest timer set for it fires.
    armed_at: u64,
}

struct Queued {
    request: HttpRequest,
    waiting: Waiting,
    /// `Some(answer)`, or `None`: send the create alone.
    answer: Rc<Latch<Option<Input>>>,
}

/// Queue `request` (of a [`volume::kind`]) for a batch and wait for its own answer.
pub async fn send_batched(window_ms: u64, request: HttpRequest, timeout_ms: u64) -> Input {
    let queued_at_ms = platform::now_ms();
    let answer = Latch::new();
    let waiting = Waiting { queued_at_ms, timeout_ms };
    let queued = Queued { request: request.clone(), waiting, answer: answer.clone() };
    let (full, arm) = OPEN.with(|open| {
        let mut open = open.borrow_mut();
        let mut full = Vec::new();
        let mut at = open.iter().position(|b| volume::same_batch(&b.members[0].request, &queued.request));
        // No room left in its batch (a lookup query's URL is long enough): that one goes now.
        if let Some(i) = at.filter(|&i| !volume::fits(&requests_of(&open[i].members), &queued.request)) {
            full.push(open.remove(i));
            at = None;
        }
        let at = match at {
            Some(i) => i,
            None => {
                let id = NEXT_ID.with(|n| n.replace(n.get() + 1));
                open.push(Batch { id, window_ms, members: Vec::new(), armed_at: u64::MAX });
                open.len() - 1
            }
        };
        let batch = &mut open[at];
        batch.members.push(queued);
        if volume::full(&requests_of(&batch.members)) {
            full.push(open.remove(at));
            return (full, None);
        }
        let due = volume::send_at(batch.window_ms, &waiting_of(&batch.members));
        if due < batch.armed_at {
            batch.armed_at = due;
            return (full, Some((batch.id, due)));
        }
        (full, None)
    });
    for batch in full {
        spawn_local(flush(batch));
    }
    if let Some((id, due)) = arm {
        spawn_local(wake(id, due));
    }
    match answer.wait().await {
        Some(Some(input)) => input,
        // Refused as a whole: this request goes alone, in the time it has left.
        _ => platform::send(&request, waiting.time_left(platform::now_ms())).await,
    }
}

fn requests_of(queued: &[Queued]) -> Vec<&HttpRequest> {
    queued.iter().map(|q| &q.request).collect()
}

fn waiting_of(queued: &[Queued]) -> Vec<Waiting> {
    queued.iter().map(|q| q.waiting).collect()
}

/// At `due`, send batch `id` if it is due (it may have gone already, full, or be due later).
async fn wake(id: u64, mut due: u64) {
    loop {
        platform::sleep(due.saturating_sub(platform::now_ms())).await;
        let now = platform::now_ms();
        let taken = OPEN.with(|open| {
            let mut open = open.borrow_mut();
            let at = open.iter().position(|b| b.id == id)?;
            let send_at = volume::send_at(open[at].window_ms, &waiting_of(&open[at].members));
            if send_at <= now {
                Some(Ok(open.remove(at)))
            } else {
                Some(Err(send_at))
            }
        });
        match taken {
            None => return,
            Some(Ok(batch)) => return flush(batch).await,
            // A timer may fire a little early: wait for the rest.
            Some(Err(later)) => due = later,
        }
    }
}

/// Send a batch and hand each waiting request its answer.
async fn flush(batch: Batch) {
    let requests = requests_of(&batch.members);
    let answer = match volume::batch_request(&requests) {
        Some(request) => {
            let timeout = volume::batch_timeout(&waiting_of(&batch.members), platform::now_ms());
            volume::split_batch_answer(&platform::send(&request, timeout).await, &requests)
        }
        None => BatchAnswer::SendAlone,
    };
    match answer {
        BatchAnswer::PerRecord(inputs) => {
            for (q, input) in batch.members.iter().zip(inputs) {
                q.answer.set(Some(input));
            }
        }
        BatchAnswer::SendAlone => {}
    }
    // Whoever got no answer above (refused as a whole) sends alone: no request is left waiting.
    batch.members.iter().for_each(|q| q.answer.set(None));
}
