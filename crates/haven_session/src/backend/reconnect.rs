//! Keeping a peer connected: its channels opening (and what waited for them), ICE state
//! changes, ICE restarts by the side that offered, and whole new connections when a restart
//! has not worked in time. Objects on their way go on from what the receiver holds.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;
use haven_proto::Redacted;
use haven_proto::bulk::{self, Bulk, CancelReason};
use haven_proto::signal::{ClientMessage, PeerId};
use tracing::{debug, info, warn};
use webrtc::peer_connection::offer_answer_options::RTCOfferOptions;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;

use super::peer::{fingerprints, from_webrtc};
use super::state::{Backend, FIRST_EVENT_WAIT, Internal, Kind, Peer};
use crate::event::SessionEvent;
use crate::trust;
use haven_proto::control::Control;

impl Backend {
    /// A note about a connection's state: candidates, channels opening, ICE state, the
    /// rebuild watchdog.
    pub(super) async fn on_connection_note(&mut self, note: Internal) -> Option<ClientMessage> {
        // Notes from a connection that was replaced since are stale.
        let current = |peers: &HashMap<PeerId, Peer>, id: &PeerId, generation: u32| {
            peers.get(id).is_some_and(|p| p.generation == generation)
        };
        match note {
            Internal::Candidate(to, generation, c) => {
                current(&self.peers, &to, generation).then(|| ClientMessage::IceCandidate {
                    to,
                    candidate: from_webrtc(c),
                })
            }
            Internal::Channel(id, generation, kind, dc) => {
                match self
                    .peers
                    .get_mut(&id)
                    .filter(|p| p.generation == generation)
                {
                    Some(peer) => peer.links.take(kind, dc),
                    None => {
                        let _ = dc.close().await;
                        return None;
                    }
                }
                self.channels_ready(id).await;
                None
            }
            Internal::Open(id, generation, kind) => {
                let peer = self
                    .peers
                    .get_mut(&id)
                    .filter(|p| p.generation == generation)?;
                peer.links.opened(kind);
                self.channels_ready(id).await;
                None
            }
            Internal::ChannelsDue(id, generation, second) => {
                let peer = self.peers.get(&id).filter(|p| p.generation == generation)?;
                if peer.open {
                    return None;
                }
                if !peer.offerer && !second {
                    // The side that offered goes first: when the association itself never
                    // came up both sides miss channels, and two rebuilds at once would cross
                    // (each answering the other's offer, neither left offering). The answerer
                    // rebuilds only if this same connection is still without its channels
                    // one period later, by when the offerer would have replaced it.
                    let (internal, wait) = (self.internal.clone(), self.channels_within);
                    tokio::spawn(async move {
                        tokio::time::sleep(wait).await;
                        let _ = internal.send(Internal::ChannelsDue(id, generation, true));
                    });
                    return None;
                }
                warn!(
                    peer = %id,
                    missing = ?peer.links.missing(),
                    "connected, but a data channel did not open in time; building a new connection"
                );
                self.rebuild(id, true).await
            }
            Internal::State(id, generation, state) => {
                debug!(peer = %id, ?state, "connection state");
                if !current(&self.peers, &id, generation) {
                    return None;
                }
                let peer = self.peers.get_mut(&id)?;
                match state {
                    RTCPeerConnectionState::Connected => peer.media_down_since = None,
                    RTCPeerConnectionState::Disconnected
                    | RTCPeerConnectionState::Failed
                    | RTCPeerConnectionState::Closed
                        if peer.media_down_since.is_none() =>
                    {
                        peer.media_down_since = Some(Instant::now());
                        // With no signaling to rebuild it, it may be gone for good.
                        if !self.signaling_up || self.unregistered.contains(&id) {
                            self.check_gone_after(self.grace);
                        }
                    }
                    _ => {}
                }
                let peer = self.peers.get_mut(&id)?;
                match state {
                    RTCPeerConnectionState::Connected if !peer.channels_watched => {
                        // Its channels open within moments of this; if one never does, the
                        // connection is rebuilt rather than left silent.
                        peer.channels_watched = true;
                        let (internal, wait) = (self.internal.clone(), self.channels_within);
                        tokio::spawn(async move {
                            tokio::time::sleep(wait).await;
                            let _ = internal.send(Internal::ChannelsDue(id, generation, false));
                        });
                    }
                    RTCPeerConnectionState::Connected if peer.open && peer.announce_reconnect => {
                        // An ICE restart worked: the same connection goes on.
                        peer.announce_reconnect = false;
                        if self.connected_once.contains(&id) {
                            let _ = self.events.send(SessionEvent::PeerReconnected(id));
                        }
                    }
                    RTCPeerConnectionState::Failed => {
                        if !peer.announce_reconnect {
                            peer.announce_reconnect = true;
                            let _ = self.events.send(SessionEvent::PeerReconnecting(id));
                        }
                        if peer.offerer {
                            return self.restart_ice(id, generation).await;
                        }
                    }
                    _ => {}
                }
                None
            }

            Internal::LastTry(id, generation) => {
                let peer = self.peers.get(&id).filter(|p| p.generation == generation)?;
                if !peer.open {
                    self.give_up(id);
                }
                None
            }
            Internal::Recheck(id, generation) => {
                let peer = self.peers.get(&id)?;
                if peer.generation != generation
                    || peer.pc.connection_state() == RTCPeerConnectionState::Connected
                {
                    return None;
                }
                info!(peer = %id, "not connected again in time; building a new connection");
                self.rebuild(id, false).await
            }
            Internal::Verified(id, generation) => {
                self.peers.get(&id).filter(|p| p.generation == generation)?;
                self.trust(id).await;
                None
            }
            Internal::Silent(id, generation) => {
                let peer = self.peers.get(&id).filter(|p| p.generation == generation)?;
                let prints = fingerprints(&peer.pc).await;
                let events = &self.events;
                peer.judge
                    .silence(self.clinic.as_ref(), prints.as_ref(), |event| {
                        let _ = events.send(event);
                    });
                None
            }
            Internal::Words(id, generation, message) => {
                let peer = self
                    .peers
                    .get_mut(&id)
                    .filter(|p| p.generation == generation)?;
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
                None
            }
            Internal::CheckGone => {
                self.check_gone().await;
                None
            }
            // Transfer notes are `send`'s.
            Internal::Acked(..) | Internal::Declined(..) | Internal::Stalled(..) => None,
        }
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
        self.rebuilds.remove(&id);
        info!(peer = %id, generation, "channels open");
        let reconnected = std::mem::take(&mut peer.announce_reconnect);
        if self.connected_once.insert(id) {
            // The first time its channels open, whatever happened before.
            let _ = self.events.send(SessionEvent::PeerConnected(id));
        } else if reconnected {
            let _ = self.events.send(SessionEvent::PeerReconnected(id));
        }
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
        for bytes in std::mem::take(&mut peer.held_control) {
            let _ = peer.links.send(Kind::Control, &bytes).await;
        }
        self.resume_sends(id).await;
    }

    /// Stops trying to reconnect to `id` and says so, once (until asked to try again).
    pub(super) fn give_up(&mut self, id: PeerId) {
        if self.lost.insert(id) {
            warn!(peer = %id, tries = crate::MAX_REBUILDS, "could not reconnect; giving up until asked again");
            let _ = self.events.send(SessionEvent::PeerLost(id));
        }
    }

    /// Starts an ICE restart on the connection we offered, and a check that it worked.
    async fn restart_ice(&mut self, id: PeerId, generation: u32) -> Option<ClientMessage> {
        let peer = self.peers.get(&id)?;
        if !self.signaling_up {
            debug!(peer = %id, "no signaling: the restart waits for it");
            return None;
        }
        let internal = self.internal.clone();
        let rebuild_after = self.rebuild_after;
        tokio::spawn(async move {
            tokio::time::sleep(rebuild_after).await;
            let _ = internal.send(Internal::Recheck(id, generation));
        });
        let options = RTCOfferOptions {
            ice_restart: true,
            ..Default::default()
        };
        match peer.pc.create_offer(Some(options)).await {
            Ok(offer) if peer.pc.set_local_description(offer.clone()).await.is_ok() => {
                info!(peer = %id, "ICE restart");
                Some(ClientMessage::Offer {
                    to: id,
                    sdp: Redacted::new(offer.sdp),
                })
            }
            _ => {
                warn!(peer = %id, "ICE restart failed");
                None
            }
        }
    }

    /// Replaces the connection to `id` with a new one that we offer. A failed connection is
    /// rebuilt by the side that offered it, so the two sides never both rebuild at once; a
    /// connection whose channels did not open is rebuilt by whichever side noticed
    /// (`either`): only the side missing a channel can tell, and it then offers the new one.
    pub(super) async fn rebuild(&mut self, id: PeerId, either: bool) -> Option<ClientMessage> {
        let peer = self.peers.get_mut(&id)?;
        if !peer.offerer && !either {
            debug!(peer = %id, "a reconnect is made by the side that offered first");
            return None;
        }
        let info = peer.info;
        if self.lost.contains(&id) {
            return None;
        }
        if !self.signaling_up {
            // Its offer could not go: the connection is rebuilt when the server is back
            // (`signaling`), and this try is not counted.
            debug!(peer = %id, "no signaling: the rebuild waits for it");
            return None;
        }
        if self.rebuilds.get(&id).copied().unwrap_or(0) >= crate::MAX_REBUILDS {
            self.give_up(id);
            return None;
        }
        // A peer never connected is still connecting, not reconnecting.
        if !peer.announce_reconnect && self.connected_once.contains(&id) {
            let _ = self.events.send(SessionEvent::PeerReconnecting(id));
        }
        match self.add_peer(info, true).await {
            Ok(Some(offer)) => {
                // The new connection gets the same watchdog: if it is not up in time (its
                // offer or answer lost, or it failed before it ever reached `failed`), build
                // another.
                if let Some(generation) = self.peers.get(&id).map(|p| p.generation) {
                    let internal = self.internal.clone();
                    let rebuild_after = self.rebuild_after;
                    tokio::spawn(async move {
                        tokio::time::sleep(rebuild_after).await;
                        let _ = internal.send(Internal::Recheck(id, generation));
                    });
                }
                Some(ClientMessage::Offer {
                    to: id,
                    sdp: Redacted::new(offer),
                })
            }
            Ok(None) => None,
            Err(e) => {
                warn!(peer = %id, error = %e, "could not build a new connection");
                None
            }
        }
    }
}
