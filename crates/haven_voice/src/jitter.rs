//! An adaptive jitter buffer, sans I/O.
//!
//! Packets go in with their RTP timestamp (48 kHz samples), how many samples they carry (a
//! peer may send 10, 20 or 60 ms packets, and change), and their arrival time. The playout side
//! asks for the next packet when it needs more audio and gets a packet to decode, a packet to
//! rebuild the missing audio from (its FEC), an order to conceal so many samples, or nothing yet
//! (still filling).
//!
//! The target depth follows the measured inter-arrival jitter ([`InterarrivalJitter`], RFC
//! 3550's estimator, which the session's per-peer figures use too): one packet, plus twice the
//! jitter rounded to whole packets, between [`MIN_TARGET_MS`] and [`MAX_TARGET_MS`]. So on a
//! clean link (jitter under a quarter of a packet) it holds a single 10 ms frame, and under
//! 50 ± 30 ms of jitter about what twice the jitter asks. When the
//! buffer runs dry the playout conceals; if it stays dry for [`REBUFFER_AFTER`] turns (the
//! playout clock has run ahead of the arrivals) it goes back to filling, so the packets that
//! follow are played instead of all arriving "late". When it holds well over its target for a
//! while, one packet is dropped so delay does not creep up.

use std::collections::BTreeMap;

/// The deepest the buffer will aim for.
pub const MAX_TARGET_MS: f64 = 200.0;
/// The shallowest it will aim for: one 10 ms frame (shorter packets are gathered to 10 ms).
/// Scheduling noise on the sender shows in the jitter estimate and adds packets; a playout
/// clock that runs ahead of the arrivals is caught by filling again ([`REBUFFER_AFTER`]).
pub const MIN_TARGET_MS: f64 = 10.0;
/// Concealments in a row, with nothing held, after which the buffer fills again.
pub const REBUFFER_AFTER: u32 = 3;
/// Packets held at most; more (a flood, a clock jump) are dropped oldest first.
pub const MAX_HELD: usize = 200;
/// Samples concealed per turn when nothing arrived (10 ms).
pub const CONCEAL_SAMPLES: u32 = 480;
/// A gap before the next held packet longer than this (1 s) is not loss or silence but the
/// sender's clock jumping (a restarted sender, a rebuilt connection with a new random RTP
/// timestamp base): playout jumps to that packet instead of concealing its way there, which
/// at 10 ms a turn could take hours. Found by the `jitter` fuzz target.
pub const RESYNC_SAMPLES: u64 = 48_000;

const SAMPLES_PER_MS: f64 = 48.0;

/// A difference in transit time larger than this (ms) is a new talk spurt or a clock change,
/// not jitter, and is left out of the estimate.
pub const JITTER_JUMP_MS: f64 = 1000.0;

/// RFC 3550's interarrival jitter (section 6.4.1) for a 48 kHz RTP stream, in milliseconds:
/// the mean deviation of the difference in transit time between consecutive packets,
/// smoothed by 1/16. Sans I/O: it is given each packet's RTP timestamp and when it arrived
/// (ms, any epoch); RTP timestamps may wrap.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct InterarrivalJitter {
    jitter_ms: f64,
    /// The previous packet's RTP timestamp and arrival time.
    last: Option<(u32, f64)>,
}

impl InterarrivalJitter {
    /// No packets yet: jitter 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one packet; returns the estimate, ms.
    pub fn update(&mut self, rtp_timestamp: u32, arrival_ms: f64) -> f64 {
        if let Some((last_ts, last_arrival)) = self.last {
            // Signed: a packet that arrives out of order has an earlier timestamp.
            let media_ms = f64::from(rtp_timestamp.wrapping_sub(last_ts) as i32) / SAMPLES_PER_MS;
            let d = ((arrival_ms - last_arrival) - media_ms).abs();
            if d < JITTER_JUMP_MS {
                self.jitter_ms += (d - self.jitter_ms) / 16.0;
            }
        }
        self.last = Some((rtp_timestamp, arrival_ms));
        self.jitter_ms
    }

    /// The estimate, ms.
    pub fn jitter_ms(&self) -> f64 {
        self.jitter_ms
    }
}

/// What the playout should do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Playout {
    /// Decode this packet.
    Packet(Vec<u8>),
    /// `samples` were lost just before this packet; rebuild them from its FEC.
    Recover {
        /// The packet after the loss.
        next: Vec<u8>,
        /// How many samples were lost.
        samples: u32,
    },
    /// Nothing arrived for the next `0` samples; conceal them.
    Conceal(u32),
    /// Nothing to play yet (filling).
    Wait,
}

/// Counters for the UI and the bench.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets accepted.
    pub received: u64,
    /// Packets played.
    pub played: u64,
    /// Losses rebuilt from FEC.
    pub recovered: u64,
    /// Concealments.
    pub concealed: u64,
    /// Packets that came after their time was played.
    pub late: u64,
    /// Packets dropped to bring the delay down.
    pub dropped: u64,
}

#[derive(Debug)]
struct Held {
    payload: Vec<u8>,
    samples: u32,
}

/// The buffer for one remote voice.
#[derive(Debug)]
pub struct JitterBuffer {
    /// Keyed by extended RTP timestamp.
    held: BTreeMap<u64, Held>,
    /// The timestamp of the next sample to play; `None` until filled.
    next: Option<u64>,
    /// The highest extended timestamp seen, for unwrapping.
    highest_ts: Option<u64>,
    /// The arrival jitter, which sets the target depth.
    jitter: InterarrivalJitter,
    /// The duration of the most recent packet, in samples.
    packet_samples: u32,
    over_target: u32,
    dry: u32,
    stats: JitterStats,
}

impl Default for JitterBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl JitterBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self {
            held: BTreeMap::new(),
            next: None,
            highest_ts: None,
            jitter: InterarrivalJitter::new(),
            packet_samples: CONCEAL_SAMPLES,
            over_target: 0,
            dry: 0,
            stats: JitterStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// The jitter estimate, in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        self.jitter.jitter_ms()
    }

    /// The depth aimed for, in milliseconds.
    pub fn target_ms(&self) -> f64 {
        let packet_ms = f64::from(self.packet_samples) / SAMPLES_PER_MS;
        // Whole packets: a fraction of one more would wait for all of it anyway.
        let extra = (2.0 * self.jitter.jitter_ms() / packet_ms).round();
        (packet_ms * (1.0 + extra)).clamp(MIN_TARGET_MS, MAX_TARGET_MS)
    }

    /// Audio held ahead of the playout point, in milliseconds.
    pub fn depth_ms(&self) -> f64 {
        let Some((&last, held)) = self.held.last_key_value() else {
            return 0.0;
        };
        let end = last + u64::from(held.samples);
        let start = self
            .next
            .unwrap_or_else(|| *self.held.keys().next().expect("not empty"));
        end.saturating_sub(start) as f64 / SAMPLES_PER_MS
    }

    /// The timestamp (extended, 48 kHz) of the next sample to play, once playing.
    pub fn next_timestamp(&self) -> Option<u64> {
        self.next
    }

    fn extend(&mut self, ts: u32) -> u64 {
        let Some(highest) = self.highest_ts else {
            let ext = u64::from(ts) + (1 << 32);
            self.highest_ts = Some(ext);
            return ext;
        };
        // The unwrapping of `ts` closest to the highest seen.
        let base = highest & !0xffff_ffff;
        let ext = [base - (1 << 32), base, base + (1 << 32)]
            .into_iter()
            .map(|b| b + u64::from(ts))
            .min_by_key(|c| c.abs_diff(highest))
            .expect("three candidates");
        self.highest_ts = Some(highest.max(ext));
        ext
    }

    /// Takes a packet: its RTP timestamp, how many samples it carries, and when it arrived
    /// (ms, any epoch).
    pub fn push(&mut self, rtp_timestamp: u32, samples: u32, payload: Vec<u8>, arrival_ms: f64) {
        let ext = self.extend(rtp_timestamp);
        self.jitter.update(rtp_timestamp, arrival_ms);
        if self.next.is_some_and(|next| ext < next) {
            self.stats.late += 1;
            return;
        }
        self.packet_samples = samples.clamp(120, 5760);
        self.stats.received += 1;
        self.held.insert(
            ext,
            Held {
                payload,
                samples: self.packet_samples,
            },
        );
        while self.held.len() > MAX_HELD {
            self.held.pop_first();
        }
    }

    /// What to play next.
    pub fn pop(&mut self) -> Playout {
        let next = match self.next {
            Some(next) => next,
            None => {
                let Some(&first) = self.held.keys().next() else {
                    return Playout::Wait;
                };
                if self.depth_ms() < self.target_ms() {
                    return Playout::Wait;
                }
                first
            }
        };
        let mut next = next;
        // Too deep for a while: drop one packet to bring the delay back down.
        if self.depth_ms() > self.target_ms() + 20.0 {
            self.over_target += 1;
            if self.over_target >= 50 {
                self.over_target = 0;
                if let Some(dropped) = self.held.remove(&next) {
                    self.stats.dropped += 1;
                    next += u64::from(dropped.samples);
                }
            }
        } else {
            self.over_target = 0;
        }
        // Anything that starts before the playout point is too late to use.
        while self.held.first_key_value().is_some_and(|(&k, _)| k < next) {
            self.held.pop_first();
        }
        if let Some(held) = self.held.remove(&next) {
            self.dry = 0;
            self.stats.played += 1;
            self.next = Some(next + u64::from(held.samples));
            return Playout::Packet(held.payload);
        }
        match self.held.first_key_value() {
            // Exactly one packet's worth is missing before the next one: its FEC has it.
            Some((&ts, held)) if ts - next == u64::from(held.samples) => {
                self.dry = 0;
                self.stats.recovered += 1;
                self.next = Some(ts);
                Playout::Recover {
                    next: held.payload.clone(),
                    samples: held.samples,
                }
            }
            Some((&ts, _)) if ts - next > RESYNC_SAMPLES => {
                // The sender's clock jumped: play from its new place.
                let held = self.held.remove(&ts).expect("its first key");
                self.dry = 0;
                self.stats.played += 1;
                self.next = Some(ts + u64::from(held.samples));
                Playout::Packet(held.payload)
            }
            Some((&ts, _)) => {
                // A longer gap (loss, or the peer's DTX silence): conceal up to the next packet.
                // Concealing is not standing too deep: the packet at the gap's end is played,
                // never dropped to trim the delay (found by the `jitter` fuzz target).
                self.over_target = 0;
                self.dry = 0;
                let gap = (ts - next).min(u64::from(CONCEAL_SAMPLES)) as u32;
                self.stats.concealed += 1;
                self.next = Some(next + u64::from(gap));
                Playout::Conceal(gap)
            }
            None => {
                self.dry += 1;
                self.stats.concealed += 1;
                if self.dry >= REBUFFER_AFTER {
                    // The playout clock ran ahead of the arrivals: fill again.
                    self.dry = 0;
                    self.next = None;
                } else {
                    self.next = Some(next + u64::from(CONCEAL_SAMPLES));
                }
                Playout::Conceal(CONCEAL_SAMPLES)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: u32 = 480;

    #[test]
    fn in_order_packets_play_in_order_after_filling() {
        let mut jb = JitterBuffer::new();
        assert_eq!(jb.pop(), Playout::Wait);
        for i in 0..5u32 {
            jb.push(1000 + i * F, F, vec![i as u8], f64::from(i) * 10.0);
        }
        for i in 0..5u8 {
            assert_eq!(jb.pop(), Playout::Packet(vec![i]));
        }
        assert_eq!(jb.pop(), Playout::Conceal(F));
        assert_eq!(jb.stats().played, 5);
    }

    /// The sender's clock jumps far ahead while playing (a restarted sender, a rebuilt
    /// connection): playout follows it at once instead of concealing hours away.
    #[test]
    fn a_sender_clock_that_jumps_ahead_is_followed() {
        let mut jb = JitterBuffer::new();
        for i in 0..3u32 {
            jb.push(1000 + i * F, F, vec![i as u8], f64::from(i) * 10.0);
        }
        for i in 0..3u8 {
            assert_eq!(jb.pop(), Playout::Packet(vec![i]));
        }
        let jumped = 1000 + 3 * F + 2_000_000_000;
        jb.push(jumped, F, vec![7], 30.0);
        jb.push(jumped + F, F, vec![8], 40.0);
        assert_eq!(jb.pop(), Playout::Packet(vec![7]));
        assert_eq!(jb.pop(), Playout::Packet(vec![8]));
        // A gap under a second is still loss or silence: concealed.
        jb.push(jumped + 10 * F, F, vec![9], 50.0);
        assert_eq!(jb.pop(), Playout::Conceal(F));
    }

    #[test]
    fn a_lost_packet_is_recovered_from_its_successor_or_concealed() {
        let mut jb = JitterBuffer::new();
        for i in [0u32, 1, 3, 6] {
            jb.push(i * F, F, vec![i as u8], f64::from(i) * 10.0);
        }
        assert_eq!(jb.pop(), Playout::Packet(vec![0]));
        assert_eq!(jb.pop(), Playout::Packet(vec![1]));
        assert_eq!(
            jb.pop(),
            Playout::Recover {
                next: vec![3],
                samples: F
            }
        );
        assert_eq!(jb.pop(), Playout::Packet(vec![3]));
        assert_eq!(jb.pop(), Playout::Conceal(F));
        assert_eq!(
            jb.pop(),
            Playout::Recover {
                next: vec![6],
                samples: F
            }
        );
        assert_eq!(jb.pop(), Playout::Packet(vec![6]));
        let s = jb.stats();
        assert_eq!((s.recovered, s.concealed), (2, 1));
    }

    /// Found against aiortc, which sends 20 ms packets: a buffer that assumed 10 ms counted
    /// every other 10 ms as lost.
    #[test]
    fn packets_of_any_length_play_back_to_back() {
        let mut jb = JitterBuffer::new();
        let lens = [960u32, 960, 480, 2880, 960];
        let mut ts = 7u32;
        for (i, &n) in lens.iter().enumerate() {
            jb.push(ts, n, vec![i as u8], i as f64 * 20.0);
            ts += n;
        }
        for i in 0..lens.len() as u8 {
            assert_eq!(jb.pop(), Playout::Packet(vec![i]));
        }
        assert_eq!(jb.stats().concealed, 0);
    }

    #[test]
    fn reordered_packets_are_put_back_in_order_and_late_ones_dropped() {
        let mut jb = JitterBuffer::new();
        for i in [1u32, 0, 3, 2] {
            jb.push(i * F, F, vec![i as u8], 0.0);
        }
        for i in 0..4u8 {
            assert_eq!(jb.pop(), Playout::Packet(vec![i]));
        }
        jb.push(F, F, vec![9], 50.0);
        assert_eq!(jb.stats().late, 1);
    }

    /// On a clean link one frame is held (capture to playout as short as the link allows);
    /// a little sender noise does not add a packet, a few milliseconds of jitter do.
    #[test]
    fn on_a_clean_link_the_target_is_one_frame() {
        let mut jb = JitterBuffer::new();
        assert_eq!(jb.target_ms(), MIN_TARGET_MS);
        for i in 0..200u32 {
            // ±1 ms of scheduling noise.
            let noise = if i % 2 == 0 { 0.0 } else { 1.0 };
            jb.push(i * F, F, vec![0], f64::from(i) * 10.0 + noise);
        }
        assert!(jb.jitter_ms() < 2.5, "jitter {}", jb.jitter_ms());
        assert_eq!(jb.target_ms(), 10.0);
        let mut noisy = JitterBuffer::new();
        for i in 0..200u32 {
            let noise = if i % 2 == 0 { 0.0 } else { 6.0 };
            noisy.push(i * F, F, vec![0], f64::from(i) * 10.0 + noise);
        }
        assert_eq!(noisy.target_ms(), 20.0, "jitter {}", noisy.jitter_ms());
        // Playing starts with the first frame held.
        let mut starts = JitterBuffer::new();
        starts.push(0, F, vec![7], 0.0);
        assert_eq!(starts.pop(), Playout::Packet(vec![7]));
    }

    #[test]
    fn the_target_grows_with_jitter_and_timestamps_unwrap() {
        let mut jb = JitterBuffer::new();
        assert_eq!(jb.target_ms(), MIN_TARGET_MS);
        // Arrivals 0 or 30 ms off their schedule, alternately: about 15 ms of jitter.
        let start = u32::MAX - 20 * F;
        for i in 0..100u32 {
            let arrival = f64::from(i) * 10.0 + if i % 2 == 0 { 0.0 } else { 30.0 };
            jb.push(start.wrapping_add(i * F), F, vec![0], arrival);
        }
        assert!(jb.jitter_ms() > 10.0, "jitter {}", jb.jitter_ms());
        assert!(jb.target_ms() >= 30.0, "target {}", jb.target_ms());
        // The timestamps wrapped through zero; all 100 packets are held in one run.
        assert_eq!(jb.depth_ms(), 1000.0);
    }

    /// Found over real loopback WebRTC: a playout that started on the first packet ran a
    /// fraction of a frame ahead of the arrivals and then called every packet late.
    #[test]
    fn a_playout_that_runs_ahead_fills_again_instead_of_dropping_everything() {
        let mut jb = JitterBuffer::new();
        let mut played = 0;
        let mut late_start = 0;
        for tick in 0..100u32 {
            // Each packet lands 3 ms after the tick that would want it.
            if tick > 0 {
                jb.push((tick - 1) * F, F, vec![1], f64::from(tick) * 10.0 - 7.0);
            }
            if matches!(jb.pop(), Playout::Packet(_) | Playout::Recover { .. }) {
                played += 1;
            } else if played == 0 {
                late_start += 1;
            }
        }
        assert!(
            played >= 90,
            "played {played} of 99 (waited {late_start}); {:?}",
            jb.stats()
        );
    }

    #[test]
    fn the_estimator_follows_rfc_3550_across_a_timestamp_wrap() {
        let mut j = InterarrivalJitter::new();
        // On time: no jitter, even through the wrap.
        let start = u32::MAX - 2 * F;
        for i in 0..10u32 {
            assert_eq!(
                j.update(start.wrapping_add(i * F), f64::from(i) * 10.0),
                0.0
            );
        }
        // One packet 16 ms late: D = 16, J += (16 - 0) / 16.
        assert_eq!(j.update(start.wrapping_add(10 * F), 116.0), 1.0);
        // A jump of seconds (a new talk spurt after DTX) is not jitter.
        assert_eq!(j.update(start.wrapping_add(11 * F), 5_000.0), 1.0);
        // Out of order: a packet from before the last one.
        let before = j.jitter_ms();
        j.update(start.wrapping_add(10 * F), 5_000.0);
        assert!(j.jitter_ms() > before);
    }

    #[test]
    fn a_standing_excess_is_trimmed() {
        let mut jb = JitterBuffer::new();
        for i in 0..40u32 {
            jb.push(i * F, F, vec![0], f64::from(i) * 10.0);
        }
        for i in 0..60u32 {
            jb.pop();
            jb.push((40 + i) * F, F, vec![0], f64::from(40 + i) * 10.0);
        }
        assert!(jb.stats().dropped >= 1);
    }
}
