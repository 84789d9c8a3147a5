//! The anonymous avatar's look: a neutral figure with no name tag, its colours and proportions
//! drawn from a seed that is random per session, so two sessions of the same patient do not
//! look alike. Nothing in it comes from the patient's machine or account.

use bevy::math::Vec3;

/// Calm, cool, mid-brightness tones (sRGB, 0-1): none reads as a skin tone or a uniform, and
/// all stand out against the room's warm, light walls.
const PALETTE: [[f32; 3]; 10] = [
    [0.42, 0.52, 0.62],
    [0.40, 0.56, 0.50],
    [0.50, 0.50, 0.56],
    [0.48, 0.44, 0.60],
    [0.36, 0.54, 0.58],
    [0.52, 0.46, 0.56],
    [0.44, 0.48, 0.50],
    [0.46, 0.58, 0.54],
    [0.40, 0.48, 0.66],
    [0.54, 0.52, 0.62],
];

/// How an anonymous avatar looks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AnonymousLook {
    /// The body and head colour.
    pub colour: [f32; 3],
    /// The hands' colour (a lighter shade).
    pub hand_colour: [f32; 3],
    /// The head's scale along x, y, z (a rounded, faceless shape).
    pub head_scale: Vec3,
}

impl AnonymousLook {
    /// The look for a session's random seed.
    pub fn from_seed(seed: u32) -> Self {
        // SplitMix-style scrambling so neighbouring seeds look unrelated.
        let mut x = u64::from(seed).wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut next = move || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let colour = PALETTE[(next() % PALETTE.len() as u64) as usize];
        let unit = |v: u64| (v % 1000) as f32 / 1000.0;
        let head_scale = Vec3::new(
            0.17 + 0.03 * unit(next()),
            0.21 + 0.04 * unit(next()),
            0.18 + 0.03 * unit(next()),
        );
        Self {
            colour,
            hand_colour: colour.map(|c| (c + 0.15).min(1.0)),
            head_scale,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_get_different_looks() {
        let looks: Vec<_> = (0..100u32).map(AnonymousLook::from_seed).collect();
        for (i, a) in looks.iter().enumerate() {
            for b in &looks[i + 1..] {
                assert_ne!(a, b, "two sessions looked the same");
            }
        }
        assert_eq!(
            AnonymousLook::from_seed(7),
            AnonymousLook::from_seed(7),
            "a seed is stable"
        );
    }
}
