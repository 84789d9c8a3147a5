//! The patient's picker in the headset: the same lines the window's panel shows
//! ([`picker_lines`]), as lines of the board beside the seat ([`OnBoard`]): aim the
//! controller's ray at a tick box or a button and pull the trigger. The list of what may be
//! shared scrolls a page at a time ("Earlier" and "More" lines) so the board stays within
//! reach of a seated person. Mute, Leave, the safe room and the ratings are the room's plain
//! buttons, which the headset's board shows above these lines (`world_panel`).

use bevy::prelude::*;
use haven_proto::Redacted;

use crate::avatar::{Appearance, RemoteAvatar};
use crate::button::{BoardLine, FrontEnd, OnBoard, PressButtons, Pressed, RoomButton};
use crate::session::SessionFigures;
use crate::sharing::picker::{
    PickerAction, PickerLine, PickerLineKind, SharePicker, Weight, known_as, picker_lines,
};
use crate::sharing::{ShareSystems, Sharing};

/// Shows the picker on the headset's board.
#[derive(Debug, Default)]
pub struct WorldPickerPlugin;

impl Plugin for WorldPickerPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<FrontEnd>()
            .init_resource::<Scrolled>()
            .init_resource::<Shown>()
            .add_systems(Update, take_down)
            .add_systems(
                Update,
                (
                    press.after(PressButtons).before(ShareSystems::Picker),
                    rebuild.after(ShareSystems::Picker),
                )
                    .run_if(
                        resource_exists::<SharePicker>
                            .and_then(|front: Res<'_, FrontEnd>| *front == FrontEnd::Xr),
                    ),
            );
    }
}

/// How many of the list's lines the board shows at once.
pub const LIST_LINES: usize = 12;

const GO: Color = Color::srgb(0.16, 0.50, 0.52);
const PLAIN: Color = Color::srgb(0.86, 0.89, 0.90);
const STOP: Color = Color::srgb(0.80, 0.33, 0.30);

/// What a line of the picker does when pressed.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
enum Act {
    Picker(PickerAction),
    /// Scroll the list by this many lines.
    Scroll(i32),
    Nothing,
}

/// Where the list is scrolled to (its first line shown).
#[derive(Resource, Default)]
struct Scrolled(usize);

fn press(
    mut scrolled: ResMut<'_, Scrolled>,
    mut pressed: MessageReader<'_, '_, Pressed>,
    lines: Query<'_, '_, &Act>,
    mut actions: MessageWriter<'_, PickerAction>,
) {
    for Pressed(entity) in pressed.read() {
        match lines.get(*entity) {
            Ok(Act::Picker(action)) => {
                actions.write(*action);
            }
            Ok(Act::Scroll(by)) => {
                scrolled.0 = scrolled.0.saturating_add_signed(*by as isize);
            }
            Ok(Act::Nothing) | Err(_) => {}
        }
    }
}

/// What the board last showed.
type Drawn = (Vec<PickerLine>, usize);

/// What the board shows now (none when the headset is not the front end).
#[derive(Resource, Default)]
struct Shown(Option<Drawn>);

/// When the headset is not (or no longer) the front end, the picker's lines go: the window
/// has its own panel, and a frozen copy beside it would show stale share states.
fn take_down(
    mut commands: Commands<'_, '_>,
    front: Res<'_, FrontEnd>,
    lines: Query<'_, '_, Entity, With<Act>>,
    mut drawn: ResMut<'_, Shown>,
) {
    if *front == FrontEnd::Xr || lines.is_empty() {
        return;
    }
    for line in &lines {
        commands.entity(line).despawn();
    }
    drawn.0 = None;
}

/// Puts the picker's lines on the board again when they change (a press, a share delivered,
/// viewed or revoked, a newcomer), a page of the list at a time.
#[expect(
    clippy::too_many_arguments,
    reason = "a system drawing from several sources"
)]
fn rebuild(
    mut commands: Commands<'_, '_>,
    picker: Res<'_, SharePicker>,
    sharing: Res<'_, Sharing>,
    mut scrolled: ResMut<'_, Scrolled>,
    shown: Query<'_, '_, (Entity, &OnBoard, &RoomButton, &Act)>,
    avatars: Query<'_, '_, (&RemoteAvatar, Ref<'_, Appearance>)>,
    figures: Res<'_, SessionFigures>,
    mut drawn: ResMut<'_, Shown>,
) {
    // The lines are worked out again only when what they come from changed (the picker, a
    // share's state, the scroll, who is here), not every frame.
    let changed = picker.is_changed()
        || sharing.is_changed()
        || scrolled.is_changed()
        || figures.is_changed()
        || avatars.iter().any(|(_, a)| a.is_changed());
    if !changed && drawn.0.is_some() {
        return;
    }
    let lines = picker_lines(&picker, &sharing, |peer| {
        known_as(
            peer,
            avatars.iter().map(|(r, a)| (r, a.into_inner())),
            &figures,
        )
    });
    let listed = lines.iter().filter(|l| l.in_list).count();
    let last_page = listed.saturating_sub(LIST_LINES);
    let first = scrolled.0.min(last_page);
    if scrolled.0 != first {
        scrolled.0 = first;
    }
    let now = (lines, first);
    if drawn.0.as_ref() == Some(&now) {
        return;
    }
    let (lines, first) = &now;
    let mut board: Vec<(String, BoardLine, u8, Color, Act)> = Vec::new();
    let mut listed_seen = 0;
    for line in lines {
        if line.in_list {
            let here = listed_seen;
            listed_seen += 1;
            if here == *first && *first > 0 {
                board.push((
                    format!("▲  Earlier ({first} more)"),
                    BoardLine::Button,
                    0,
                    PLAIN,
                    Act::Scroll(-(LIST_LINES as i32)),
                ));
            }
            if here < *first || here >= first + LIST_LINES {
                if here == first + LIST_LINES {
                    board.push((
                        format!("▼  More ({} more)", listed - here),
                        BoardLine::Button,
                        0,
                        PLAIN,
                        Act::Scroll(LIST_LINES as i32),
                    ));
                }
                continue;
            }
        }
        let (kind, colour, act) = match line.kind {
            PickerLineKind::Note | PickerLineKind::Warning => {
                (BoardLine::Text, PLAIN, Act::Nothing)
            }
            PickerLineKind::Tick(ticked, action) => {
                (BoardLine::Tick(ticked), PLAIN, Act::Picker(action))
            }
            PickerLineKind::Button(action, weight) => (
                BoardLine::Button,
                match weight {
                    Weight::Go => GO,
                    Weight::Plain => PLAIN,
                    Weight::Stop => STOP,
                },
                Act::Picker(action),
            ),
        };
        let text = if line.kind == PickerLineKind::Warning {
            format!("⚠ {}", line.text.expose())
        } else {
            line.text.expose().clone()
        };
        board.push((text, kind, line.indent, colour, act));
    }
    // A line that does something stays the same entity, with the same action, while it is on
    // the board: a trigger pulled as the lines move (a newcomer's question appears above)
    // presses what the patient aimed at, never what moved into its place. Lines of words are
    // reused in order.
    let mut acting: Vec<(Act, Entity)> = Vec::new();
    let mut words: Vec<(u16, Entity)> = Vec::new();
    for (entity, line, _, act) in &shown {
        if *act == Act::Nothing {
            words.push((line.line, entity));
        } else {
            acting.push((*act, entity));
        }
    }
    words.sort_unstable();
    words.reverse();
    for (at, (text, kind, indent, colour, act)) in board.into_iter().enumerate() {
        let button = RoomButton {
            // Its words are on the line ([`OnBoard`], redacted); the label stays empty.
            label: String::new(),
            colour,
            order: 0,
        };
        let line = OnBoard {
            line: u16::try_from(at).unwrap_or(u16::MAX),
            kind,
            text: Redacted::new(text),
            indent,
        };
        let reused = if act == Act::Nothing {
            words.pop().map(|(_, e)| e)
        } else {
            acting
                .iter()
                .position(|(a, _)| *a == act)
                .map(|i| acting.swap_remove(i).1)
        };
        let Some((entity, was_line, was_button)) =
            reused.and_then(|e| shown.get(e).ok().map(|(e, l, b, _)| (e, l, b)))
        else {
            commands.spawn((button, line, act));
            continue;
        };
        let mut e = commands.entity(entity);
        if *was_line != line {
            e.insert(line);
        }
        if *was_button != button {
            e.insert(button);
        }
    }
    for gone in acting
        .into_iter()
        .map(|(_, e)| e)
        .chain(words.into_iter().map(|(_, e)| e))
    {
        commands.entity(gone).despawn();
    }
    drawn.0 = Some(now);
}
