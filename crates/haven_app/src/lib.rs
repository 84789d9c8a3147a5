//! Haven's room app (Bevy). So far: remote avatars driven by the `pose` channel, with
//! interpolation, extrapolation over gaps, snapping on teleports and fading hands
//! ([`avatar`], [`interp`]), and the anonymous avatar's look ([`look`]). The room itself, its
//! panels, the flat and XR front ends and the renderer build on these.

pub mod avatar;
pub mod interp;
pub mod look;

pub use avatar::{AvatarPlugin, AvatarSystems};
