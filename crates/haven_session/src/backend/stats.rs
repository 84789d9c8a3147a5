//! Figures for each peer connection: the selected candidate pair's round-trip time and bytes
//! (from webrtc-rs's stats) and the kind of path it is (direct or relayed), and the audio counters the track reader keeps.

use webrtc::ice_transport::ice_candidate_type::RTCIceCandidateType;
use webrtc::stats::StatsReportType;

use super::state::Backend;
use crate::event::{PathKind, PeerStats};

impl Backend {
    /// Figures for every peer connection.
    pub(super) async fn stats(&self) -> Vec<PeerStats> {
        let mut all = Vec::new();
        for (&id, peer) in &self.peers {
            let report = peer.pc.get_stats().await;
            let mut out = PeerStats {
                peer: Some(id),
                poses_dropped: peer.poses_dropped,
                ..Default::default()
            };
            for entry in report.reports.values() {
                if let StatsReportType::CandidatePair(pair) = entry
                    && pair.nominated
                {
                    out.rtt_ms = Some(pair.current_round_trip_time * 1000.0);
                    out.bytes_sent += pair.bytes_sent;
                    out.bytes_received += pair.bytes_received;
                }
            }
            // The pair ICE selected (and DTLS runs over): what kind of path each end is.
            if let Some(pair) = peer
                .pc
                .dtls_transport()
                .ice_transport()
                .get_selected_candidate_pair()
                .await
            {
                out.local_path = path_kind(pair.local.typ);
                out.remote_path = path_kind(pair.remote.typ);
            }
            peer.audio
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .fill(&mut out);
            all.push(out);
        }
        // A group room's voices come through the media server, counted per publisher.
        if let Some(group) = &self.group {
            let counted = group.audio.lock().unwrap_or_else(|p| p.into_inner());
            for (&id, counters) in counted.iter() {
                let index = match all.iter().position(|s| s.peer == Some(id)) {
                    Some(index) => index,
                    None => {
                        all.push(PeerStats {
                            peer: Some(id),
                            ..Default::default()
                        });
                        all.len() - 1
                    }
                };
                counters
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .fill(&mut all[index]);
            }
        }
        all
    }
}

fn path_kind(typ: RTCIceCandidateType) -> Option<PathKind> {
    match typ {
        RTCIceCandidateType::Host => Some(PathKind::Host),
        RTCIceCandidateType::Srflx => Some(PathKind::ServerReflexive),
        RTCIceCandidateType::Prflx => Some(PathKind::PeerReflexive),
        RTCIceCandidateType::Relay => Some(PathKind::Relay),
        RTCIceCandidateType::Unspecified => None,
    }
}
