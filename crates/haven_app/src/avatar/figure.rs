//! A figure's drawn parts and where each goes, from a [`Skeleton`] and a [`FaceState`]: the
//! head with eyes, pupils, eyelids (blinks), nose, mouth and hair; neck, chest and hips; the
//! arms as segments with round joints; hands in their shape; seated legs and feet. Pure
//! placement (transforms only), so the room's avatars and the therapy scenes' people share it.
//!
//! Parts are unit meshes (a sphere of radius 1, a cylinder of radius 1 and height 1 along y, a
//! cube of side 1) scaled into place.

use bevy::math::{Quat, Vec3};
use bevy::prelude::{Component, Transform};
use haven_proto::control::HandShape;

use super::body::{BodySide, Proportions, Skeleton};

/// Which unit mesh a part is drawn with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A sphere of radius 1.
    Ball,
    /// A cylinder of radius 1, 1 high, along y.
    Rod,
    /// A cube of side 1.
    Block,
}

/// Which colour a part is drawn in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paint {
    /// Face, neck and hands.
    Skin,
    /// Hair.
    Hair,
    /// Shirt and sleeves.
    Clothing,
    /// Trousers.
    Lower,
    /// Shoes.
    Shoes,
    /// The whites of the eyes.
    EyeWhite,
    /// Pupils.
    Pupil,
    /// The mouth's inside.
    Mouth,
}

/// A drawn part of a figure.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bone {
    /// The head's shape.
    Skull,
    /// The hair (named figures with hair only).
    Hair,
    /// An eye's white (its height closes with a blink).
    Eye(BodySide),
    /// A pupil.
    Pupil(BodySide),
    /// The nose: which way the face points, at a glance.
    Nose,
    /// The mouth (opens with the voice).
    Mouth,
    /// The neck.
    Neck,
    /// The chest.
    Chest,
    /// The belly, narrower, between the chest and the hips.
    Belly,
    /// The hips.
    Hips,
    /// A shoulder's round.
    Shoulder(BodySide),
    /// Shoulder to elbow.
    UpperArm(BodySide),
    /// The elbow's round.
    Elbow(BodySide),
    /// Elbow to wrist.
    Forearm(BodySide),
    /// The palm.
    Palm(BodySide),
    /// The fingers (curled, folded into a fist, or curled under a pointing finger).
    Fingers(BodySide),
    /// The index finger, out when pointing.
    Index(BodySide),
    /// Hip to knee.
    Thigh(BodySide),
    /// Knee to ankle.
    Shin(BodySide),
    /// A foot.
    Foot(BodySide),
}

impl Bone {
    /// Every part of a figure; `hair` adds the hair.
    pub fn all(hair: bool) -> Vec<Self> {
        let mut bones = vec![
            Self::Skull,
            Self::Nose,
            Self::Mouth,
            Self::Neck,
            Self::Chest,
            Self::Belly,
            Self::Hips,
        ];
        if hair {
            bones.push(Self::Hair);
        }
        for s in BodySide::BOTH {
            bones.extend([
                Self::Eye(s),
                Self::Pupil(s),
                Self::Shoulder(s),
                Self::UpperArm(s),
                Self::Elbow(s),
                Self::Forearm(s),
                Self::Palm(s),
                Self::Fingers(s),
                Self::Index(s),
                Self::Thigh(s),
                Self::Shin(s),
                Self::Foot(s),
            ]);
        }
        bones
    }

    /// Its mesh and colour.
    pub fn look(self) -> (Shape, Paint) {
        match self {
            Self::Skull | Self::Nose => (Shape::Ball, Paint::Skin),
            Self::Hair => (Shape::Ball, Paint::Hair),
            Self::Eye(_) => (Shape::Ball, Paint::EyeWhite),
            Self::Pupil(_) => (Shape::Ball, Paint::Pupil),
            Self::Mouth => (Shape::Ball, Paint::Mouth),
            Self::Neck => (Shape::Rod, Paint::Skin),
            Self::Chest | Self::Belly => (Shape::Ball, Paint::Clothing),
            Self::Hips => (Shape::Ball, Paint::Lower),
            Self::Shoulder(_) | Self::Elbow(_) => (Shape::Ball, Paint::Clothing),
            Self::UpperArm(_) | Self::Forearm(_) => (Shape::Rod, Paint::Clothing),
            Self::Palm(_) | Self::Fingers(_) => (Shape::Ball, Paint::Skin),
            Self::Index(_) => (Shape::Rod, Paint::Skin),
            Self::Thigh(_) | Self::Shin(_) => (Shape::Rod, Paint::Lower),
            Self::Foot(_) => (Shape::Block, Paint::Shoes),
        }
    }
}

/// The face as animated: how open the mouth is, how shut the lids, where the eyes look.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaceState {
    /// 0 closed, 1 open.
    pub mouth: f32,
    /// 0 open, 1 shut.
    pub lid: f32,
    /// Unit direction, room frame.
    pub gaze: Vec3,
    /// The hands' shapes, left and right.
    pub hands: [HandShape; 2],
}

impl Default for FaceState {
    fn default() -> Self {
        Self {
            mouth: 0.0,
            lid: 0.0,
            gaze: Vec3::NEG_Z,
            hands: [HandShape::Relaxed; 2],
        }
    }
}

/// A rod from `a` to `b` of radius `r`.
fn rod(a: Vec3, b: Vec3, r: f32) -> Transform {
    let along = b - a;
    let length = along.length();
    let rotation = along
        .try_normalize()
        .map_or(Quat::IDENTITY, |d| Quat::from_rotation_arc(Vec3::Y, d));
    Transform {
        translation: (a + b) * 0.5,
        rotation,
        scale: Vec3::new(r, length.max(1e-4), r),
    }
}

fn ball(at: Vec3, r: f32) -> Transform {
    Transform::from_translation(at).with_scale(Vec3::splat(r))
}

/// A part fixed to a frame (`at`, `rotation`) at `offset` in it, turned by `turn`, sized
/// `scale`.
fn on(at: Vec3, rotation: Quat, offset: Vec3, turn: Quat, scale: Vec3) -> Transform {
    Transform {
        translation: at + rotation * offset,
        rotation: rotation * turn,
        scale,
    }
}

/// Where `bone` goes (in the frame the skeleton was solved in).
pub fn place(bone: Bone, s: &Skeleton, face: &FaceState, p: &Proportions) -> Transform {
    let head = s.head;
    let h = p.head;
    let r = p.limb;
    let side = |b: BodySide| match b {
        BodySide::Left => -1.0,
        BodySide::Right => 1.0,
    };
    let eye_at = |b: BodySide| Vec3::new(side(b) * h.x * 0.38, h.y * 0.18, -h.z * 0.80);
    let eye_r = h.x * 0.2;
    match bone {
        Bone::Skull => on(head.position, head.rotation, Vec3::ZERO, Quat::IDENTITY, h),
        Bone::Hair => on(
            head.position,
            head.rotation,
            Vec3::new(0.0, h.y * 0.24, h.z * 0.2),
            Quat::IDENTITY,
            h * 1.07,
        ),
        Bone::Eye(b) => on(
            head.position,
            head.rotation,
            eye_at(b),
            Quat::IDENTITY,
            Vec3::new(
                eye_r,
                eye_r * (1.0 - 0.92 * face.lid.clamp(0.0, 1.0)),
                eye_r * 0.7,
            ),
        ),
        Bone::Pupil(b) => {
            let centre = head.position + head.rotation * eye_at(b);
            // On the eye's front, towards where the eyes look; hidden under a shut lid.
            let shown = 1.0 - face.lid.clamp(0.0, 1.0);
            ball(centre + face.gaze * eye_r * 0.62, eye_r * 0.5 * shown)
        }
        Bone::Nose => on(
            head.position,
            head.rotation,
            Vec3::new(0.0, -h.y * 0.05, -h.z * 0.98),
            Quat::IDENTITY,
            Vec3::new(h.x * 0.14, h.y * 0.2, h.z * 0.16),
        ),
        Bone::Mouth => on(
            head.position,
            head.rotation,
            Vec3::new(0.0, -h.y * 0.46, -h.z * 0.80),
            Quat::IDENTITY,
            Vec3::new(
                h.x * 0.36,
                h.y * (0.035 + 0.2 * face.mouth.clamp(0.0, 1.0)),
                h.z * 0.18,
            ),
        ),
        Bone::Neck => rod(s.neck_base, s.neck_top, r * 1.05),
        Bone::Chest => Transform {
            translation: s.pelvis.lerp(s.neck_base, 0.7),
            rotation: s.chest,
            scale: Vec3::new(p.chest_half_width(), p.spine * 0.36, p.girth * 0.95),
        },
        Bone::Belly => Transform {
            translation: s.pelvis.lerp(s.neck_base, 0.33),
            rotation: s.chest,
            scale: Vec3::new(p.shoulder_half * 0.78, p.spine * 0.36, p.girth * 0.85),
        },
        Bone::Hips => Transform {
            translation: s.pelvis + s.chest * Vec3::new(0.0, 0.02, -0.02),
            rotation: s.chest,
            scale: Vec3::new(p.hip_half + r * 1.3, p.spine * 0.2, p.girth * 1.05),
        },
        Bone::Shoulder(b) => ball(s.arms[b.index()].shoulder, r * 1.25),
        Bone::UpperArm(b) => {
            let arm = s.arms[b.index()];
            rod(arm.shoulder, arm.elbow, r)
        }
        Bone::Elbow(b) => ball(s.arms[b.index()].elbow, r * 0.98),
        Bone::Forearm(b) => {
            let arm = s.arms[b.index()];
            rod(arm.elbow, wrist(&arm.hand, p), r * 0.85)
        }
        Bone::Palm(b) => {
            let hand = s.arms[b.index()].hand;
            on(
                hand.position,
                hand.rotation,
                Vec3::ZERO,
                Quat::IDENTITY,
                Vec3::new(0.04, 0.014, 0.045) * (p.limb / Proportions::ADULT.limb),
            )
        }
        Bone::Fingers(b) => {
            let hand = s.arms[b.index()].hand;
            let k = p.limb / Proportions::ADULT.limb;
            let (offset, turn, size) = match face.hands[b.index()] {
                // Curled a little, below and in front of the palm.
                HandShape::Relaxed => (
                    Vec3::new(0.0, -0.008, -0.06),
                    Quat::from_rotation_x(-0.5),
                    Vec3::new(0.037, 0.011, 0.034),
                ),
                // Folded under: a fist.
                HandShape::Grip => (
                    Vec3::new(0.0, -0.02, -0.035),
                    Quat::from_rotation_x(-1.5),
                    Vec3::new(0.038, 0.016, 0.026),
                ),
                // Curled under a pointing finger.
                HandShape::Point => (
                    Vec3::new(0.006, -0.02, -0.036),
                    Quat::from_rotation_x(-1.4),
                    Vec3::new(0.028, 0.015, 0.024),
                ),
            };
            on(hand.position, hand.rotation, offset * k, turn, size * k)
        }
        Bone::Index(b) => {
            let hand = s.arms[b.index()].hand;
            let k = p.limb / Proportions::ADULT.limb;
            let out = face.hands[b.index()] == HandShape::Point;
            let inward = -side(b);
            on(
                hand.position,
                hand.rotation,
                Vec3::new(inward * 0.026, 0.0, -0.08) * k,
                Quat::from_rotation_x(-std::f32::consts::FRAC_PI_2),
                if out {
                    Vec3::new(0.009, 0.075, 0.009) * k
                } else {
                    Vec3::ZERO
                },
            )
        }
        Bone::Thigh(b) => {
            let leg = s.legs[b.index()];
            rod(leg.hip, leg.knee, r * 1.45)
        }
        Bone::Shin(b) => {
            let leg = s.legs[b.index()];
            rod(leg.knee, leg.ankle, r * 1.15)
        }
        Bone::Foot(b) => {
            let leg = s.legs[b.index()];
            let flat = Quat::from_rotation_y(super::body::yaw_of(s.chest));
            on(
                leg.ankle,
                flat,
                Vec3::new(0.0, -0.03, -0.06),
                Quat::IDENTITY,
                Vec3::new(0.09, 0.06, 0.24) * (p.limb / Proportions::ADULT.limb),
            )
        }
    }
}

/// Where the forearm meets the hand: the back of the palm.
fn wrist(hand: &super::interp::Pose, p: &Proportions) -> Vec3 {
    hand.position + hand.rotation * Vec3::new(0.0, 0.0, 0.04 * p.limb / Proportions::ADULT.limb)
}
