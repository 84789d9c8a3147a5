//! The scenes in the window: the fade to black over a scene change; for the patient, the
//! consent panel ("Start" / "Not now"), Esc to the safe room and the way back; for a therapist,
//! the console: scene buttons, the intensity with its ramp, one button per event (with
//! "announce"), an always-visible STOP (also Space), and the patient's state and for how long.

use bevy::prelude::*;
use haven_proto::signal::Role;
use haven_scenes::catalog::{Kind, ParamSpec};
use haven_scenes::player::{BREAK_AFTER_MS, DEFAULT_RAMP_MS, Phase, SafeReason};
use haven_scenes::{Command, SceneId};

use super::{BUTTON_BG, CHOSEN_BG, MUTED, PANEL_BG, TEXT, label};
use crate::scenes::{ChoosePresence, PatientAction, SceneFade, Scenes, TherapistAction, now_ms};
use crate::session::SessionFigures;

/// The scene panels of the window.
#[derive(Debug, Default)]
pub struct ScenePanelPlugin;

impl Plugin for ScenePanelPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Console>().add_systems(
            Update,
            (spawn, keys, press, redraw, fade)
                .chain()
                .after(crate::scenes::SceneSystems),
        );
    }
}

const STOP_BG: Color = Color::srgb(0.80, 0.33, 0.30);

/// The therapist's choices not yet sent: the intensity the slider shows, announce or not.
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct Console {
    /// The intensity the next scene or "set" uses.
    pub intensity: u8,
    /// Events fire with a cue 3 s before.
    pub announce: bool,
}

impl Default for Console {
    fn default() -> Self {
        Self {
            intensity: 2,
            announce: true,
        }
    }
}

#[derive(Component)]
struct Panel;

#[derive(Component)]
struct Blackout;

/// The console's line saying where the patient is and for how long.
#[derive(Component)]
struct StateLine;

/// A parameter's line on the console (its value, written in place as it ramps).
#[derive(Component)]
struct ParamValue(haven_scenes::Param);

/// "height: 42 m (pinned)".
fn param_line(spec: &ParamSpec, value: f32, pinned: bool) -> String {
    format!(
        "{}: {}{}",
        spec.name,
        shown_value(spec, value),
        if pinned { " (pinned)" } else { "" }
    )
}

/// What a button does.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
enum Press {
    Patient(Command),
    Therapist(Command),
    Intensity(i8),
    Announce,
    /// Pin a parameter at its value when pressed, one step from it (0: as it is).
    Pin(haven_scenes::Param, i8),
    /// The patient's next choice of how the therapist appears.
    Presence,
}

/// The keys that fire the scene's events, in the catalog's order (a seventh event has a
/// button only).
const EVENT_KEYS: [(KeyCode, &str); 6] = [
    (KeyCode::F1, "F1"),
    (KeyCode::F2, "F2"),
    (KeyCode::F3, "F3"),
    (KeyCode::F4, "F4"),
    (KeyCode::F5, "F5"),
    (KeyCode::F6, "F6"),
];

/// A parameter's value as the console shows it: a level's name, or the number and its unit.
fn shown_value(spec: &ParamSpec, value: f32) -> String {
    match spec.kind {
        Kind::Discrete { levels } => levels
            .get(value.round().max(0.0) as usize)
            .copied()
            .unwrap_or("?")
            .to_owned(),
        Kind::Continuous { unit, .. } if value >= 10.0 => format!("{value:.0} {unit}"),
        Kind::Continuous { unit, .. } => format!("{value:.1} {unit}"),
    }
}

/// The value one step from `value` (`step` ±1): the next level, or a tenth of the range,
/// kept within what the parameter takes.
fn stepped(spec: &ParamSpec, value: f32, step: i8) -> f32 {
    match spec.kind {
        Kind::Discrete { levels } => {
            (value.round() + f32::from(step)).clamp(0.0, (levels.len() - 1) as f32)
        }
        Kind::Continuous { min, max, .. } => {
            (value + f32::from(step) * (max - min) / 10.0).clamp(min, max)
        }
    }
}

fn spawn(
    mut commands: Commands<'_, '_>,
    panels: Query<'_, '_, (), With<Panel>>,
    figures: Res<'_, SessionFigures>,
) {
    if !panels.is_empty() || figures.me.is_none() {
        return;
    }
    commands.spawn((
        Panel,
        Node {
            position_type: PositionType::Absolute,
            top: px(12),
            left: percent(30),
            width: px(520),
            flex_direction: FlexDirection::Column,
            row_gap: px(6),
            padding: UiRect::all(px(10)),
            border_radius: BorderRadius::all(px(8)),
            ..default()
        },
        BackgroundColor(PANEL_BG),
        Visibility::Hidden,
    ));
    commands.spawn((
        Blackout,
        Node {
            position_type: PositionType::Absolute,
            width: percent(100),
            height: percent(100),
            ..default()
        },
        BackgroundColor(Color::srgba(0.0, 0.0, 0.0, 0.0)),
        GlobalZIndex(100),
    ));
}

fn button(press: Press, text: &str, bg: Color, fg: Color) -> impl Bundle + use<> {
    super::panel_button(press, text, bg, fg)
}

/// The patient's choice of how the therapist appears, as a button that changes it.
fn presence_button(presence: crate::scenes::TherapistPresence) -> impl Bundle + use<> {
    button(
        Press::Presence,
        &format!(
            "Your therapist in the scene: {} (change)",
            presence.describe()
        ),
        BUTTON_BG,
        TEXT,
    )
}

/// Esc: the patient to the safe room (no network needed); Space: the therapist's STOP; digits:
/// the therapist's intensity; F1-F6: the scene's events (announced if "announce" is on).
fn keys(
    keys: Res<'_, ButtonInput<KeyCode>>,
    figures: Res<'_, SessionFigures>,
    scenes: Res<'_, Scenes>,
    mut console: ResMut<'_, Console>,
    mut patient: MessageWriter<'_, PatientAction>,
    mut therapist: MessageWriter<'_, TherapistAction>,
) {
    match figures.me.map(|m| m.role) {
        Some(Role::Patient) if keys.just_pressed(KeyCode::Escape) => {
            patient.write(PatientAction(Command::EnterSafeRoom));
        }
        Some(Role::Therapist) => {
            if keys.just_pressed(KeyCode::Space) {
                therapist.write(TherapistAction(Command::Stop));
            }
            let digits = super::DIGITS;
            let events = scenes.player.showing().map_or(&[][..], SceneId::events);
            for ((key, _), event) in EVENT_KEYS.iter().zip(events) {
                if keys.just_pressed(*key) {
                    therapist.write(TherapistAction(Command::Fire {
                        event: *event,
                        announce: console.announce,
                    }));
                }
            }
            if let Some(d) = digits.iter().position(|k| keys.just_pressed(*k)) {
                console.intensity = d as u8;
                therapist.write(TherapistAction(Command::SetIntensity {
                    intensity: console.intensity,
                    ramp_ms: DEFAULT_RAMP_MS,
                }));
            }
        }
        _ => {}
    }
}

fn press(
    time: Res<'_, Time<Real>>,
    buttons: Query<'_, '_, (&Press, &Interaction), Changed<Interaction>>,
    scenes: Res<'_, Scenes>,
    mut console: ResMut<'_, Console>,
    mut patient: MessageWriter<'_, PatientAction>,
    mut therapist: MessageWriter<'_, TherapistAction>,
    mut presence: MessageWriter<'_, ChoosePresence>,
) {
    for (press, interaction) in &buttons {
        if *interaction != Interaction::Pressed {
            continue;
        }
        match *press {
            Press::Patient(command) => {
                patient.write(PatientAction(command));
            }
            Press::Therapist(command) => {
                // Another scene while one runs: end this one first (one scene at a time).
                if matches!(command, Command::Propose { .. })
                    && scenes.player.phase() == Phase::Running
                {
                    therapist.write(TherapistAction(Command::End));
                }
                therapist.write(TherapistAction(command));
            }
            Press::Intensity(step) => {
                console.intensity = console.intensity.saturating_add_signed(step).min(10);
                therapist.write(TherapistAction(Command::SetIntensity {
                    intensity: console.intensity,
                    ramp_ms: DEFAULT_RAMP_MS,
                }));
            }
            Press::Announce => console.announce = !console.announce,
            Press::Presence => {
                presence.write(ChoosePresence(scenes.presence.next()));
            }
            Press::Pin(param, step) => {
                // At its value now (it may have ramped since the panel was drawn).
                let now = scenes.player_time(now_ms(&time));
                let spec = scenes.player.showing().and_then(|s| s.spec(param));
                if let (Some(spec), Some(value)) = (spec, scenes.player.value(param, now)) {
                    let value = if step == 0 {
                        value
                    } else {
                        stepped(spec, value, step)
                    };
                    therapist.write(TherapistAction(Command::Pin { param, value }));
                }
            }
        }
    }
}

fn clock(ms: u64) -> String {
    let s = ms / 1000;
    format!("{}:{:02}", s / 60, s % 60)
}

/// What the panel says, as lines of (text, buttons): rebuilt when it changes.
#[expect(
    clippy::too_many_arguments,
    reason = "one system: the panel from the scene's state"
)]
fn redraw(
    mut commands: Commands<'_, '_>,
    time: Res<'_, Time<Real>>,
    figures: Res<'_, SessionFigures>,
    scenes: Res<'_, Scenes>,
    console: Res<'_, Console>,
    panels: Query<'_, '_, Entity, With<Panel>>,
    mut visibility: Query<'_, '_, &mut Visibility, With<Panel>>,
    mut nodes: Query<'_, '_, &mut Node, With<Panel>>,
    mut state_lines: Query<'_, '_, &mut Text, (With<StateLine>, Without<ParamValue>)>,
    mut value_lines: Query<'_, '_, (&ParamValue, &mut Text), Without<StateLine>>,
    mut drawn: Local<'_, Option<(String, Console)>>,
) {
    let Ok(panel) = panels.single() else {
        return;
    };
    let role = figures.me.map(|m| m.role);
    let now = scenes.player_time(now_ms(&time));
    let phase = scenes.player.phase();
    let scene = scenes.player.state().scene;
    let intensity = scenes.player.state().intensity;
    // What the patient is doing, for the therapist, and a key for redrawing.
    let state = match phase {
        Phase::Consult => "Patient: in the consult room".to_owned(),
        Phase::Proposed { scene, intensity } => format!(
            "Waiting for the patient to accept {} at {intensity}",
            scene.name()
        ),
        Phase::Running => {
            let since = now.saturating_sub(scenes.player.state().started);
            format!(
                "Patient: in {} at intensity {intensity} for {}{}",
                scene.map_or("?", SceneId::name),
                clock(since),
                if since >= BREAK_AFTER_MS {
                    " - time for a break?"
                } else {
                    ""
                }
            )
        }
        Phase::SafeRoom { why, since, .. } => format!(
            "Patient: in the SAFE ROOM ({}) for {}",
            match why {
                SafeReason::Patient => "they went",
                SafeReason::Stop => "STOP",
                SafeReason::TherapistSilent => "no heartbeat",
                SafeReason::TherapistLeft => "therapist left",
            },
            clock(now.saturating_sub(since))
        ),
    };
    // The running scene's parameters: spec, value now, pinned or not (the therapist's).
    let params: Vec<(&ParamSpec, f32, bool)> = match (role, scene) {
        (Some(Role::Therapist), Some(s)) if phase == Phase::Running => s
            .params()
            .iter()
            .filter_map(|spec| {
                let value = scenes.player.value(spec.param, now)?;
                let pinned = scenes
                    .player
                    .state()
                    .pins
                    .iter()
                    .any(|(p, _)| *p == spec.param);
                Some((spec, value, pinned))
            })
            .collect(),
        _ => Vec::new(),
    };
    // Which are pinned (the values themselves are written in place below: a ramp must not
    // rebuild the panel twenty times a second).
    let shown: Vec<bool> = params.iter().map(|(_, _, pinned)| *pinned).collect();
    for (ParamValue(param), mut text) in &mut value_lines {
        if let Some((spec, value, pinned)) = params.iter().find(|(s, _, _)| s.param == *param) {
            let next = param_line(spec, *value, *pinned);
            if text.0 != next {
                text.0 = next;
            }
        }
    }
    // The state line's clock moves every second: its text is updated in place, and the panel
    // is rebuilt only when something else changes (a rebuild can leave it empty for a frame).
    for mut text in &mut state_lines {
        if text.0 != state {
            text.0.clone_from(&state);
        }
    }
    let key = format!(
        "{role:?}|{phase:?}|{scene:?}|{intensity}|{}|{}|{}|{shown:?}|{:?}",
        scenes.refused.len(),
        scenes.dropped.len(),
        scenes.notices.len(),
        scenes.presence
    );
    if drawn.as_ref() == Some(&(key.clone(), *console)) {
        return;
    }
    *drawn = Some((key, *console));
    let shown = match role {
        Some(Role::Therapist) => true,
        Some(Role::Patient) => phase != Phase::Consult,
        _ => false,
    };
    if let Ok(mut v) = visibility.single_mut() {
        v.set_if_neq(if shown {
            Visibility::Inherited
        } else {
            Visibility::Hidden
        });
    }
    // The patient's way out during a scene is one small button, not a panel over the view.
    if let Ok(mut node) = nodes.single_mut() {
        let width = if role == Some(Role::Patient) && phase == Phase::Running {
            Val::Auto
        } else {
            px(520)
        };
        if node.width != width {
            node.width = width;
        }
    }
    let mut root = commands.entity(panel);
    root.despawn_related::<Children>();
    root.with_children(|p| match role {
        Some(Role::Patient) => match phase {
            Phase::Proposed { scene, intensity } => {
                p.spawn(label(
                    format!(
                        "Your therapist suggests: {} at intensity {intensity} of 10.",
                        scene.name()
                    ),
                    17.0,
                    TEXT,
                ));
                p.spawn(label(
                    "You can go to the safe room at any moment with Esc.",
                    14.0,
                    MUTED,
                ));
                p.spawn(presence_button(scenes.presence));
                p.spawn(Node {
                    column_gap: px(8),
                    ..default()
                })
                .with_children(|line| {
                    line.spawn(button(
                        Press::Patient(Command::Accept),
                        "Start",
                        CHOSEN_BG,
                        Color::WHITE,
                    ));
                    line.spawn(button(
                        Press::Patient(Command::Decline),
                        "Not now",
                        BUTTON_BG,
                        TEXT,
                    ));
                });
            }
            // During the scene, the way out is always in sight.
            Phase::Running => {
                p.spawn(button(
                    Press::Patient(Command::EnterSafeRoom),
                    "Safe room (Esc)",
                    BUTTON_BG,
                    TEXT,
                ));
            }
            Phase::SafeRoom { .. } => {
                p.spawn(label(
                    "You are in the safe room. Take your time.",
                    17.0,
                    TEXT,
                ));
                p.spawn(button(
                    Press::Patient(Command::LeaveSafeRoom),
                    "Go back when you are ready",
                    BUTTON_BG,
                    TEXT,
                ));
                p.spawn(presence_button(scenes.presence));
            }
            _ => {}
        },
        Some(Role::Therapist) => {
            p.spawn((StateLine, label(state, 16.0, TEXT)));
            p.spawn(Node {
                column_gap: px(6),
                flex_wrap: FlexWrap::Wrap,
                ..default()
            })
            .with_children(|line| {
                for s in SceneId::ALL.into_iter().filter(|s| *s != SceneId::SafeRoom) {
                    let bg = if scene == Some(s) {
                        CHOSEN_BG
                    } else {
                        BUTTON_BG
                    };
                    let fg = if scene == Some(s) { Color::WHITE } else { TEXT };
                    line.spawn(button(
                        Press::Therapist(Command::Propose {
                            scene: s,
                            intensity: console.intensity,
                        }),
                        s.name(),
                        bg,
                        fg,
                    ));
                }
                line.spawn(button(
                    Press::Therapist(Command::End),
                    "End scene",
                    BUTTON_BG,
                    TEXT,
                ));
            });
            p.spawn(Node {
                column_gap: px(6),
                align_items: AlignItems::Center,
                ..default()
            })
            .with_children(|line| {
                line.spawn(button(Press::Intensity(-1), "-", BUTTON_BG, TEXT));
                line.spawn(label(
                    format!(
                        "intensity {} (0-9 keys; ramp {} s)",
                        console.intensity,
                        DEFAULT_RAMP_MS / 1000
                    ),
                    15.0,
                    TEXT,
                ));
                line.spawn(button(Press::Intensity(1), "+", BUTTON_BG, TEXT));
                line.spawn(button(
                    Press::Announce,
                    if console.announce {
                        "announce: on"
                    } else {
                        "announce: off"
                    },
                    BUTTON_BG,
                    TEXT,
                ));
            });
            if let Some(s) = scene {
                p.spawn(Node {
                    column_gap: px(6),
                    flex_wrap: FlexWrap::Wrap,
                    ..default()
                })
                .with_children(|line| {
                    for (i, event) in s.events().iter().enumerate() {
                        let text = match EVENT_KEYS.get(i) {
                            Some((_, key)) => format!("{} ({key})", event.name()),
                            None => event.name().to_owned(),
                        };
                        line.spawn(button(
                            Press::Therapist(Command::Fire {
                                event: *event,
                                announce: console.announce,
                            }),
                            &text,
                            BUTTON_BG,
                            TEXT,
                        ));
                    }
                });
                // Each parameter: its value now, and a pin that holds it whatever the
                // intensity (with steps while pinned).
                for (spec, value, pinned) in &params {
                    p.spawn(Node {
                        column_gap: px(6),
                        align_items: AlignItems::Center,
                        ..default()
                    })
                    .with_children(|line| {
                        line.spawn((
                            ParamValue(spec.param),
                            label(param_line(spec, *value, *pinned), 14.0, TEXT),
                        ));
                        if *pinned {
                            for (step, text) in [(-1, "-"), (1, "+")] {
                                line.spawn(button(
                                    Press::Pin(spec.param, step),
                                    text,
                                    BUTTON_BG,
                                    TEXT,
                                ));
                            }
                            line.spawn(button(
                                Press::Therapist(Command::Unpin { param: spec.param }),
                                "unpin",
                                BUTTON_BG,
                                TEXT,
                            ));
                        } else {
                            line.spawn(button(Press::Pin(spec.param, 0), "pin", BUTTON_BG, TEXT));
                        }
                    });
                }
            }
            p.spawn(button(
                Press::Therapist(Command::Stop),
                "STOP: to the safe room (Space)",
                STOP_BG,
                Color::WHITE,
            ));
            for line in scenes.notices.iter().rev().take(2) {
                p.spawn(label(line.clone(), 13.0, MUTED));
            }
            if let Some(last) = scenes.dropped.last() {
                p.spawn(label(
                    format!(
                        "Dropped ({last}): the patient was in the safe room. {} dropped so far.",
                        scenes.dropped.len()
                    ),
                    13.0,
                    MUTED,
                ));
            }
        }
        _ => {}
    });
}

/// The fade to black and back, over the whole window.
fn fade(
    time: Res<'_, Time<Real>>,
    scene_fade: Res<'_, SceneFade>,
    mut blackout: Query<'_, '_, &mut BackgroundColor, With<Blackout>>,
) {
    let alpha = scene_fade.alpha(now_ms(&time));
    for mut bg in &mut blackout {
        let next = Color::srgba(0.0, 0.0, 0.0, alpha);
        if bg.0 != next {
            bg.0 = next;
        }
    }
}
