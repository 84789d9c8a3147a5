//! What a receiving peer makes of each data-channel message, the same in every backend: the
//! role checks (rule 2 of the design: a peer acts on a message only if its sender's role may
//! send it), the decoders' typed refusals, and the receiving side of object transfers.

use haven_proto::Redacted;
use haven_proto::bulk::{self, Bulk, CancelReason, ObjectId};
use haven_proto::signal::{PeerId, Role};
use haven_proto::{channel, control, pose};

use crate::event::SessionEvent;
use crate::transfer::{self, Incoming, Received};

/// A `pose` message from `from`: the update, or why it was refused.
pub(crate) fn pose_event(from: PeerId, bytes: &[u8]) -> SessionEvent {
    match pose::decode(bytes) {
        Ok(update) => SessionEvent::Pose { from, update },
        Err(e) => SessionEvent::Refused {
            from,
            channel: channel::POSE,
            why: e.to_string(),
            forbidden: None,
        },
    }
}

/// A `control` message from `from`, a peer in `role`: the event if that role may send it
/// ([`Control::allowed_from`](haven_proto::control::Control::allowed_from)), else `Refused`.
pub(crate) fn control_event(from: PeerId, role: Role, bytes: &[u8]) -> SessionEvent {
    match control::decode(bytes) {
        Ok(message) if message.allowed_from(role) => SessionEvent::Control {
            from,
            role,
            message,
        },
        Ok(message) => SessionEvent::Refused {
            from,
            channel: channel::CONTROL,
            why: format!("a {role} may not send {}", message.kind()),
            forbidden: Some(Box::new(message)),
        },
        Err(e) => SessionEvent::Refused {
            from,
            channel: channel::CONTROL,
            why: e.to_string(),
            forbidden: None,
        },
    }
}

/// What a `bulk` message tells the sending side about an object it sends.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToSender {
    /// The receiver holds this many bytes of it.
    Acked(ObjectId, u64),
    /// The receiver refused it (or gave up on it); why, for `ObjectCancelled`.
    Declined(ObjectId, &'static str),
}

/// What to do with one `bulk` message.
#[derive(Debug, Default)]
pub(crate) struct BulkOutcome {
    /// For the front end.
    pub(crate) event: Option<SessionEvent>,
    /// To send back to the peer on `bulk`.
    pub(crate) reply: Option<Bulk>,
    /// For this side's own sending.
    pub(crate) to_sender: Option<ToSender>,
}

impl BulkOutcome {
    fn event(event: SessionEvent) -> Self {
        Self {
            event: Some(event),
            ..Self::default()
        }
    }
}

/// A `bulk` message from `from`, whose objects `incoming` assembles.
pub(crate) fn bulk_message(from: PeerId, incoming: &mut Incoming, bytes: &[u8]) -> BulkOutcome {
    let message = match bulk::decode(bytes) {
        Ok(message) => message,
        Err(e) => {
            return BulkOutcome::event(SessionEvent::Refused {
                from,
                channel: channel::BULK,
                why: e.to_string(),
                forbidden: None,
            });
        }
    };
    match message {
        // About an object we send.
        Bulk::Ack {
            id: object,
            received,
        } => BulkOutcome {
            to_sender: Some(ToSender::Acked(object, received)),
            ..BulkOutcome::default()
        },
        // A receiver's refusal of an object we send (a sender's own cancel is always
        // `Revoked`; ids are chosen by each sender, so the reason tells them apart).
        Bulk::Cancel { id: object, reason } if reason != CancelReason::Revoked => BulkOutcome {
            to_sender: Some(ToSender::Declined(object, transfer::refusal_why(reason))),
            ..BulkOutcome::default()
        },
        message => received(from, incoming.on_message(message)),
    }
}

fn received(from: PeerId, received: Received) -> BulkOutcome {
    match received {
        Received::Nothing => BulkOutcome::default(),
        Received::Progress {
            id: object,
            received,
            size,
        } => BulkOutcome {
            event: Some(SessionEvent::ObjectProgress {
                from,
                id: object,
                received,
                size,
            }),
            reply: Some(Bulk::Ack {
                id: object,
                received,
            }),
            to_sender: None,
        },
        Received::Complete { manifest, data } => BulkOutcome {
            reply: Some(Bulk::Ack {
                id: manifest.id,
                received: manifest.size,
            }),
            event: Some(SessionEvent::ObjectReceived {
                from,
                manifest,
                data: Redacted::new(data),
            }),
            to_sender: None,
        },
        // Not the sender's to send: refused like a room event its role may not send.
        Received::Refused {
            id: object,
            reason: reason @ CancelReason::Forbidden,
            why,
        } => BulkOutcome {
            event: Some(SessionEvent::Refused {
                from,
                channel: channel::BULK,
                why: why.to_owned(),
                forbidden: None,
            }),
            reply: Some(Bulk::Cancel { id: object, reason }),
            to_sender: None,
        },
        Received::Refused {
            id: object,
            reason,
            why,
        } => BulkOutcome {
            event: Some(SessionEvent::ObjectCancelled {
                peer: from,
                id: object,
                why: why.to_owned(),
            }),
            reply: Some(Bulk::Cancel { id: object, reason }),
            to_sender: None,
        },
        Received::Cancelled(object) => BulkOutcome::event(SessionEvent::ObjectCancelled {
            peer: from,
            id: object,
            why: "cancelled by the sender".to_owned(),
        }),
        Received::Resume { id: object, held } => BulkOutcome {
            reply: Some(Bulk::Ack {
                id: object,
                received: held,
            }),
            ..BulkOutcome::default()
        },
    }
}
