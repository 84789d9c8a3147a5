//! An adaptive jitter buffer, sans I/O.
//!
//! Packets go in with their RTP timestamp and arrival time; the playout clock asks for one
//! frame per frame period and gets a packet to decode, a packet to recover the missing frame
//! from (its successor carries FEC), an order to conceal, or nothing yet (still filling).
//!
//! The target depth follows the measured inter-arrival jitter (RFC 3550's estimator): about
//! twice the jitter plus one frame, between [`MIN_TARGET_MS`] and [`MAX_TARGET_FRAMES`]. When
//! the buffer runs dry the playout conceals; if it stays dry for [`REBUFFER_AFTER`] frames
//! (the playout clock has run ahead of the arrivals) it goes back to filling, so the packets
//! that follow are played instead of all arriving "late". When it holds well over its target
//! for a while, one frame is dropped so delay does not creep up.

use std::collections::BTreeMap;

use crate::FrameDuration;

/// The deepest the buffer will aim for (200 ms at 10 ms frames).
pub const MAX_TARGET_FRAMES: u64 = 20;
/// The shallowest it will aim for, in milliseconds: scheduling noise on the sender alone is a
/// few milliseconds, so a one-frame buffer at 10 ms would underrun at once.
pub const MIN_TARGET_MS: u64 = 20;
/// Concealed frames in a row, with nothing held, after which the buffer fills again.
pub const REBUFFER_AFTER: u32 = 3;
/// Packets held at most; more (a flood, a clock jump) are dropped oldest first.
pub const MAX_HELD: usize = 200;

/// What the playout clock should do for this frame period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Playout {
    /// Decode this packet.
    Packet(Vec<u8>),
    /// The frame is lost; rebuild it from the FEC in this (the next) packet.
    Recover(Vec<u8>),
    /// The frame is lost; conceal it.
    Conceal,
    /// Nothing to play yet (filling at the start).
    Wait,
}

/// Counters for the UI and the bench.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets accepted.
    pub received: u64,
    /// Frames played from their own packet.
    pub played: u64,
    /// Frames rebuilt from FEC.
    pub recovered: u64,
    /// Frames concealed.
    pub concealed: u64,
    /// Packets that came after their frame was played.
    pub late: u64,
    /// Frames dropped to bring the delay down.
    pub dropped: u64,
}

/// The buffer for one remote voice.
#[derive(Debug)]
pub struct JitterBuffer {
    frame: FrameDuration,
    /// Keyed by frame index (extended RTP timestamp / samples per frame).
    held: BTreeMap<u64, Vec<u8>>,
    /// The next frame index the playout will ask for; `None` until filled.
    next: Option<u64>,
    /// The highest extended timestamp seen, for unwrapping.
    highest_ts: Option<u64>,
    /// RFC 3550 jitter estimate, in milliseconds.
    jitter_ms: f64,
    last_transit_ms: Option<f64>,
    /// Consecutive periods spent well above the target.
    over_target: u32,
    /// Consecutive frames concealed with nothing held.
    dry: u32,
    stats: JitterStats,
}

impl JitterBuffer {
    /// An empty buffer for frames of `frame`.
    pub fn new(frame: FrameDuration) -> Self {
        Self {
            frame,
            held: BTreeMap::new(),
            next: None,
            highest_ts: None,
            jitter_ms: 0.0,
            last_transit_ms: None,
            over_target: 0,
            dry: 0,
            stats: JitterStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// The index (RTP timestamp / frame length) of the frame the last [`JitterBuffer::pop`]
    /// played, once playing.
    pub fn playing_index(&self) -> Option<u64> {
        self.next.map(|n| n - 1)
    }

    /// The jitter estimate, in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        self.jitter_ms
    }

    /// The depth aimed for, in frames.
    pub fn target_frames(&self) -> u64 {
        let frame_ms = self.frame.millis();
        let frames = (2.0 * self.jitter_ms / frame_ms as f64).ceil() as u64 + 1;
        frames.clamp(MIN_TARGET_MS.div_ceil(frame_ms), MAX_TARGET_FRAMES)
    }

    /// Frames held ahead of the playout point.
    pub fn depth(&self) -> u64 {
        match (self.next, self.held.keys().next_back()) {
            (Some(next), Some(&last)) if last >= next => last - next + 1,
            (None, Some(&last)) => last - self.held.keys().next().copied().unwrap_or(last) + 1,
            _ => 0,
        }
    }

    fn extend(&mut self, ts: u32) -> u64 {
        let Some(highest) = self.highest_ts else {
            let ext = u64::from(ts) + (1 << 32);
            self.highest_ts = Some(ext);
            return ext;
        };
        // Pick the unwrapping of `ts` closest to the highest seen.
        let base = highest & !0xffff_ffff;
        let ext = [base.wrapping_sub(1 << 32), base, base + (1 << 32)]
            .into_iter()
            .map(|b| b + u64::from(ts))
            .min_by_key(|c| c.abs_diff(highest))
            .expect("three candidates");
        self.highest_ts = Some(highest.max(ext));
        ext
    }

    /// Takes a packet: its RTP timestamp (48 kHz samples) and when it arrived (ms, any epoch).
    pub fn push(&mut self, rtp_timestamp: u32, payload: Vec<u8>, arrival_ms: f64) {
        let ext = self.extend(rtp_timestamp);
        let transit = arrival_ms - ext as f64 / f64::from(crate::SAMPLE_RATE) * 1000.0;
        if let Some(last) = self.last_transit_ms {
            let d = (transit - last).abs();
            self.jitter_ms += (d - self.jitter_ms) / 16.0;
        }
        self.last_transit_ms = Some(transit);
        let index = ext / self.frame.samples() as u64;
        if self.next.is_some_and(|next| index < next) {
            self.stats.late += 1;
            return;
        }
        self.stats.received += 1;
        self.held.insert(index, payload);
        while self.held.len() > MAX_HELD {
            self.held.pop_first();
        }
    }

    /// What to play for the next frame period.
    pub fn pop(&mut self) -> Playout {
        let next = match self.next {
            Some(next) => next,
            None => {
                // Start once the target depth is held.
                let Some(&first) = self.held.keys().next() else {
                    return Playout::Wait;
                };
                if self.depth() < self.target_frames() {
                    return Playout::Wait;
                }
                first
            }
        };
        // Too deep for a while: drop one frame to bring the delay back down.
        let mut next = next;
        if self.depth() > self.target_frames() + 2 {
            self.over_target += 1;
            if self.over_target >= 50 {
                self.over_target = 0;
                if self.held.remove(&next).is_some() {
                    self.stats.dropped += 1;
                }
                next += 1;
            }
        } else {
            self.over_target = 0;
        }
        self.next = Some(next + 1);
        // Forget anything older than the playout point.
        while self.held.first_key_value().is_some_and(|(&k, _)| k < next) {
            self.held.pop_first();
        }
        if let Some(packet) = self.held.remove(&next) {
            self.dry = 0;
            self.stats.played += 1;
            Playout::Packet(packet)
        } else if let Some(following) = self.held.get(&(next + 1)) {
            self.dry = 0;
            self.stats.recovered += 1;
            Playout::Recover(following.clone())
        } else {
            if self.held.is_empty() {
                self.dry += 1;
                if self.dry >= REBUFFER_AFTER {
                    // The playout clock ran ahead of the arrivals: fill again.
                    self.dry = 0;
                    self.next = None;
                }
            }
            self.stats.concealed += 1;
            Playout::Conceal
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: u32 = 480;

    #[test]
    fn in_order_packets_play_in_order_after_filling() {
        let mut jb = JitterBuffer::new(FrameDuration::Ms10);
        assert_eq!(jb.pop(), Playout::Wait);
        for i in 0..5u32 {
            jb.push(1000 + i * F, vec![i as u8], f64::from(i) * 10.0);
        }
        for i in 0..5u8 {
            assert_eq!(jb.pop(), Playout::Packet(vec![i]));
        }
        assert_eq!(jb.pop(), Playout::Conceal);
        assert_eq!(jb.stats().played, 5);
    }

    #[test]
    fn a_lost_frame_is_recovered_from_its_successor_or_concealed() {
        let mut jb = JitterBuffer::new(FrameDuration::Ms10);
        for i in [0u32, 1, 3, 6] {
            jb.push(i * F, vec![i as u8], f64::from(i) * 10.0);
        }
        assert_eq!(jb.pop(), Playout::Packet(vec![0]));
        assert_eq!(jb.pop(), Playout::Packet(vec![1]));
        assert_eq!(jb.pop(), Playout::Recover(vec![3]));
        assert_eq!(jb.pop(), Playout::Packet(vec![3]));
        assert_eq!(jb.pop(), Playout::Conceal);
        assert_eq!(jb.pop(), Playout::Recover(vec![6]));
        let s = jb.stats();
        assert_eq!((s.recovered, s.concealed), (2, 1));
    }

    #[test]
    fn reordered_packets_are_put_back_in_order_and_late_ones_dropped() {
        let mut jb = JitterBuffer::new(FrameDuration::Ms10);
        for i in [1u32, 0, 3, 2] {
            jb.push(i * F, vec![i as u8], 0.0);
        }
        for i in 0..4u8 {
            assert_eq!(jb.pop(), Playout::Packet(vec![i]));
        }
        jb.push(F, vec![9], 50.0);
        assert_eq!(jb.stats().late, 1);
    }

    #[test]
    fn the_target_grows_with_jitter_and_timestamps_unwrap() {
        let mut jb = JitterBuffer::new(FrameDuration::Ms10);
        assert_eq!(jb.target_frames(), 2, "20 ms at least");
        // Arrivals 0 or 30 ms off their schedule, alternately: about 15 ms of jitter.
        let start = u32::MAX - 20 * F;
        for i in 0..100u32 {
            let arrival = f64::from(i) * 10.0 + if i % 2 == 0 { 0.0 } else { 30.0 };
            jb.push(start.wrapping_add(i * F), vec![0], arrival);
        }
        assert!(jb.jitter_ms() > 10.0, "jitter {}", jb.jitter_ms());
        assert!(jb.target_frames() >= 3, "target {}", jb.target_frames());
        // The timestamps wrapped through zero half way; all 100 are held in one run.
        assert_eq!(jb.depth(), 100);
    }

    /// Found over real loopback WebRTC: a playout that started on the first packet ran a
    /// fraction of a frame ahead of the arrivals and then called every packet late.
    #[test]
    fn a_playout_that_runs_ahead_fills_again_instead_of_dropping_everything() {
        let mut jb = JitterBuffer::new(FrameDuration::Ms10);
        let mut played = 0;
        // Packets every 10 ms, each arriving 3 ms after its playout tick would want it.
        for tick in 0..100u32 {
            jb.push(tick * F, vec![1], f64::from(tick) * 10.0 + 3.0);
            if matches!(jb.pop(), Playout::Packet(_) | Playout::Recover(_)) {
                played += 1;
            }
        }
        assert!(played >= 90, "played {played} of 100; {:?}", jb.stats());
        assert!(jb.stats().late <= 5, "{:?}", jb.stats());
    }

    #[test]
    fn a_standing_excess_is_trimmed() {
        let mut jb = JitterBuffer::new(FrameDuration::Ms10);
        for i in 0..40u32 {
            jb.push(i * F, vec![0], f64::from(i) * 10.0);
        }
        for i in 0..60u32 {
            jb.pop();
            jb.push((40 + i) * F, vec![0], f64::from(40 + i) * 10.0);
        }
        assert!(jb.stats().dropped >= 1);
    }
}
