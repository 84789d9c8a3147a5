//! Quantized head and hand poses for the `pose` data channel (unordered, no retransmits).
//!
//! One update carries the head and both hands. Layout, most significant bit first:
//!
//! | field | bits | |
//! |---|---|---|
//! | version | 3 | [`POSE_VERSION`] |
//! | flags | 4 | left tracked, right tracked, left absolute, right absolute |
//! | sequence | 16 | wrapping |
//! | sender time | 16 | milliseconds, wrapping (65.5 s) |
//! | head position | 3 × 15 | ±16 m, step 0.98 mm, zero exact |
//! | head orientation | 2 + 3 × 12 | "smallest three" quaternion |
//! | each tracked hand: position | 3 × 11, or 3 × 15 | relative to the head within ±1 m per axis (step 0.98 mm), else absolute |
//! | each tracked hand: orientation | 2 + 3 × 12 | |
//!
//! With both hands tracked and within reach that is 264 bits: **33 bytes** (head only: 16).
//! Every position is within 0.85 mm of the input (Euclidean; half a step on each axis), and every
//! orientation within 0.07° (first-order bound of half a step on three components, with the
//! largest component recovered from the unit norm). Why not 24 bytes: three 6-DoF poses at
//! those tolerances hold about 205 bits of information before any header (45 + 2 × 33 bits of
//! position, about 31 bits per orientation), so 24 bytes would need delta coding against an
//! acknowledged baseline, which an unreliable, unordered channel does not give.
//! A hand that is not tracked costs nothing; the receiver fades it out.
//!
//! Positions outside the ±16 m room are clamped to it. Decoding never yields a non-finite
//! number or a non-unit quaternion, whatever the bytes.

use thiserror::Error;

use crate::bits::{BitReader, BitWriter};

/// The pose format version (3 bits on the wire).
pub const POSE_VERSION: u8 = 1;
/// Half the side of the cube positions are quantized in, in metres.
pub const ROOM_HALF_EXTENT_M: f32 = 16.0;
/// Per-axis reach of a hand relative to the head that is sent in the short form, in metres.
pub const HAND_REACH_M: f32 = 1.0;
/// The largest pose update on the wire (both hands absolute).
pub const MAX_POSE_BYTES: usize = bytes_for(true, true, true, true);
/// The size of an update with both hands tracked and within reach (the common case).
pub const TYPICAL_POSE_BYTES: usize = bytes_for(true, true, false, false);

const VERSION_BITS: u32 = 3;
const FLAG_BITS: u32 = 4;
const ABS_BITS: u32 = 15;
const REL_BITS: u32 = 11;
const ROT_BITS: u32 = 12;
const ROT_INDEX_BITS: u32 = 2;

const LEFT_TRACKED: u32 = 0b1000;
const RIGHT_TRACKED: u32 = 0b0100;
const LEFT_ABSOLUTE: u32 = 0b0010;
const RIGHT_ABSOLUTE: u32 = 0b0001;

/// A position and an orientation in the room's frame (metres; quaternion `[x, y, z, w]`,
/// as glam and Bevy store it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    /// Metres, room frame, y up.
    pub position: [f32; 3],
    /// Unit quaternion `[x, y, z, w]`.
    pub orientation: [f32; 4],
}

impl Placement {
    /// At the origin, facing the default direction.
    pub const IDENTITY: Self = Self {
        position: [0.0; 3],
        orientation: [0.0, 0.0, 0.0, 1.0],
    };
}

/// One pose update: the head and each tracked hand.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PoseUpdate {
    /// Wrapping sequence number; the receiver drops updates older than the newest it has.
    pub seq: u16,
    /// The sender's clock in milliseconds, wrapping every 65.5 s.
    pub sent_at_ms: u16,
    /// The head.
    pub head: Placement,
    /// The left hand, `None` when it is not tracked.
    pub left_hand: Option<Placement>,
    /// The right hand, `None` when it is not tracked.
    pub right_hand: Option<Placement>,
}

/// Why bytes on the `pose` channel were not a pose update.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum PoseDecodeError {
    /// Longer than any pose update can be.
    #[error("pose update of {0} bytes is larger than {MAX_POSE_BYTES}")]
    TooLarge(usize),
    /// Written by a peer speaking another pose format.
    #[error("pose format version {0} is not supported (this build reads {POSE_VERSION})")]
    UnsupportedVersion(u8),
    /// The length does not match what the flags announce.
    #[error("pose update is {actual} bytes but its flags announce {expected}")]
    WrongLength {
        /// What the flags announce.
        expected: usize,
        /// What arrived.
        actual: usize,
    },
}

/// The wire size of an update with the given hands.
pub const fn bytes_for(left: bool, right: bool, left_abs: bool, right_abs: bool) -> usize {
    let bits = VERSION_BITS
        + FLAG_BITS
        + 16
        + 16
        + 3 * ABS_BITS
        + ROT_INDEX_BITS
        + 3 * ROT_BITS
        + hand_bits(left, left_abs)
        + hand_bits(right, right_abs);
    (bits as usize).div_ceil(8)
}

const fn hand_bits(tracked: bool, absolute: bool) -> u32 {
    if !tracked {
        0
    } else if absolute {
        3 * ABS_BITS + ROT_INDEX_BITS + 3 * ROT_BITS
    } else {
        3 * REL_BITS + ROT_INDEX_BITS + 3 * ROT_BITS
    }
}

/// Encodes an update. Non-finite or out-of-room positions are clamped; a degenerate
/// quaternion is sent as the identity.
pub fn encode(update: &PoseUpdate) -> Vec<u8> {
    let head_q = quantize_position(update.head.position, ROOM_HALF_EXTENT_M, ABS_BITS);
    // Hands are sent relative to the head as the receiver will see it, so that the head's
    // rounding does not add to theirs.
    let head_seen = dequantize_position(head_q, ROOM_HALF_EXTENT_M, ABS_BITS);
    let hand = |hand: Option<Placement>| {
        hand.map(|h| {
            let rel = [
                h.position[0] - head_seen[0],
                h.position[1] - head_seen[1],
                h.position[2] - head_seen[2],
            ];
            // A hair over the reach (float rounding of a hand exactly at it) still goes
            // short: quantizing clamps it by far less than a step.
            if rel.iter().all(|r| r.abs() <= HAND_REACH_M + 1e-5) {
                (false, quantize_position(rel, HAND_REACH_M, REL_BITS), h)
            } else {
                let abs = quantize_position(h.position, ROOM_HALF_EXTENT_M, ABS_BITS);
                (true, abs, h)
            }
        })
    };
    let left = hand(update.left_hand);
    let right = hand(update.right_hand);

    let mut flags = 0;
    if let Some((abs, ..)) = left {
        flags |= LEFT_TRACKED | if abs { LEFT_ABSOLUTE } else { 0 };
    }
    if let Some((abs, ..)) = right {
        flags |= RIGHT_TRACKED | if abs { RIGHT_ABSOLUTE } else { 0 };
    }

    let mut w = BitWriter::with_capacity(MAX_POSE_BYTES);
    w.write(u32::from(POSE_VERSION), VERSION_BITS);
    w.write(flags, FLAG_BITS);
    w.write(u32::from(update.seq), 16);
    w.write(u32::from(update.sent_at_ms), 16);
    write_position(&mut w, head_q, ABS_BITS);
    write_orientation(&mut w, update.head.orientation);
    for (abs, q, h) in [left, right].into_iter().flatten() {
        write_position(&mut w, q, if abs { ABS_BITS } else { REL_BITS });
        write_orientation(&mut w, h.orientation);
    }
    w.finish()
}

/// Decodes an update. Any byte string gives either an update whose numbers are finite and
/// whose quaternions are unit length, or a typed error.
pub fn decode(bytes: &[u8]) -> Result<PoseUpdate, PoseDecodeError> {
    if bytes.len() > MAX_POSE_BYTES {
        return Err(PoseDecodeError::TooLarge(bytes.len()));
    }
    let short = |expected| PoseDecodeError::WrongLength {
        expected,
        actual: bytes.len(),
    };
    let mut r = BitReader::new(bytes);
    let version = r.read(VERSION_BITS).ok_or(short(1))? as u8;
    if version != POSE_VERSION {
        return Err(PoseDecodeError::UnsupportedVersion(version));
    }
    let flags = r.read(FLAG_BITS).ok_or(short(1))?;
    let (lt, rt) = (flags & LEFT_TRACKED != 0, flags & RIGHT_TRACKED != 0);
    let expected = bytes_for(
        lt,
        rt,
        lt && flags & LEFT_ABSOLUTE != 0,
        rt && flags & RIGHT_ABSOLUTE != 0,
    );
    // The absolute flag of an untracked hand must be clear: one update, one encoding.
    let stray = (!lt && flags & LEFT_ABSOLUTE != 0) || (!rt && flags & RIGHT_ABSOLUTE != 0);
    if bytes.len() != expected || stray {
        return Err(short(expected));
    }
    // From here every read is within `expected` bytes.
    let mut field = |width| r.read(width).ok_or(short(expected));
    let seq = field(16)? as u16;
    let sent_at_ms = field(16)? as u16;
    let head_position = read_position(&mut field, ROOM_HALF_EXTENT_M, ABS_BITS)?;
    let head = Placement {
        position: head_position,
        orientation: read_orientation(&mut field)?,
    };
    let mut hand = |tracked: bool, abs: bool| -> Result<Option<Placement>, PoseDecodeError> {
        if !tracked {
            return Ok(None);
        }
        let position = if abs {
            read_position(&mut field, ROOM_HALF_EXTENT_M, ABS_BITS)?
        } else {
            let rel = read_position(&mut field, HAND_REACH_M, REL_BITS)?;
            // A hand near the wall may be sent as reaching past it: keep it in the room.
            [0, 1, 2]
                .map(|i| (head_position[i] + rel[i]).clamp(-ROOM_HALF_EXTENT_M, ROOM_HALF_EXTENT_M))
        };
        Ok(Some(Placement {
            position,
            orientation: read_orientation(&mut field)?,
        }))
    };
    let left_hand = hand(lt, flags & LEFT_ABSOLUTE != 0)?;
    let right_hand = hand(rt, flags & RIGHT_ABSOLUTE != 0)?;
    debug_assert!(
        r.position().div_ceil(8) == expected,
        "layout and size agree"
    );
    Ok(PoseUpdate {
        seq,
        sent_at_ms,
        head,
        left_hand,
        right_hand,
    })
}

/// The largest code of a symmetric `bits`-wide field: codes `0..=2 * m` with `m` meaning 0,
/// so that zero (and the identity rotation) is sent exactly. The top code is never written.
fn half_levels(bits: u32) -> f64 {
    f64::from((1u32 << (bits - 1)) - 1)
}

fn quantize(value: f32, half: f32, bits: u32) -> u32 {
    let v = if value.is_nan() { 0.0 } else { value };
    let m = half_levels(bits);
    let t = f64::from(v.clamp(-half, half)) / f64::from(half);
    ((t * m).round().clamp(-m, m) + m) as u32
}

fn dequantize(q: u32, half: f32, bits: u32) -> f32 {
    let m = half_levels(bits);
    // A hostile peer may send the unused top code: read it as the largest value.
    let q = f64::from(q).min(2.0 * m);
    ((q - m) / m * f64::from(half)) as f32
}

fn quantize_position(p: [f32; 3], half: f32, bits: u32) -> [u32; 3] {
    p.map(|v| quantize(v, half, bits))
}

fn dequantize_position(q: [u32; 3], half: f32, bits: u32) -> [f32; 3] {
    q.map(|v| dequantize(v, half, bits))
}

fn write_position(w: &mut BitWriter, q: [u32; 3], bits: u32) {
    for v in q {
        w.write(v, bits);
    }
}

fn read_position(
    field: &mut impl FnMut(u32) -> Result<u32, PoseDecodeError>,
    half: f32,
    bits: u32,
) -> Result<[f32; 3], PoseDecodeError> {
    Ok(dequantize_position(
        [field(bits)?, field(bits)?, field(bits)?],
        half,
        bits,
    ))
}

/// The range of the three smaller components of a unit quaternion.
const SMALL_HALF: f32 = core::f32::consts::FRAC_1_SQRT_2;

fn write_orientation(w: &mut BitWriter, q: [f32; 4]) {
    let mut q = q.map(f64::from);
    let norm = q.iter().map(|c| c * c).sum::<f64>().sqrt();
    if !norm.is_finite() || norm < 1e-6 {
        q = [0.0, 0.0, 0.0, 1.0];
    } else {
        q = q.map(|c| c / norm);
    }
    let largest = (0..4)
        .max_by(|&a, &b| q[a].abs().total_cmp(&q[b].abs()))
        .expect("four components");
    // q and -q are the same rotation: send the one whose largest component is positive.
    let sign = if q[largest] < 0.0 { -1.0 } else { 1.0 };
    w.write(largest as u32, ROT_INDEX_BITS);
    for (i, c) in q.iter().enumerate() {
        if i != largest {
            w.write(quantize((c * sign) as f32, SMALL_HALF, ROT_BITS), ROT_BITS);
        }
    }
}

fn read_orientation(
    field: &mut impl FnMut(u32) -> Result<u32, PoseDecodeError>,
) -> Result<[f32; 4], PoseDecodeError> {
    let largest = field(ROT_INDEX_BITS)? as usize;
    let mut q = [0.0f64; 4];
    let mut sum = 0.0;
    for (i, c) in q.iter_mut().enumerate() {
        if i != largest {
            *c = f64::from(dequantize(field(ROT_BITS)?, SMALL_HALF, ROT_BITS));
            sum += *c * *c;
        }
    }
    // Hostile bits can claim three components whose squares exceed one: clamp, then
    // normalise, so the result is always a unit quaternion.
    q[largest] = (1.0 - sum).max(0.0).sqrt();
    let norm = q.iter().map(|c| c * c).sum::<f64>().sqrt();
    Ok(q.map(|c| (c / norm) as f32))
}

/// The angle between two orientations, in degrees (0 for the same rotation, whatever the sign
/// of the quaternions).
pub fn angle_between_deg(a: [f32; 4], b: [f32; 4]) -> f64 {
    let norm = |q: [f32; 4]| q.iter().map(|c| f64::from(*c).powi(2)).sum::<f64>().sqrt();
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(y))
        .sum();
    let cos_half = (dot.abs() / (norm(a) * norm(b))).min(1.0);
    (2.0 * cos_half.acos()).to_degrees()
}

/// The distance between two positions, in metres.
pub fn distance_m(a: [f32; 3], b: [f32; 3]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(y)).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// The worst position error (metres) and orientation error (degrees) of an update after a
/// round trip through the wire format; `None` if a hand's tracking changed on the way.
pub fn round_trip_error(update: &PoseUpdate) -> Option<(f64, f64)> {
    let back = decode(&encode(update)).ok()?;
    let pairs = [
        (Some(update.head), Some(back.head)),
        (update.left_hand, back.left_hand),
        (update.right_hand, back.right_hand),
    ];
    let mut worst = (0.0f64, 0.0f64);
    for pair in pairs {
        match pair {
            (Some(a), Some(b)) => {
                worst.0 = worst.0.max(distance_m(a.position, b.position));
                worst.1 = worst.1.max(angle_between_deg(a.orientation, b.orientation));
            }
            (None, None) => {}
            _ => return None,
        }
    }
    Some(worst)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn unit(q: [f32; 4]) -> [f32; 4] {
        let n = q.iter().map(|c| c * c).sum::<f32>().sqrt();
        q.map(|c| c / n)
    }

    fn placement() -> impl Strategy<Value = Placement> {
        (
            prop::array::uniform3(-16.0f32..=16.0),
            prop::array::uniform4(-1.0f32..=1.0).prop_filter("not degenerate", |q| {
                q.iter().map(|c| c * c).sum::<f32>() > 1e-3
            }),
        )
            .prop_map(|(position, q)| Placement {
                position,
                orientation: unit(q),
            })
    }

    fn near(head: Placement) -> impl Strategy<Value = Placement> {
        (
            prop::array::uniform3(-1.0f32..=1.0),
            prop::array::uniform4(-1.0f32..=1.0).prop_filter("not degenerate", |q| {
                q.iter().map(|c| c * c).sum::<f32>() > 1e-3
            }),
        )
            .prop_map(move |(d, q)| Placement {
                position: [
                    (head.position[0] + d[0]).clamp(-16.0, 16.0),
                    (head.position[1] + d[1]).clamp(-16.0, 16.0),
                    (head.position[2] + d[2]).clamp(-16.0, 16.0),
                ],
                orientation: unit(q),
            })
    }

    fn update() -> impl Strategy<Value = PoseUpdate> {
        (any::<u16>(), any::<u16>(), placement()).prop_flat_map(|(seq, t, head)| {
            (
                prop::option::of(prop_oneof![near(head), placement()]),
                prop::option::of(prop_oneof![near(head), placement()]),
            )
                .prop_map(move |(left_hand, right_hand)| PoseUpdate {
                    seq,
                    sent_at_ms: t,
                    head,
                    left_hand,
                    right_hand,
                })
        })
    }

    proptest! {
        #[test]
        fn round_trip_is_within_tolerance(u in update()) {
            let bytes = encode(&u);
            prop_assert!(bytes.len() <= MAX_POSE_BYTES);
            let back = decode(&bytes).expect("what we encode decodes");
            prop_assert_eq!(back.seq, u.seq);
            prop_assert_eq!(back.sent_at_ms, u.sent_at_ms);
            let (pos, rot) = round_trip_error(&u).expect("tracking survives");
            prop_assert!(pos <= 0.001, "position error {pos} m");
            prop_assert!(rot <= 0.1, "orientation error {rot}°");
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(u) = decode(&bytes) {
                for p in [Some(u.head), u.left_hand, u.right_hand].into_iter().flatten() {
                    prop_assert!(p.position.iter().all(|c| c.is_finite()));
                    let n: f32 = p.orientation.iter().map(|c| c * c).sum();
                    prop_assert!((n - 1.0).abs() < 1e-4, "unit quaternion, got |q|² = {n}");
                }
            }
        }
    }

    /// A deterministic sweep that says the size and the worst error, including the
    /// orientations that are hardest for "smallest three" (all components near ±½).
    #[test]
    #[expect(
        clippy::print_stderr,
        reason = "the test reports the measured size and error"
    )]
    fn size_and_worst_error_are_within_budget() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        };
        let mut worst = (0.0f64, 0.0f64);
        for i in 0..200_000 {
            let head_q = if i % 4 == 0 {
                // Near the worst case: |x| = |y| = |z| = |w| = ½, nudged.
                unit([
                    0.5 + next() * 1e-3,
                    0.5 + next() * 1e-3,
                    -0.5,
                    0.5 + next() * 1e-3,
                ])
            } else {
                unit([next(), next(), next(), next()])
            };
            let head = Placement {
                position: [next() * 16.0, next() * 16.0, next() * 16.0],
                orientation: head_q,
            };
            let hand = |d: [f32; 3], q| Placement {
                position: [
                    (head.position[0] + d[0]).clamp(-16.0, 16.0),
                    (head.position[1] + d[1]).clamp(-16.0, 16.0),
                    (head.position[2] + d[2]).clamp(-16.0, 16.0),
                ],
                orientation: q,
            };
            let u = PoseUpdate {
                seq: i as u16,
                sent_at_ms: (i * 11) as u16,
                head,
                left_hand: Some(hand(
                    [next(), next(), next()],
                    unit([next(), next(), next(), next()]),
                )),
                right_hand: Some(hand(
                    [next() * 3.0, next(), next()],
                    unit([next(), next(), next(), next()]),
                )),
            };
            let e = round_trip_error(&u).expect("tracking survives");
            worst = (worst.0.max(e.0), worst.1.max(e.1));
        }
        let typical = PoseUpdate {
            seq: 1,
            sent_at_ms: 2,
            head: Placement {
                position: [0.0, 1.6, 0.0],
                ..Placement::IDENTITY
            },
            left_hand: Some(Placement {
                position: [-0.3, 1.1, -0.3],
                ..Placement::IDENTITY
            }),
            right_hand: Some(Placement {
                position: [0.3, 1.1, -0.3],
                ..Placement::IDENTITY
            }),
        };
        let size = encode(&typical).len();
        eprintln!(
            "pose: {size} bytes (head + 2 hands), worst error {:.3} mm, {:.4}°",
            worst.0 * 1000.0,
            worst.1
        );
        assert_eq!(size, TYPICAL_POSE_BYTES);
        assert!(size <= 40, "{size} bytes is over the 40-byte budget");
        assert!(worst.0 <= 0.001, "worst position error {} m", worst.0);
        assert!(worst.1 <= 0.1, "worst orientation error {}°", worst.1);
    }

    #[test]
    fn a_hand_out_of_reach_goes_absolute_and_stays_accurate() {
        let u = PoseUpdate {
            seq: 0,
            sent_at_ms: 0,
            head: Placement {
                position: [0.0, 1.6, 0.0],
                ..Placement::IDENTITY
            },
            left_hand: Some(Placement {
                position: [5.0, 0.0, -3.0],
                ..Placement::IDENTITY
            }),
            right_hand: None,
        };
        let bytes = encode(&u);
        assert_eq!(bytes.len(), bytes_for(true, false, true, false));
        let (pos, _) = round_trip_error(&u).expect("tracking survives");
        assert!(pos <= 0.001);
    }

    /// Found by the `pose` fuzz target: a hand sent relative to a head at the wall decoded to
    /// a point outside the room, and did not survive a second round trip.
    #[test]
    fn decoded_hands_stay_in_the_room_and_round_trip_again() {
        let bytes = [
            61u8, 255, 255, 255, 255, 255, 255, 34, 47, 255, 34, 55, 58, 58, 58, 58, 58, 58, 58,
            58, 58, 58, 58, 58, 58, 58, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        ];
        let u = decode(&bytes).expect("decodes");
        for p in [Some(u.head), u.left_hand, u.right_hand]
            .into_iter()
            .flatten()
        {
            assert!(
                p.position.iter().all(|c| c.abs() <= ROOM_HALF_EXTENT_M),
                "{p:?}"
            );
        }
        let (pos, rot) = round_trip_error(&u).expect("tracking survives");
        assert!(pos <= 0.001 && rot <= 0.1, "{pos} m, {rot}°");
    }

    #[test]
    fn untracked_hands_are_not_sent() {
        let u = PoseUpdate {
            seq: 7,
            sent_at_ms: 9,
            head: Placement::IDENTITY,
            left_hand: None,
            right_hand: None,
        };
        let bytes = encode(&u);
        assert_eq!(bytes.len(), 16);
        let back = decode(&bytes).expect("decodes");
        assert_eq!((back.left_hand, back.right_hand), (None, None));
    }

    #[test]
    fn hostile_input_gets_typed_errors() {
        let good = encode(&PoseUpdate {
            seq: 1,
            sent_at_ms: 1,
            head: Placement::IDENTITY,
            left_hand: Some(Placement::IDENTITY),
            right_hand: None,
        });
        assert!(matches!(
            decode(&[]),
            Err(PoseDecodeError::WrongLength { .. })
        ));
        assert!(matches!(
            decode(&good[..good.len() - 1]),
            Err(PoseDecodeError::WrongLength { .. })
        ));
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(
            decode(&long),
            Err(PoseDecodeError::WrongLength { .. })
        ));
        assert_eq!(decode(&[0u8; 100]), Err(PoseDecodeError::TooLarge(100)));
        let mut v2 = good.clone();
        v2[0] = (2 << 5) | (v2[0] & 0x1f);
        assert_eq!(decode(&v2), Err(PoseDecodeError::UnsupportedVersion(2)));
    }

    #[test]
    fn non_finite_input_is_clamped_not_propagated() {
        let u = PoseUpdate {
            seq: 0,
            sent_at_ms: 0,
            head: Placement {
                position: [f32::NAN, f32::INFINITY, -1e9],
                orientation: [0.0; 4],
            },
            left_hand: None,
            right_hand: None,
        };
        let back = decode(&encode(&u)).expect("decodes");
        assert_eq!(back.head.position, [0.0, 16.0, -16.0]);
        assert_eq!(back.head.orientation, [0.0, 0.0, 0.0, 1.0]);
    }
}
