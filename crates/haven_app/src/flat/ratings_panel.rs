//! Ratings in the window.
//!
//! - **The patient** sees a prompt when one is open: the question, a slider (0–100 in steps
//!   of 5, or 0–20 for sickness) with their own words at 0/25/50/75/100 if they set them,
//!   less/more buttons and "Send"; keys: digits set tenths of the scale (7 is 70), Enter
//!   sends (the arrows stay the view's). The seconds left before it counts as *no answer* show under it.
//! - **A therapist** sees the ratings panel on the right: ask SUDS (R) or FMS, type what the
//!   patient said (a value, "Enter it"); R asks SUDS too, the plan (SUDS every N minutes, a minute after each
//!   change, FMS every 2 minutes), each step's figures (predicted vs peak, the drop, time at
//!   the step, "at half of peak" as a hint), avoidance from the head, the fear ladder with
//!   "Next step" and "Step back" (one click each) and "Add this step", and notices (sickness
//!   at 15 or more: suggest a break).

use bevy::prelude::*;
use haven_proto::signal::Role;
use haven_scenes::ladder::Step;
use haven_scenes::player::Phase;
use haven_scenes::ratings::{
    ANSWER_WITHIN_MS, DEFAULT_EVERY_MS, FMS_EVERY_MS, Plan, Request, Scale, Source, Why,
};

use super::{BUTTON_BG, CHOSEN_BG, MUTED, PANEL_BG, TEXT, label};
use crate::scenes::{Scenes, now_ms};
use crate::session::SessionFigures;
use crate::therapy::{AskRating, LadderAction, RatingDraft, RatingInput, Therapy, TherapySettings};

/// The ratings panels of the window.
#[derive(Debug, Default)]
pub struct RatingsPanelPlugin;

impl Plugin for RatingsPanelPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<TypedEntry>().add_systems(
            Update,
            (spawn, keys, press, redraw)
                .chain()
                .after(crate::therapy::TherapySystems),
        );
    }
}

const BAR_BG: Color = Color::srgb(0.85, 0.87, 0.89);
const BAR_FILL: Color = Color::srgb(0.12, 0.39, 0.78);

/// The value a therapist types for the patient (what they said aloud).
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypedEntry {
    /// SUDS, in steps of 5.
    pub value: u8,
}

impl Default for TypedEntry {
    fn default() -> Self {
        Self { value: 50 }
    }
}

#[derive(Component)]
struct Panel;

/// What a button does.
#[derive(Component, Clone, Debug, PartialEq)]
enum Press {
    Rating(RatingInput),
    Ask(Request),
    Entry(i8),
    Ladder(LadderAction),
    SaveForTherapist,
}

fn spawn(
    mut commands: Commands<'_, '_>,
    panels: Query<'_, '_, (), With<Panel>>,
    figures: Res<'_, SessionFigures>,
) {
    let Some(me) = figures.me else {
        return;
    };
    if !panels.is_empty() {
        return;
    }
    let panel = Node {
        position_type: PositionType::Absolute,
        flex_direction: FlexDirection::Column,
        row_gap: px(6),
        padding: UiRect::all(px(10)),
        border_radius: BorderRadius::all(px(8)),
        ..default()
    };
    let node = match me.role {
        // Low in the view, over the table: the scene stays in sight above it.
        Role::Patient => Node {
            bottom: px(70),
            left: percent(28),
            width: px(560),
            ..panel
        },
        // At the right, under the scene console's top edge.
        _ => Node {
            top: px(110),
            right: px(12),
            width: px(360),
            ..panel
        },
    };
    commands.spawn((Panel, node, BackgroundColor(PANEL_BG), Visibility::Hidden));
}

fn button(press: Press, text: &str, bg: Color, fg: Color) -> impl Bundle + use<> {
    super::panel_button(press, text, bg, fg)
}

/// The patient: digits set tenths of the scale, Enter sends. A therapist: R asks SUDS.
fn keys(
    keys: Res<'_, ButtonInput<KeyCode>>,
    figures: Res<'_, SessionFigures>,
    draft: Res<'_, RatingDraft>,
    mut input: MessageWriter<'_, RatingInput>,
    mut ask: MessageWriter<'_, AskRating>,
) {
    match figures.me.map(|m| m.role) {
        Some(Role::Patient) if draft.prompt.is_some() => {
            let digits = super::DIGITS;
            if let Some(d) = digits.iter().position(|k| keys.just_pressed(*k))
                && let Some(prompt) = draft.prompt
            {
                // Tenths of the scale: 7 is 70 of SUDS, 14 of FMS.
                let value = u32::from(prompt.scale.max()) * d as u32 / 10;
                input.write(RatingInput::Set(
                    u8::try_from(value).unwrap_or(0) / prompt.scale.step() * prompt.scale.step(),
                ));
            }
            if keys.any_just_pressed([KeyCode::Enter, KeyCode::NumpadEnter]) {
                input.write(RatingInput::Send);
            }
        }
        Some(Role::Therapist) if keys.just_pressed(KeyCode::KeyR) => {
            ask.write(AskRating(Request::Ask { scale: Scale::Suds }));
        }
        _ => {}
    }
}

fn press(
    buttons: Query<'_, '_, (&Press, &Interaction), Changed<Interaction>>,
    scenes: Res<'_, Scenes>,
    mut entry: ResMut<'_, TypedEntry>,
    mut settings: ResMut<'_, TherapySettings>,
    mut input: MessageWriter<'_, RatingInput>,
    mut ask: MessageWriter<'_, AskRating>,
    mut ladder: MessageWriter<'_, LadderAction>,
) {
    for (press, interaction) in &buttons {
        if *interaction != Interaction::Pressed {
            continue;
        }
        match press {
            Press::Rating(i) => {
                input.write(*i);
            }
            Press::Ask(r) => {
                ask.write(AskRating(*r));
            }
            Press::Entry(0) => {
                ask.write(AskRating(Request::Entry {
                    scale: Scale::Suds,
                    value: entry.value,
                }));
            }
            Press::Entry(step) => entry.value = Scale::Suds.nudge(entry.value, i32::from(*step)),
            Press::Ladder(LadderAction::Add(_)) => {
                // This step: the scene and intensity now, with their pins, at the value typed
                // as its prediction.
                let state = scenes.player.state();
                if let Some(scene) = state.scene {
                    ladder.write(LadderAction::Add(Step {
                        scene,
                        intensity: state.intensity,
                        pins: state.pins.clone(),
                        predicted: entry.value,
                    }));
                }
            }
            Press::Ladder(action) => {
                ladder.write(action.clone());
            }
            Press::SaveForTherapist => settings.save_for_therapist = !settings.save_for_therapist,
        }
    }
}

fn clock(ms: u64) -> String {
    let s = ms / 1000;
    format!("{}:{:02}", s / 60, s % 60)
}

fn percent_of(value: Option<f32>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{:.0} %", v * 100.0))
}

/// The panel, rebuilt when what it says changes.
#[expect(
    clippy::too_many_arguments,
    reason = "one system: the panel from the ratings' state"
)]
fn redraw(
    mut commands: Commands<'_, '_>,
    time: Res<'_, Time<Real>>,
    figures: Res<'_, SessionFigures>,
    scenes: Res<'_, Scenes>,
    therapy: Res<'_, Therapy>,
    draft: Res<'_, RatingDraft>,
    settings: Res<'_, TherapySettings>,
    entry: Res<'_, TypedEntry>,
    panels: Query<'_, '_, Entity, With<Panel>>,
    mut visibility: Query<'_, '_, &mut Visibility, With<Panel>>,
    mut drawn: Local<'_, String>,
) {
    let Ok(panel) = panels.single() else {
        return;
    };
    let role = figures.me.map(|m| m.role);
    let now = scenes.player_time(now_ms(&time));
    let at = therapy.at(now);
    let record = therapy.record();
    let open = therapy.open();
    // Seconds shown change the key once a second; the rest only on change.
    let key = format!(
        "{role:?}|{}|{:?}|{}|{}|{}|{}|{:?}|{}|{:?}|{}|{:?}",
        record.entries.len(),
        *draft,
        open.first().map_or(0, |p| p
            .asked
            .saturating_add(ANSWER_WITHIN_MS)
            .saturating_sub(at)
            / 1000),
        entry.value,
        therapy.ladder.steps.len(),
        therapy.ladder.at.unwrap_or(99),
        scenes.player.phase(),
        settings.save_for_therapist,
        therapy.pending.as_ref().map(|p| p.index),
        at / 5_000,
        therapy.patient_notice,
    );
    if *drawn == key {
        return;
    }
    drawn.clone_from(&key);
    let shown = match role {
        Some(Role::Therapist) => true,
        Some(Role::Patient) => {
            draft.prompt.is_some()
                || scenes.player.phase() != Phase::Consult
                || therapy.patient_notice.is_some()
        }
        _ => false,
    };
    if let Ok(mut v) = visibility.single_mut() {
        v.set_if_neq(if shown {
            Visibility::Inherited
        } else {
            Visibility::Hidden
        });
    }
    let mut root = commands.entity(panel);
    root.despawn_related::<Children>();
    root.with_children(|p| match role {
        Some(Role::Patient) => patient(p, &draft, &settings, therapy.patient_notice.as_deref(), at),
        Some(Role::Therapist) => therapist(p, &therapy, &scenes, &entry, at),
        _ => {}
    });
}

fn patient(
    p: &mut ChildSpawnerCommands<'_>,
    draft: &RatingDraft,
    settings: &TherapySettings,
    notice: Option<&str>,
    at: u64,
) {
    let Some(prompt) = draft.prompt else {
        if let Some(notice) = notice {
            p.spawn(label(notice.to_owned(), 14.0, TEXT));
        }
        // Between prompts, during a scene: whether the therapist may keep the report.
        p.spawn(button(
            Press::SaveForTherapist,
            if settings.save_for_therapist {
                "Your session report: the clinic may keep a copy (change)"
            } else {
                "Your session report: on this computer only (change)"
            },
            BUTTON_BG,
            TEXT,
        ));
        return;
    };
    let question = match prompt.why {
        Why::Prediction { scene, intensity } => format!(
            "{} ({} at {intensity} of 10)",
            prompt.scale.question(prompt.why),
            scene.name()
        ),
        _ => prompt.scale.question(prompt.why).to_owned(),
    };
    p.spawn(label(question, 17.0, TEXT));
    // The slider: a bar filled to the value, the value beside it.
    p.spawn(Node {
        column_gap: px(8),
        align_items: AlignItems::Center,
        ..default()
    })
    .with_children(|line| {
        line.spawn(button(
            Press::Rating(RatingInput::Nudge(-1)),
            "less",
            BUTTON_BG,
            TEXT,
        ));
        line.spawn((
            Node {
                width: px(300),
                height: px(16),
                border_radius: BorderRadius::all(px(8)),
                ..default()
            },
            BackgroundColor(BAR_BG),
            children![(
                Node {
                    width: percent(100.0 * f32::from(draft.value) / f32::from(prompt.scale.max())),
                    height: percent(100),
                    border_radius: BorderRadius::all(px(8)),
                    ..default()
                },
                BackgroundColor(BAR_FILL),
            )],
        ));
        line.spawn(label(format!("{}", draft.value), 22.0, TEXT));
        line.spawn(button(
            Press::Rating(RatingInput::Nudge(1)),
            "more",
            BUTTON_BG,
            TEXT,
        ));
        line.spawn(button(
            Press::Rating(RatingInput::Send),
            "Send",
            CHOSEN_BG,
            Color::WHITE,
        ));
    });
    if prompt.scale == Scale::Suds
        && let Some(words) = &settings.anchors
    {
        p.spawn(label(
            format!(
                "0 {}  |  25 {}  |  50 {}  |  75 {}  |  100 {}",
                words[0], words[1], words[2], words[3], words[4]
            ),
            13.0,
            MUTED,
        ));
    }
    let left = prompt
        .asked
        .saturating_add(ANSWER_WITHIN_MS)
        .saturating_sub(at)
        / 1000;
    p.spawn(label(
        format!(
            "Keys 0-9 set it (7 is 70), Enter sends. {left} s, then it is left unanswered (that is fine)."
        ),
        13.0,
        MUTED,
    ));
}

fn therapist(
    p: &mut ChildSpawnerCommands<'_>,
    therapy: &Therapy,
    scenes: &Scenes,
    entry: &TypedEntry,
    at: u64,
) {
    let record = therapy.record();
    let ratings = record.ratings();
    p.spawn(label("Ratings", 16.0, TEXT));
    let last = |scale: Scale| {
        ratings
            .iter()
            .rev()
            .find(|r| r.scale == scale && !matches!(r.why, Why::Prediction { .. }))
            .map_or_else(
                || format!("{}: none yet", scale.name()),
                |r| match r.value {
                    Some(v) => format!(
                        "{} {v} ({}, {} ago)",
                        scale.name(),
                        r.source.describe(),
                        clock(at.saturating_sub(r.at))
                    ),
                    None => format!(
                        "{}: no answer {} ago",
                        scale.name(),
                        clock(at.saturating_sub(r.at))
                    ),
                },
            )
    };
    p.spawn(label(
        format!("{}   {}", last(Scale::Suds), last(Scale::Fms)),
        14.0,
        TEXT,
    ));
    for prompt in therapy.open() {
        p.spawn(label(
            format!(
                "Asked {} ({}): waiting, {} s left",
                prompt.scale.name(),
                prompt.why.describe(),
                prompt
                    .asked
                    .saturating_add(ANSWER_WITHIN_MS)
                    .saturating_sub(at)
                    / 1000
            ),
            13.0,
            MUTED,
        ));
    }
    p.spawn(Node {
        column_gap: px(5),
        row_gap: px(4),
        flex_wrap: FlexWrap::Wrap,
        align_items: AlignItems::Center,
        ..default()
    })
    .with_children(|line| {
        line.spawn(button(
            Press::Ask(Request::Ask { scale: Scale::Suds }),
            "Ask SUDS (R)",
            CHOSEN_BG,
            Color::WHITE,
        ));
        line.spawn(button(
            Press::Ask(Request::Ask { scale: Scale::Fms }),
            "Ask sickness (FMS)",
            BUTTON_BG,
            TEXT,
        ));
    });
    p.spawn(Node {
        column_gap: px(5),
        align_items: AlignItems::Center,
        ..default()
    })
    .with_children(|line| {
        line.spawn(label("They said:", 14.0, TEXT));
        line.spawn(button(Press::Entry(-1), "-", BUTTON_BG, TEXT));
        line.spawn(label(format!("{}", entry.value), 15.0, TEXT));
        line.spawn(button(Press::Entry(1), "+", BUTTON_BG, TEXT));
        line.spawn(button(Press::Entry(0), "Enter it", BUTTON_BG, TEXT));
    });
    // The plan, each part a toggle.
    let plan = therapy.plan();
    let period = |ms: u64| {
        if ms < 60_000 {
            format!("{} s", ms / 1000)
        } else {
            format!("{} min", ms / 60_000)
        }
    };
    let every = plan.every_ms.map_or("only when asked".to_owned(), |ms| {
        format!("every {}", period(ms))
    });
    let fms = plan
        .fms_every_ms
        .map_or("sickness: only when asked".to_owned(), |ms| {
            format!("sickness every {}", period(ms))
        });
    p.spawn(Node {
        column_gap: px(5),
        row_gap: px(4),
        flex_wrap: FlexWrap::Wrap,
        ..default()
    })
    .with_children(|line| {
        let toggled = |change: fn(&mut Plan)| {
            let mut next = plan;
            change(&mut next);
            Press::Ask(Request::Plan(next))
        };
        line.spawn(button(
            toggled(|p| {
                p.every_ms = match p.every_ms {
                    None => Some(DEFAULT_EVERY_MS),
                    Some(ms) if ms < 15 * 60_000 => Some(ms + 5 * 60_000),
                    Some(_) => None,
                }
            }),
            &format!("SUDS {every}"),
            BUTTON_BG,
            TEXT,
        ));
        line.spawn(button(
            toggled(|p| p.after_change = !p.after_change),
            if plan.after_change {
                "a minute after a change: on"
            } else {
                "a minute after a change: off"
            },
            BUTTON_BG,
            TEXT,
        ));
        line.spawn(button(
            toggled(|p| {
                p.fms_every_ms = match p.fms_every_ms {
                    None => Some(FMS_EVERY_MS),
                    Some(_) => None,
                }
            }),
            &fms,
            BUTTON_BG,
            TEXT,
        ));
    });
    // Each step's figures (the expectancy, the drop, the time), the latest three.
    let steps = record.steps(at);
    for s in steps.iter().rev().take(3).rev() {
        let n = |v: Option<u8>| v.map_or("-".to_owned(), |v| v.to_string());
        let hint = match s.half_of_peak {
            Some(true) => "; at half of peak",
            _ => "",
        };
        p.spawn(label(
            format!(
                "{} {}: predicted {}, peak {}, now {}; {} at it{}",
                s.scene.name(),
                s.intensity,
                n(s.predicted),
                n(s.peak),
                n(s.last),
                clock(s.end.saturating_sub(s.start)),
                hint
            ),
            13.0,
            TEXT,
        ));
    }
    let a = therapy.gaze.figures();
    p.spawn(label(
        format!(
            "Head on the stimulus {}; looked away {} times ({} s); looking down {}; safe room {}",
            percent_of(a.on_stimulus),
            a.look_aways,
            a.look_away_ms / 1000,
            percent_of(a.looking_down),
            clock(record.safe_ms(at)),
        ),
        13.0,
        MUTED,
    ));
    // The ladder: its steps, the one reached marked; next and back in one click each.
    p.spawn(label(
        if therapy.ladder.steps.is_empty() {
            "Fear ladder (the patient's): no steps yet"
        } else {
            "Fear ladder (the patient's)"
        },
        15.0,
        TEXT,
    ));
    for (i, step) in therapy.ladder.steps.iter().enumerate() {
        let mark = if therapy.ladder.at == Some(i) {
            ">"
        } else {
            " "
        };
        p.spawn(Node {
            column_gap: px(5),
            align_items: AlignItems::Center,
            ..default()
        })
        .with_children(|line| {
            line.spawn(label(
                format!(
                    "{mark} {}. {} at {} (expects {})",
                    i + 1,
                    step.scene.name(),
                    step.intensity,
                    step.predicted
                ),
                13.0,
                TEXT,
            ));
            line.spawn(button(
                Press::Ladder(LadderAction::Remove(u8::try_from(i).unwrap_or(u8::MAX))),
                "remove",
                BUTTON_BG,
                MUTED,
            ));
        });
    }
    p.spawn(Node {
        column_gap: px(5),
        row_gap: px(4),
        flex_wrap: FlexWrap::Wrap,
        ..default()
    })
    .with_children(|line| {
        let waiting = therapy.pending.is_some();
        line.spawn(button(
            Press::Ladder(LadderAction::Next),
            if waiting {
                "Next step (waiting for the prediction)"
            } else {
                "Next step"
            },
            CHOSEN_BG,
            Color::WHITE,
        ));
        line.spawn(button(
            Press::Ladder(LadderAction::Back),
            "Step back",
            BUTTON_BG,
            TEXT,
        ));
        if scenes.player.state().scene.is_some() {
            line.spawn(button(
                Press::Ladder(LadderAction::Add(Step {
                    scene: haven_scenes::SceneId::SafeRoom,
                    intensity: 0,
                    pins: Vec::new(),
                    predicted: 0,
                })),
                "Add this step (expects the value above)",
                BUTTON_BG,
                TEXT,
            ));
        }
    });
    for line in therapy.notices.iter().rev().take(2) {
        p.spawn(label(line.clone(), 13.0, MUTED));
    }
    let unanswered = ratings
        .iter()
        .filter(|r| r.source == Source::NoAnswer)
        .count();
    if unanswered > 0 {
        p.spawn(label(
            format!("{unanswered} left unanswered (recorded as no answer, never as 0)"),
            12.0,
            MUTED,
        ));
    }
}
