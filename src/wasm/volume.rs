//! Volume mode's queue and timers (`batchWindowMs`): a create waits here for its batch, which
//! `core::volume` forms, times, builds and answers; each waiting login then reads its own
//! record's answer (or sends its create alone when the batch was refused as a whole).

use crate::core::http::HttpRequest;
use crate::core::step::Input;
use crate::core::volume::{self, BatchAnswer, Waiting};
use crate::wasm::driver::{self, Latch};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen_futures::spawn_local;

thread_local! {
    /// Batches still gathering creates.
    static OPEN: RefCell<Vec<Batch>> = const { RefCell::new(Vec::new()) };
    static NEXT_ID: Cell<u64> = const { Cell::new(0) };
}

/// Creates that will share one collection request.
struct Batch {
    id: u64,
    window_ms: u64,
    creates: Vec<Queued>,
    /// When the earliest timer set for it fires.
    armed_at: u64,
}

struct Queued {
    request: HttpRequest,
    waiting: Waiting,
    /// `Some(answer)`, or `None`: send the create alone.
    answer: Rc<Latch<Option<Input>>>,
}

/// Queue `create` for a batch and wait for its own answer.
pub async fn send_create(window_ms: u64, create: HttpRequest, timeout_ms: u64) -> Input {
    let queued_at_ms = driver::now_ms();
    let answer = Latch::new();
    let queued =
        Queued { request: create.clone(), waiting: Waiting { queued_at_ms, timeout_ms }, answer: answer.clone() };
    let (full, arm) = OPEN.with(|open| {
        let mut open = open.borrow_mut();
        let at = match open.iter().position(|b| volume::same_batch(&b.creates[0].request, &queued.request)) {
            Some(i) => i,
            None => {
                let id = NEXT_ID.with(|n| n.replace(n.get() + 1));
                open.push(Batch { id, window_ms, creates: Vec::new(), armed_at: u64::MAX });
                open.len() - 1
            }
        };
        let batch = &mut open[at];
        batch.creates.push(queued);
        if batch.creates.len() >= volume::MAX_BATCH {
            return (Some(open.remove(at)), None);
        }
        let due = volume::send_at(batch.window_ms, &waiting_of(&batch.creates));
        if due < batch.armed_at {
            batch.armed_at = due;
            return (None, Some((batch.id, due)));
        }
        (None, None)
    });
    if let Some(batch) = full {
        spawn_local(flush(batch));
    }
    if let Some((id, due)) = arm {
        spawn_local(wake(id, due));
    }
    match answer.wait().await {
        Some(Some(input)) => input,
        // Refused as a whole: this create goes alone, in the time it has left.
        _ => {
            let left = (queued_at_ms + timeout_ms).saturating_sub(driver::now_ms()).max(1);
            driver::send(&create, left).await
        }
    }
}

fn waiting_of(creates: &[Queued]) -> Vec<Waiting> {
    creates.iter().map(|q| q.waiting).collect()
}

/// At `due`, send batch `id` if it is due (it may have gone already, full, or be due later).
async fn wake(id: u64, mut due: u64) {
    loop {
        driver::sleep(due.saturating_sub(driver::now_ms())).await;
        let now = driver::now_ms();
        let taken = OPEN.with(|open| {
            let mut open = open.borrow_mut();
            let at = open.iter().position(|b| b.id == id)?;
            let send_at = volume::send_at(open[at].window_ms, &waiting_of(&open[at].creates));
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

/// Send a batch and hand each create its answer.
async fn flush(batch: Batch) {
    let requests: Vec<&HttpRequest> = batch.creates.iter().map(|q| &q.request).collect();
    let answer = match volume::collection_request(&requests) {
        Some(request) => {
            let timeout = volume::batch_timeout(&waiting_of(&batch.creates), driver::now_ms());
            volume::split_answer(&driver::send(&request, timeout).await, batch.creates.len())
        }
        None => BatchAnswer::SendAlone,
    };
    match answer {
        BatchAnswer::PerRecord(inputs) => {
            for (q, input) in batch.creates.iter().zip(inputs) {
                q.answer.set(Some(input));
            }
        }
        BatchAnswer::SendAlone => {}
    }
    // Whoever got no answer above (refused as a whole) sends alone: no create is left waiting.
    batch.creates.iter().for_each(|q| q.answer.set(None));
}
