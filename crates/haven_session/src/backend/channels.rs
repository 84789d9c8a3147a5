//! The channels of one peer connection: the three pre-negotiated data channels and the
//! incoming audio track, each wired to the receive rules every backend shares
//! (`crate::receive`: role checks, decoders, object assembly).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use bytes::Bytes;
use haven_proto::bulk;
use haven_proto::channel;
use haven_proto::control::Control;
use haven_proto::signal::PeerInfo;
use tokio::sync::Notify;
use webrtc::data_channel::RTCDataChannel;
use webrtc::data_channel::data_channel_init::RTCDataChannelInit;
use webrtc::peer_connection::RTCPeerConnection;

use super::state::{BULK_LOW, Backend, Internal};
use crate::counters::AudioCounters;
use crate::event::{AudioPacket, SessionEvent};
use crate::receive::{self, ToSender};
use crate::transfer::Incoming;
use crate::trust;

/// Negotiated SCTP stream ids: both sides create the channels, nobody announces them.
const POSE_ID: u16 = 1;
const CONTROL_ID: u16 = 2;
const BULK_ID: u16 = 3;

/// A pre-negotiated channel: reliable and ordered, or unordered with no retransmits.
fn channel_init(id: u16, reliable: bool) -> RTCDataChannelInit {
    RTCDataChannelInit {
        ordered: Some(reliable),
        max_retransmits: (!reliable).then_some(0),
        protocol: Some(channel::PROTOCOL.to_owned()),
        negotiated: Some(id),
        ..Default::default()
    }
}

/// One connection's channels, wired.
pub(super) struct Channels {
    pub(super) pose: Arc<RTCDataChannel>,
    pub(super) control: Arc<RTCDataChannel>,
    pub(super) bulk: Arc<RTCDataChannel>,
    pub(super) bulk_low: Arc<Notify>,
    pub(super) audio: Arc<Mutex<AudioCounters>>,
    /// Still waiting for the connection's first room event.
    pub(super) first_event: Arc<AtomicBool>,
}

impl Backend {
    /// Creates the data channels of connection `generation` to `info` and wires them, and the
    /// incoming audio track, to the event queue and the main loop.
    pub(super) async fn open_channels(
        &mut self,
        pc: &RTCPeerConnection,
        info: PeerInfo,
        generation: u32,
    ) -> Result<Channels, webrtc::Error> {
        let id = info.id;
        let pose_dc = pc
            .create_data_channel(channel::POSE, Some(channel_init(POSE_ID, false)))
            .await?;
        let control_dc = pc
            .create_data_channel(channel::CONTROL, Some(channel_init(CONTROL_ID, true)))
            .await?;
        let bulk_dc = pc
            .create_data_channel(channel::BULK, Some(channel_init(BULK_ID, true)))
            .await?;

        let events = self.events.clone();
        pose_dc.on_message(Box::new(move |msg| {
            let _ = events.send(receive::pose_event(id, &msg.data));
            Box::pin(async {})
        }));

        let events = self.events.clone();
        let role = info.role;
        let internal = self.internal.clone();
        // The connection's first room event says who a clinician or therapist is (`trust`).
        let first_event = Arc::new(AtomicBool::new(true));
        let first = Arc::clone(&first_event);
        control_dc.on_message(Box::new(move |msg| {
            let event = receive::control_event(id, role, &msg.data);
            if first.swap(false, Ordering::AcqRel)
                && let Some(said) = trust::first_event(role, &event)
            {
                let _ = internal.send(Internal::FirstEvent(id, generation, said));
            }
            if let SessionEvent::Control {
                message: message @ (Control::WordsCommit { .. } | Control::WordsReveal { .. }),
                ..
            } = &event
            {
                let _ = internal.send(Internal::Words(id, generation, message.clone()));
            }
            let _ = events.send(event);
            Box::pin(async {})
        }));
        let internal = self.internal.clone();
        control_dc.on_open(Box::new(move || {
            let _ = internal.send(Internal::Open(id, generation));
            Box::pin(async {})
        }));

        let events = self.events.clone();
        let budget = self.bulk_budget;
        let incoming = Arc::clone(
            self.incoming
                .entry(id)
                .or_insert_with(|| Arc::new(Mutex::new(Incoming::new(budget, role)))),
        );
        let internal = self.internal.clone();
        let reply_dc: Weak<RTCDataChannel> = Arc::downgrade(&bulk_dc);
        bulk_dc.on_message(Box::new(move |msg| {
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
        let bulk_low = Arc::new(Notify::new());
        bulk_dc.set_buffered_amount_low_threshold(BULK_LOW).await;
        let notify = Arc::clone(&bulk_low);
        bulk_dc
            .on_buffered_amount_low(Box::new(move || {
                notify.notify_one();
                Box::pin(async {})
            }))
            .await;

        let events = self.events.clone();
        let route = self.audio_route.clone();
        let counters = Arc::new(Mutex::new(AudioCounters::new(Instant::now())));
        let track_counters = Arc::clone(&counters);
        pc.on_track(Box::new(move |track, _, _| {
            let events = events.clone();
            let route = route.clone();
            let counters = Arc::clone(&track_counters);
            tokio::spawn(async move {
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
                    match &route {
                        Some(voice) => {
                            let _ = voice.send((id, audio));
                        }
                        None => {
                            let _ = events.send(SessionEvent::Audio {
                                from: id,
                                packet: audio,
                            });
                        }
                    }
                }
            });
            Box::pin(async {})
        }));
        Ok(Channels {
            pose: pose_dc,
            control: control_dc,
            bulk: bulk_dc,
            bulk_low,
            audio: counters,
            first_event,
        })
    }
}
