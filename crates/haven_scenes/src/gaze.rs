//! Avoidance, read from the patient's head pose (which is already streamed): where the head
//! points, sampled at 10 Hz, against where the stimulus is. The share of time on the
//! stimulus, look-away episodes (more than 60° off for more than 3 s), the share of time
//! looking down in the heights scene, and a heat map of where the head pointed.
//!
//! It reads the head, not the eyes: Haven synthesizes avatar eyes, and a headset's eye
//! tracking is not used.
//!
//! Directions are in the patient's frame ([`crate::stimulus`]: facing −z, y up).

use serde::{Deserialize, Serialize};

use crate::catalog::{Param, SceneId};

/// One sample every this long, ms.
pub const SAMPLE_MS: u64 = 100;
/// Within this angle of the stimulus is "on it", degrees.
pub const ON_STIMULUS_DEG: f32 = 30.0;
/// Further off than this is looking away, degrees.
pub const LOOK_AWAY_DEG: f32 = 60.0;
/// Looking away for longer than this is an episode, ms.
pub const LOOK_AWAY_MS: u64 = 3_000;
/// Pitch below this is looking down, degrees.
pub const DOWN_DEG: f32 = -30.0;
/// The heat map's cells: yaw in 10° steps over 360°, pitch in 10° steps over 180°.
pub const HEAT_YAW: usize = 36;
/// Pitch cells.
pub const HEAT_PITCH: usize = 18;

/// Where the stimulus is, from the patient's eyes (a unit vector), for a scene at scene time
/// `t_ms` with its parameters: the spiders' middle, the drop beyond the balcony's edge, the
/// aircraft's window, the audience. `None` in the safe room, the consult room, and when no
/// spider is there.
pub fn stimulus(
    scene: SceneId,
    seed: u64,
    values: &[(Param, f32)],
    entered_ms: &[u64],
    t_ms: u64,
) -> Option<[f32; 3]> {
    let eyes = [0.0, 1.2, 0.0];
    let towards = match scene {
        SceneId::SafeRoom => return None,
        SceneId::Heights => [0.0, -1.0, -1.0],
        SceneId::Flying => [-1.0, 0.0, -0.4],
        SceneId::Speaking => [0.0, -0.1, -1.0],
        SceneId::Spiders => {
            let spiders = crate::stimulus::spiders(seed, values, entered_ms, t_ms);
            if spiders.is_empty() {
                return None;
            }
            let n = spiders.len() as f32;
            let mut mid = [0.0f32; 3];
            for s in &spiders {
                for (m, p) in mid.iter_mut().zip(s.position) {
                    *m += p / n;
                }
            }
            [mid[0] - eyes[0], mid[1] - eyes[1], mid[2] - eyes[2]]
        }
    };
    normalized(towards)
}

fn normalized(v: [f32; 3]) -> Option<[f32; 3]> {
    let len = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    (len > 1e-6 && len.is_finite()).then(|| [v[0] / len, v[1] / len, v[2] / len])
}

/// Where a head in the room points, in the patient's frame: `rotation` is the head's
/// orientation in the room (x, y, z, w); the patient's seat faces +z in the room, so the
/// patient's frame is the room's turned half a turn about y.
pub fn head_forward(rotation: [f32; 4]) -> [f32; 3] {
    let [x, y, z, w] = rotation;
    // v = (0, 0, -1) rotated by q: v + 2w(q × v) + 2 q × (q × v).
    let v = [0.0f32, 0.0, -1.0];
    let c1 = [
        y * v[2] - z * v[1],
        z * v[0] - x * v[2],
        x * v[1] - y * v[0],
    ];
    let c2 = [
        y * c1[2] - z * c1[1],
        z * c1[0] - x * c1[2],
        x * c1[1] - y * c1[0],
    ];
    let room = [
        v[0] + 2.0 * (w * c1[0] + c2[0]),
        v[1] + 2.0 * (w * c1[1] + c2[1]),
        v[2] + 2.0 * (w * c1[2] + c2[2]),
    ];
    [-room[0], room[1], -room[2]]
}

/// The angle between two directions, degrees.
pub fn angle_deg(a: [f32; 3], b: [f32; 3]) -> f32 {
    match (normalized(a), normalized(b)) {
        (Some(a), Some(b)) => (a[0] * b[0] + a[1] * b[1] + a[2] * b[2])
            .clamp(-1.0, 1.0)
            .acos()
            .to_degrees(),
        _ => 0.0,
    }
}

/// Yaw (0 ahead, positive to the left) and pitch (positive up) of a direction, degrees.
pub fn yaw_pitch(d: [f32; 3]) -> (f32, f32) {
    let d = normalized(d).unwrap_or([0.0, 0.0, -1.0]);
    let yaw = (-d[0]).atan2(-d[2]).to_degrees();
    let pitch = d[1].clamp(-1.0, 1.0).asin().to_degrees();
    (yaw, pitch)
}

/// The figures, for the console and the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Avoidance {
    /// Share of the time with a stimulus that the head pointed at it (within 30°), 0–1.
    pub on_stimulus: Option<f32>,
    /// Episodes of looking more than 60° away for more than 3 s.
    pub look_aways: u32,
    /// Their total length, ms.
    pub look_away_ms: u64,
    /// Share of the time in the heights scene spent looking down (pitch under −30°), 0–1.
    pub looking_down: Option<f32>,
    /// Sampled time with a stimulus, ms.
    pub stimulus_ms: u64,
}

/// Where the head pointed: counts per cell, yaw major (cell `yaw * HEAT_PITCH + pitch`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeatMap {
    /// Counts.
    pub cells: Vec<u32>,
}

impl Default for HeatMap {
    fn default() -> Self {
        Self {
            cells: vec![0; HEAT_YAW * HEAT_PITCH],
        }
    }
}

impl HeatMap {
    /// The count at a yaw cell (0: −180°) and pitch cell (0: −90°).
    pub fn at(&self, yaw: usize, pitch: usize) -> u32 {
        self.cells
            .get(yaw * HEAT_PITCH + pitch)
            .copied()
            .unwrap_or(0)
    }

    /// A cell of the map: `HEAT_YAW × HEAT_PITCH` counts, none overflowing.
    pub fn sane(&self) -> bool {
        self.cells.len() == HEAT_YAW * HEAT_PITCH
    }

    fn add(&mut self, d: [f32; 3]) {
        let (yaw, pitch) = yaw_pitch(d);
        let y = (((yaw + 180.0) / 10.0) as usize).min(HEAT_YAW - 1);
        let p = (((pitch + 90.0) / 10.0) as usize).min(HEAT_PITCH - 1);
        if let Some(c) = self.cells.get_mut(y * HEAT_PITCH + p) {
            *c = c.saturating_add(1);
        }
    }
}

/// The sampler (see the [module](self)).
#[derive(Clone, Debug, Default)]
pub struct Gaze {
    last: Option<u64>,
    with_stimulus: u64,
    on: u64,
    heights: u64,
    down: u64,
    /// When the current look-away began.
    away_since: Option<u64>,
    away_last: u64,
    figures: Avoidance,
    heat: HeatMap,
}

impl Gaze {
    /// Whether a sample at `now` would be taken (callers skip working out the stimulus
    /// otherwise).
    pub fn due(&self, now: u64) -> bool {
        self.last
            .is_none_or(|last| now >= last.saturating_add(SAMPLE_MS))
    }

    /// A head direction at `now` (ms), with the stimulus's direction (`None`: nothing to look
    /// at) and the scene drawn. Samples closer than [`SAMPLE_MS`] to the last are skipped.
    pub fn sample(
        &mut self,
        now: u64,
        head: [f32; 3],
        stimulus: Option<[f32; 3]>,
        scene: Option<SceneId>,
    ) {
        if !self.due(now) {
            return;
        }
        let Some(head) = normalized(head) else {
            return;
        };
        self.last = Some(now);
        if scene.is_some_and(|s| s != SceneId::SafeRoom) {
            self.heat.add(head);
        }
        if scene == Some(SceneId::Heights) {
            self.heights += 1;
            if yaw_pitch(head).1 < DOWN_DEG {
                self.down += 1;
            }
        }
        let off = stimulus.map(|s| angle_deg(head, s));
        if off.is_some() {
            self.with_stimulus += 1;
        }
        if off.is_some_and(|a| a <= ON_STIMULUS_DEG) {
            self.on += 1;
        }
        if off.is_some_and(|a| a > LOOK_AWAY_DEG) {
            self.away_since.get_or_insert(now);
            self.away_last = now;
        } else {
            self.close_away(now);
        }
    }

    fn close_away(&mut self, now: u64) {
        if let Some(since) = self.away_since.take() {
            let ms = now.saturating_sub(since);
            if ms > LOOK_AWAY_MS {
                self.figures.look_aways += 1;
                self.figures.look_away_ms += ms;
            }
        }
    }

    /// The figures so far (a look-away still under way counts once it is past 3 s).
    pub fn figures(&self) -> Avoidance {
        let mut done = self.clone();
        if done.away_since.is_some() {
            let end = done.away_last + SAMPLE_MS;
            done.close_away(end);
        }
        let share = |part: u64, whole: u64| (whole > 0).then(|| part as f32 / whole as f32);
        Avoidance {
            on_stimulus: share(done.on, done.with_stimulus),
            looking_down: share(done.down, done.heights),
            stimulus_ms: done.with_stimulus * SAMPLE_MS,
            ..done.figures
        }
    }

    /// The heat map so far.
    pub fn heat(&self) -> &HeatMap {
        &self.heat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn towards(yaw_deg: f32, pitch_deg: f32) -> [f32; 3] {
        let (y, p) = (yaw_deg.to_radians(), pitch_deg.to_radians());
        [-y.sin() * p.cos(), p.sin(), -y.cos() * p.cos()]
    }

    /// A scripted head: on the stimulus 60 % of the time (3 s on, 2 s 90° away, repeated,
    /// with the frames of a 90 Hz headset) measures 60 ± 2 %, and the 2 s glances are not
    /// look-away episodes; one 5 s look away is.
    #[test]
    fn a_head_on_the_stimulus_sixty_percent_of_the_time_measures_sixty_percent() {
        let mut gaze = Gaze::default();
        let target = towards(0.0, -10.0);
        let mut t = 0.0f64;
        while t < 100_000.0 {
            let in_cycle = t % 5_000.0;
            let head = if in_cycle < 3_000.0 {
                towards(5.0, -12.0)
            } else {
                towards(90.0, 0.0)
            };
            gaze.sample(t as u64, head, Some(target), Some(SceneId::Speaking));
            t += 1000.0 / 90.0;
        }
        let f = gaze.figures();
        let share = f.on_stimulus.expect("a stimulus was there");
        assert!((share - 0.6).abs() <= 0.02, "measured {share}");
        assert_eq!(f.look_aways, 0, "2 s glances are not avoidance");
        gaze.sample(100_200, target, Some(target), Some(SceneId::Speaking));
        let mut t = 100_300;
        while t < 105_500 {
            gaze.sample(
                t,
                towards(-120.0, 0.0),
                Some(target),
                Some(SceneId::Speaking),
            );
            t += 11;
        }
        gaze.sample(105_600, target, Some(target), Some(SceneId::Speaking));
        let f = gaze.figures();
        assert_eq!(f.look_aways, 1);
        assert!(
            (5_000..=5_400).contains(&f.look_away_ms),
            "{}",
            f.look_away_ms
        );
    }

    /// A head turned half a turn in the room (facing +z, the way the patient's seat faces)
    /// looks ahead in the patient's frame; pitched down, it looks down.
    #[test]
    fn the_rooms_head_pose_turns_into_the_patients_frame() {
        let half = std::f32::consts::FRAC_PI_2;
        let ahead = head_forward([0.0, half.sin(), 0.0, half.cos()]);
        assert!(angle_deg(ahead, [0.0, 0.0, -1.0]) < 0.1, "{ahead:?}");
        // Yaw a half turn, then pitch 40° down (x-axis rotation of -40°).
        let (sy, cy) = (half.sin(), half.cos());
        let (sp, cp) = ((-20f32).to_radians().sin(), (-20f32).to_radians().cos());
        let q = [cy * sp, sy * cp, -sy * sp, cy * cp];
        let (_, pitch) = yaw_pitch(head_forward(q));
        assert!((pitch + 40.0).abs() < 0.5, "{pitch}");
    }

    #[test]
    fn looking_down_in_heights_and_the_heat_map() {
        let mut gaze = Gaze::default();
        for i in 0..100u64 {
            let head = if i < 25 {
                towards(0.0, -50.0)
            } else {
                towards(0.0, 0.0)
            };
            gaze.sample(
                i * 100,
                head,
                stimulus(SceneId::Heights, 1, &[], &[], 0),
                Some(SceneId::Heights),
            );
        }
        let f = gaze.figures();
        assert_eq!(f.looking_down, Some(0.25));
        assert_eq!(f.on_stimulus, Some(0.25), "the drop is 45° down");
        // Ahead and level: the yaw cell at 0° (18), the pitch cell at 0° (9).
        assert_eq!(gaze.heat().at(18, 9), 75);
        assert_eq!(gaze.heat().at(18, 4), 25, "−50° pitch");
        assert_eq!(gaze.heat().cells.iter().sum::<u32>(), 100);
    }

    #[test]
    fn no_stimulus_in_the_safe_room_and_the_spiders_middle_otherwise() {
        assert_eq!(stimulus(SceneId::SafeRoom, 1, &[], &[], 0), None);
        let values = SceneId::Spiders.parameters(5);
        let d = stimulus(SceneId::Spiders, 1, &values, &[], 1_000).expect("spiders");
        assert!(d[2] < 0.0, "in front of the patient: {d:?}");
        let none = [(Param::SpiderCount, 0.0)];
        assert_eq!(stimulus(SceneId::Spiders, 1, &none, &[], 0), None);
    }
}
