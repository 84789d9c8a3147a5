//! In-room buttons, as features declare them: a feature spawns a [`RoomButton`] (with a marker
//! of its own) and reads [`Pressed`] for it; a front end lays the buttons out and presses them
//! (`world_panel` with a controller's ray). No feature imports a front end to add a button.
//!
//! The kind of front end that runs ([`FrontEnd`]) lives here too, for the front ends
//! themselves: no feature reads it.

use bevy::prelude::*;

/// A button in the room, declared by a feature. Its label may change (a feature rewrites it).
#[derive(Component, Clone, Debug, PartialEq)]
#[require(Transform)]
pub struct RoomButton {
    /// What it says.
    pub label: String,
    /// Its colour.
    pub colour: Color,
    /// Its place in the row, from the left (lower first).
    pub order: u8,
}

/// A front end pressed this in-room button (the entity carrying the [`RoomButton`]).
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pressed(pub Entity);

/// Which front end shows the room. Set by the binary (or by `haven_xr` when the headset
/// starts); front ends read it, the room and its features never do.
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FrontEnd {
    /// The desktop window.
    #[default]
    Flat,
    /// The headset.
    Xr,
}

/// Registers the button message and the front-end kind.
#[derive(Debug, Default)]
pub struct ButtonPlugin;

impl Plugin for ButtonPlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<Pressed>().init_resource::<FrontEnd>();
    }
}
