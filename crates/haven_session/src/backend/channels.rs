//! The channels of one peer connection: the three data channels, opened in band, and the
//! incoming audio track, each wired to the receive rules every backend shares
//! (`crate::receive`: role checks, decoders, object assembly).
//!
//! In band (DCEP, RFC 8832): the side that offers creates the channels before its offer; the
//! other side takes each one in `on_data_channel` when its open message arrives, and only then
//! sends on it. The opener's messages follow its open message, ordered and reliable until the
//! answer's acknowledgement arrives (webrtc-rs keeps a new channel that way), so no message can
//! reach a stream the other side has not taken: the race of pre-negotiated channels, where data
//! could land before webrtc-rs opened its side and kill the channel, cannot happen.

use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use bytes::Bytes;
use haven_proto::bulk;
use haven_proto::channel;
use haven_proto::control::Control;
use haven_proto::signal::{PeerId, PeerInfo, Role};
use haven_signal::clinic::ClinicPublicKey;
use tokio::sync::{Notify, mpsc};
use tracing::warn;
use webrtc::data_channel::RTCDataChannel;
use webrtc::data_channel::data_channel_init::RTCDataChannelInit;
use webrtc::peer_connection::RTCPeerConnection;

use super::peer::fingerprints;
use super::state::{BULK_LOW, Backend, Internal, Kind, Links};
use crate::command::AudioRoute;
use crate::counters::{AudioCounters, VoiceGate};
use crate::event::{AudioPacket, SessionEvent};
use crate::queue::EventSender;
use crate::receive::{self, ToSender};
use crate::transfer::Incoming;
use crate::trust::Judge;

impl Kind {
    fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.label() == label)
    }

    /// How the opener creates the channel: reliable and ordered, or (poses) unordered with no
    /// retransmits.
    fn init(self) -> RTCDataChannelInit {
        let reliable = self != Kind::Pose;
        RTCDataChannelInit {
            ordered: Some(reliable),
            max_retransmits: (!reliable).then_some(0),
            protocol: Some(channel::PROTOCOL.to_owned()),
            ..Default::default()
        }
    }

    /// Whether a channel the other side opened has this kind's settings and Haven's
    /// sub-protocol (another version is refused here, at the open, not mid-consult).
    fn matches(self, dc: &RTCDataChannel) -> bool {
        let reliable = self != Kind::Pose;
        dc.protocol() == channel::PROTOCOL
            && dc.ordered() == reliable
            && dc.max_retransmits() == (!reliable).then_some(0)
            && dc.max_packet_lifetime().is_none()
    }
}

/// What a connection's channel callbacks need, cloned into each.
#[derive(Clone)]
struct Wiring {
    id: PeerId,
    role: Role,
    generation: u32,
    events: EventSender,
    internal: mpsc::UnboundedSender<Internal>,
    incoming: Arc<Mutex<Incoming>>,
    /// Who a clinician or therapist is, said before its room events.
    judge: Arc<Judge>,
    /// The clinic whose credentials this side checks.
    clinic: Option<ClinicPublicKey>,
    /// The connection, for its fingerprints (weak: it owns the channels that own this).
    pc: Weak<RTCPeerConnection>,
    bulk_low: Arc<Notify>,
}

/// One connection, wired: the channels the opener created (none yet on the answering side),
/// and what its callbacks share with the main loop.
pub(super) struct Wired {
    pub(super) links: Links,
    pub(super) audio: Arc<Mutex<AudioCounters>>,
    pub(super) judge: Arc<Judge>,
}

impl Wiring {
    /// Attaches the receive rules of `kind` to `dc`, and the note that it opened.
    async fn wire(&self, kind: Kind, dc: &Arc<RTCDataChannel>) {
        let (id, generation) = (self.id, self.generation);
        let internal = self.internal.clone();
        // `bulk`'s back-pressure threshold and its wake-up are set once the channel is open:
        // on a channel the peer opened, webrtc-rs keeps what is set before that and never
        // hands it to the channel underneath, so the wake-up would never come.
        let low = (kind == Kind::Bulk).then(|| (Arc::downgrade(dc), Arc::clone(&self.bulk_low)));
        dc.on_open(Box::new(move || {
            let _ = internal.send(Internal::Open(id, generation, kind));
            Box::pin(async move {
                if let Some((dc, notify)) = low
                    && let Some(dc) = dc.upgrade()
                {
                    dc.set_buffered_amount_low_threshold(BULK_LOW).await;
                    dc.on_buffered_amount_low(Box::new(move || {
                        notify.notify_one();
                        Box::pin(async {})
                    }))
                    .await;
                }
            })
        }));
        match kind {
            Kind::Pose => {
                let events = self.events.clone();
                dc.on_message(Box::new(move |msg| {
                    let _ = events.send(receive::pose_event(id, &msg.data));
                    Box::pin(async {})
                }));
            }
            Kind::Control => {
                let (events, internal, role) =
                    (self.events.clone(), self.internal.clone(), self.role);
                let (judge, clinic, pc) = (Arc::clone(&self.judge), self.clinic, self.pc.clone());
                // webrtc-rs awaits each message's future before it reads the next: the
                // connection's room events reach the queue in order, its first one (which says
                // who a clinician or therapist is) after the verdict on it.
                dc.on_message(Box::new(move |msg| {
                    let event = receive::control_event(id, role, &msg.data);
                    if let SessionEvent::Control {
                        message:
                            message @ (Control::WordsCommit { .. } | Control::WordsReveal { .. }),
                        ..
                    } = &event
                    {
                        let _ = internal.send(Internal::Words(id, generation, message.clone()));
                    }
                    if let SessionEvent::Control {
                        message: Control::GroupFeed { feed },
                        ..
                    } = &event
                    {
                        let _ = internal.send(Internal::Vouched(id, generation, *feed));
                    }
                    let (events, internal, judge, pc) = (
                        events.clone(),
                        internal.clone(),
                        Arc::clone(&judge),
                        pc.clone(),
                    );
                    Box::pin(async move {
                        let prints = match pc.upgrade() {
                            Some(pc) if judge.waiting() => fingerprints(&pc).await,
                            _ => None,
                        };
                        let verified =
                            judge.deliver(event, clinic.as_ref(), prints.as_ref(), |event| {
                                let _ = events.send(event);
                            });
                        if verified {
                            let _ = internal.send(Internal::Verified(id, generation));
                        }
                    })
                }));
            }
            Kind::Bulk => {
                let (events, internal) = (self.events.clone(), self.internal.clone());
                let incoming = Arc::clone(&self.incoming);
                let reply_dc: Weak<RTCDataChannel> = Arc::downgrade(dc);
                dc.on_message(Box::new(move |msg| {
                    let outcome = receive::bulk_message(
                        id,
                        &mut incoming.lock().unwrap_or_else(|p| p.into_inner()),
                        &msg.data,
                    );
                    if let Some(event) = outcome.event {
                        let _ = events.send(event);
                    }
                    // About an object we send: for the main loop.
                    match outcome.to_sender {
                        Some(ToSender::Acked(object, received)) => {
                            let _ = internal.send(Internal::Acked(id, object, received));
                        }
                        Some(ToSender::Declined(object, why)) => {
                            let _ = internal.send(Internal::Declined(id, object, why));
                        }
                        None => {}
                    }
                    let reply = outcome.reply;
                    let dc = reply_dc.upgrade();
                    Box::pin(async move {
                        if let (Some(reply), Some(dc)) = (reply, dc) {
                            let _ = dc.send(&Bytes::from(bulk::encode(&reply))).await;
                        }
                    })
                }));
            }
        }
    }
}

/// Reads `from`'s voice from `track` until it ends: counted, then to the voice thread's queue
/// (when one took the voice) or the event queue.
pub(super) async fn read_voice(
    track: Arc<webrtc::track::track_remote::TrackRemote>,
    from: PeerId,
    events: EventSender,
    route: AudioRoute,
    counters: Arc<Mutex<AudioCounters>>,
    gate: VoiceGate,
) {
    while let Ok((packet, _)) = track.read_rtp().await {
        if packet.payload.is_empty() {
            continue;
        }
        let arrived = Instant::now();
        counters.lock().unwrap_or_else(|p| p.into_inner()).count(
            packet.header.sequence_number,
            packet.header.timestamp,
            arrived,
        );
        let audio = AudioPacket {
            timestamp: packet.header.timestamp,
            sequence: packet.header.sequence_number,
            payload: packet.payload.to_vec(),
            arrived,
        };
        // Not played once the peer left (it may come back, on this stream too).
        gate.pass(|| match &route {
            Some(voice) => {
                // Full (the voice thread stopped reading): dropped; a flooding peer cannot
                // grow memory.
                let _ = voice.try_send((from, audio));
            }
            None => {
                let _ = events.send(SessionEvent::Audio {
                    from,
                    packet: audio,
                });
            }
        });
    }
}

impl Backend {
    /// Wires connection `generation` to `info`: the offerer creates the three channels (before
    /// its offer, so the offer carries the data section); the answerer takes the ones the
    /// offerer opens. Each is wired, as it appears, to the event queue and the main loop, as
    /// is the incoming audio track.
    pub(super) async fn wire_connection(
        &mut self,
        pc: &Arc<RTCPeerConnection>,
        info: PeerInfo,
        generation: u32,
        offerer: bool,
    ) -> Result<Wired, webrtc::Error> {
        let id = info.id;
        let budget = self.bulk_budget;
        let wiring = Wiring {
            id,
            role: info.role,
            generation,
            events: self.events.clone(),
            internal: self.internal.clone(),
            incoming: Arc::clone(
                self.incoming
                    .entry(id)
                    .or_insert_with(|| Arc::new(Mutex::new(Incoming::new(budget, info.role)))),
            ),
            judge: Arc::new(Judge::new(id, info.role)),
            clinic: self.clinic,
            pc: Arc::downgrade(pc),
            bulk_low: Arc::new(Notify::new()),
        };
        let mut links = Links::new(Arc::clone(&wiring.bulk_low));
        if offerer {
            for kind in Kind::ALL {
                let dc = pc
                    .create_data_channel(kind.label(), Some(kind.init()))
                    .await?;
                wiring.wire(kind, &dc).await;
                links.take(kind, dc);
            }
        } else {
            // A test's fault: refuse this channel on the first connection to each peer.
            let refuse = self
                .faults
                .refuse_first_channel
                .filter(|_| self.faulted.insert(id))
                .and_then(Kind::from_label);
            let taken = Arc::new(Mutex::new([false; 3]));
            let wiring = wiring.clone();
            pc.on_data_channel(Box::new(move |dc| {
                let wiring = wiring.clone();
                let taken = Arc::clone(&taken);
                Box::pin(async move {
                    let label = dc.label().to_owned();
                    let kind = Kind::from_label(&label).filter(|k| k.matches(&dc));
                    let fresh = kind.is_some_and(|k| {
                        !std::mem::replace(
                            &mut taken.lock().unwrap_or_else(|p| p.into_inner())[k.index()],
                            true,
                        )
                    });
                    match kind {
                        Some(kind) if fresh && Some(kind) != refuse => {
                            wiring.wire(kind, &dc).await;
                            let _ = wiring.internal.send(Internal::Channel(
                                wiring.id,
                                wiring.generation,
                                kind,
                                dc,
                            ));
                        }
                        _ => {
                            // Not one of Haven's channels, not with Haven's settings, or a
                            // second of one kind: never wired (what arrives on it is dropped)
                            // and closed as soon as webrtc-rs has opened it (closing before
                            // does nothing). Its label is the peer's to choose: not logged.
                            warn!(peer = %wiring.id, "refused a data channel the peer opened");
                            let weak = Arc::downgrade(&dc);
                            dc.on_open(Box::new(move || {
                                Box::pin(async move {
                                    if let Some(dc) = weak.upgrade() {
                                        let _ = dc.close().await;
                                    }
                                })
                            }));
                        }
                    }
                })
            }));
        }

        let events = self.events.clone();
        let route = self.audio_route.clone();
        // A connection is wired only for a peer in the room.
        let gate = self.voice_gates.open(id);
        let counters = Arc::new(Mutex::new(AudioCounters::new(Instant::now())));
        let track_counters = Arc::clone(&counters);
        pc.on_track(Box::new(move |track, _, _| {
            tokio::spawn(read_voice(
                track,
                id,
                events.clone(),
                route.clone(),
                Arc::clone(&track_counters),
                gate.clone(),
            ));
            Box::pin(async {})
        }));
        Ok(Wired {
            links,
            audio: counters,
            judge: wiring.judge,
        })
    }
}
