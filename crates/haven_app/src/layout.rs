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

impl Default for Seat {
    fn default() -> Self {
        Self::for_role(Role::Clinician)
    }
}
