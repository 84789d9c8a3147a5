//! The sender's side of object transfers: a task per object feeding `bulk` behind its
//! back-pressure, what the receiver's acks and refusals do, pausing and resuming across a
//! reconnect, and cancelling. The bookkeeping itself is [`Outbound`]'s (sans I/O).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use haven_proto::bulk::{self, Bulk, CancelReason, Manifest, ObjectId};
use haven_proto::signal::PeerId;
use tracing::warn;

use super::state::{BULK_HIGH, Backend, Internal, Kind, MAX_HELD, SendTask, Sending};
use crate::event::SessionEvent;
use crate::transfer::{AckOutcome, Outbound, chunks_from, outgoing};

impl Backend {
    /// A new object for `to`: it starts now if the channels are open, else with a `Resume`
    /// once they are. An id still on its way to `to` is not taken a second time.
    pub(super) fn send_object(&mut self, to: PeerId, manifest: Manifest, data: Arc<Vec<u8>>) {
        let Some(peer) = self.peers.get(&to) else {
            let _ = self.events.send(SessionEvent::ObjectCancelled {
                peer: to,
                id: manifest.id,
                why: "no such peer".to_owned(),
            });
            return;
        };
        let open = peer.open && peer.checked;
        let id = manifest.id;
        if self.sending.contains_key(&(to, id)) {
            warn!(peer = %to, object = id.0, "an object id already on its way to this peer; the second object is dropped");
            return;
        }
        self.sending.insert(
            (to, id),
            Sending {
                out: Outbound::new(manifest, data),
                task: None,
            },
        );
        if open {
            self.start_send(to, id, None);
        }
        // Otherwise it goes with a `Resume` once the connection is open (and checked).
    }

    /// Stops sending `id` to `to`; the receiver is told to drop what it holds.
    pub(super) async fn cancel_object(&mut self, to: PeerId, id: ObjectId) {
        if let Some(mut send) = self.sending.remove(&(to, id)) {
            if let Some(task) = send.task.take() {
                task.stop();
            }
            // After the chunks already queued: the receiver drops what it holds. While
            // the channels are not open it waits for them (before any resume).
            match self.peers.get_mut(&to) {
                Some(peer) if peer.open => {
                    let cancel = Bulk::Cancel {
                        id,
                        reason: CancelReason::Revoked,
                    };
                    let _ = peer
                        .links
                        .send(Kind::Bulk, &Bytes::from(bulk::encode(&cancel)))
                        .await;
                }
                Some(peer) if peer.held_cancels.len() < MAX_HELD => {
                    peer.held_cancels.push(id);
                }
                _ => {}
            }
        }
    }

    /// The receiver of `object` holds `received` bytes of it.
    pub(super) fn on_acked(&mut self, id: PeerId, object: ObjectId, received: u64) {
        let Some(send) = self.sending.get_mut(&(id, object)) else {
            return;
        };
        match send.out.on_ack(received) {
            AckOutcome::Nothing => {}
            AckOutcome::Delivered => {
                // Every byte arrived and its hash was checked.
                if let Some(send) = self.sending.remove(&(id, object))
                    && let Some(task) = send.task
                {
                    task.stop();
                }
                let _ = self
                    .events
                    .send(SessionEvent::ObjectSent { to: id, id: object });
            }
            AckOutcome::ResumeFrom(from) => {
                let _ = self.events.send(SessionEvent::ObjectResumed {
                    to: id,
                    id: object,
                    from,
                });
                self.start_send(id, object, Some(from));
            }
        }
    }

    /// The receiver refused `object` (or gave up on it).
    pub(super) fn on_declined(&mut self, id: PeerId, object: ObjectId, why: &'static str) {
        let Some(send) = self.sending.remove(&(id, object)) else {
            return;
        };
        if let Some(task) = send.task {
            task.stop();
        }
        let _ = self.events.send(SessionEvent::ObjectCancelled {
            peer: id,
            id: object,
            why: why.to_owned(),
        });
    }

    /// Send task `number` for `object` found its channel closed.
    pub(super) fn on_stalled(&mut self, id: PeerId, object: ObjectId, number: u64) {
        if self.peers.contains_key(&id) {
            // It goes on when the connection is back (see `resume_sends`); a task
            // stopped for a new connection says nothing about the one sending now.
            if let Some(send) = self.sending.get_mut(&(id, object))
                && send.task.as_ref().is_some_and(|t| t.number == number)
            {
                send.task = None;
            }
        } else if self.sending.remove(&(id, object)).is_some() {
            let _ = self.events.send(SessionEvent::ObjectCancelled {
                peer: id,
                id: object,
                why: "the channel closed".to_owned(),
            });
        }
    }

    /// Stops the send tasks to `id` (its connection is being replaced); what they were
    /// sending stays, to resume.
    pub(super) fn pause_sends(&mut self, id: PeerId) {
        for ((to, _), send) in &mut self.sending {
            if *to == id {
                if let Some(task) = send.task.take() {
                    task.stop();
                }
                send.out.pause();
            }
        }
    }

    /// Asks `id` where to go on with every object that was on its way when its connection
    /// broke (and every object queued while it was down).
    pub(super) async fn resume_sends(&mut self, id: PeerId) {
        let Some(peer) = self.peers.get(&id) else {
            return;
        };
        for ((to, _), send) in &mut self.sending {
            if *to == id && send.task.is_none() && !send.out.resuming() {
                let resume = Bytes::from(bulk::encode(&send.out.resume()));
                if peer.links.send(Kind::Bulk, &resume).await.is_err() {
                    send.out.pause();
                }
            }
        }
    }

    /// Forgets every object on its way to `id`, saying why.
    pub(super) fn drop_sends(&mut self, id: PeerId, why: &str) {
        let gone: Vec<_> = self
            .sending
            .keys()
            .filter(|(to, _)| *to == id)
            .copied()
            .collect();
        for key in gone {
            if let Some(mut send) = self.sending.remove(&key)
                && let Some(task) = send.task.take()
            {
                task.stop();
            }
            let _ = self.events.send(SessionEvent::ObjectCancelled {
                peer: id,
                id: key.1,
                why: why.to_owned(),
            });
        }
    }

    /// Starts the task that sends an object's chunks to `to` (with its manifest first when
    /// `from` is `None`, a new object), behind the channel's back-pressure.
    pub(super) fn start_send(&mut self, to: PeerId, object: ObjectId, from: Option<u64>) {
        let (Some(peer), Some(send)) = (self.peers.get(&to), self.sending.get_mut(&(to, object)))
        else {
            return;
        };
        let Some(dc) = peer.links.get(Kind::Bulk).map(Arc::clone) else {
            return;
        };
        let low = Arc::clone(&peer.links.bulk_low);
        let internal = self.internal.clone();
        let manifest = send.out.manifest().clone();
        let data = Arc::clone(send.out.data());
        let number = self.next_task;
        self.next_task += 1;
        let stop = Arc::new(AtomicBool::new(false));
        if let Some(old) = send.task.replace(SendTask {
            number,
            stop: Arc::clone(&stop),
        }) {
            old.stop();
        }
        // Its own task: a big object never holds up poses, control or voice.
        tokio::spawn(async move {
            let messages: Box<dyn Iterator<Item = Bulk> + Send> = match from {
                None => Box::new(outgoing(&manifest, &data)),
                Some(from) => Box::new(chunks_from(&manifest, &data, from)),
            };
            for message in messages {
                while dc.buffered_amount().await > BULK_HIGH && !stop.load(Ordering::Relaxed) {
                    let _ = tokio::time::timeout(Duration::from_millis(100), low.notified()).await;
                }
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                if dc.send(&Bytes::from(bulk::encode(&message))).await.is_err() {
                    let _ = internal.send(Internal::Stalled(to, object, number));
                    return;
                }
            }
        });
    }
}
