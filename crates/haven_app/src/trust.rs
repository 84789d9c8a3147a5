//! Who is on the other side, as the patient sees it: "Verified by <clinic>: <name>,
//! <qualification>" under each clinician's or therapist's avatar, or a warning when their clinic
//! credential did not check out; and, on request (the "Safety words" button), the six words of
//! each connection, to read aloud: the same on both ends unless someone sits in between.
//!
//! The session checks the credentials and derives the words (`haven_signal::clinic`); this
//! module keeps what it said and draws it. What is shared with an unverified clinician is the
//! share ledger's business (`crate::sharing`).

use std::collections::HashMap;

use bevy::color::palettes::css;
use bevy::prelude::*;
use haven_proto::signal::{PeerId, Role};
use haven_signal::clinic::{NotVerified, SafetyWords, Verified};

use crate::avatar::{AvatarPart, RemoteAvatar};
use crate::button::{Pressed, RoomButton};
use crate::session::{PeerLeft, PeerVerified, SafetyWordsKnown, SessionFigures};
use crate::text::{ascii, clip};

/// What the session said of each peer: its credential's verdict and its connection's words.
#[derive(Resource, Debug, Default)]
pub struct PeerTrust {
    /// The verdict on each clinician or therapist (latest connection).
    pub verdicts: HashMap<PeerId, Result<Verified, NotVerified>>,
    /// The safety words of each connection.
    pub words: HashMap<PeerId, SafetyWords>,
    /// The words are shown (the button toggles them).
    pub show_words: bool,
}

impl PeerTrust {
    /// What is said under a peer's avatar, if anything, in one line.
    pub fn caption(&self, peer: PeerId) -> Option<String> {
        self.caption_lines(peer).map(|[a, b]| format!("{a}: {b}"))
    }

    /// The same, as the two lines drawn: who vouches (or that no one does), then who they are
    /// (or why not).
    pub fn caption_lines(&self, peer: PeerId) -> Option<[String; 2]> {
        self.verdicts.get(&peer).map(|verdict| match verdict {
            Ok(v) => [
                format!("Verified by {}", v.clinic),
                format!("{}, {}", v.name, v.qualification),
            ],
            Err(why) => ["NOT verified".to_owned(), why.to_string()],
        })
    }
}

/// Keeps verdicts and words, and the "Safety words" button.
#[derive(Debug, Default)]
pub struct TrustPlugin;

impl Plugin for TrustPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<PeerTrust>()
            .add_systems(Startup, add_words_button)
            .add_systems(
                Update,
                (take_news, press_words, label_words_button)
                    .chain()
                    .in_set(TrustSystems),
            )
            .add_systems(Update, captions.after(crate::avatar::AvatarSystems::Place));
    }
}

/// The trust feature's systems: later features that act on verdicts run after them.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TrustSystems;

/// The in-room button that shows and hides the safety words.
#[derive(Component, Debug)]
struct WordsButton;

const SHOW: &str = "Safety words";
const HIDE: &str = "Hide words";

fn add_words_button(mut commands: Commands<'_, '_>) {
    commands.spawn((
        WordsButton,
        RoomButton {
            label: SHOW.to_owned(),
            colour: Color::srgb(0.86, 0.90, 0.96),
            order: 1,
        },
    ));
}

fn take_news(
    mut verified: MessageReader<'_, '_, PeerVerified>,
    mut words: MessageReader<'_, '_, SafetyWordsKnown>,
    mut left: MessageReader<'_, '_, PeerLeft>,
    mut trust: ResMut<'_, PeerTrust>,
) {
    for m in verified.read() {
        trust.verdicts.insert(m.peer, m.verdict.clone());
    }
    for m in words.read() {
        trust.words.insert(m.peer, m.words);
    }
    for PeerLeft(peer) in left.read() {
        trust.verdicts.remove(peer);
        trust.words.remove(peer);
    }
}

fn press_words(
    mut pressed: MessageReader<'_, '_, Pressed>,
    buttons: Query<'_, '_, (), With<WordsButton>>,
    mut trust: ResMut<'_, PeerTrust>,
) {
    for Pressed(button) in pressed.read() {
        if buttons.contains(*button) {
            trust.show_words = !trust.show_words;
        }
    }
}

fn label_words_button(
    trust: Res<'_, PeerTrust>,
    mut buttons: Query<'_, '_, &mut RoomButton, With<WordsButton>>,
) {
    let label = if trust.show_words { HIDE } else { SHOW };
    for mut button in &mut buttons {
        if button.label != label {
            label.clone_into(&mut button.label);
        }
    }
}

/// Under each clinician's or therapist's avatar (for a patient): whether their clinic vouches
/// for them; under everyone's, when asked, the words of the connection to them.
fn captions(
    mut gizmos: Gizmos<'_, '_>,
    trust: Res<'_, PeerTrust>,
    figures: Res<'_, SessionFigures>,
    avatars: Query<'_, '_, (&RemoteAvatar, &Children)>,
    heads: Query<'_, '_, (&AvatarPart, &GlobalTransform)>,
) {
    let patient = figures.me.is_some_and(|me| me.role == Role::Patient);
    for (avatar, children) in &avatars {
        let Some(head) = children.iter().find_map(|child| match heads.get(child) {
            Ok((AvatarPart::Head, at)) => Some(at.translation()),
            _ => None,
        }) else {
            continue;
        };
        let facing = Quat::from_rotation_y(std::f32::consts::PI);
        if trust.show_words
            && let Some(words) = trust.words.get(&avatar.peer)
        {
            // Above the name tag, clear of the head.
            gizmos.text(
                Isometry3d::new(head + Vec3::Y * 0.34, facing),
                &format!("Words: {words}"),
                0.028,
                Vec2::ZERO,
                Color::from(css::LIGHT_SKY_BLUE),
            );
        }
        let mut line = head + Vec3::Y * 0.16;
        if patient && let Some(lines) = trust.caption_lines(avatar.peer) {
            let colour = match trust.verdicts.get(&avatar.peer) {
                Some(Ok(_)) => Color::from(css::PALE_GREEN),
                _ => Color::from(css::ORANGE),
            };
            for text in lines {
                gizmos.text(
                    Isometry3d::new(line, facing),
                    &clip(&ascii(&text), 48),
                    0.028,
                    Vec2::ZERO,
                    colour,
                );
                line -= Vec3::Y * 0.045;
            }
        }
    }
}
