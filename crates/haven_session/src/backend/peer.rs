//! Setting up a peer connection (the WebRTC API, its audio track and callbacks) and the
//! signaling exchange that connects it: offers, answers, candidates, joins and leaves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use haven_proto::Redacted;
use haven_proto::signal::{ClientMessage, IceCandidate, PeerId, PeerInfo, ServerMessage};
use tracing::{debug, info, warn};
use webrtc::api::interceptor_registry::register_default_interceptors;
use webrtc::api::media_engine::{MIME_TYPE_OPUS, MediaEngine};
use webrtc::api::setting_engine::SettingEngine;
use webrtc::api::{API, APIBuilder};
use webrtc::ice::mdns::MulticastDnsMode;
use webrtc::ice::network_type::NetworkType;
use webrtc::ice_transport::ice_candidate::RTCIceCandidateInit;
use webrtc::interceptor::registry::Registry;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::policy::ice_transport_policy::RTCIceTransportPolicy;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::rtp_transceiver::rtp_codec::{
    RTCRtpCodecCapability, RTCRtpCodecParameters, RTPCodecType,
};
use webrtc::track::track_local::TrackLocal;

use super::state::{Backend, Internal, Peer};
use crate::config::{ConnectionTiming, NetworkPolicy};
use crate::event::SessionEvent;
use crate::life::Life;
use crate::simnet::SimulatedNic;

/// Opus as Haven sends it: 10 ms frames at least, in-band FEC, and DTX (silence is not sent;
/// the receiver conceals it).
pub(super) const OPUS_FMTP: &str = "minptime=10;useinbandfec=1;usedtx=1";

pub(super) fn api(
    network: NetworkPolicy,
    timing: ConnectionTiming,
    simulated: Option<SimulatedNic>,
    relay_only: bool,
) -> Result<API, webrtc::Error> {
    let mut media = MediaEngine::default();
    // Opus alone, registered here rather than through the default codecs so that the SDP says
    // what Haven does (`usedtx=1`); Haven sends no video.
    media.register_codec(
        RTCRtpCodecParameters {
            capability: RTCRtpCodecCapability {
                mime_type: MIME_TYPE_OPUS.to_owned(),
                clock_rate: 48_000,
                channels: 2,
                sdp_fmtp_line: OPUS_FMTP.to_owned(),
                rtcp_feedback: vec![],
            },
            payload_type: 111,
            ..Default::default()
        },
        RTPCodecType::Audio,
    )?;
    let registry = register_default_interceptors(Registry::new(), &mut media)?;
    let mut settings = SettingEngine::default();
    settings.set_ice_multicast_dns_mode(MulticastDnsMode::Disabled);
    // With trickle ICE the answerer's first check often arrives before its candidate does, so
    // the offerer first knows that path as peer-reflexive; the default 1 s wait before
    // nominating such a pair made every join take a second. On loopback there is nothing
    // better to wait for; elsewhere a short wait still lets a host pair win.
    settings.set_host_acceptance_min_wait(Some(Duration::ZERO));
    settings.set_prflx_acceptance_min_wait(Some(match network {
        NetworkPolicy::LoopbackOnly => Duration::ZERO,
        NetworkPolicy::Any => Duration::from_millis(150),
    }));
    if relay_only {
        // Only relay pairs will come: the default 2 s wait for a better pair is for nothing.
        settings.set_relay_acceptance_min_wait(Some(Duration::ZERO));
    }
    settings.set_ice_timeouts(
        Some(timing.disconnected_after),
        Some(timing.failed_after),
        Some(timing.keepalive),
    );
    if let Some(nic) = simulated {
        // Its own addresses only: no filter, no loopback.
        settings.set_vnet(Some(nic.0));
        settings.set_network_types(vec![NetworkType::Udp4]);
    } else if network == NetworkPolicy::LoopbackOnly {
        settings.set_include_loopback_candidate(true);
        settings.set_ip_filter(Box::new(|ip| ip.is_loopback()));
        settings.set_network_types(vec![NetworkType::Udp4]);
    }
    Ok(APIBuilder::new()
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_setting_engine(settings)
        .build())
}

fn to_webrtc(c: &IceCandidate) -> RTCIceCandidateInit {
    RTCIceCandidateInit {
        candidate: c.candidate.expose().clone(),
        sdp_mid: c.sdp_mid.clone(),
        sdp_mline_index: c.sdp_mline_index,
        username_fragment: c.username_fragment.clone(),
    }
}

pub(super) fn from_webrtc(c: RTCIceCandidateInit) -> IceCandidate {
    IceCandidate {
        candidate: Redacted::new(c.candidate),
        // webrtc-rs says `""` where it means "not given"; other stacks (aiortc) then match no
        // m-line and drop the candidate, while the index alone finds the bundled one.
        sdp_mid: c.sdp_mid.filter(|mid| !mid.is_empty()),
        sdp_mline_index: c.sdp_mline_index,
        username_fragment: c.username_fragment,
    }
}

/// The DTLS certificate fingerprint an SDP announces (`a=fingerprint:`), which tells a new
/// connection from an ICE restart of the current one.
/// The largest data channel message Haven reads (a bulk chunk with its header; room events are
/// smaller): the decoders refuse anything larger. Said in the data section of each description
/// sent (`a=max-message-size`, RFC 8841), which webrtc-rs leaves out, so a browser peer does
/// not send larger ones (without it, 64 KiB is assumed). Added to the text sent only: webrtc-rs
/// refuses a local description that is not the one it made.
pub(super) const MAX_MESSAGE_SIZE: usize =
    if haven_proto::bulk::MAX_BULK_MESSAGE > haven_proto::control::MAX_CONTROL_MESSAGE {
        haven_proto::bulk::MAX_BULK_MESSAGE
    } else {
        haven_proto::control::MAX_CONTROL_MESSAGE
    };

/// `sdp` with Haven's `a=max-message-size` after its data section's `a=sctp-port`, once.
pub(super) fn with_max_message_size(sdp: &str) -> String {
    if sdp.contains("a=max-message-size:") {
        return sdp.to_owned();
    }
    let mut out = String::with_capacity(sdp.len() + 32);
    for line in sdp.split_inclusive('\n') {
        out.push_str(line);
        if line.starts_with("a=sctp-port:") {
            let end = if line.ends_with("\r\n") { "\r\n" } else { "\n" };
            out.push_str(&format!("a=max-message-size:{MAX_MESSAGE_SIZE}{end}"));
        }
    }
    out
}

fn dtls_fingerprint(sdp: &str) -> Option<&str> {
    sdp.lines()
        .find_map(|line| line.trim_end().strip_prefix("a=fingerprint:"))
}

/// A connection's DTLS fingerprints, this side's and the peer's, from its local and remote
/// descriptions (webrtc-rs refuses a DTLS handshake whose certificate does not match the remote
/// description's, so once the channels are open these are the certificates in use).
pub(super) async fn fingerprints(pc: &RTCPeerConnection) -> Option<(String, String)> {
    let local = pc.local_description().await?;
    let remote = pc.remote_description().await?;
    Some((
        dtls_fingerprint(&local.sdp)?.to_owned(),
        dtls_fingerprint(&remote.sdp)?.to_owned(),
    ))
}

impl Backend {
    /// Sets up a connection to `info`; returns the offer to send when we are the offerer.
    pub(super) async fn add_peer(
        &mut self,
        info: PeerInfo,
        offerer: bool,
    ) -> Result<Option<String>, webrtc::Error> {
        let id = info.id;
        // In a group room two patients (or two clinicians) never connect directly, whoever
        // asks (a newcomer, a resume that re-seats this side, an offer).
        if !self.meshed(info.role) {
            warn!(peer = %id, "no direct connection to this peer in a group room");
            return Ok(None);
        }
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        let replaced = self.peers.remove(&id);
        let (mut held_control, mut held_cancels) = (Vec::new(), Vec::new());
        if let Some(old) = replaced {
            // What was on its way goes on over the new connection, from what arrived; what
            // waited for the old one to open waits for the new one.
            self.pause_sends(id);
            held_control = old.held_control;
            held_cancels = old.held_cancels;
            let _ = old.pc.close().await;
        }
        let pc = Arc::new(
            self.api
                .new_peer_connection(RTCConfiguration {
                    ice_servers: self.ice_servers.clone(),
                    ice_transport_policy: if self.relay_only {
                        RTCIceTransportPolicy::Relay
                    } else {
                        RTCIceTransportPolicy::All
                    },
                    ..Default::default()
                })
                .await?,
        );
        // In a group room the voice goes through the media server: a direct connection
        // carries data only.
        if self.group.is_none() {
            let sender = pc
                .add_track(Arc::clone(&self.audio) as Arc<dyn TrackLocal + Send + Sync>)
                .await?;
            // RTCP must be read for the interceptors (NACK, reports) to work.
            tokio::spawn(async move {
                let mut buf = vec![0u8; 1500];
                while sender.read(&mut buf).await.is_ok() {}
            });
        }
        let wired = self.wire_connection(&pc, info, generation, offerer).await?;

        let internal = self.internal.clone();
        pc.on_ice_candidate(Box::new(move |candidate| {
            if let Some(c) = candidate.and_then(|c| c.to_json().ok()) {
                let _ = internal.send(Internal::Candidate(id, generation, c));
            }
            Box::pin(async {})
        }));
        let internal = self.internal.clone();
        pc.on_peer_connection_state_change(Box::new(move |state| {
            let _ = internal.send(Internal::State(id, generation, state));
            Box::pin(async {})
        }));

        let offer = if offerer {
            let offer = pc.create_offer(None).await?;
            pc.set_local_description(offer.clone()).await?;
            Some(with_max_message_size(&offer.sdp))
        } else {
            None
        };
        self.peers.insert(
            id,
            Peer {
                info,
                generation,
                held_control,
                held_cancels,
                pc,
                links: wired.links,
                offerer,
                remote_set: false,
                pending: Vec::new(),
                open: false,
                audio: wired.audio,
                judge: wired.judge,
                checked: !self.needs_check(info.role),
                words: crate::trust::WordsExchange::new(),
                poses_dropped: 0,
                unchecked_vouch: None,
            },
        );
        // Counted on both sides (`Life::built`): the offerer stops after the last try; the
        // answerer, which never builds, judges that last try when it has had its time.
        let now = Instant::now();
        // A life outlives each connection (even one whose replacement failed to build).
        match self.lives.get_mut(&id) {
            Some(life) => life.built(now, offerer),
            None => {
                let life = Life::new(self.life_timing, now, offerer, self.signaling_up);
                self.lives.insert(id, life);
            }
        }
        Ok(offer)
    }

    /// Acts on a message from the server; returns what to send back.
    pub(super) async fn on_signal(&mut self, message: ServerMessage) -> Vec<ClientMessage> {
        match message {
            ServerMessage::PeerJoined { peer } => {
                self.roles.insert(peer.id, peer.role);
                self.voice_gates.open(peer.id);
                if let Some(life) = self.lives.get_mut(&peer.id) {
                    // Back with the server (it lost it, or restarted): a connection that
                    // works carries on; one that broke is rebuilt by the side that offered it.
                    info!(peer = %peer.id, "peer back with the server");
                    let actions = life.server_found(Instant::now());
                    return self.act(peer.id, actions).await;
                }
                info!(peer = %peer.id, role = %peer.role, "peer joined; waiting for its offer");
                let _ = self.events.send(SessionEvent::PeerJoined(peer));
                Vec::new()
            }
            ServerMessage::PeerLeft { peer_id, gone } => {
                // Gone (not a bye): it stays while its media works.
                if gone && let Some(life) = self.lives.get_mut(&peer_id) {
                    info!(peer = %peer_id, "the server lost this peer; it stays while its connection works");
                    let actions = life.server_lost(Instant::now());
                    return self.act(peer_id, actions).await;
                }
                self.peer_left(peer_id).await;
                Vec::new()
            }
            ServerMessage::Offer { from, sdp } => {
                let needs_peer = match self.peers.get(&from) {
                    None => true,
                    Some(p) if p.offerer => true,
                    // An offer from a new connection (the other side rebuilt it after a
                    // failed ICE restart) has a new DTLS certificate; an ICE restart does not.
                    Some(p) => p.pc.remote_description().await.is_some_and(|current| {
                        dtls_fingerprint(&current.sdp) != dtls_fingerprint(sdp.expose())
                    }),
                };
                if needs_peer {
                    // A newcomer's first offer; its role came in `peer-joined`. An offer from
                    // a peer the server never announced is ignored.
                    let Some(&role) = self.roles.get(&from) else {
                        warn!(peer = %from, "offer from a peer not in the room");
                        return Vec::new();
                    };
                    // In a group room, two patients (or two clinicians) never connect
                    // directly: what one could send the other goes through the media server.
                    if !self.meshed(role) {
                        warn!(peer = %from, "offer from a peer this side holds no direct connection to in a group room");
                        return Vec::new();
                    }
                    if let Err(e) = self.add_peer(PeerInfo { id: from, role }, false).await {
                        warn!(peer = %from, error = %e, "could not set up the peer connection");
                        return Vec::new();
                    }
                }
                match self.answer(from, sdp.into_inner()).await {
                    Ok(answer) => vec![ClientMessage::Answer {
                        to: from,
                        sdp: Redacted::new(answer),
                    }],
                    Err(e) => {
                        warn!(peer = %from, error = %e, "could not answer an offer");
                        Vec::new()
                    }
                }
            }
            ServerMessage::Answer { from, sdp } => {
                if let Some(peer) = self.peers.get_mut(&from) {
                    match RTCSessionDescription::answer(sdp.into_inner()) {
                        Ok(desc) => match peer.pc.set_remote_description(desc).await {
                            Ok(()) => {
                                peer.remote_set = true;
                                for c in std::mem::take(&mut peer.pending) {
                                    let _ = peer.pc.add_ice_candidate(c).await;
                                }
                            }
                            Err(e) => warn!(peer = %from, error = %e, "answer refused"),
                        },
                        Err(e) => warn!(peer = %from, error = %e, "malformed answer"),
                    }
                }
                Vec::new()
            }
            ServerMessage::IceCandidate { from, candidate } => {
                if let Some(peer) = self.peers.get_mut(&from) {
                    let c = to_webrtc(&candidate);
                    if peer.remote_set {
                        if let Err(e) = peer.pc.add_ice_candidate(c).await {
                            debug!(peer = %from, error = %e, "candidate refused");
                        }
                    } else {
                        peer.pending.push(c);
                    }
                }
                Vec::new()
            }
            ServerMessage::Welcome { .. } => Vec::new(),
            ServerMessage::Error { code, .. } => {
                debug!(%code, "server error");
                Vec::new()
            }
        }
    }

    /// `id` left (it said bye, or both its signaling and its media were gone for the grace
    /// period): its connection closes, what was on its way to or from it is dropped.
    pub(super) async fn peer_left(&mut self, id: PeerId) {
        self.roles.remove(&id);
        // Before `PeerLeft` is said: no packet of its voice follows that.
        self.voice_gates.close(id);
        if let Some(group) = self.group.as_mut() {
            // If it comes back (the same id, after a resume) it is said connected again.
            group.seen.remove(&id);
            group
                .audio
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
        }
        self.lives.remove(&id);
        if let Some(peer) = self.peers.remove(&id) {
            let _ = peer.pc.close().await;
        }
        self.drop_sends(id, "the peer left");
        // What had arrived in part is gone with it.
        self.incoming.remove(&id);
        let _ = self.events.send(SessionEvent::PeerLeft(id));
    }

    async fn answer(&mut self, from: PeerId, sdp: String) -> Result<String, webrtc::Error> {
        let peer = self.peers.get_mut(&from).expect("created above");
        peer.pc
            .set_remote_description(RTCSessionDescription::offer(sdp)?)
            .await?;
        peer.remote_set = true;
        for c in std::mem::take(&mut peer.pending) {
            let _ = peer.pc.add_ice_candidate(c).await;
        }
        let answer = peer.pc.create_answer(None).await?;
        peer.pc.set_local_description(answer.clone()).await?;
        Ok(with_max_message_size(&answer.sdp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_section_says_how_large_a_message_haven_reads() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n\
                   m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:1\r\n\
                   a=sctp-port:5000\r\na=setup:actpass\r\n";
        let said = with_max_message_size(sdp);
        assert_eq!(said.matches("a=max-message-size:").count(), 1, "{said}");
        assert!(
            said.contains(&format!(
                "a=sctp-port:5000\r\na=max-message-size:{MAX_MESSAGE_SIZE}\r\n"
            )),
            "{said}"
        );
        assert_eq!(with_max_message_size(&said), said, "once");
        assert_eq!(MAX_MESSAGE_SIZE, haven_proto::bulk::MAX_BULK_MESSAGE);
        // No data section: nothing to say.
        let audio_only = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";
        assert_eq!(with_max_message_size(audio_only), audio_only);
    }
}
