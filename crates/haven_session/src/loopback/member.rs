//! One participant of a [`LoopbackHub`](super::LoopbackHub), as its own peer sees things:
//! what it holds for peers whose link is down, the objects it sends (the real [`Outbound`]
//! bookkeeping, paced by the hub), what it makes of each message that reaches it (the shared
//! receive rules and the real [`Incoming`] assembly), its voice clock and its figures. The hub
//! owns the links and moves the messages.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use haven_proto::bulk::{self, Bulk, CancelReason, Manifest, ObjectId};
use haven_proto::signal::{PeerId, PeerInfo, Role};
use haven_signal::clinic::{ClinicPublicKey, Identity};
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use tracing::warn;

use crate::command::{AudioRoute, Command};
use crate::counters::AudioCounters;
use crate::event::{AudioPacket, PeerStats, SessionEvent};
use crate::queue::EventSender;
use crate::receive::{self, ToSender};
use crate::transfer::{AckOutcome, Incoming, Outbound, chunks_from};
use crate::trust::{self, WordsExchange};
use haven_proto::control::Control;

/// The most room events (and cancels) held for one peer while its link is not open.
const MAX_HELD: usize = 256;
/// RTP clock rate of the audio track.
const RTP_RATE: u64 = 48_000;

/// Every object this participant sends to `to`, as a range of the `sending` map.
fn to_peer(to: PeerId) -> std::ops::RangeInclusive<(PeerId, ObjectId)> {
    (to, ObjectId(0))..=(to, ObjectId(u32::MAX))
}

/// A made-up DTLS fingerprint for a participant: SHA-256 of its id, as SDP writes one.
fn fingerprint_of(peer: PeerId) -> String {
    Sha256::digest(peer.0.to_be_bytes())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// One message in flight from one participant to another.
pub(super) enum Wire {
    Pose(Vec<u8>),
    Control(Vec<u8>),
    Bulk(Vec<u8>),
    Audio(AudioPacket),
}

impl Wire {
    pub(super) fn len(&self) -> usize {
        match self {
            Self::Pose(b) | Self::Control(b) | Self::Bulk(b) => b.len(),
            Self::Audio(p) => p.payload.len(),
        }
    }
}

/// An object on its way: its transfer state, and where its sending stands on this link.
pub(super) struct Sending {
    pub(super) out: Outbound,
    /// The next byte to send; `None`: the manifest has not gone yet.
    pub(super) next: Option<u64>,
    /// Chunks go out on each pump (not paused, not waiting for a resume's answer).
    pub(super) active: bool,
}

/// The audio track's RTP clock for one sender.
#[derive(Default)]
pub(super) struct RtpClock {
    /// Samples since the first packet (the media time of the next one).
    pub(super) elapsed: u64,
    pub(super) sequence: u16,
}

pub(super) struct Member {
    pub(super) info: PeerInfo,
    pub(super) commands: mpsc::UnboundedReceiver<Command>,
    pub(super) events: EventSender,
    pub(super) audio_route: AudioRoute,
    pub(super) cut: bool,
    /// Objects arriving, by sender.
    pub(super) incoming: HashMap<PeerId, Incoming>,
    /// Objects on their way, by receiver.
    pub(super) sending: BTreeMap<(PeerId, ObjectId), Sending>,
    pub(super) held_control: HashMap<PeerId, Vec<Vec<u8>>>,
    pub(super) held_cancels: HashMap<PeerId, Vec<ObjectId>>,
    pub(super) audio: HashMap<PeerId, AudioCounters>,
    /// Bytes sent to and received from each peer.
    pub(super) bytes: HashMap<PeerId, (u64, u64)>,
    pub(super) rtp: RtpClock,
    /// This participant's DTLS fingerprint, as the hub makes it up (one per participant).
    pub(super) fingerprint: String,
    /// Its clinic credential, and the clinic it checks others against.
    pub(super) identity: Option<Arc<Identity>>,
    pub(super) clinic: Option<ClinicPublicKey>,
    /// Peers whose connection's first room event has not come yet, with their fingerprints.
    pub(super) first_from: HashMap<PeerId, String>,
    /// Each connection's safety-words exchange, and the peer's fingerprint.
    pub(super) words: HashMap<PeerId, (WordsExchange, String)>,
}

impl Member {
    pub(super) fn new(
        info: PeerInfo,
        commands: mpsc::UnboundedReceiver<Command>,
        events: EventSender,
        audio_route: AudioRoute,
    ) -> Self {
        Self {
            info,
            commands,
            events,
            audio_route,
            cut: false,
            incoming: HashMap::new(),
            sending: BTreeMap::new(),
            held_control: HashMap::new(),
            held_cancels: HashMap::new(),
            audio: HashMap::new(),
            bytes: HashMap::new(),
            rtp: RtpClock::default(),
            fingerprint: format!("sha-256 {}", fingerprint_of(info.id)),
            identity: None,
            clinic: None,
            first_from: HashMap::new(),
            words: HashMap::new(),
        }
    }

    /// A new connection to `other` (in `role`, whose fingerprint is `theirs`, and which
    /// `proves` a credential or not) opened: the safety words, and the credential's proof as
    /// the first room event on it. One that proves nothing is judged at once (the WebRTC
    /// backend waits a bounded time for a first event that on this hub would come now).
    pub(super) fn connected(
        &mut self,
        other: PeerId,
        role: Role,
        theirs: &str,
        proves: bool,
    ) -> Vec<Wire> {
        if proves {
            self.first_from.insert(other, theirs.to_owned());
        } else if let Some(said) = trust::nothing_said(role) {
            let clinic = self.clinic.as_ref();
            self.say(trust::verdict(
                other,
                &said,
                clinic,
                &self.fingerprint,
                theirs,
            ));
        }
        let mut out: Vec<Wire> = self
            .identity
            .as_ref()
            .map(|identity| Wire::Control(trust::proof(identity, &self.fingerprint, theirs)))
            .into_iter()
            .collect();
        let mut words = WordsExchange::new();
        out.extend(words.open().into_iter().map(Wire::Control));
        self.words.insert(other, (words, theirs.to_owned()));
        out
    }

    /// Tells this participant's front end.
    pub(super) fn say(&self, event: SessionEvent) {
        let _ = self.events.send(event);
    }

    /// A room event for `to`, whose link is not open: held until it is (bounded).
    pub(super) fn hold_control(&mut self, to: PeerId, bytes: Vec<u8>) {
        let held = self.held_control.entry(to).or_default();
        if held.len() < MAX_HELD {
            held.push(bytes);
        } else {
            warn!(peer = %to, "too many room events held for a peer; one dropped");
        }
    }

    /// Stops sending `id` to `to`; returns whether it was on its way. With `open` false its
    /// `Cancel` is held for when the link opens.
    pub(super) fn cancel(&mut self, to: PeerId, id: ObjectId, open: bool) -> bool {
        if self.sending.remove(&(to, id)).is_none() {
            return false;
        }
        if !open {
            let held = self.held_cancels.entry(to).or_default();
            if held.len() < MAX_HELD {
                held.push(id);
            }
        }
        true
    }

    /// A new object for `to`; `open`: the link is open (else it goes with a `Resume` once
    /// it is). An id still on its way to `to` is not taken a second time.
    pub(super) fn send_object(
        &mut self,
        to: PeerId,
        manifest: Manifest,
        data: Arc<Vec<u8>>,
        open: bool,
    ) {
        let id = manifest.id;
        if self.sending.contains_key(&(to, id)) {
            warn!(peer = %to, object = id.0, "an object id already on its way to this peer; the second object is dropped");
            return;
        }
        self.sending.insert(
            (to, id),
            Sending {
                out: Outbound::new(manifest, data),
                next: None,
                active: open,
            },
        );
    }

    /// Stops sending to `to` (its link went down); what was on its way stays, to resume.
    pub(super) fn pause_sends(&mut self, to: PeerId) {
        for (_, send) in self.sending.range_mut(to_peer(to)) {
            send.active = false;
            send.out.pause();
        }
    }

    /// The link to `to` just opened: what waited for it, as when channels open (held cancels,
    /// held room events, then a `Resume` for each object on its way).
    pub(super) fn waiting_for(&mut self, to: PeerId) -> Vec<Wire> {
        let mut out = Vec::new();
        for id in self.held_cancels.remove(&to).unwrap_or_default() {
            out.push(Wire::Bulk(bulk::encode(&Bulk::Cancel {
                id,
                reason: CancelReason::Revoked,
            })));
        }
        for bytes in self.held_control.remove(&to).unwrap_or_default() {
            out.push(Wire::Control(bytes));
        }
        for (_, send) in self.sending.range_mut(to_peer(to)) {
            if !send.active && !send.out.resuming() {
                out.push(Wire::Bulk(bulk::encode(&send.out.resume())));
            }
        }
        out
    }

    /// The next messages of the objects being sent: up to `per_link` bytes of chunks to each
    /// peer (at least one chunk), each object's manifest first.
    pub(super) fn outgoing_objects(&mut self, per_link: usize) -> Vec<(PeerId, Bulk)> {
        let mut out = Vec::new();
        let mut budget: HashMap<PeerId, usize> = HashMap::new();
        for (&(to, _), send) in self.sending.iter_mut() {
            if !send.active {
                continue;
            }
            let left = budget.entry(to).or_insert(per_link);
            let mut next = match send.next {
                Some(next) => next,
                None => {
                    out.push((to, Bulk::Manifest(send.out.manifest().clone())));
                    0
                }
            };
            let mut first = true;
            while next < send.out.manifest().size && (*left > 0 || first) {
                first = false;
                let Some(chunk) = chunks_from(send.out.manifest(), send.out.data(), next).next()
                else {
                    break;
                };
                if let Bulk::Chunk { data, .. } = &chunk {
                    next += data.len() as u64;
                    *left = left.saturating_sub(data.len());
                }
                out.push((to, chunk));
            }
            send.next = Some(next);
            if next >= send.out.manifest().size {
                // All sent: what is left is the receiver's final ack.
                send.active = false;
            }
        }
        out
    }

    /// Stamps an outgoing voice packet as the audio track would: RTP timestamp (skipped DTX
    /// frames advance it) and sequence number; it arrives at `epoch` plus its media time.
    pub(super) fn stamp_audio(
        &mut self,
        payload: Vec<u8>,
        duration: Duration,
        skipped: u16,
        epoch: Instant,
    ) -> AudioPacket {
        let samples = (duration.as_nanos() * u128::from(RTP_RATE) / 1_000_000_000) as u64;
        self.rtp.elapsed += samples * u64::from(skipped);
        let media = self.rtp.elapsed;
        let packet = AudioPacket {
            timestamp: media as u32,
            sequence: self.rtp.sequence,
            payload,
            arrived: epoch + Duration::from_micros(media * 1_000_000 / RTP_RATE),
        };
        self.rtp.elapsed += samples;
        self.rtp.sequence = self.rtp.sequence.wrapping_add(1);
        packet
    }

    /// A message from `from` (a peer in `role`) reached this participant; returns what it
    /// sends back (on `bulk`, or a safety-words nonce on `control`).
    pub(super) fn receive(
        &mut self,
        from: PeerId,
        role: Role,
        wire: Wire,
        epoch: Instant,
        bulk_budget: u64,
    ) -> Option<Wire> {
        self.bytes.entry(from).or_default().1 += wire.len() as u64;
        match wire {
            Wire::Pose(bytes) => self.say(receive::pose_event(from, &bytes)),
            Wire::Control(bytes) => {
                let event = receive::control_event(from, role, &bytes);
                if let Some(theirs) = self.first_from.remove(&from)
                    && let Some(said) = trust::first_event(role, &event)
                {
                    let clinic = self.clinic.as_ref();
                    self.say(trust::verdict(
                        from,
                        &said,
                        clinic,
                        &self.fingerprint,
                        &theirs,
                    ));
                }
                let mut reply = None;
                if let SessionEvent::Control { message, .. } = &event
                    && let Some((words, theirs)) = self.words.get_mut(&from)
                {
                    match message {
                        Control::WordsCommit { commit } => {
                            reply = words.on_commit(commit).map(Wire::Control);
                        }
                        Control::WordsReveal { nonce } => {
                            if let Some(said) =
                                words.on_reveal(from, nonce, &self.fingerprint, theirs)
                            {
                                let _ = self.events.send(said);
                            }
                        }
                        _ => {}
                    }
                }
                self.say(event);
                return reply;
            }
            Wire::Audio(packet) => {
                self.audio
                    .entry(from)
                    .or_insert_with(|| AudioCounters::new(epoch))
                    .count(packet.sequence, packet.timestamp, packet.arrived);
                match &self.audio_route {
                    Some(voice) => {
                        let _ = voice.try_send((from, packet));
                    }
                    None => self.say(SessionEvent::Audio { from, packet }),
                }
            }
            Wire::Bulk(bytes) => {
                let incoming = self
                    .incoming
                    .entry(from)
                    .or_insert_with(|| Incoming::new(bulk_budget, role));
                let outcome = receive::bulk_message(from, incoming, &bytes);
                if let Some(event) = outcome.event {
                    self.say(event);
                }
                match outcome.to_sender {
                    Some(ToSender::Acked(object, received)) => self.on_ack(from, object, received),
                    Some(ToSender::Declined(object, why))
                        if self.sending.remove(&(from, object)).is_some() =>
                    {
                        self.say(SessionEvent::ObjectCancelled {
                            peer: from,
                            id: object,
                            why: why.to_owned(),
                        });
                    }
                    Some(ToSender::Declined(..)) | None => {}
                }
                return outcome.reply.map(|b| Wire::Bulk(bulk::encode(&b)));
            }
        }
        None
    }

    /// The receiver `to` holds `received` bytes of `object`.
    fn on_ack(&mut self, to: PeerId, object: ObjectId, received: u64) {
        let Some(send) = self.sending.get_mut(&(to, object)) else {
            return;
        };
        match send.out.on_ack(received) {
            AckOutcome::Nothing => {}
            AckOutcome::Delivered => {
                self.sending.remove(&(to, object));
                self.say(SessionEvent::ObjectSent { to, id: object });
            }
            AckOutcome::ResumeFrom(at) => {
                send.next = Some(at);
                send.active = true;
                self.say(SessionEvent::ObjectResumed {
                    to,
                    id: object,
                    from: at,
                });
            }
        }
    }

    /// `peer` left: what was on its way to it is cancelled, what had arrived of its objects
    /// and what waited for it is dropped.
    pub(super) fn forget(&mut self, peer: PeerId) {
        let dropped: Vec<ObjectId> = self
            .sending
            .range(to_peer(peer))
            .map(|(&(_, object), _)| object)
            .collect();
        for object in dropped {
            self.sending.remove(&(peer, object));
            self.say(SessionEvent::ObjectCancelled {
                peer,
                id: object,
                why: "the peer left".to_owned(),
            });
        }
        self.incoming.remove(&peer);
        self.held_control.remove(&peer);
        self.held_cancels.remove(&peer);
        self.audio.remove(&peer);
        self.bytes.remove(&peer);
    }

    /// Figures for each of `peers`.
    pub(super) fn stats(&self, peers: impl Iterator<Item = PeerId>) -> Vec<PeerStats> {
        peers
            .map(|p| {
                let (sent, received) = self.bytes.get(&p).copied().unwrap_or_default();
                let mut stats = PeerStats {
                    peer: Some(p),
                    rtt_ms: Some(0.0),
                    bytes_sent: sent,
                    bytes_received: received,
                    ..Default::default()
                };
                if let Some(counters) = self.audio.get(&p) {
                    counters.fill(&mut stats);
                }
                stats
            })
            .collect()
    }
}
