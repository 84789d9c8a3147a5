//! Per-peer voice figures, sans I/O: packets received, lost (from sequence gaps) and the
//! interarrival jitter (haven_voice's RFC 3550 estimator, the one its jitter buffer uses).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;

use haven_proto::signal::PeerId;
use haven_voice::jitter::InterarrivalJitter;

use crate::event::PeerStats;

/// Whose voices may still be handed on (to the voice thread, or as events): a gate for each
/// peer that was in the room. A peer's gate closes when it leaves, before the session says
/// `PeerLeft`, and every packet is handed on under its gate ([`VoiceGate::pass`]): so nothing
/// of a peer's voice follows the event that says it left (a late packet would bring its voice
/// back in the voice thread, playing on, concealed, after it left). If it comes back (the same
/// id, after a resume) its gate opens again, for the streams that outlived its leaving too
/// (a group room's subscription to it).
#[derive(Clone, Debug, Default)]
pub(crate) struct VoiceGates(Arc<Mutex<HashMap<PeerId, VoiceGate>>>);

impl VoiceGates {
    /// Gates open for `peers`.
    pub(crate) fn open_for(peers: impl IntoIterator<Item = PeerId>) -> Self {
        let gates = Self::default();
        for peer in peers {
            gates.open(peer);
        }
        gates
    }

    /// `peer` is in the room: its gate, opened (made if it had none).
    pub(crate) fn open(&self, peer: PeerId) -> VoiceGate {
        let gate = self.lock().entry(peer).or_default().clone();
        *gate.0.write().unwrap_or_else(PoisonError::into_inner) = false;
        gate
    }

    /// `peer`'s gate, open or closed, if it was ever in the room (never makes one: a stream
    /// may outlive its peer).
    pub(crate) fn get(&self, peer: PeerId) -> Option<VoiceGate> {
        self.lock().get(&peer).cloned()
    }

    /// `peer` left: its gate closes (a packet being handed on is first let through).
    pub(crate) fn close(&self, peer: PeerId) {
        let gate = self.lock().get(&peer).cloned();
        if let Some(gate) = gate {
            *gate.0.write().unwrap_or_else(PoisonError::into_inner) = true;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PeerId, VoiceGate>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One peer's gate (see [`VoiceGates`]): `true` while closed.
#[derive(Clone, Debug, Default)]
pub(crate) struct VoiceGate(Arc<RwLock<bool>>);

impl VoiceGate {
    /// Runs `hand_on` unless the gate is closed, holding it open meanwhile; whether it ran.
    pub(crate) fn pass(&self, hand_on: impl FnOnce()) -> bool {
        let closed = self.0.read().unwrap_or_else(PoisonError::into_inner);
        if *closed {
            return false;
        }
        hand_on();
        true
    }
}

/// What arrived on one peer's audio track.
#[derive(Debug)]
pub(crate) struct AudioCounters {
    /// Arrival times are taken relative to this (any instant before the first packet).
    epoch: Instant,
    received: u64,
    highest_seq: Option<u16>,
    expected: u64,
    jitter: InterarrivalJitter,
}

impl AudioCounters {
    /// No packets yet; arrivals are measured from `epoch`.
    pub(crate) fn new(epoch: Instant) -> Self {
        Self {
            epoch,
            received: 0,
            highest_seq: None,
            expected: 0,
            jitter: InterarrivalJitter::new(),
        }
    }

    /// One packet, by its RTP sequence number and timestamp, and when it arrived.
    pub(crate) fn count(&mut self, sequence: u16, timestamp: u32, arrived: Instant) {
        self.received += 1;
        match self.highest_seq {
            None => {
                self.expected = 1;
                self.highest_seq = Some(sequence);
            }
            Some(high) => {
                let ahead = sequence.wrapping_sub(high);
                if ahead != 0 && ahead < 0x8000 {
                    self.expected += u64::from(ahead);
                    self.highest_seq = Some(sequence);
                }
            }
        }
        let arrived_ms = arrived.saturating_duration_since(self.epoch).as_secs_f64() * 1000.0;
        self.jitter.update(timestamp, arrived_ms);
    }

    /// Writes the audio figures into `stats`.
    pub(crate) fn fill(&self, stats: &mut PeerStats) {
        stats.audio_packets_received = self.received;
        stats.audio_packets_lost = self.expected as i64 - self.received as i64;
        stats.audio_jitter_ms = (self.received > 1).then_some(self.jitter.jitter_ms());
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A gate taken while the peer was in the room lets nothing through once it left, and
    /// again once it is back; a peer never in the room has none; another peer's goes on.
    #[test]
    fn nothing_of_a_peer_that_left_is_handed_on_until_it_is_back() {
        let (a, b, c) = (PeerId(1), PeerId(2), PeerId(3));
        let gates = VoiceGates::open_for([a]);
        let taken = gates.get(a).expect("in the room");
        assert!(gates.get(b).is_none());
        let other = gates.open(b);
        let mut handed = 0;
        assert!(taken.pass(|| handed += 1));
        gates.close(a);
        assert!(!taken.pass(|| handed += 1));
        assert!(
            !gates.get(a).expect("kept").pass(|| handed += 1),
            "a stream that outlived it finds it closed"
        );
        assert!(other.pass(|| handed += 1), "another peer's goes on");
        assert_eq!(handed, 2);
        gates.open(a);
        assert!(
            taken.pass(|| handed += 1),
            "back: its streams are heard again"
        );
        assert_eq!(handed, 3);
        gates.close(c);
        assert!(gates.get(c).is_none());
    }

    #[test]
    fn losses_come_from_sequence_gaps_and_jitter_from_late_arrivals() {
        let epoch = Instant::now();
        let mut c = AudioCounters::new(epoch);
        // Sequence numbers wrap; 3 is missing; the last packet is 16 ms late.
        let seqs = [u16::MAX - 1, u16::MAX, 0, 1, 2, 4];
        for (i, &seq) in seqs.iter().enumerate() {
            let i = i as u32 + u32::from(seq == 4);
            let late = if seq == 4 { 16 } else { 0 };
            let at = epoch + Duration::from_millis(u64::from(i) * 10 + late);
            c.count(seq, i * 480, at);
        }
        let mut stats = PeerStats::default();
        c.fill(&mut stats);
        assert_eq!(stats.audio_packets_received, 6);
        assert_eq!(stats.audio_packets_lost, 1);
        let jitter = stats.audio_jitter_ms.expect("two packets or more");
        assert!((jitter - 1.0).abs() < 1e-6, "{jitter}");
    }
}
