//! A seated human figure from three tracked points, sans I/O: the head and the two hands go
//! in (with each hand's visibility), a whole skeleton comes out — neck, a torso that follows
//! the head's yaw and lean with a lag, shoulders, arms solved by two-bone IK from each
//! shoulder to its hand (the elbow bent down and out, never into the torso), and legs seated
//! in the chair. A hand that is not tracked rests in the lap, its arm with it.
//!
//! Everything is in the room's frame, metres; a figure faces −z of its head (Bevy's forward).

use bevy::math::{Mat3, Quat, Vec3};

use super::interp::{AvatarPose, Pose};

/// A figure's proportions, metres.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Proportions {
    /// The head's half-extents (x across, y up, z deep).
    pub head: Vec3,
    /// From the neck's top (under the head) to its base (between the shoulders).
    pub neck: f32,
    /// From the neck's base to the pelvis.
    pub spine: f32,
    /// Half the distance between the shoulders.
    pub shoulder_half: f32,
    /// The torso's radius (chest depth over two).
    pub girth: f32,
    /// Shoulder to elbow.
    pub upper_arm: f32,
    /// Elbow to the hand's centre.
    pub forearm: f32,
    /// Half the distance between the hips.
    pub hip_half: f32,
    /// Hip to knee.
    pub thigh: f32,
    /// Knee to ankle.
    pub shin: f32,
    /// The limbs' radius.
    pub limb: f32,
}

impl Proportions {
    /// Half the chest's width as it is drawn (it reaches the shoulders): the IK keeps the
    /// elbows out of that, not only out of a round torso.
    pub fn chest_half_width(&self) -> f32 {
        self.shoulder_half + self.limb * 0.2
    }

    /// An adult of middle build: the named participants' figure.
    pub const ADULT: Self = Self {
        head: Vec3::new(0.085, 0.11, 0.095),
        neck: 0.09,
        spine: 0.50,
        shoulder_half: 0.19,
        girth: 0.13,
        upper_arm: 0.29,
        forearm: 0.30,
        hip_half: 0.10,
        thigh: 0.44,
        shin: 0.44,
        limb: 0.045,
    };

    /// The anonymous figure: fixed, whoever is inside it, so nothing in its build stands for
    /// the patient (arms long enough to reach where a tall person's hands go; beyond that they
    /// stretch, so the hands always join them and the arm span tells nothing either).
    pub const ANONYMOUS: Self = Self {
        head: Vec3::new(0.09, 0.11, 0.10),
        neck: 0.08,
        spine: 0.50,
        shoulder_half: 0.18,
        girth: 0.14,
        upper_arm: 0.31,
        forearm: 0.32,
        hip_half: 0.10,
        thigh: 0.44,
        shin: 0.44,
        limb: 0.05,
    };

    /// This build scaled by `s` (the therapy scenes' people come in a few sizes).
    pub fn scaled(self, s: f32) -> Self {
        Self {
            head: self.head * s,
            neck: self.neck * s,
            spine: self.spine * s,
            shoulder_half: self.shoulder_half * s,
            girth: self.girth * s,
            upper_arm: self.upper_arm * s,
            forearm: self.forearm * s,
            hip_half: self.hip_half * s,
            thigh: self.thigh * s,
            shin: self.shin * s,
            limb: self.limb * s,
        }
    }
}

/// How long the torso takes to turn after the head (seconds, to 63 %).
pub const TORSO_LAG_S: f32 = 0.35;
/// The most the head turns from the torso before the torso is dragged along, radians.
pub const MAX_NECK_TWIST: f32 = 1.0;
/// How far the head may move from where the hips are before the hips follow (a participant
/// who stood up or moved chairs), metres.
const HIPS_FOLLOW_BEYOND: f32 = 0.30;
/// How long the hips take to follow then (seconds, to 63 %).
const HIPS_LAG_S: f32 = 0.8;
/// The elbow keeps this far out of the torso's surface, metres.
pub const ELBOW_CLEARANCE: f32 = 0.02;

/// A side of the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BodySide {
    /// The figure's left.
    Left,
    /// The figure's right.
    Right,
}

impl BodySide {
    /// Both, left first.
    pub const BOTH: [Self; 2] = [Self::Left, Self::Right];

    fn sign(self) -> f32 {
        match self {
            Self::Left => -1.0,
            Self::Right => 1.0,
        }
    }

    /// The index (left 0, right 1).
    pub fn index(self) -> usize {
        match self {
            Self::Left => 0,
            Self::Right => 1,
        }
    }
}

/// One arm as solved.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Arm {
    /// The shoulder joint.
    pub shoulder: Vec3,
    /// The elbow joint.
    pub elbow: Vec3,
    /// The hand's centre and rotation (where the tracked hand is, or in the lap).
    pub hand: Pose,
    /// Whether the hand is tracked enough to be shown where it is (else it rests).
    pub tracked: bool,
}

/// One seated leg.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Leg {
    /// The hip joint.
    pub hip: Vec3,
    /// The knee.
    pub knee: Vec3,
    /// The ankle.
    pub ankle: Vec3,
}

/// A whole figure, placed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Skeleton {
    /// The head, as tracked.
    pub head: Pose,
    /// Under the head.
    pub neck_top: Vec3,
    /// Between the shoulders.
    pub neck_base: Vec3,
    /// The torso's bottom.
    pub pelvis: Vec3,
    /// The torso's rotation: y along the spine, −z its front.
    pub chest: Quat,
    /// Left and right.
    pub arms: [Arm; 2],
    /// Left and right.
    pub legs: [Leg; 2],
}

/// The torso's state between frames: where it faces and where the hips sit.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Torso {
    /// Yaw, radians (0 faces −z).
    yaw: f32,
    /// Where the hips sit.
    hips: Vec3,
    /// The hips are on their way back under the torso (they go all the way).
    following: bool,
    started: bool,
}

/// Hips further than this from their place (a seat change, a snap) go there at once, m.
const HIPS_SNAP_BEYOND: f32 = 1.0;
/// Hips that follow stop this close to their place, m.
const HIPS_SETTLED: f32 = 0.03;

/// The yaw (about +y, 0 facing −z) of a rotation's forward direction.
pub fn yaw_of(rotation: Quat) -> f32 {
    let f = rotation * Vec3::NEG_Z;
    (-f.x).atan2(-f.z)
}

fn wrap(a: f32) -> f32 {
    let tau = std::f32::consts::TAU;
    (a + std::f32::consts::PI).rem_euclid(tau) - std::f32::consts::PI
}

/// The unit direction a yaw faces.
fn facing(yaw: f32) -> Vec3 {
    Vec3::new(-yaw.sin(), 0.0, -yaw.cos())
}

impl Torso {
    /// Moves the torso on by `dt` seconds towards where the head is now, and places the whole
    /// figure.
    pub fn update(&mut self, pose: &AvatarPose, dt: f32, p: &Proportions) -> Skeleton {
        let head = pose.head;
        let neck_top =
            head.position + head.rotation * Vec3::new(0.0, -p.head.y * 0.85, p.head.z * 0.3);
        let neck_base = neck_top - Vec3::Y * p.neck;
        // Looking straight down or up, the forward direction says nothing of the yaw: keep it.
        let forward = head.rotation * Vec3::NEG_Z;
        let head_yaw = if forward.x.hypot(forward.z) < 0.2 && self.started {
            self.yaw
        } else {
            yaw_of(head.rotation)
        };
        let rest_hips = |yaw: f32| neck_base - Vec3::Y * p.spine - facing(yaw) * 0.06;
        if !self.started {
            *self = Self {
                yaw: head_yaw,
                hips: rest_hips(head_yaw),
                following: false,
                started: true,
            };
        }
        let dt = dt.clamp(0.0, 0.5);
        // The torso turns after the head, and never lets it twist past the neck's reach.
        let lag = 1.0 - (-dt / TORSO_LAG_S).exp();
        self.yaw = wrap(self.yaw + wrap(head_yaw - self.yaw) * lag);
        let twist = wrap(head_yaw - self.yaw);
        if twist.abs() > MAX_NECK_TWIST {
            self.yaw = wrap(head_yaw - MAX_NECK_TWIST * twist.signum());
        }
        // The hips stay in the chair while the head leans; a head far from them drags them.
        let rest = rest_hips(self.yaw);
        let apart = Vec3::new(rest.x - self.hips.x, 0.0, rest.z - self.hips.z).length();
        if apart > HIPS_SNAP_BEYOND {
            self.hips = rest;
            self.following = false;
        } else if apart > HIPS_FOLLOW_BEYOND || (self.following && apart > HIPS_SETTLED) {
            // Once they start, they come all the way back (no lean left behind).
            self.following = true;
            let follow = 1.0 - (-dt / HIPS_LAG_S).exp();
            self.hips += (rest - self.hips) * follow;
        } else {
            self.following = false;
        }
        // The spine keeps its length: the pelvis hangs from the neck towards the hips.
        let spine_dir = (neck_base - self.hips).try_normalize().unwrap_or(Vec3::Y);
        let pelvis = neck_base - spine_dir * p.spine;
        let chest = basis(spine_dir, facing(self.yaw));
        place(head, neck_top, neck_base, pelvis, chest, pose, p)
    }
}

/// A rotation with +y along `up` and −z as close to `forward` as `up` allows.
fn basis(up: Vec3, forward: Vec3) -> Quat {
    let back = -forward;
    let z = (back - up * back.dot(up))
        .try_normalize()
        .unwrap_or_else(|| up.any_orthonormal_vector());
    let x = up.cross(z);
    Quat::from_mat3(&Mat3::from_cols(x, up, z)).normalize()
}

/// Where a resting hand lies: on the thigh, a little in from the knee, palm down.
fn lap(pelvis: Vec3, chest: Quat, side: BodySide, p: &Proportions) -> Pose {
    let yaw = yaw_of(chest);
    let flat = Quat::from_rotation_y(yaw);
    Pose {
        position: pelvis
            + flat
                * Vec3::new(
                    side.sign() * (p.hip_half + 0.03),
                    p.limb + 0.05,
                    -p.thigh * 0.55,
                ),
        rotation: flat * Quat::from_rotation_y(-side.sign() * 0.35),
    }
}

fn place(
    head: Pose,
    neck_top: Vec3,
    neck_base: Vec3,
    pelvis: Vec3,
    chest: Quat,
    pose: &AvatarPose,
    p: &Proportions,
) -> Skeleton {
    let flat = Quat::from_rotation_y(yaw_of(chest));
    let torso = Capsule::torso(pelvis, neck_base, chest, p);
    let arms = BodySide::BOTH.map(|side| {
        let shoulder = neck_base + chest * Vec3::new(side.sign() * p.shoulder_half, -0.04, 0.0);
        let (tracked_pose, shown) = match side {
            BodySide::Left => pose.left,
            BodySide::Right => pose.right,
        };
        let rest = lap(pelvis, chest, side, p);
        // A fading hand goes to the lap as it fades, and back as it returns.
        let shown = shown.clamp(0.0, 1.0);
        let hand = Pose {
            position: rest.position.lerp(tracked_pose.position, shown),
            rotation: rest.rotation.slerp(tracked_pose.rotation, shown),
        };
        // Elbows bend down, out and a little back, as a seated person's do.
        let pole = chest * Vec3::new(side.sign() * 0.55, -0.75, 0.35);
        let elbow = solve_arm(
            shoulder,
            hand.position,
            p.upper_arm,
            p.forearm,
            pole,
            &torso,
            p.limb,
        );
        Arm {
            shoulder,
            elbow,
            hand,
            tracked: shown > 0.5,
        }
    });
    let legs = BodySide::BOTH.map(|side| {
        let hip = pelvis + flat * Vec3::new(side.sign() * p.hip_half, 0.0, 0.0);
        let knee = hip + flat * Vec3::new(side.sign() * 0.03, 0.02, -p.thigh);
        let ankle = knee + flat * Vec3::new(0.0, 0.0, -0.06) - Vec3::Y * p.shin;
        Leg { hip, knee, ankle }
    });
    Skeleton {
        head,
        neck_top,
        neck_base,
        pelvis,
        chest,
        arms,
        legs,
    }
}

/// A capsule: the points within `radius` of the segment `a`–`b`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Capsule {
    /// One end of its axis.
    pub a: Vec3,
    /// The other end.
    pub b: Vec3,
    /// Its radius front to back.
    pub radius: f32,
    /// Across it (unit length, square to the axis).
    pub side: Vec3,
    /// Its half-width along `side` (at least `radius`): a torso is wider than it is deep.
    pub half_width: f32,
}

impl Capsule {
    /// The torso as it is drawn: from the pelvis to the neck, as deep as the girth and as
    /// wide as the chest.
    pub fn torso(pelvis: Vec3, neck_base: Vec3, chest: Quat, p: &Proportions) -> Self {
        Self {
            a: pelvis,
            b: neck_base,
            radius: p.girth,
            side: chest * Vec3::X,
            half_width: p.chest_half_width().max(p.girth),
        }
    }

    fn nearest_on_axis(&self, p: Vec3) -> Vec3 {
        let ab = self.b - self.a;
        let t = ((p - self.a).dot(ab) / ab.length_squared().max(1e-9)).clamp(0.0, 1.0);
        self.a + ab * t
    }

    /// `v` with its sideways part scaled by `k`.
    fn scale_side(&self, v: Vec3, k: f32) -> Vec3 {
        v + self.side * v.dot(self.side) * (k - 1.0)
    }

    /// How far `p` is from the capsule's axis, measured so that its surface is at `radius`
    /// all round (sideways distances shrink by `radius / half_width`).
    pub fn axis_distance(&self, p: Vec3) -> f32 {
        let k = self.radius / self.half_width.max(1e-6);
        self.scale_side(p - self.nearest_on_axis(p), k).length()
    }

    /// `p`, moved straight out from the axis to `clearance` beyond the surface if it is
    /// nearer.
    pub fn push_out(&self, p: Vec3, clearance: f32) -> Vec3 {
        let axis = self.nearest_on_axis(p);
        let k = self.radius / self.half_width.max(1e-6);
        let round = self.scale_side(p - axis, k);
        let wanted = self.radius + clearance;
        if round.length() >= wanted {
            return p;
        }
        let out = round.try_normalize().unwrap_or(self.side);
        axis + self.scale_side(out * wanted, 1.0 / k)
    }
}

/// Two-bone IK: the elbow for a shoulder reaching `target` with bones `upper` and `fore`,
/// bent towards `pole`, and kept out of `torso` (by `clearance` beyond its surface). A target
/// beyond reach straightens the arm along the line to it (the drawn bones stretch to join the
/// hand); one nearer than the bones allow folds the arm fully.
pub fn solve_arm(
    shoulder: Vec3,
    target: Vec3,
    upper: f32,
    fore: f32,
    pole: Vec3,
    torso: &Capsule,
    clearance: f32,
) -> Vec3 {
    let to = target - shoulder;
    let dist = to.length();
    let dir = to.try_normalize().unwrap_or(Vec3::NEG_Y);
    let reach = upper + fore;
    if dist >= reach * 0.9999 {
        return torso.push_out(shoulder + dir * (dist * upper / reach), clearance);
    }
    let dist = dist.max((upper - fore).abs() + 1e-4);
    // The law of cosines: how far along the line the elbow's foot is, and how far off it.
    let along = (upper * upper - fore * fore + dist * dist) / (2.0 * dist);
    let off = (upper * upper - along * along).max(0.0).sqrt();
    let bend = (pole - dir * pole.dot(dir))
        .try_normalize()
        .unwrap_or_else(|| dir.any_orthonormal_vector());
    let foot = shoulder + dir * along;
    let at = |angle: f32| foot + Quat::from_axis_angle(dir, angle) * bend * off;
    let outside = |e: Vec3| torso.axis_distance(e) >= torso.radius + clearance;
    let elbow = at(0.0);
    if outside(elbow) {
        return elbow;
    }
    // Swing the elbow about the shoulder–hand line, nearest the pole first, until it clears.
    const STEPS: usize = 24;
    for k in 1..=STEPS / 2 {
        let angle = k as f32 * std::f32::consts::TAU / STEPS as f32;
        for a in [angle, -angle] {
            let e = at(a);
            if outside(e) {
                return e;
            }
        }
    }
    // No bend clears it (a hand reaching across or into the body, the arm nearly straight):
    // the bend farthest from the torso's axis, pushed out to its surface. The drawn bones
    // stretch a little rather than pass through the body.
    let farthest = (0..STEPS)
        .map(|k| at(k as f32 * std::f32::consts::TAU / STEPS as f32))
        .max_by(|x, y| torso.axis_distance(*x).total_cmp(&torso.axis_distance(*y)))
        .unwrap_or(elbow);
    torso.push_out(farthest, clearance)
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Proportions = Proportions::ADULT;

    fn pose(head: Vec3, yaw: f32, left: Option<Vec3>, right: Option<Vec3>) -> AvatarPose {
        let rot = Quat::from_rotation_y(yaw);
        let hand = |h: Option<Vec3>| match h {
            Some(at) => (
                Pose {
                    position: at,
                    rotation: rot,
                },
                1.0,
            ),
            None => (
                Pose {
                    position: head,
                    rotation: rot,
                },
                0.0,
            ),
        };
        AvatarPose {
            head: Pose {
                position: head,
                rotation: rot,
            },
            left: hand(left),
            right: hand(right),
        }
    }

    fn settle(torso: &mut Torso, pose: &AvatarPose) -> Skeleton {
        let mut s = torso.update(pose, 0.0, &P);
        for _ in 0..300 {
            s = torso.update(pose, 1.0 / 60.0, &P);
        }
        s
    }

    /// The torso as `figure.rs` draws it: as deep as the girth, its chest reaching the
    /// shoulders (written out here, so a solver that kept elbows out of a narrower body fails).
    fn torso_of(s: &Skeleton) -> Capsule {
        Capsule {
            a: s.pelvis,
            b: s.neck_base,
            radius: P.girth,
            side: s.chest * Vec3::X,
            half_width: P.shoulder_half + P.limb * 0.2,
        }
    }

    #[test]
    fn the_arm_reaches_every_tracked_hand_within_reach_and_keeps_the_elbow_out_of_the_torso() {
        let head = Vec3::new(0.0, 1.2, 0.0);
        let mut torso = Torso::default();
        let mut reached = 0;
        // A sweep of hand positions in front of, beside, across and behind the body.
        for ix in -6..=6 {
            for iy in -5..=5 {
                for iz in -6..=3 {
                    let target = Vec3::new(ix as f32 * 0.1, 0.9 + iy as f32 * 0.1, iz as f32 * 0.1);
                    let s = settle(&mut torso, &pose(head, 0.0, Some(target), Some(target)));
                    let body = torso_of(&s);
                    for arm in s.arms {
                        let upper = (arm.elbow - arm.shoulder).length();
                        let fore = (arm.hand.position - arm.elbow).length();
                        let distance = (target - arm.shoulder).length();
                        let inside_body = body.axis_distance(target) < P.girth + 0.05;
                        // Wherever the hand is, the elbow is never in the torso.
                        assert!(
                            body.axis_distance(arm.elbow) >= P.girth,
                            "the elbow is in the torso for a hand at {target}: {}",
                            body.axis_distance(arm.elbow)
                        );
                        // A hand across the body (past the middle, beside the torso) is
                        // reached with the arm pressed to the chest: the bones may give there.
                        let across = arm.shoulder.x * target.x < 0.0 && target.z > -0.25;
                        if distance < (P.upper_arm + P.forearm) * 0.999 && !inside_body && !across {
                            // The bones keep their length and the hand is on the target.
                            assert!(
                                (upper - P.upper_arm).abs() < 0.01,
                                "upper {upper} for {target}"
                            );
                            assert!((fore - P.forearm).abs() < 0.01, "fore {fore} for {target}");
                            assert!((arm.hand.position - target).length() < 0.01);
                            reached += 1;
                            assert!(
                                body.axis_distance(arm.elbow) >= P.girth,
                                "the elbow is in the torso for a hand at {target}: {}",
                                body.axis_distance(arm.elbow)
                            );
                        }
                    }
                }
            }
        }
        assert!(reached > 300, "only {reached} targets were within reach");
    }

    #[test]
    fn a_hand_beyond_reach_still_joins_its_arm() {
        let head = Vec3::new(0.0, 1.2, 0.0);
        let far = Vec3::new(0.2, 1.1, -1.2);
        let s = settle(&mut Torso::default(), &pose(head, 0.0, None, Some(far)));
        let arm = s.arms[BodySide::Right.index()];
        assert!((arm.hand.position - far).length() < 1e-4);
        // Straight, from the shoulder through the elbow to the hand.
        let a = (arm.elbow - arm.shoulder).normalize();
        let b = (arm.hand.position - arm.elbow).normalize();
        assert!(a.dot(b) > 0.999, "bent: {}", a.dot(b));
    }

    #[test]
    fn elbows_bend_down_and_out() {
        let head = Vec3::new(0.0, 1.2, 0.0);
        let s = settle(
            &mut Torso::default(),
            &pose(
                head,
                0.0,
                Some(Vec3::new(-0.2, 0.95, -0.35)),
                Some(Vec3::new(0.2, 0.95, -0.35)),
            ),
        );
        let [left, right] = s.arms;
        assert!(
            left.elbow.x < left.shoulder.x - 0.01,
            "left elbow out: {left:?}"
        );
        assert!(
            right.elbow.x > right.shoulder.x + 0.01,
            "right elbow out: {right:?}"
        );
        assert!(left.elbow.y < left.shoulder.y - 0.15 && right.elbow.y < right.shoulder.y - 0.15);
    }

    #[test]
    fn an_untracked_hand_rests_in_the_lap_with_its_arm() {
        let head = Vec3::new(0.0, 1.2, 0.0);
        let s = settle(
            &mut Torso::default(),
            &pose(head, 0.0, Some(Vec3::new(-0.2, 1.3, -0.5)), None),
        );
        let right = s.arms[BodySide::Right.index()];
        assert!(!right.tracked);
        // On the thigh: below the shoulder, in front of the hips, on its own side.
        let lap_y = s.pelvis.y + P.limb;
        assert!(
            (right.hand.position.y - lap_y).abs() < 0.12,
            "{right:?} vs pelvis {}",
            s.pelvis
        );
        assert!(right.hand.position.z < s.pelvis.z - 0.1);
        assert!(right.hand.position.x > s.pelvis.x);
        // Still joined: the bones keep their length.
        assert!(((right.elbow - right.shoulder).length() - P.upper_arm).abs() < 0.01);
        assert!(((right.hand.position - right.elbow).length() - P.forearm).abs() < 0.01);
        // The tracked one is where it is.
        assert!(s.arms[0].tracked);
    }

    #[test]
    fn the_torso_turns_after_the_head_with_a_lag_and_leans_with_it() {
        let head = Vec3::new(0.0, 1.2, 0.0);
        let mut torso = Torso::default();
        settle(&mut torso, &pose(head, 0.0, None, None));
        // The head turns 40° at once: the torso follows, not rigidly.
        let turned = pose(head, 40f32.to_radians(), None, None);
        let first = torso.update(&turned, 1.0 / 60.0, &P);
        let yaw = yaw_of(first.chest).to_degrees();
        assert!(
            yaw > 0.5 && yaw < 10.0,
            "after one frame the torso is at {yaw}°"
        );
        let later = settle(&mut torso, &turned);
        assert!((yaw_of(later.chest).to_degrees() - 40.0).abs() < 1.0);
        // Past the neck's reach the torso is dragged along at once.
        let far = pose(head, 150f32.to_radians(), None, None);
        let s = torso.update(&far, 1.0 / 60.0, &P);
        let twist = wrap(150f32.to_radians() - yaw_of(s.chest));
        // (The chest's own yaw differs from the torso's by its lean: within a degree.)
        assert!(twist <= MAX_NECK_TWIST + 0.02, "{twist}");
        // Leaning forward tilts the spine; the hips stay in the chair.
        let mut torso = Torso::default();
        let upright = settle(&mut torso, &pose(head, 0.0, None, None));
        let lean = torso.update(
            &pose(head + Vec3::new(0.0, -0.05, -0.2), 0.0, None, None),
            1.0 / 60.0,
            &P,
        );
        let spine = (lean.neck_base - lean.pelvis).normalize();
        assert!(spine.z < -0.2, "the spine leans forward: {spine}");
        assert!(
            (lean.pelvis - upright.pelvis).length() < 0.08,
            "the hips stayed"
        );
    }

    /// A participant who moves half a metre (sits elsewhere) is upright again once the hips
    /// have followed (no lean left behind); one who jumps across the room is upright at once;
    /// looking straight down does not spin the torso.
    #[test]
    fn the_hips_come_all_the_way_and_a_downward_look_keeps_the_yaw() {
        let head = Vec3::new(0.0, 1.2, 0.0);
        let upright_spine = |s: &Skeleton| (s.neck_base - s.pelvis).normalize().y;
        let mut torso = Torso::default();
        let seated = upright_spine(&settle(&mut torso, &pose(head, 0.0, None, None)));
        let moved = pose(head + Vec3::new(0.5, 0.0, 0.0), 0.0, None, None);
        let s = settle(&mut torso, &moved);
        assert!(
            upright_spine(&s) > seated - 0.002,
            "as upright after moving: {} vs {seated}",
            upright_spine(&s)
        );
        let jumped = pose(head + Vec3::new(3.0, 0.0, 2.0), 0.0, None, None);
        let s = torso.update(&jumped, 1.0 / 60.0, &P);
        assert!(upright_spine(&s) > seated - 0.002, "upright after a jump");
        // Straight down, with a little roll: the torso keeps facing where it faced.
        let before = yaw_of(s.chest);
        let mut down = pose(head + Vec3::new(3.0, 0.0, 2.0), 0.0, None, None);
        down.head.rotation = Quat::from_rotation_x(-1.55) * Quat::from_rotation_z(0.4);
        let s = torso.update(&down, 1.0 / 60.0, &P);
        assert!(
            wrap(yaw_of(s.chest) - before).abs() < 0.1,
            "{} then {}",
            before,
            yaw_of(s.chest)
        );
    }

    #[test]
    fn the_legs_sit_in_front_of_the_hips_and_reach_down() {
        let head = Vec3::new(0.0, 1.2, 0.0);
        let s = settle(&mut Torso::default(), &pose(head, 0.0, None, None));
        for leg in s.legs {
            assert!(leg.knee.z < leg.hip.z - 0.3, "thigh forward");
            assert!(leg.ankle.y < leg.knee.y - 0.3, "shin down");
        }
        assert!(s.legs[0].hip.x < s.legs[1].hip.x);
    }
}
