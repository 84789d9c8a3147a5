//! Keeping a peer connected: its channels opening (and what waited for them), ICE state
//! changes, ICE restarts by the side that offered, and whole new connections when a restart
//! has not worked in time. Objects on their way go on from what the receiver holds.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use haven_proto::Redacted;
use haven_proto::bulk::{self, Bulk, CancelReason};
use haven_proto::signal::{ClientMessage, PeerId};
use tracing::{debug, info, warn};
use webrtc::peer_connection::offer_answer_options::RTCOfferOptions;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;

use super::peer::{fingerprints, from_webrtc};
use super::state::{Backend, FIRST_EVENT_WAIT, Internal, Peer, SEND_GRACE};
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
            Internal::Open(id, generation) => {
                if current(&self.peers, &id, generation) {
                    let internal = self.internal.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(SEND_GRACE).await;
                        let _ = internal.send(Internal::Ready(id, generation));
                    });
                }
                None
            }
            Internal::Ready(id, generation) => {
                if !current(&self.peers, &id, generation) {
                    return None;
                }
                let peer = self.peers.get_mut(&id)?;
                peer.open = true;
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
                        let _ = peer.control.send(&proof).await;
                    }
                } else {
                    warn!(peer = %id, "the connection's descriptions name no DTLS fingerprint");
                }
                // A clinician or therapist that says nothing at all is judged after a while.
                if let Some(said) = trust::nothing_said(peer.info.role) {
                    let (first, internal) = (Arc::clone(&peer.first_event), self.internal.clone());
                    tokio::spawn(async move {
                        tokio::time::sleep(FIRST_EVENT_WAIT).await;
                        if first.swap(false, Ordering::AcqRel) {
                            let _ = internal.send(Internal::FirstEvent(id, generation, said));
                        }
                    });
                }
                for cancel in std::mem::take(&mut peer.held_cancels) {
                    let cancel = Bulk::Cancel {
                        id: cancel,
                        reason: CancelReason::Revoked,
                    };
                    let _ = peer.bulk.send(&Bytes::from(bulk::encode(&cancel))).await;
                }
                if peer.checked {
                    self.release(id).await;
                }
                // Then the safety words' commitment (and nonce, if theirs is here).
                if let Some(peer) = self.peers.get_mut(&id) {
                    for bytes in peer.words.open() {
                        let _ = peer.control.send(&Bytes::from(bytes)).await;
                    }
                }
                None
            }
            Internal::State(id, generation, state) => {
                debug!(peer = %id, ?state, "connection state");
                if !current(&self.peers, &id, generation) {
                    return None;
                }
                let peer = self.peers.get_mut(&id)?;
                match state {
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
            Internal::Recheck(id, generation) => {
                let peer = self.peers.get(&id)?;
                if peer.generation != generation
                    || peer.pc.connection_state() == RTCPeerConnectionState::Connected
                {
                    return None;
                }
                info!(peer = %id, "not connected again in time; building a new connection");
                self.rebuild(id).await
            }
            Internal::FirstEvent(id, generation, said) => {
                let peer = self.peers.get(&id).filter(|p| p.generation == generation)?;
                // No fingerprints to check against: no proof can match.
                let (own, other) = fingerprints(&peer.pc).await.unwrap_or_default();
                let event = trust::verdict(id, &said, self.clinic.as_ref(), &own, &other);
                let verified = matches!(event, SessionEvent::PeerVerified { verdict: Ok(_), .. });
                let _ = self.events.send(event);
                if verified {
                    self.trust(id).await;
                }
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
                            let _ = peer.control.send(&Bytes::from(bytes)).await;
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
            // Transfer notes are `send`'s.
            Internal::Acked(..) | Internal::Declined(..) | Internal::Stalled(..) => None,
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
            let _ = peer.control.send(&bytes).await;
        }
        self.resume_sends(id).await;
    }

    /// Starts an ICE restart on the connection we offered, and a check that it worked.
    async fn restart_ice(&mut self, id: PeerId, generation: u32) -> Option<ClientMessage> {
        let peer = self.peers.get(&id)?;
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

    /// Replaces the connection to `id` with a new one that we offer. Only the side that made
    /// the first offer does this, so the two sides never both rebuild at once.
    pub(super) async fn rebuild(&mut self, id: PeerId) -> Option<ClientMessage> {
        let peer = self.peers.get_mut(&id)?;
        if !peer.offerer {
            debug!(peer = %id, "a reconnect is made by the side that offered first");
            return None;
        }
        let info = peer.info;
        if !peer.announce_reconnect {
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
