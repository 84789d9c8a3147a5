//! Figures for each peer connection: the selected candidate pair's round-trip time and bytes
//! (from webrtc-rs's stats), and the audio counters the track reader keeps.

use webrtc::stats::StatsReportType;

use super::state::Backend;
use crate::event::PeerStats;

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
            peer.audio
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .fill(&mut out);
            all.push(out);
        }
        all
    }
}
