//! Per-peer voice figures, sans I/O: packets received, lost (from sequence gaps) and the
//! interarrival jitter (haven_voice's RFC 3550 estimator, the one its jitter buffer uses).

use std::time::Instant;

use haven_voice::jitter::InterarrivalJitter;

use crate::event::PeerStats;

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
