//! Smooth remote motion from the `pose` channel, sans I/O: updates go in with their arrival
//! time; the frame loop asks where the avatar is *now* and gets an interpolated pose.
//!
//! The buffer plays the sender's motion back [`PLAYOUT_DELAY`] behind the newest update, so
//! there are usually two updates to interpolate between (position lerp, rotation slerp). Over
//! a gap it extrapolates from the last velocity for at most [`MAX_EXTRAPOLATION`], then holds.
//! A jump larger than [`SNAP_DISTANCE`] between two updates is a teleport, not motion: the
//! avatar snaps instead of sliding through the room. Hands that stop being tracked fade out
//! over [`HAND_FADE`] and fade back in when tracked again.
//!
//! The sender's clock (16-bit milliseconds, wrapping) is unwrapped and mapped to the local
//! clock by the smallest arrival-minus-send offset seen recently, so network jitter does not
//! shake the avatar.

use std::collections::VecDeque;

use bevy::math::{Quat, Vec3};
use haven_proto::pose::{Placement, PoseUpdate};

/// How far behind the newest update the avatar is shown (seconds).
pub const PLAYOUT_DELAY: f64 = 0.05;
/// The longest a gap is bridged by extrapolation (seconds).
pub const MAX_EXTRAPOLATION: f64 = 0.1;
/// A move larger than this between two updates is a teleport (metres).
pub const SNAP_DISTANCE: f32 = 1.0;
/// How long a hand takes to fade out or in (seconds).
pub const HAND_FADE: f32 = 0.3;
/// Updates held.
const HELD: usize = 16;
/// How long an offset estimate is trusted before it is re-learned (seconds).
const OFFSET_WINDOW: f64 = 2.0;

/// A position and rotation in the room.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pose {
    /// Metres, room frame.
    pub position: Vec3,
    /// Unit rotation.
    pub rotation: Quat,
}

impl From<Placement> for Pose {
    fn from(p: Placement) -> Self {
        Self {
            position: Vec3::from_array(p.position),
            rotation: Quat::from_array(p.orientation).normalize(),
        }
    }
}

impl Pose {
    fn lerp(self, other: Self, t: f32) -> Self {
        Self {
            position: self.position.lerp(other.position, t),
            rotation: self.rotation.slerp(other.rotation, t),
        }
    }
}

/// Where the avatar is now: the head, and each hand with its visibility (0 hidden, 1 shown).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AvatarPose {
    /// The head.
    pub head: Pose,
    /// The left hand and its visibility.
    pub left: (Pose, f32),
    /// The right hand and its visibility.
    pub right: (Pose, f32),
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    /// Sender time, seconds, unwrapped.
    at: f64,
    head: Pose,
    left: Option<Pose>,
    right: Option<Pose>,
}

/// One remote avatar's recent updates.
#[derive(Debug)]
pub struct PoseBuffer {
    samples: VecDeque<Sample>,
    newest_seq: Option<u16>,
    /// The last sender clock reading, unwrapped, in ms.
    sender_ms: Option<i64>,
    /// Local time minus sender time, the smallest seen in the window, and when it was seen.
    offset: Option<(f64, f64)>,
    /// Visibility and last known pose of each hand.
    hands: [(f32, Option<Pose>); 2],
    last_sampled: Option<f64>,
    stale: u64,
}

impl Default for PoseBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl PoseBuffer {
    /// An empty buffer. Hands start shown: an avatar appears whole rather than growing hands.
    pub fn new() -> Self {
        Self {
            samples: VecDeque::new(),
            newest_seq: None,
            sender_ms: None,
            offset: None,
            hands: [(1.0, None); 2],
            last_sampled: None,
            stale: 0,
        }
    }

    /// Updates that arrived after a newer one (dropped).
    pub fn stale(&self) -> u64 {
        self.stale
    }

    /// Takes an update that arrived at `now` (local seconds).
    pub fn push(&mut self, update: &PoseUpdate, now: f64) {
        if let Some(newest) = self.newest_seq {
            let ahead = update.seq.wrapping_sub(newest);
            if ahead == 0 || ahead >= 0x8000 {
                self.stale += 1;
                return;
            }
        }
        self.newest_seq = Some(update.seq);
        let ms = match self.sender_ms {
            None => i64::from(update.sent_at_ms),
            Some(last) => {
                let step = i64::from(update.sent_at_ms.wrapping_sub(last as u16) as i16);
                last + step
            }
        };
        self.sender_ms = Some(ms);
        let at = ms as f64 / 1000.0;
        let offset = now - at;
        self.offset = match self.offset {
            Some((best, seen)) if best <= offset && now - seen < OFFSET_WINDOW => {
                Some((best, seen))
            }
            _ => Some((offset, now)),
        };
        let sample = Sample {
            at,
            head: update.head.into(),
            left: update.left_hand.map(Pose::from),
            right: update.right_hand.map(Pose::from),
        };
        let index = self.samples.partition_point(|s| s.at < at);
        self.samples.insert(index, sample);
        while self.samples.len() > HELD {
            self.samples.pop_front();
        }
    }

    /// Where the avatar is at local time `now`, or `None` before any update.
    pub fn sample(&mut self, now: f64) -> Option<AvatarPose> {
        let (offset, _) = self.offset?;
        let t = now - offset - PLAYOUT_DELAY;
        let first = *self.samples.front()?;
        let last = *self.samples.back()?;
        let (head, left, right) = if t <= first.at {
            (first.head, first.left, first.right)
        } else if t >= last.at {
            self.extrapolate(t, last)
        } else {
            let after = self.samples.partition_point(|s| s.at <= t);
            let (a, b) = (self.samples[after - 1], self.samples[after]);
            let span = (b.at - a.at).max(1e-6);
            let w = ((t - a.at) / span) as f32;
            let blend = |x: Pose, y: Pose| {
                if x.position.distance(y.position) > SNAP_DISTANCE {
                    if w < 0.5 { x } else { y }
                } else {
                    x.lerp(y, w)
                }
            };
            let hand = |x: Option<Pose>, y: Option<Pose>| match (x, y) {
                (Some(x), Some(y)) => Some(blend(x, y)),
                (x, y) => {
                    if w < 0.5 {
                        x
                    } else {
                        y
                    }
                }
            };
            (
                blend(a.head, b.head),
                hand(a.left, b.left),
                hand(a.right, b.right),
            )
        };
        let dt = self.last_sampled.map_or(0.0, |s| (now - s).max(0.0)) as f32;
        self.last_sampled = Some(now);
        let mut fade = |i: usize, pose: Option<Pose>| {
            let (visibility, last) = &mut self.hands[i];
            let step = dt / HAND_FADE;
            if let Some(p) = pose {
                *last = Some(p);
                *visibility = (*visibility + step).min(1.0);
            } else {
                *visibility = (*visibility - step).max(0.0);
            }
            (last.unwrap_or(head), *visibility)
        };
        let left = fade(0, left);
        let right = fade(1, right);
        Some(AvatarPose { head, left, right })
    }

    fn extrapolate(&self, t: f64, last: Sample) -> (Pose, Option<Pose>, Option<Pose>) {
        let ahead = (t - last.at).min(MAX_EXTRAPOLATION);
        let Some(prev) = self.samples.iter().rev().nth(1).copied() else {
            return (last.head, last.left, last.right);
        };
        let span = last.at - prev.at;
        if span <= 1e-6 || last.head.position.distance(prev.head.position) > SNAP_DISTANCE {
            return (last.head, last.left, last.right);
        }
        let k = (ahead / span) as f32;
        let project = |a: Pose, b: Pose| Pose {
            position: b.position + (b.position - a.position) * k,
            rotation: b.rotation,
        };
        let hand = |a: Option<Pose>, b: Option<Pose>| match (a, b) {
            (Some(a), Some(b)) => Some(project(a, b)),
            (_, b) => b,
        };
        (
            project(prev.head, last.head),
            hand(prev.left, last.left),
            hand(prev.right, last.right),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A head moving on a circle of radius 1 m at 1 m/s; hands follow.
    fn motion(t: f64) -> PoseUpdate {
        let (s, c) = (t as f32).sin_cos();
        let head = Placement {
            position: [c, 1.6, s],
            orientation: Quat::from_rotation_y(t as f32).to_array(),
        };
        let hand = |dx: f32| Placement {
            position: [c + dx, 1.1, s],
            orientation: Quat::IDENTITY.to_array(),
        };
        PoseUpdate {
            seq: 0,
            sent_at_ms: 0,
            head,
            left_hand: Some(hand(-0.3)),
            right_hand: Some(hand(0.3)),
        }
    }

    /// 90 Hz updates, 10 % lost, up to ±5 ms of arrival jitter; rendered at 120 Hz. No frame
    /// moves the head further than the motion warrants, and the shown position stays close to
    /// the true one (as of the playout delay).
    #[test]
    #[expect(clippy::print_stderr, reason = "the test reports what it measured")]
    fn motion_stays_smooth_under_loss_and_jitter() {
        let mut buffer = PoseBuffer::new();
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut arrivals: Vec<(f64, PoseUpdate)> = Vec::new();
        for i in 0..900u32 {
            let sent = f64::from(i) / 90.0;
            if rand() < 0.1 {
                continue;
            }
            let mut u = motion(sent);
            u.seq = i as u16;
            u.sent_at_ms = ((sent * 1000.0) as u64 % 65_536) as u16;
            arrivals.push((sent + 0.02 + (rand() - 0.5) * 0.01, u));
        }
        arrivals.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut next = 0;
        let mut previous: Option<Vec3> = None;
        let (mut worst_step, mut worst_error) = (0.0f32, 0.0f32);
        for frame in 120..1200u32 {
            let now = f64::from(frame) / 120.0;
            while next < arrivals.len() && arrivals[next].0 <= now {
                buffer.push(&arrivals[next].1, arrivals[next].0);
                next += 1;
            }
            let pose = buffer.sample(now).expect("updates arrived");
            if let Some(p) = previous {
                worst_step = worst_step.max(p.distance(pose.head.position));
            }
            previous = Some(pose.head.position);
            // The sender's time shown now is about now − latency − playout delay.
            let truth = Vec3::from_array(motion(now - 0.015 - PLAYOUT_DELAY).head.position);
            worst_error = worst_error.max(truth.distance(pose.head.position));
            assert!((0.0..=1.0).contains(&pose.left.1), "visibility in range");
        }
        eprintln!(
            "interpolation: worst step {worst_step:.4} m/frame, worst error {worst_error:.4} m"
        );
        // 1 m/s at 120 Hz is 8.3 mm a frame; allow twice that for timing noise.
        assert!(worst_step < 0.017, "a frame jumped {worst_step} m");
        assert!(
            worst_error < 0.03,
            "the avatar was {worst_error} m from the true motion"
        );
    }

    #[test]
    fn a_teleport_snaps_instead_of_sliding() {
        let mut buffer = PoseBuffer::new();
        let mut at = |seq: u16, x: f32, t: f64| {
            let mut u = motion(0.0);
            u.seq = seq;
            u.sent_at_ms = (t * 1000.0) as u16;
            u.head.position = [x, 1.6, 0.0];
            buffer.push(&u, t);
        };
        at(1, 0.0, 0.0);
        at(2, 5.0, 0.1);
        at(3, 5.0, 0.2);
        let mut positions = Vec::new();
        for i in 0..30 {
            let pose = buffer.sample(0.05 + f64::from(i) * 0.01).expect("sampled");
            positions.push(pose.head.position.x);
        }
        assert!(
            positions.iter().all(|&x| x == 0.0 || x == 5.0),
            "slid through the room: {positions:?}"
        );
    }

    #[test]
    fn lost_hands_fade_out_and_back_in() {
        let mut buffer = PoseBuffer::new();
        for i in 0..100u16 {
            let t = f64::from(i) * 0.01;
            let mut u = motion(t);
            u.seq = i;
            u.sent_at_ms = i * 10;
            if (30..70).contains(&i) {
                u.left_hand = None;
            }
            buffer.push(&u, t);
            let pose = buffer.sample(t).expect("sampled");
            if i == 25 {
                assert_eq!(pose.left.0.position.y, 1.1, "tracked hand where it is");
                assert_eq!(pose.left.1, 1.0);
            }
            // Shown 50 ms behind: the hand is gone from sender time 0.30, so from local 0.35.
            if i == 74 {
                assert_eq!(pose.left.1, 0.0, "faded out after 0.3 s untracked");
            }
        }
        let end = buffer.sample(1.0).expect("sampled").left.1;
        assert!(end > 0.5, "fading back in: {end}");
    }

    #[test]
    fn stale_updates_are_dropped_and_gaps_extrapolate_briefly() {
        let mut buffer = PoseBuffer::new();
        for (seq, t) in [(10u16, 0.0), (11, 0.01), (9, 0.02)] {
            let mut u = motion(t);
            u.seq = seq;
            u.sent_at_ms = (t * 1000.0) as u16;
            buffer.push(&u, t);
        }
        assert_eq!(buffer.stale(), 1);
        let a = buffer.sample(0.5).expect("sampled");
        let b = buffer.sample(5.0).expect("sampled");
        assert_eq!(a, b, "extrapolation stops after {MAX_EXTRAPOLATION} s");
    }
}
