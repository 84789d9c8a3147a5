//! Per-peer voice figures, sans I/O: packets received, lost (from sequence gaps) and the
//! interarrival jitter (haven_voice's RFC 3550 estimator, the one its jitter buffer uses).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;

use haven_proto::signal::PeerId;
use haven_voice::jitter::InterarrivalJitter;

use crate::event::PeerStats;

/// Whose voices may still be handed on (to the voice thread, or as events): one gate a peer
/// in the room. A peer's gate closes when it leaves, before the session says `PeerLeft`, and
/// every packet is handed on under its gate ([`VoiceGate::pass`]): so nothing of a peer's
/// voice follows the event that says it left (a late packet would bring its voice back in
/// the voice thread, playing on, concealed, after it left).
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

    /// `peer`'s gate, opened if it has none (it is in the room).
    pub(crate) fn open(&self, peer: PeerId) -> VoiceGate {
        self.lock().entry(peer).or_default().clone()
    }

    /// `peer`'s gate if it is in the room (never opens one: a stream may outlive its peer).
    pub(crate) fn get(&self, peer: PeerId) -> Option<VoiceGate> {
        self.lock().get(&peer).cloned()
    }

    /// `peer` left: its gate closes for good (a packet being handed on is first let through);
    /// if it comes back, it gets a new one.
    pub(crate) fn close(&self, peer: PeerId) {
        let gate = self.lock().remove(&peer);
        if let Some(gate) = gate {
            *gate.0.write().unwrap_or_else(PoisonError::into_inner) = true;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PeerId, VoiceGate>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One peer's gate (see [`VoiceGates`]): `true` once closed.
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

    /// A gate taken while the peer was in the room lets nothing through once it left; a
    /// stream that outlives its peer finds no gate; a peer that comes back gets a new one.
    #[test]
    fn nothing_of_a_peer_that_left_is_handed_on() {
        let (a, b) = (PeerId(1), PeerId(2));
        let gates = VoiceGates::open_for([a]);
        let taken = gates.get(a).expect("in the room");
        assert!(gates.get(b).is_none());
        let other = gates.open(b);
        let mut handed = 0;
        assert!(taken.pass(|| handed += 1));
        gates.close(a);
        assert!(!taken.pass(|| handed += 1));
        assert!(other.pass(|| handed += 1), "another peer's goes on");
        assert_eq!(handed, 2);
        assert!(gates.get(a).is_none());
        let back = gates.open(a);
        assert!(back.pass(|| handed += 1));
        assert!(!taken.pass(|| handed += 1), "the old gate stays closed");
        assert_eq!(handed, 3);
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
