//! What the patient shows, in the room. The protocol itself is `haven_share::ledger` (one
//! implementation, shared with the headless participant); this feature feeds it what the
//! session bridge delivers and what the patient does, and applies its effects:
//!
//! - network effects become the bridge's up requests ([`SendObject`], [`CancelObject`],
//!   [`SendControlTo`]);
//! - audit effects go to this side's signed, hash-chained log ([`haven_share::audit`]; object
//!   ids and hashes, never contents);
//! - keep effects write a share the patient allowed the clinic to keep, with its Consent and a
//!   Provenance ([`haven_share::keep`]), only when a keep folder was given;
//! - show and purge effects go to [`display`]: the newest picture or scan on the wall display
//!   (window/level in `shaders/dicom_window.wgsl`), the newest records' summary on the board.
//!
//! The patient's side offers with [`OfferShare`] (or the [`picker`]) and takes back with
//! [`RevokeShare`]. Both sides see what is shared: the patient's own offers are shown too.

pub mod display;
pub mod picker;
pub mod picture;
pub mod protocol;

use bevy::prelude::*;

pub use display::ShareTexts;
pub use protocol::{
    AnswerNewcomer, OfferShare, RevokeShare, ShareSettings, ShareSystems, Sharing, TrustAnyway,
};

/// Sharing in the room: the protocol, the display and the board, the patient's picker.
#[derive(Debug, Default)]
pub struct SharePlugin;

impl Plugin for SharePlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins((
            protocol::ProtocolPlugin,
            display::DisplayPlugin,
            picker::PickerPlugin,
        ));
    }
}
