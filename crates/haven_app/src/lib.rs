//! Haven's room app (Bevy). So far: remote avatars driven by the `pose` channel, with
//! interpolation, extrapolation over gaps, snapping on teleports and fading hands
//! ([`avatar`], [`interp`]), the anonymous avatar's look ([`look`]), the consult room and how
//! avatars are drawn ([`room`]), the bridge from the session thread ([`link`]) and the flat
//! front end ([`flat`]). The XR front end and the sharing panels' contents come later.

pub mod avatar;
pub mod flat;
pub mod interp;
pub mod link;
pub mod look;
pub mod room;

pub use avatar::{AvatarPlugin, AvatarSystems};
pub use flat::FlatPlugin;
pub use link::{LinkPlugin, SessionFigures, SessionLink};
pub use room::RoomPlugin;
