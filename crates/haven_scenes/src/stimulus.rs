//! The stimuli, as pure functions of the scene's parameters, its seed and the scene time: the
//! patient's app and a therapist's mirror compute the same spiders, audience and sky from the
//! same state. Positions are in the patient's frame: the patient sits at the origin facing −z,
//! y up, metres.
//!
//! Newcomers come from outside the patient's view: a spider that the count adds enters from
//! behind the patient's left shoulder and walks in over [`ENTER_MS`]; an audience member takes
//! a seat from the back rows, which lie outside the first view of the room.

use crate::catalog::Param;

/// How long a newcomer takes to walk in from outside the view, ms.
pub const ENTER_MS: u64 = 4_000;

/// A deterministic stream of numbers from a seed (splitmix64).
fn mix(seed: u64, salt: u64) -> u64 {
    let mut z = seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A number in 0..1 from a seed and a salt.
fn unit(seed: u64, salt: u64) -> f32 {
    (mix(seed, salt) >> 40) as f32 / (1u64 << 24) as f32
}

fn param(values: &[(Param, f32)], p: Param) -> f32 {
    values
        .iter()
        .find(|(q, _)| *q == p)
        .map_or(0.0, |(_, v)| *v)
}

/// One spider.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spider {
    /// Where it is.
    pub position: [f32; 3],
    /// Which way it faces, radians about y (0: towards +x).
    pub heading: f32,
    /// Its size across, metres.
    pub size_m: f32,
}

/// The spiders at scene time `t_ms`, from the spider scene's parameters. `entered_ms[i]` is
/// the scene time spider `i` was added (0 for those there from the start): a newcomer walks
/// in from behind the patient's left shoulder, outside the view.
pub fn spiders(seed: u64, values: &[(Param, f32)], entered_ms: &[u64], t_ms: u64) -> Vec<Spider> {
    let count = param(values, Param::SpiderCount).round().clamp(0.0, 8.0) as usize;
    let size_m = param(values, Param::SpiderSizeCm) / 100.0;
    let nearness = param(values, Param::Nearness).clamp(0.0, 1.0);
    let movement = param(values, Param::Movement).clamp(0.0, 1.0);
    let jar_closed = param(values, Param::Jar) < 0.5;
    // Across the room (3 m) at 0, on the table by the patient's hands (0.4 m) at 1.
    let distance = 3.0 - 2.6 * nearness;
    let t = t_ms as f32 / 1000.0;
    (0..count)
        .map(|i| {
            let s = i as u64;
            let phase = unit(seed, s * 7 + 1) * std::f32::consts::TAU;
            let spread = if jar_closed { 0.04 } else { 0.25 };
            let home = [
                (unit(seed, s * 7 + 2) - 0.5) * 2.0 * spread,
                0.76,
                -distance + (unit(seed, s * 7 + 3) - 0.5) * spread,
            ];
            // Wandering, faster and wider with movement; none in a closed jar but a twitch.
            let reach = if jar_closed {
                0.01
            } else {
                0.02 + 0.2 * movement
            };
            let speed = 0.2 + 1.5 * movement;
            let wobble = [
                (t * speed + phase).sin() * reach,
                0.0,
                (t * speed * 0.7 + phase * 1.3).cos() * reach,
            ];
            let mut position = [
                home[0] + wobble[0],
                home[1] + wobble[1],
                home[2] + wobble[2],
            ];
            // A newcomer walks in from behind the left shoulder.
            let entered = entered_ms.get(i).copied().unwrap_or(0);
            if entered > 0 && t_ms < entered + ENTER_MS {
                let k = t_ms.saturating_sub(entered) as f32 / ENTER_MS as f32;
                let start = [-1.2, 0.76, 0.8];
                for (axis, p) in position.iter_mut().enumerate() {
                    *p = start[axis] + (*p - start[axis]) * k;
                }
            }
            let heading = (t * speed * 0.5 + phase).sin() * std::f32::consts::PI;
            Spider {
                position,
                heading,
                size_m,
            }
        })
        .collect()
}

/// One audience member: their seat and how they look at the speaker.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Listener {
    /// Where they are: their seat (row 0 is the front), or on the way to it.
    pub seat: [f32; 3],
    /// They show criticism (arms crossed, looking away, shaking the head) rather than
    /// attention.
    pub critical: bool,
    /// How far their head turns from the speaker, radians.
    pub look_away: f32,
}

/// Seats, front to back: 8 a row, 6 rows, 1.1 m apart, the front row 3 m from the lectern.
fn seat(index: usize) -> [f32; 3] {
    let (row, col) = (index / 8, index % 8);
    [(col as f32 - 3.5) * 0.9, 0.0, -3.0 - row as f32 * 1.1]
}

/// The audience at scene time `t_ms`: how many from `AudienceSize`, and the fraction
/// `Criticism` of them critical (the overall impression follows the fraction showing it).
/// Which seats fill, and who is critical, is fixed by the seed; seats fill from the back.
/// `entered_ms[i]` is the scene time listener `i` came in (0 for those there from the start):
/// a newcomer walks in from the side of the hall, far outside the speaker's view, to its seat.
pub fn audience(
    seed: u64,
    values: &[(Param, f32)],
    entered_ms: &[u64],
    t_ms: u64,
) -> Vec<Listener> {
    let count = param(values, Param::AudienceSize).round().clamp(0.0, 48.0) as usize;
    let criticism = param(values, Param::Criticism).clamp(0.0, 1.0);
    let critical_count = (criticism * count as f32).round() as usize;
    let t = t_ms as f32 / 1000.0;
    // The order seats fill in: back rows first, shuffled within a row by the seed.
    let mut order: Vec<usize> = (0..48).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(i / 8), mix(seed, i as u64 + 100)));
    // Who is critical: a fixed ranking, so raising criticism adds critics without changing the
    // earlier ones.
    let mut rank: Vec<usize> = (0..count).collect();
    rank.sort_by_key(|&i| mix(seed, i as u64 + 500));
    (0..count)
        .map(|i| {
            let critical = rank.iter().position(|&r| r == i).unwrap_or(0) < critical_count;
            let phase = unit(seed, i as u64 + 900) * std::f32::consts::TAU;
            let look_away = if critical {
                0.5 + 0.3 * (t * 0.4 + phase).sin()
            } else {
                0.05 * (t * 0.3 + phase).sin()
            };
            let mut at = seat(order[i]);
            let entered = entered_ms.get(i).copied().unwrap_or(0);
            if entered > 0 && t_ms < entered + ENTER_MS {
                let k = t_ms.saturating_sub(entered) as f32 / ENTER_MS as f32;
                let door = -10.0;
                at[0] = door + (at[0] - door) * k;
            }
            Listener {
                seat: at,
                critical,
                look_away,
            }
        })
        .collect()
}

/// How the world outside the cabin moves at scene time `t_ms` in turbulence of `strength`
/// (0 calm to 1 strong): an offset in metres and a roll in radians applied to the *outside*
/// (the cabin, and the patient's view of it, never move). A sum of incommensurate sines, seeded.
pub fn turbulence(seed: u64, strength: f32, t_ms: u64) -> ([f32; 3], f32) {
    let s = strength.clamp(0.0, 1.0);
    let t = t_ms as f32 / 1000.0;
    let wave = |salt: u64| {
        let p = unit(seed, salt) * std::f32::consts::TAU;
        (t * 1.7 + p).sin() * 0.6
            + (t * 3.1 + p * 2.0).sin() * 0.3
            + (t * 7.3 + p * 3.0).sin() * 0.1
    };
    (
        [wave(1) * 0.05 * s, wave(2) * 0.25 * s, wave(3) * 0.05 * s],
        wave(4) * 0.03 * s,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::SceneId;

    #[test]
    fn the_same_state_gives_the_same_stimuli_and_another_seed_others() {
        let values = SceneId::Spiders.parameters(9);
        let a = spiders(42, &values, &[], 12_345);
        assert_eq!(a, spiders(42, &values, &[], 12_345));
        assert_ne!(a, spiders(43, &values, &[], 12_345));
        assert_eq!(a.len(), 6);
        let crowd = SceneId::Speaking.parameters(10);
        assert_eq!(
            audience(5, &crowd, &[], 1_000),
            audience(5, &crowd, &[], 1_000)
        );
        assert_eq!(turbulence(9, 0.8, 777), turbulence(9, 0.8, 777));
        assert_eq!(
            turbulence(9, 0.0, 777),
            ([0.0; 3], 0.0),
            "calm air holds still"
        );
    }

    /// A listener who comes in walks from the side of the hall (10 m out, outside the view)
    /// to its seat over [`ENTER_MS`]; those there before stay seated.
    #[test]
    fn a_new_listener_walks_in_from_the_side_of_the_hall() {
        let values = SceneId::Speaking.parameters(3);
        let seated = audience(3, &values, &[], 20_000);
        let entered = vec![0, 0, 20_000, 20_000];
        let arriving = audience(3, &values, &entered, 20_000);
        assert_eq!(arriving[0], seated[0]);
        assert!(arriving[2].seat[0] <= -9.9, "{:?}", arriving[2]);
        let arrived = audience(3, &values, &entered, 20_000 + ENTER_MS);
        assert_eq!(arrived[2].seat, seated[2].seat);
    }

    #[test]
    fn spiders_come_closer_and_a_newcomer_walks_in_from_outside_the_view() {
        let far = spiders(1, &SceneId::Spiders.parameters(0), &[], 0);
        let near = spiders(1, &SceneId::Spiders.parameters(10), &[], 0);
        let dist = |s: &Spider| s.position[2].abs();
        assert!(far.iter().all(|s| dist(s) > 2.8), "{far:?}");
        assert!(near.iter().all(|s| dist(s) < 0.8), "{near:?}");
        // Spider 1 added at 10 s: behind the patient (z > 0) at first, at its place 4 s on.
        let values = SceneId::Spiders.parameters(4);
        let entering = spiders(1, &values, &[0, 10_000], 10_000);
        assert!(entering[1].position[2] > 0.0, "behind: out of view");
        let settled = spiders(1, &values, &[0, 10_000], 10_000 + ENTER_MS);
        assert!(settled[1].position[2] < -1.0);
    }

    #[test]
    fn criticism_is_the_fraction_of_critics_and_raising_it_keeps_the_earlier_ones() {
        let mut values = SceneId::Speaking.parameters(10);
        let critics = |v: &[(Param, f32)]| {
            audience(3, v, &[], 0)
                .iter()
                .enumerate()
                .filter(|(_, l)| l.critical)
                .map(|(i, _)| i)
                .collect::<Vec<_>>()
        };
        let at_08 = critics(&values);
        assert_eq!(at_08.len(), (0.8f32 * 48.0).round() as usize);
        values[1].1 = 0.4;
        let at_04 = critics(&values);
        assert!(at_04.iter().all(|i| at_08.contains(i)));
        // Seats fill from the back: a small audience sits in the back row.
        let few = audience(3, &SceneId::Speaking.parameters(2), &[], 0);
        assert!(few.iter().all(|l| l.seat[2] < -8.0), "{few:?}");
    }
}
