//! Keeping a peer connected: its channels opening (and what waited for them), ICE state
//! changes fed to its connection life (`crate::life`, sans I/O), and what that life asks for
//! carried out: ICE restarts, whole new connections, what the application is told, a peer
//! counted as left. Objects on their way go on from what the receiver holds.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;
use haven_proto::Redacted;
use haven_proto::bulk::{self, Bulk, CancelReason};
use haven_proto::signal::{ClientMessage, PeerId};
use tracing::{debug, info, warn};
use webrtc::peer_connection::offer_answer_options::RTCOfferOptions;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;

use super::peer::{fingerprints, from_webrtc, with_max_message_size};
use super::state::{Backend, FIRST_EVENT_WAIT, Internal, Kind, Peer};
use crate::event::SessionEvent;
use crate::life::{Action, Life, Media, Said};
use crate::trust;
use haven_proto::control::Control;

impl Backend {
    /// A note about a connection's state: candidates, channels opening, ICE state.
    pub(super) async fn on_connection_note(&mut self, note: Internal) -> Vec<ClientMessage> {
        // Notes from a connection that was replaced since are stale.
        let current = |peers: &HashMap<PeerId, Peer>, id: &PeerId, generation: u32| {
            peers.get(id).is_some_and(|p| p.generation == generation)
        };
        match note {
            Internal::Candidate(to, generation, c) => current(&self.peers, &to, generation)
                .then(|| ClientMessage::IceCandidate {
                    to,
                    candidate: from_webrtc(c),
                })
                .into_iter()
                .collect(),
            Internal::Channel(id, generation, kind, dc) => {
                match self
                    .peers
                    .get_mut(&id)
                    .filter(|p| p.generation == generation)
                {
                    Some(peer) => peer.links.take(kind, dc),
                    None => {
                        let _ = dc.close().await;
                        return Vec::new();
                    }
                }
                self.channels_ready(id).await;
                Vec::new()
            }
            Internal::Open(id, generation, kind) => {
                let Some(peer) = self
                    .peers
                    .get_mut(&id)
                    .filter(|p| p.generation == generation)
                else {
                    return Vec::new();
                };
                peer.links.opened(kind);
                self.channels_ready(id).await;
                Vec::new()
            }
            Internal::State(id, generation, state) => {
                debug!(peer = %id, ?state, "connection state");
                if !current(&self.peers, &id, generation) {
                    return Vec::new();
                }
                let media = match state {
                    RTCPeerConnectionState::Connected => Media::Connected,
                    RTCPeerConnectionState::Disconnected => Media::Disconnected,
                    RTCPeerConnectionState::Failed => Media::Failed,
                    RTCPeerConnectionState::Closed => Media::Closed,
                    _ => Media::Connecting,
                };
                let Some(life) = self.lives.get_mut(&id) else {
                    return Vec::new();
                };
                let actions = life.media(Instant::now(), media);
                self.act(id, actions).await
            }
            Internal::Verified(id, generation) => {
                if current(&self.peers, &id, generation) {
                    self.trust(id).await;
                }
                Vec::new()
            }
            Internal::Silent(id, generation) => {
                let Some(peer) = self.peers.get(&id).filter(|p| p.generation == generation) else {
                    return Vec::new();
                };
                let prints = fingerprints(&peer.pc).await;
                let events = &self.events;
                peer.judge
                    .silence(self.clinic.as_ref(), prints.as_ref(), |event| {
                        let _ = events.send(event);
                    });
                Vec::new()
            }
            Internal::Words(id, generation, message) => {
                let Some(peer) = self
                    .peers
                    .get_mut(&id)
                    .filter(|p| p.generation == generation)
                else {
                    return Vec::new();
                };
                match message {
                    Control::WordsCommit { commit } => {
                        if let Some(bytes) = peer.words.on_commit(&commit) {
                            let _ = peer.links.send(Kind::Control, &Bytes::from(bytes)).await;
                        }
                    }
                    Control::WordsReveal { nonce } => {
                        let (own, other) = fingerprints(&peer.pc).await.unwrap_or_default();
                        if let Some(event) = peer.words.on_reveal(id, &nonce, &own, &other) {
                            let _ = self.events.send(event);
                        }
                    }
                    _ => {}
                }
                Vec::new()
            }
            // Transfer notes are `send`'s, the relay's check the main loop's.
            Internal::Acked(..)
            | Internal::Declined(..)
            | Internal::Stalled(..)
            | Internal::RelayChecked(_)
            | Internal::GroupData(..)
            | Internal::GroupJoined(..)
            | Internal::Vouched(..)
            | Internal::GroupOpen(..)
            | Internal::GroupEnded(..) => Vec::new(),
        }
    }

    /// Carries out what `id`'s life asks for; returns what to send to the server.
    pub(super) async fn act(&mut self, id: PeerId, actions: Vec<Action>) -> Vec<ClientMessage> {
        let mut out = Vec::new();
        for action in actions {
            match action {
                Action::Say(said) => {
                    let event = match said {
                        Said::Connected => SessionEvent::PeerConnected(id),
                        Said::Reconnecting => SessionEvent::PeerReconnecting(id),
                        Said::Reconnected => SessionEvent::PeerReconnected(id),
                        Said::Lost => {
                            warn!(peer = %id, tries = crate::MAX_REBUILDS, "could not reconnect; giving up until asked again");
                            SessionEvent::PeerLost(id)
                        }
                    };
                    let _ = self.events.send(event);
                }
                Action::RestartIce => out.extend(self.restart_ice(id).await),
                Action::Rebuild => out.extend(self.build_new(id).await),
                Action::Left => {
                    info!(peer = %id, "no signaling and no media for the grace period: left");
                    self.peer_left(id).await;
                    break;
                }
            }
        }
        out
    }

    /// The earliest deadline of any peer's life.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.lives.values().filter_map(Life::poll_timeout).min()
    }

    /// Deadlines have passed: each life whose time it is acts.
    pub(super) async fn on_deadline(&mut self, now: Instant) -> Vec<ClientMessage> {
        let due: Vec<PeerId> = self
            .lives
            .iter()
            .filter(|(_, life)| life.poll_timeout().is_some_and(|at| at <= now))
            .map(|(&id, _)| id)
            .collect();
        let mut out = Vec::new();
        for id in due {
            if let Some(life) = self.lives.get_mut(&id) {
                let actions = life.handle_timeout(now);
                out.extend(self.act(id, actions).await);
            }
        }
        out
    }

    /// Once all three channels of `id`'s connection are open on this side: its first room
    /// event (the credential's proof), what waited for the channels, the safety words.
    async fn channels_ready(&mut self, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if peer.open || !peer.links.ready() {
            return;
        }
        peer.open = true;
        let generation = peer.generation;
        info!(peer = %id, generation, "channels open");
        // `PeerConnected` the first time, whatever happened before; `PeerReconnected` after a
        // break.
        let said = self
            .lives
            .get_mut(&id)
            .map(Life::channels_open)
            .unwrap_or_default();
        self.act(id, said).await;
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if let Some((own, other)) = fingerprints(&peer.pc).await {
            // The credential's proof is this connection's first room event.
            if let Some(identity) = &self.identity {
                let proof = Bytes::from(trust::proof(identity, &own, &other));
                let _ = peer.links.send(Kind::Control, &proof).await;
            }
        } else {
            warn!(peer = %id, "the connection's descriptions name no DTLS fingerprint");
        }
        // A clinician or therapist that says nothing at all is judged after a while.
        if peer.judge.waiting() {
            let internal = self.internal.clone();
            tokio::spawn(async move {
                tokio::time::sleep(FIRST_EVENT_WAIT).await;
                let _ = internal.send(Internal::Silent(id, generation));
            });
        }
        for cancel in std::mem::take(&mut peer.held_cancels) {
            let cancel = Bulk::Cancel {
                id: cancel,
                reason: CancelReason::Revoked,
            };
            let _ = peer
                .links
                .send(Kind::Bulk, &Bytes::from(bulk::encode(&cancel)))
                .await;
        }
        if peer.checked {
            self.release(id).await;
        }
        // Then the safety words' commitment (and nonce, if theirs is here).
        if let Some(peer) = self.peers.get_mut(&id) {
            for bytes in peer.words.open() {
                let _ = peer.links.send(Kind::Control, &Bytes::from(bytes)).await;
            }
        }
    }

    /// `id`'s current connection may carry what waits for it (its credential checked out on
    /// it, or the patient trusts it anyway): sent now if its channels are open.
    pub(super) async fn trust(&mut self, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        peer.checked = true;
        if let Some(feed) = peer.unchecked_vouch.take() {
            self.vouched(id, feed);
        }
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if peer.open {
            self.release(id).await;
        }
    }

    /// Sends what waited for `id`'s channels (and its check): held room events, then every
    /// object on its way resumes from what the receiver holds.
    async fn release(&mut self, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        // In a group room, which media server stream is this side's goes first.
        if let Some(feed) = self.group.as_ref().and_then(|g| g.my_feed) {
            let said = haven_proto::control::encode(&Control::GroupFeed { feed });
            let _ = peer.links.send(Kind::Control, &Bytes::from(said)).await;
        }
        for bytes in std::mem::take(&mut peer.held_control) {
            let _ = peer.links.send(Kind::Control, &bytes).await;
        }
        self.resume_sends(id).await;
    }

    /// Restarts ICE on the connection we offered (its life checks it worked).
    async fn restart_ice(&mut self, id: PeerId) -> Option<ClientMessage> {
        let peer = self.peers.get(&id)?;
        let options = RTCOfferOptions {
            ice_restart: true,
            ..Default::default()
        };
        match peer.pc.create_offer(Some(options)).await {
            Ok(offer) if peer.pc.set_local_description(offer.clone()).await.is_ok() => {
                info!(peer = %id, "ICE restart");
                Some(ClientMessage::Offer {
                    to: id,
                    sdp: Redacted::new(with_max_message_size(&offer.sdp)),
                })
            }
            _ => {
                warn!(peer = %id, "ICE restart failed");
                None
            }
        }
    }

    /// Replaces the connection to `id` with a new one that we offer (its life decided it is
    /// ours to build, and checks it comes up in time).
    async fn build_new(&mut self, id: PeerId) -> Option<ClientMessage> {
        let peer = self.peers.get(&id)?;
        let info = peer.info;
        info!(
            peer = %id,
            state = ?peer.pc.connection_state(),
            missing = ?peer.links.missing(),
            "building a new connection"
        );
        match self.add_peer(info, true).await {
            Ok(Some(offer)) => Some(ClientMessage::Offer {
                to: id,
                sdp: Redacted::new(offer),
            }),
            Ok(None) => None,
            Err(e) => {
                warn!(peer = %id, error = %e, "could not build a new connection");
                None
            }
        }
    }
}
