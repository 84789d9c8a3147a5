//! Haven's room app (Bevy): the consult room and everything in it, in layers. Each module uses
//! only what lies below it; nothing imports upward and no two modules import each other.
//!
//! - **core**: [`layout`] (seats and anchors), [`hit`] (ray casts), [`text`] (stroke-font
//!   text), [`session`] (the bridge to the network: the only module that talks to the
//!   session; "down" messages in `PreUpdate`, "up" requests out in `PostUpdate`), [`rig`] (the
//!   local head, hands and pointer that a front end moves), [`button`] (in-room buttons that
//!   features declare, and the front-end kind).
//! - **scenery**: [`room`] (geometry, lights, anchors, the [`room::Environment`]).
//! - **features**, in `Update`: [`voice`], [`avatar`] (with its drawing), [`pointer`],
//!   [`trust`] (clinic verdicts and safety words under the avatars), [`sharing`], [`scenes`]
//!   (exposure-therapy scenes: the patient's app runs them, a therapist's mirrors), [`therapy`]
//!   (ratings, the session record, avoidance, the fear ladder, the report). A feature
//!   may use a feature listed before it (the pointer takes its colour from the avatar; the
//!   avatar's speaking ring reads the voice; trust writes under the avatar), never one after
//!   it.
//! - **front ends**: [`flat`] (camera, controls, HUD, the picker's panel, the display keys),
//!   [`world_panel`] (lays out and presses the in-room buttons, in the headset on a board
//!   beside the seat), [`world_picker`] (the patient's picker on that board); the XR front end is the
//!   `haven_xr` crate. Front ends write the same rig.
//!
//! [`stepper`] steps a clinician's and a patient's app side by side over an in-memory session
//! hub, for tests.

pub mod avatar;
pub mod button;
pub mod flat;
pub mod hit;
pub mod layout;
pub mod pointer;
pub mod rig;
pub mod room;
pub mod scenes;
pub mod session;
pub mod sharing;
pub mod stepper;
pub mod text;
pub mod therapy;
pub mod trust;
pub mod voice;
pub mod world_panel;
pub mod world_picker;

use bevy::app::{PluginGroup, PluginGroupBuilder};

pub use avatar::{AvatarDrawPlugin, AvatarPlugin, AvatarSystems};
pub use button::{ButtonPlugin, FrontEnd};
pub use flat::FlatPlugin;
pub use pointer::PointerPlugin;
pub use rig::RigPlugin;
pub use room::RoomPlugin;
pub use session::{SessionFigures, SessionLink, SessionPlugin};
pub use sharing::SharePlugin;
pub use trust::TrustPlugin;
pub use voice::{VoicePlugin, VoiceThread};
pub use world_panel::WorldPanelPlugin;
pub use world_picker::WorldPickerPlugin;

/// Everything in the room that does not depend on the front end: the session bridge, the
/// local rig, the room, avatars, the pointer, voice activity, sharing and the in-room buttons.
/// Add a front end ([`FlatPlugin`], or `haven_xr`'s) beside it.
#[derive(Debug, Default)]
pub struct RoomPlugins;

impl PluginGroup for RoomPlugins {
    fn build(self) -> PluginGroupBuilder {
        PluginGroupBuilder::start::<Self>()
            .add(ButtonPlugin)
            .add(SessionPlugin)
            .add(RigPlugin)
            .add(RoomPlugin)
            .add(VoicePlugin)
            .add(AvatarPlugin)
            .add(AvatarDrawPlugin)
            .add(PointerPlugin)
            .add(TrustPlugin)
            .add(SharePlugin)
            .add(scenes::ScenePlugin)
            .add(scenes::SceneDrawPlugin)
            .add(therapy::TherapyPlugin)
            .add(WorldPanelPlugin)
            .add(WorldPickerPlugin)
    }
}
