//! Haven's room app (Bevy): the consult room and everything in it that does not depend on the
//! front end.
//!
//! - [`avatar`], [`interp`], [`look`]: remote avatars driven by the `pose` channel
//!   (interpolation, extrapolation over gaps, snapping on teleports, fading hands) and the
//!   anonymous look.
//! - [`room`]: the consult room and how avatars are drawn (speaking rings, name tags).
//! - [`local`]: the local participant's rig (head, hands, pointer) that a front end moves.
//! - [`pointer`]: the shared laser pointer; [`panel`]: the session buttons in the room (XR's
//!   session UI, used with the controller's ray).
//! - [`share`]: what the patient shows (wall display, records board, consent, audit).
//! - [`link`]: the bridge to the session thread; [`voice`]: the voice thread.
//! - [`flat`]: the desktop front end (camera, controls, session panels). The XR front end is
//!   the `haven_xr` crate; both write the same rig.

pub mod avatar;
pub mod flat;
pub mod interp;
pub mod link;
pub mod local;
pub mod look;
pub mod panel;
pub mod picker;
pub mod pointer;
pub mod room;
pub mod share;
pub mod voice;

use bevy::app::{PluginGroup, PluginGroupBuilder};

pub use avatar::{AvatarPlugin, AvatarSystems};
pub use flat::{FlatPlugin, FrontEnd};
pub use link::{LinkPlugin, SessionFigures, SessionLink};
pub use pointer::PointerPlugin;
pub use room::RoomPlugin;
pub use voice::{VoicePlugin, VoiceThread};

/// Everything in the room that does not depend on the front end: avatars, the room, the
/// pointer, voice activity and the session link. Add a front end ([`FlatPlugin`], or
/// `haven_xr`'s) beside it.
#[derive(Debug, Default)]
pub struct RoomPlugins;

impl PluginGroup for RoomPlugins {
    fn build(self) -> PluginGroupBuilder {
        PluginGroupBuilder::start::<Self>()
            .add(AvatarPlugin)
            .add(RoomPlugin)
            .add(PointerPlugin)
            .add(panel::WorldPanelPlugin)
            .add(share::SharePlugin)
            .add(picker::PickerPlugin)
            .add(VoicePlugin)
            .add(LinkPlugin)
    }
}
