//! The session → front end event queue, bounded. A peer that floods poses, voice or junk must
//! not grow the front end's memory without bound while its frame loop is busy (or stuck):
//! past [`SOFT_LIMIT`] events, a new pose, voice packet or refusal notice replaces the oldest
//! one of its kind still waiting (the newest pose is the one that matters; old voice is
//! concealed anyway), or is itself dropped when none waits; either way it is counted. Room
//! events, objects and connection news are never dropped below [`HARD_LIMIT`]; past it (a
//! flood of them, or a front end that stopped reading) they are dropped and counted too,
//! rather than exhausting memory.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::event::SessionEvent;

/// Events held before droppable ones start replacing each other.
pub const SOFT_LIMIT: usize = 4096;
/// Events held at most.
pub const HARD_LIMIT: usize = 4 * SOFT_LIMIT;

/// What was dropped, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Poses, voice packets and refusal notices.
    pub droppable: u64,
    /// Other events, past [`HARD_LIMIT`].
    pub other: u64,
}

struct Inner {
    events: VecDeque<SessionEvent>,
    dropped: Dropped,
    receiver_gone: bool,
}

struct Shared {
    inner: Mutex<Inner>,
    notify: Notify,
    senders: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Which droppable class an event is in, if any.
fn class(event: &SessionEvent) -> Option<u8> {
    match event {
        SessionEvent::Pose { .. } => Some(0),
        SessionEvent::Audio { .. } => Some(1),
        SessionEvent::Refused { .. } => Some(2),
        _ => None,
    }
}

/// The backend's end.
pub(crate) struct EventSender(Arc<Shared>);

/// The front end's end.
pub(crate) struct EventReceiver(Arc<Shared>);

impl std::fmt::Debug for EventReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventReceiver")
            .field("waiting", &self.0.lock().events.len())
            .finish()
    }
}

/// A new bounded queue.
pub(crate) fn event_queue() -> (EventSender, EventReceiver) {
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            events: VecDeque::new(),
            dropped: Dropped::default(),
            receiver_gone: false,
        }),
        notify: Notify::new(),
        senders: AtomicUsize::new(1),
    });
    (EventSender(Arc::clone(&shared)), EventReceiver(shared))
}

/// The front end stopped reading (its session was dropped).
#[derive(Debug)]
pub(crate) struct Gone;

impl EventSender {
    /// Queues `event`, within the limits.
    pub(crate) fn send(&self, event: SessionEvent) -> Result<(), Gone> {
        let mut inner = self.0.lock();
        if inner.receiver_gone {
            return Err(Gone);
        }
        if inner.events.len() >= SOFT_LIMIT {
            if let Some(kind) = class(&event) {
                // Replace the oldest of its kind still waiting, or drop this one.
                inner.dropped.droppable += 1;
                match inner.events.iter().position(|e| class(e) == Some(kind)) {
                    Some(oldest) => {
                        inner.events.remove(oldest);
                    }
                    None => return Ok(()),
                }
            } else if inner.events.len() >= HARD_LIMIT {
                inner.dropped.other += 1;
                if inner.dropped.other.is_power_of_two() {
                    tracing::warn!(
                        dropped = inner.dropped.other,
                        "the session's event queue is full; events dropped"
                    );
                }
                return Ok(());
            }
        }
        inner.events.push_back(event);
        drop(inner);
        self.0.notify.notify_one();
        Ok(())
    }
}

impl Clone for EventSender {
    fn clone(&self) -> Self {
        self.0.senders.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(&self.0))
    }
}

impl Drop for EventSender {
    fn drop(&mut self) {
        if self.0.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last one: a waiting receiver learns that nothing more comes.
            self.0.notify.notify_one();
        }
    }
}

impl EventReceiver {
    /// The next event if one is waiting.
    pub(crate) fn try_recv(&mut self) -> Option<SessionEvent> {
        self.0.lock().events.pop_front()
    }

    /// The next event, waiting for one; `None` once every sender is gone and none is left.
    pub(crate) async fn recv(&mut self) -> Option<SessionEvent> {
        loop {
            if let Some(event) = self.try_recv() {
                return Some(event);
            }
            if self.0.senders.load(Ordering::Acquire) == 0 {
                return self.try_recv();
            }
            // `notify_one` keeps a permit when nobody waits, so a send between the check
            // above and this wait is not missed.
            self.0.notify.notified().await;
        }
    }

    /// What was dropped so far.
    pub(crate) fn dropped(&self) -> Dropped {
        self.0.lock().dropped
    }
}

impl Drop for EventReceiver {
    fn drop(&mut self) {
        let mut inner = self.0.lock();
        inner.receiver_gone = true;
        inner.events.clear();
    }
}

#[cfg(test)]
mod tests {
    use haven_proto::control::Control;
    use haven_proto::pose::{Placement, PoseUpdate};
    use haven_proto::signal::{PeerId, Role};

    use super::*;

    fn pose(seq: u16) -> SessionEvent {
        SessionEvent::Pose {
            from: PeerId(1),
            update: PoseUpdate {
                seq,
                sent_at_ms: 0,
                head: Placement::IDENTITY,
                left_hand: None,
                right_hand: None,
            },
        }
    }

    fn control(i: usize) -> SessionEvent {
        SessionEvent::Control {
            from: PeerId(1),
            role: Role::Patient,
            message: Control::Speaking {
                speaking: i.is_multiple_of(2),
            },
        }
    }

    /// A flood of poses stays within the limit, keeps the newest, and never pushes out a room
    /// event; room events past the hard limit are dropped and counted.
    #[test]
    fn a_flood_is_bounded_and_keeps_room_events_and_the_newest_poses() {
        let (tx, mut rx) = event_queue();
        tx.send(control(0)).expect("open");
        for seq in 0..50_000u32 {
            tx.send(pose(seq as u16)).expect("open");
        }
        let dropped = rx.dropped();
        assert_eq!(dropped.droppable, 50_001 - SOFT_LIMIT as u64);
        let mut held = Vec::new();
        while let Some(e) = rx.try_recv() {
            held.push(e);
        }
        assert_eq!(held.len(), SOFT_LIMIT);
        assert!(
            matches!(held[0], SessionEvent::Control { .. }),
            "kept first"
        );
        let SessionEvent::Pose { update, .. } = &held[SOFT_LIMIT - 1] else {
            panic!("a pose last")
        };
        assert_eq!(update.seq, 49_999u16, "the newest pose kept");

        for i in 0..HARD_LIMIT + 10 {
            tx.send(control(i)).expect("open");
        }
        assert_eq!(rx.dropped().other, 10);
        let mut n = 0;
        while rx.try_recv().is_some() {
            n += 1;
        }
        assert_eq!(n, HARD_LIMIT);
    }

    #[tokio::test]
    async fn recv_waits_for_an_event_and_ends_when_the_senders_do() {
        let (tx, mut rx) = event_queue();
        let second = tx.clone();
        let waiter = tokio::spawn(async move {
            let first = rx.recv().await.is_some();
            let after = rx.recv().await.is_none();
            (first, after)
        });
        tokio::task::yield_now().await;
        second.send(control(1)).expect("open");
        drop(second);
        drop(tx);
        assert_eq!(waiter.await.expect("no panic"), (true, true));
    }
}
