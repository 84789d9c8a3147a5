//! Where things are in the consult room: the seats and the anchors that features place their
//! things at (the wall display, the records board). Dimensions in metres; the patient's chair
//! faces the clinician's across the table along z. Every other module reads these; this one
//! reads none.

use bevy::prelude::*;
use haven_proto::signal::Role;

/// Where the clinician's eyes are, seated (the flat front end's default view).
pub const CLINICIAN_EYES: Vec3 = Vec3::new(0.0, 1.2, 0.9);
/// Where the patient sits, across the table.
pub const PATIENT_SEAT: Vec3 = Vec3::new(0.0, 0.0, -0.9);
/// The centre of the wall display (behind the patient, facing +z).
pub const DISPLAY: Vec3 = Vec3::new(0.0, 1.75, -2.93);
/// The wall display's size (width, height, depth).
pub const DISPLAY_SIZE: Vec3 = Vec3::new(1.6, 0.9, 0.03);
/// The centre of the records board (on the right wall, seen from the clinician's chair,
/// facing −x).
pub const RECORDS_BOARD: Vec3 = Vec3::new(2.93, 1.5, -0.6);
/// The records board's size.
pub const RECORDS_BOARD_SIZE: Vec3 = Vec3::new(0.03, 1.0, 1.4);

/// A place in the room that features put things on. The room builds them; a feature finds the
/// one it needs by this component.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// The wall display: pictures and scans.
    Display,
    /// The records board: records' summaries.
    RecordsBoard,
}

/// Where the local participant sits: the patient in the patient's chair, everyone else across
/// the table. Front ends start the view (flat) or place the tracking space (XR) here.
#[derive(Resource, Clone, Copy, Debug, PartialEq)]
pub struct Seat {
    /// Seated eye height and place, room frame.
    pub eyes: Vec3,
    /// What a seated person looks at: the other chair's face height.
    pub looks_at: Vec3,
}

impl Seat {
    /// The seat of a role.
    pub fn for_role(role: Role) -> Self {
        let patient_eyes = PATIENT_SEAT + Vec3::Y * 1.2;
        match role {
            Role::Patient => Self {
                eyes: patient_eyes,
                looks_at: Vec3::new(0.0, 1.15, CLINICIAN_EYES.z),
            },
            Role::Clinician | Role::Therapist => Self {
                eyes: CLINICIAN_EYES,
                looks_at: PATIENT_SEAT + Vec3::Y * 1.05,
            },
        }
    }
}

/// How far from the room's centre a group room's patients sit (a ring round the table, with
/// the clinician's chair at its head).
pub const GROUP_RING: f32 = 1.4;
/// The angle between two neighbouring patients' chairs in a group room (30°): eleven
/// patients fill ±150° and leave the clinician's side free.
pub const GROUP_SPACING: f32 = std::f32::consts::PI / 6.0;

/// Where the `index`th patient of a group room sits (0 opposite the clinician, then
/// alternately to its left and right), as a turn about the room's vertical axis from the
/// patient's 1:1 chair, and that chair's distance from the centre.
pub fn group_turn(index: usize) -> f32 {
    // 0, +1, −1, +2, −2, ... steps.
    let step = index.div_ceil(2) as f32;
    let side = if index % 2 == 1 { 1.0 } else { -1.0 };
    side * step * GROUP_SPACING
}

/// Whether chair `chair` of a group room of `size` is the head of the table (the
/// clinician's chair), not one of the ring's: the last one.
pub fn is_head_chair(chair: u8, size: u8) -> bool {
    chair.saturating_add(1) >= size
}

impl Seat {
    /// The seat in chair `chair` of a group room of `size`, as the signaling server gave it
    /// in the welcome (a patient the lowest free, a clinician or therapist the highest): the
    /// head of the table, or one of the ring's.
    pub fn group_chair(chair: u8, size: u8) -> Self {
        if is_head_chair(chair, size) {
            Self::for_role(Role::Clinician)
        } else {
            Self::group_patient(usize::from(chair))
        }
    }

    /// The seat in chair `index` of a group room's ring.
    pub fn group_patient(index: usize) -> Self {
        let turn = Quat::from_rotation_y(group_turn(index));
        Self {
            eyes: turn * Vec3::new(0.0, 1.2, -GROUP_RING),
            looks_at: Vec3::new(0.0, 1.15, 0.0),
        }
    }
}

/// The invite is for a group room: everyone is seated in their chair
/// ([`Seat::group_chair`]) once the welcome says which is theirs. Front ends
/// move their view (or tracking space) when [`Seat`] changes.
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupInvite {
    /// People the room holds at most (its invite's `group`).
    pub size: u8,
}

impl Default for Seat {
    fn default() -> Self {
        Self::for_role(Role::Clinician)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every chair of a group room of any size is a seat of its own, at least a chair's
    /// width from any other, and the last is the clinician's at the head of the table.
    #[test]
    fn each_chair_of_a_group_room_is_a_seat_of_its_own() {
        for size in 2..=12u8 {
            let seats: Vec<Seat> = (0..size).map(|c| Seat::group_chair(c, size)).collect();
            assert_eq!(
                seats[usize::from(size) - 1],
                Seat::for_role(Role::Clinician)
            );
            for (i, a) in seats.iter().enumerate() {
                for b in &seats[i + 1..] {
                    let apart = a.eyes.distance(b.eyes);
                    assert!(apart > 0.6, "size {size}: two seats {apart} m apart");
                }
            }
        }
    }
}
