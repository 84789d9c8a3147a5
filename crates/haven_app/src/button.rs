//! In-room buttons, as features declare them: a feature spawns a [`RoomButton`] (with a marker
//! of its own) and reads [`Pressed`] for it; a front end lays the buttons out and presses them
//! (`world_panel` with a controller's ray). No feature imports a front end to add a button.
//!
//! The kind of front end that runs ([`FrontEnd`]) lives here too, for the front ends
//! themselves: no feature reads it.

use bevy::prelude::*;
use haven_proto::Redacted;

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

/// A [`RoomButton`] that is a line of the board beside the local seat (the headset's panel:
/// the patient's picker), not one of the row on the table. Its text is drawn in the room's
/// font and may be what the patient shares, so it is [`Redacted`] here and the button's own
/// `label` stays empty.
#[derive(Component, Clone, Debug, PartialEq)]
pub struct OnBoard {
    /// Its line, from the top (after the row of plain buttons).
    pub line: u16,
    /// What it shows and whether it is pressed.
    pub kind: BoardLine,
    /// Its text.
    pub text: Redacted<String>,
    /// Indented by this many steps (a record under its heading).
    pub indent: u8,
}

/// What a line of the board is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoardLine {
    /// Words only (pressing it does nothing).
    Text,
    /// A tick box, ticked or not.
    Tick(bool),
    /// A button.
    Button,
}

/// A front end pressed this in-room button (the entity carrying the [`RoomButton`]).
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pressed(pub Entity);

/// Where a front end presses the in-room buttons: a feature that reads [`Pressed`] runs after
/// it to act in the same frame.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PressButtons;

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
