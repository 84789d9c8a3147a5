//! The patient's picker, drawn in the flat window (top right): what they may share with tick
//! boxes, "Share ticked", and what they share now with "Stop sharing". Its logic is the
//! sharing feature's ([`crate::sharing::picker`]); this draws it and turns clicks into
//! [`PickerAction`]s.

use bevy::input::mouse::{AccumulatedMouseScroll, MouseScrollUnit};
use bevy::prelude::*;
use bevy::ui::RelativeCursorPosition;
use haven_proto::bulk::ObjectKind;

use haven_proto::signal::PeerId;

use super::label;
use crate::avatar::{Appearance, RemoteAvatar};
use crate::session::SessionFigures;
use crate::sharing::Sharing;
use crate::sharing::picker::{Candidate, PickerAction, SharePicker, known_as, share_state};

/// Draws the picker when there is one.
#[derive(Debug, Default)]
pub struct PickerPanelPlugin;

impl Plugin for PickerPanelPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(
            Update,
            (spawn_panel, rebuild_panel, press, scroll).chain().run_if(
                resource_exists::<SharePicker>.and_then(resource_exists::<super::FlatView>),
            ),
        );
    }
}

const TEXT: Color = Color::srgb(0.13, 0.16, 0.20);
const MUTED_TEXT: Color = Color::srgb(0.38, 0.42, 0.46);
const PANEL_BG: Color = Color::srgba(0.97, 0.97, 0.95, 0.90);
const BOX_EMPTY: Color = Color::srgb(1.0, 1.0, 1.0);
const BOX_TICKED: Color = Color::srgb(0.16, 0.50, 0.52);
const BUTTON_BG: Color = Color::srgb(0.90, 0.92, 0.93);
const SHARE_BG: Color = Color::srgb(0.16, 0.50, 0.52);
const STOP_BG: Color = Color::srgb(0.80, 0.33, 0.30);

/// The panel's root (top right).
#[derive(Component)]
struct PickerPanel;

/// The scrolling list inside it.
#[derive(Component)]
struct PickerList;

/// A control in the panel.
#[derive(Component, Clone, Copy, Debug)]
struct PickerButton(PickerAction);

fn spawn_panel(mut commands: Commands<'_, '_>, panels: Query<'_, '_, (), With<PickerPanel>>) {
    if !panels.is_empty() {
        return;
    }
    commands.spawn((
        PickerPanel,
        Node {
            position_type: PositionType::Absolute,
            top: px(12),
            right: px(12),
            width: px(430),
            max_height: percent(78),
            flex_direction: FlexDirection::Column,
            row_gap: px(6),
            padding: UiRect::all(px(10)),
            border_radius: BorderRadius::all(px(8)),
            ..default()
        },
        BackgroundColor(PANEL_BG),
    ));
}

fn button(action: PickerAction, text: &str, bg: Color, fg: Color) -> impl Bundle {
    (
        PickerButton(action),
        Button,
        Node {
            padding: UiRect::axes(px(12), px(6)),
            border_radius: BorderRadius::all(px(6)),
            align_self: AlignSelf::FlexStart,
            ..default()
        },
        BackgroundColor(bg),
        children![label(text, 15.0, fg)],
    )
}

/// A row with a tick box.
fn tick_row(action: PickerAction, ticked: bool, text: &str, indent: f32) -> impl Bundle {
    (
        PickerButton(action),
        Button,
        Node {
            column_gap: px(8),
            align_items: AlignItems::Center,
            padding: UiRect {
                left: px(indent),
                top: px(2),
                bottom: px(2),
                right: px(4),
            },
            ..default()
        },
        children![
            (
                Node {
                    width: px(14),
                    height: px(14),
                    flex_shrink: 0.0,
                    border: UiRect::all(px(2)),
                    border_radius: BorderRadius::all(px(3)),
                    ..default()
                },
                BorderColor::all(BOX_TICKED),
                BackgroundColor(if ticked { BOX_TICKED } else { BOX_EMPTY }),
            ),
            label(text, 14.0, TEXT),
        ],
    )
}

/// What the panel last drew: each share's state and who waits for the patient's answer.
type Drawn = (Vec<[bool; 4]>, Vec<PeerId>, Vec<PeerId>);

/// Draws the panel again when the picker or the patient's shares change (a press, a share
/// delivered, viewed or revoked): a few dozen nodes, only then.
#[expect(
    clippy::too_many_arguments,
    reason = "a system drawing from several sources"
)]
fn rebuild_panel(
    mut commands: Commands<'_, '_>,
    picker: Res<'_, SharePicker>,
    sharing: Res<'_, Sharing>,
    panels: Query<'_, '_, Entity, With<PickerPanel>>,
    lists: Query<'_, '_, &ScrollPosition, With<PickerList>>,
    avatars: Query<'_, '_, (&RemoteAvatar, &Appearance)>,
    figures: Res<'_, SessionFigures>,
    mut drawn: Local<'_, Option<Drawn>>,
) {
    let Ok(panel) = panels.single() else {
        return;
    };
    // Delivery, views and purges are recorded without change detection (the display does not
    // need them): compare what the panel shows of each share instead.
    let mine = sharing.ledger.outgoing();
    let states: Vec<[bool; 4]> = mine
        .iter()
        .map(|s| [s.revoked, !s.delivered.is_empty(), s.viewed, s.purged])
        .collect();
    let states = (
        states,
        sharing.ledger.newcomers(),
        sharing.ledger.unverified(),
    );
    if drawn.as_ref() == Some(&states) && !picker.is_changed() {
        return;
    }
    *drawn = Some(states);
    // Who joined while something is shared, as the patient knows them: the name they show,
    // else their role.
    let who = |peer: PeerId| known_as(peer, avatars, &figures);
    // The list keeps where it was scrolled to (the layout clamps it to the new content).
    let scrolled = lists.iter().next().cloned().unwrap_or_default();
    let live = |shared_in: Option<usize>| {
        shared_in.is_some_and(|i| mine.get(i).is_some_and(|s| !s.revoked))
    };
    let mut root = commands.entity(panel);
    root.despawn_related::<Children>();
    let active = mine.iter().filter(|s| !s.revoked).count();
    let title = if picker.open {
        "What you share  (hide)".to_owned()
    } else {
        format!("What you share: {active} shared  (show)")
    };
    root.with_children(|p| {
        p.spawn(button(PickerAction::OpenClose, &title, BUTTON_BG, TEXT));
        // A newcomer is asked about whether the panel is open or not: nothing goes to them
        // until the patient answers.
        for peer in sharing.ledger.newcomers() {
            p.spawn(label(
                format!(
                    "{} joined. Share what you share now with them too?",
                    who(peer)
                ),
                15.0,
                TEXT,
            ));
            p.spawn(Node {
                column_gap: px(8),
                ..default()
            })
            .with_children(|line| {
                line.spawn(button(
                    PickerAction::AnswerNewcomer { peer, share: true },
                    "Share with them",
                    SHARE_BG,
                    Color::WHITE,
                ));
                line.spawn(button(
                    PickerAction::AnswerNewcomer { peer, share: false },
                    "Not now",
                    BUTTON_BG,
                    TEXT,
                ));
            });
        }
        // One whose clinic credential did not check out gets nothing unless the patient says so.
        for peer in sharing.ledger.unverified() {
            p.spawn(label(
                format!(
                    "{} is NOT verified by your clinic. Nothing is shared with them.",
                    who(peer)
                ),
                15.0,
                STOP_BG,
            ));
            p.spawn(button(
                PickerAction::TrustAnyway(peer),
                "Share with them anyway",
                BUTTON_BG,
                TEXT,
            ));
        }
        if !picker.open {
            return;
        }
        for refused in &picker.refused {
            p.spawn(label(
                format!("Not offered (nothing of it is sent): {}", refused.expose()),
                14.0,
                STOP_BG,
            ));
        }
        p.spawn(label(
            "Nothing is sent until you press Share. Tick what the clinician may see:",
            14.0,
            MUTED_TEXT,
        ));
        p.spawn((
            PickerList,
            Node {
                flex_direction: FlexDirection::Column,
                overflow: Overflow::scroll_y(),
                max_height: px(330),
                row_gap: px(2),
                ..default()
            },
            scrolled,
            RelativeCursorPosition::default(),
        ))
        .with_children(|list| {
            for (c, candidate) in picker.candidates.iter().enumerate() {
                match candidate {
                    Candidate::Prepared {
                        offer,
                        ticked,
                        shared_in,
                    } => {
                        let what = match offer.kind {
                            ObjectKind::Dicom => "Scan",
                            ObjectKind::Fhir => "Records",
                            _ => "Picture",
                        };
                        list.spawn(tick_row(
                            PickerAction::Toggle {
                                candidate: c,
                                row: None,
                            },
                            *ticked,
                            &format!(
                                "{what}: {}{}",
                                offer.label.expose(),
                                if live(*shared_in) { "  - shared" } else { "" }
                            ),
                            0.0,
                        ));
                        // Before it is shared: what de-identification cannot clean.
                        if let Some(caution) = offer.caution {
                            list.spawn(label(format!("    {caution}"), 13.0, STOP_BG));
                        }
                    }
                    Candidate::Records {
                        label: name, rows, ..
                    } => {
                        let all = rows.iter().all(|r| r.ticked);
                        list.spawn(tick_row(
                            PickerAction::ToggleAll {
                                candidate: c,
                                ticked: !all,
                            },
                            all,
                            &format!("Records: {} (all {} items)", name.expose(), rows.len()),
                            0.0,
                        ));
                        let mut section = None;
                        for (r, row) in rows.iter().enumerate() {
                            if section != Some(row.section) {
                                section = Some(row.section);
                                list.spawn((
                                    label(row.section.title(), 13.0, MUTED_TEXT),
                                    Node {
                                        margin: UiRect {
                                            left: px(22),
                                            top: px(4),
                                            ..default()
                                        },
                                        ..default()
                                    },
                                ));
                            }
                            list.spawn(tick_row(
                                PickerAction::Toggle {
                                    candidate: c,
                                    row: Some(r),
                                },
                                row.ticked,
                                &if live(row.shared_in) {
                                    format!("{}  - shared", row.text.expose())
                                } else {
                                    row.text.expose().clone()
                                },
                                22.0,
                            ));
                        }
                    }
                }
            }
        });
        let ticked = picker.ticked();
        p.spawn(button(
            PickerAction::ShareTicked,
            &format!("Share ticked ({ticked})"),
            if ticked > 0 { SHARE_BG } else { BUTTON_BG },
            if ticked > 0 { Color::WHITE } else { MUTED_TEXT },
        ));
        if let Some(notice) = &picker.notice {
            p.spawn(label(notice.clone(), 14.0, TEXT));
        }
        if !mine.is_empty() {
            p.spawn(label("Shared now:", 14.0, MUTED_TEXT));
        }
        for (i, share) in mine.iter().enumerate() {
            let state = share_state(share);
            p.spawn(Node {
                column_gap: px(8),
                align_items: AlignItems::Center,
                ..default()
            })
            .with_children(|line| {
                line.spawn(label(
                    format!("{} - {state}", share.offer.label.expose()),
                    14.0,
                    TEXT,
                ));
                if !share.revoked {
                    line.spawn(button(
                        PickerAction::Revoke(i),
                        "Stop sharing",
                        STOP_BG,
                        Color::WHITE,
                    ));
                }
            });
        }
    });
}

fn press(
    buttons: Query<'_, '_, (&PickerButton, &Interaction), Changed<Interaction>>,
    mut actions: MessageWriter<'_, PickerAction>,
) {
    for (button, interaction) in &buttons {
        if *interaction == Interaction::Pressed {
            actions.write(button.0);
        }
    }
}

/// The mouse wheel scrolls the list while the pointer is over it.
fn scroll(
    wheel: Res<'_, AccumulatedMouseScroll>,
    mut lists: Query<'_, '_, (&RelativeCursorPosition, &mut ScrollPosition), With<PickerList>>,
) {
    if wheel.delta.y == 0.0 {
        return;
    }
    let step = match wheel.unit {
        MouseScrollUnit::Line => 24.0,
        MouseScrollUnit::Pixel => 1.0,
    };
    for (cursor, mut position) in &mut lists {
        if cursor.cursor_over() {
            // Clamped to the content by the layout.
            position.y = (position.y - wheel.delta.y * step).max(0.0);
        }
    }
}
