//! The flat front end: a desktop window with a seated view across the table.
//!
//! - Look: drag with the right mouse button. Move: W/A/S/D or the arrow keys (Shift: faster);
//!   Home goes back to the seat. The view stays inside the room.
//! - The local hands follow the mouse pointer (the right hand sits on the ray under it), so
//!   holding the left mouse button points the shared laser at what is under the pointer.
//! - The HUD: who is here (role, name or "anonymous", speaking, muted, connection), a mute
//!   button (M) and a leave button.
//!
//! It writes the local rig ([`LocalHead`], [`LocalHand`], [`LocalPointer`]) and never touches
//! the room; the XR front end writes the same rig from the headset.

use bevy::input::mouse::AccumulatedMouseMotion;
use bevy::prelude::*;
use bevy::window::PrimaryWindow;

pub mod display_keys;
pub mod look_panel;
pub mod patient_view;
pub mod picker_panel;
pub mod ratings_panel;
pub mod scene_panel;

use crate::button::FrontEnd;
use crate::hit::{HitBox, first_hit};
use crate::layout::Seat;
use crate::rig::{LocalHand, LocalHead, LocalPointer, Side};
use crate::session::{LeaveRequested, ReconnectMedia, SessionFigures, TryAgain};
use crate::trust::PeerTrust;
use crate::voice::{SetMuted, VoiceActivity};

/// The flat camera, controls and session panels.
#[derive(Debug, Default)]
pub struct FlatPlugin;

/// Makes DejaVu Sans the window's default font (in place of Bevy's FiraMono subset, which
/// lacks curly quotes, dashes, the ellipsis, µ and most accented, Greek and Cyrillic letters
/// that real records carry). Before the text systems first run, so it is the one they load.
pub fn install_font(fonts: &mut Assets<Font>) {
    let font = Font::from_bytes(haven_report::chart::FONT.to_vec());
    if let Err(why) = fonts.insert(AssetId::default(), font) {
        warn!(%why, "the window's font could not be installed; Bevy's default stays");
    }
}

impl Plugin for FlatPlugin {
    fn build(&self, app: &mut App) {
        if let Some(mut fonts) = app.world_mut().get_resource_mut::<Assets<Font>>() {
            install_font(&mut fonts);
        }
        app.init_resource::<FrontEnd>()
            .add_plugins((
                picker_panel::PickerPanelPlugin,
                look_panel::LookPanelPlugin,
                display_keys::DisplayKeysPlugin,
                scene_panel::ScenePanelPlugin,
                ratings_panel::RatingsPanelPlugin,
                patient_view::PatientViewPlugin,
            ))
            .add_systems(
                Update,
                (
                    spawn_flat.run_if(flat_without_camera),
                    (reseat, look_and_move, hands_and_pointer, buttons, shortcuts)
                        .chain()
                        .run_if(flat_active.and_then(resource_exists::<FlatView>)),
                    update_hud,
                ),
            );
    }
}

fn flat_active(front: Res<'_, FrontEnd>) -> bool {
    *front == FrontEnd::Flat
}

fn flat_without_camera(
    front: Res<'_, FrontEnd>,
    cameras: Query<'_, '_, (), With<FlatCamera>>,
) -> bool {
    *front == FrontEnd::Flat && cameras.is_empty()
}

/// Where the flat view looks from.
#[derive(Resource, Clone, Copy, Debug, PartialEq)]
pub struct FlatView {
    /// Eye position, room frame.
    pub position: Vec3,
    /// Turn about the vertical, radians (0 looks along −z, at the patient).
    pub yaw: f32,
    /// Up/down, radians.
    pub pitch: f32,
}

impl Default for FlatView {
    fn default() -> Self {
        Self::seated(Seat::default())
    }
}

impl FlatView {
    /// Seated, looking across the table.
    pub fn seated(seat: Seat) -> Self {
        let d = (seat.looks_at - seat.eyes).normalize();
        Self {
            position: seat.eyes,
            yaw: (-d.x).atan2(-d.z),
            pitch: d.y.asin(),
        }
    }

    /// The eye's transform.
    pub fn transform(&self) -> Transform {
        Transform::from_translation(self.position).with_rotation(Quat::from_euler(
            EulerRot::YXZ,
            self.yaw,
            self.pitch,
            0.0,
        ))
    }
}

/// The flat camera (it is also the local head).
#[derive(Component, Debug)]
pub struct FlatCamera;

#[derive(Component)]
struct HudText;

#[derive(Component)]
struct StatusLine;

#[derive(Component, Clone, Copy, PartialEq, Eq, Debug)]
enum HudButton {
    Mute,
    Words,
    Leave,
}

const HUD_TEXT: Color = Color::srgb(0.13, 0.16, 0.20);
const HUD_BG: Color = Color::srgba(0.97, 0.97, 0.95, 0.82);
/// The panels' colours: text, quieter text, a panel's ground, a button, the chosen button.
pub(super) const TEXT: Color = HUD_TEXT;
pub(super) const MUTED: Color = Color::srgb(0.38, 0.42, 0.46);
pub(super) const PANEL_BG: Color = Color::srgba(0.97, 0.97, 0.95, 0.92);
pub(super) const BUTTON_BG: Color = Color::srgb(0.90, 0.92, 0.93);
pub(super) const CHOSEN_BG: Color = Color::srgb(0.16, 0.50, 0.52);
const BUTTON_HOVER: Color = Color::srgb(0.82, 0.88, 0.90);
const LEAVE_BG: Color = Color::srgb(0.80, 0.33, 0.30);

/// The room's walls keep the view in.
const ROOM_HALF: f32 = 2.6;

/// The seat the view was last placed from.
#[derive(Resource)]
struct SeatedFrom(Seat);

/// The seat changed after the window opened (in a group room, once the welcome says which
/// chair, or a resume gave another): the view moves there. Compared by value, so a change
/// made before this first runs (a welcome in the first frame) is not missed.
fn reseat(
    seat: Option<Res<'_, Seat>>,
    from: Option<ResMut<'_, SeatedFrom>>,
    mut view: ResMut<'_, FlatView>,
    mut camera: Query<'_, '_, &mut Transform, With<FlatCamera>>,
) {
    let (Some(seat), Some(mut from)) = (seat, from) else {
        return;
    };
    if *seat == from.0 {
        return;
    }
    from.0 = *seat;
    *view = FlatView::seated(*seat);
    for mut t in &mut camera {
        *t = view.transform();
    }
}

fn spawn_flat(mut commands: Commands<'_, '_>, seat: Option<Res<'_, Seat>>) {
    let seat = seat.map(|s| *s).unwrap_or_default();
    let view = FlatView::seated(seat);
    commands.insert_resource(view);
    commands.insert_resource(SeatedFrom(seat));
    commands.spawn((Camera3d::default(), FlatCamera, LocalHead, view.transform()));
    for side in [Side::Left, Side::Right] {
        commands.spawn((
            LocalHand {
                side,
                tracked: true,
            },
            Transform::from_translation(view.position),
        ));
    }
    // Who is here, top left.
    commands.spawn((
        HudText,
        Text::new("Connecting..."),
        TextFont::from_font_size(17.0),
        TextColor(HUD_TEXT),
        Node {
            position_type: PositionType::Absolute,
            top: px(12),
            left: px(12),
            padding: UiRect::axes(px(12), px(8)),
            border_radius: BorderRadius::all(px(8)),
            ..default()
        },
        BackgroundColor(HUD_BG),
    ));
    // The bar at the bottom: status, mute, leave.
    commands
        .spawn((Node {
            position_type: PositionType::Absolute,
            bottom: px(12),
            left: px(12),
            right: px(12),
            column_gap: px(10),
            align_items: AlignItems::Center,
            ..default()
        },))
        .with_children(|bar| {
            bar.spawn((
                StatusLine,
                Text::new(""),
                TextFont::from_font_size(15.0),
                TextColor(HUD_TEXT),
                Node {
                    flex_grow: 1.0,
                    padding: UiRect::axes(px(10), px(6)),
                    border_radius: BorderRadius::all(px(6)),
                    ..default()
                },
                BackgroundColor(HUD_BG),
            ));
            for (button, label, bg) in [
                (HudButton::Mute, "Mute (M)", BUTTON_BG),
                (HudButton::Words, "Safety words (V)", BUTTON_BG),
                (HudButton::Leave, "Leave", LEAVE_BG),
            ] {
                bar.spawn((
                    button,
                    Button,
                    Node {
                        padding: UiRect::axes(px(16), px(8)),
                        border_radius: BorderRadius::all(px(6)),
                        ..default()
                    },
                    BackgroundColor(bg),
                ))
                .with_child((
                    Text::new(label),
                    TextFont::from_font_size(16.0),
                    TextLayout::new(Justify::Left, LineBreak::NoWrap),
                    TextColor(if button == HudButton::Leave {
                        Color::WHITE
                    } else {
                        HUD_TEXT
                    }),
                ));
            }
        });
}

fn look_and_move(
    mouse: Res<'_, ButtonInput<MouseButton>>,
    motion: Res<'_, AccumulatedMouseMotion>,
    keys: Res<'_, ButtonInput<KeyCode>>,
    time: Res<'_, Time>,
    seat: Option<Res<'_, Seat>>,
    mut view: ResMut<'_, FlatView>,
    mut camera: Query<'_, '_, &mut Transform, With<FlatCamera>>,
) {
    let mut next = *view;
    if mouse.pressed(MouseButton::Right) {
        next.yaw -= motion.delta.x * 0.004;
        next.pitch = (next.pitch - motion.delta.y * 0.004).clamp(-1.3, 1.3);
    }
    let mut step = Vec2::ZERO;
    for (keys_for, dir) in [
        ([KeyCode::KeyW, KeyCode::ArrowUp], Vec2::new(0.0, 1.0)),
        ([KeyCode::KeyS, KeyCode::ArrowDown], Vec2::new(0.0, -1.0)),
        ([KeyCode::KeyA, KeyCode::ArrowLeft], Vec2::new(-1.0, 0.0)),
        ([KeyCode::KeyD, KeyCode::ArrowRight], Vec2::new(1.0, 0.0)),
    ] {
        if keys.any_pressed(keys_for) {
            step += dir;
        }
    }
    if step != Vec2::ZERO {
        let speed = if keys.pressed(KeyCode::ShiftLeft) {
            2.0
        } else {
            0.9
        };
        let step = step.normalize() * speed * time.delta_secs();
        let forward = Vec3::new(-next.yaw.sin(), 0.0, -next.yaw.cos());
        let right = Vec3::new(next.yaw.cos(), 0.0, -next.yaw.sin());
        next.position += forward * step.y + right * step.x;
        next.position.x = next.position.x.clamp(-ROOM_HALF, ROOM_HALF);
        next.position.z = next.position.z.clamp(-ROOM_HALF, ROOM_HALF);
    }
    if keys.just_pressed(KeyCode::Home) {
        next = FlatView::seated(seat.map(|s| *s).unwrap_or_default());
    }
    if next != *view {
        *view = next;
    }
    for mut t in &mut camera {
        *t = view.transform();
    }
}

fn hands_and_pointer(
    window: Query<'_, '_, &Window, With<PrimaryWindow>>,
    camera: Query<'_, '_, (&Camera, &GlobalTransform, &Transform), With<FlatCamera>>,
    mut hands: Query<'_, '_, (&LocalHand, &mut Transform), Without<FlatCamera>>,
    mouse: Res<'_, ButtonInput<MouseButton>>,
    targets: Query<'_, '_, (&HitBox, &GlobalTransform)>,
    ui: Query<'_, '_, &Interaction>,
    mut pointer: ResMut<'_, LocalPointer>,
) {
    let Ok((camera, at, eye)) = camera.single() else {
        return;
    };
    // The ray under the mouse (straight ahead when the mouse is outside the window).
    let ray = window
        .single()
        .ok()
        .and_then(|w| w.cursor_position())
        .and_then(|c| camera.viewport_to_world(at, c).ok())
        .map_or((eye.translation, eye.forward().as_vec3()), |r| {
            (r.origin, r.direction.as_vec3())
        });
    let (origin, direction) = ray;
    let right = eye.right().as_vec3();
    let down = -Vec3::Y;
    for (hand, mut t) in &mut hands {
        let target = match hand.side {
            // The right hand sits on the ray, half a metre out: it follows the mouse.
            Side::Right => origin + direction * 0.5 + down * 0.05,
            // The left one rests forward and low.
            Side::Left => {
                eye.translation + eye.forward().as_vec3() * 0.35 - right * 0.2 + down * 0.4
            }
        };
        t.translation = target;
        t.rotation = Transform::IDENTITY.looking_to(direction, Vec3::Y).rotation;
    }
    let over_ui = ui.iter().any(|i| *i != Interaction::None);
    let active = mouse.pressed(MouseButton::Left) && !over_ui;
    // The beam leaves the right hand and lands where the mouse ray hits.
    let hand = origin + direction * 0.5 + down * 0.05;
    let aim = first_hit(origin, direction, targets).unwrap_or(origin + direction * 6.0);
    let next = LocalPointer {
        active,
        origin: hand,
        direction: (aim - hand).normalize_or(direction),
    };
    if *pointer != next {
        *pointer = next;
    }
}

fn buttons(
    mut buttons: Query<
        '_,
        '_,
        (&HudButton, &Interaction, &mut BackgroundColor),
        Changed<Interaction>,
    >,
    activity: Res<'_, VoiceActivity>,
    mut trust: ResMut<'_, PeerTrust>,
    mut mute: MessageWriter<'_, SetMuted>,
    mut leave: MessageWriter<'_, LeaveRequested>,
) {
    for (button, interaction, mut bg) in &mut buttons {
        let base = match button {
            HudButton::Mute | HudButton::Words => BUTTON_BG,
            HudButton::Leave => LEAVE_BG,
        };
        bg.0 = match interaction {
            Interaction::Pressed => {
                match button {
                    HudButton::Mute => {
                        mute.write(SetMuted(!activity.muted));
                    }
                    HudButton::Words => trust.show_words = !trust.show_words,
                    HudButton::Leave => {
                        leave.write(LeaveRequested);
                    }
                }
                base
            }
            Interaction::Hovered if *button != HudButton::Leave => BUTTON_HOVER,
            _ => base,
        };
    }
}

fn shortcuts(
    keys: Res<'_, ButtonInput<KeyCode>>,
    activity: Res<'_, VoiceActivity>,
    figures: Res<'_, SessionFigures>,
    mut trust: ResMut<'_, PeerTrust>,
    mut mute: MessageWriter<'_, SetMuted>,
    mut try_again: MessageWriter<'_, TryAgain>,
    mut reconnect_media: MessageWriter<'_, ReconnectMedia>,
) {
    if keys.just_pressed(KeyCode::F5) {
        for &peer in &figures.lost {
            try_again.write(TryAgain(peer));
        }
        if figures.media_lost.is_some() {
            reconnect_media.write(ReconnectMedia);
        }
    }
    if keys.just_pressed(KeyCode::KeyM) {
        mute.write(SetMuted(!activity.muted));
    }
    if keys.just_pressed(KeyCode::KeyV) {
        trust.show_words = !trust.show_words;
    }
}

/// A line of panel text (the panels' one text style, at a size and colour).
pub(super) fn label(text: impl Into<String>, size: f32, colour: Color) -> impl Bundle {
    (
        Text::new(text),
        TextFont::from_font_size(size),
        TextColor(colour),
    )
}

/// The digit keys 0-9, in order (the therapist's intensity, the patient's rating).
pub(super) const DIGITS: [KeyCode; 10] = [
    KeyCode::Digit0,
    KeyCode::Digit1,
    KeyCode::Digit2,
    KeyCode::Digit3,
    KeyCode::Digit4,
    KeyCode::Digit5,
    KeyCode::Digit6,
    KeyCode::Digit7,
    KeyCode::Digit8,
    KeyCode::Digit9,
];

/// A panel's button: `press` says what it does (each panel's own component).
pub(super) fn panel_button<P: Component>(
    press: P,
    text: &str,
    bg: Color,
    fg: Color,
) -> impl Bundle + use<P> {
    (
        press,
        Button,
        Node {
            padding: UiRect::axes(px(10), px(5)),
            border_radius: BorderRadius::all(px(6)),
            ..default()
        },
        BackgroundColor(bg),
        children![label(text.to_owned(), 15.0, fg)],
    )
}

fn role_name(role: haven_proto::signal::Role) -> &'static str {
    match role {
        haven_proto::signal::Role::Patient => "Patient",
        haven_proto::signal::Role::Clinician => "Clinician",
        haven_proto::signal::Role::Therapist => "Therapist",
    }
}

/// A one-word reading of a connection, from its round trip and loss.
pub fn quality(rtt_ms: Option<f64>, lost: i64, received: u64) -> &'static str {
    let loss = if received == 0 {
        0.0
    } else {
        lost.max(0) as f64 / (received as f64 + lost.max(0) as f64)
    };
    match rtt_ms {
        None => "connecting",
        Some(rtt) if rtt < 150.0 && loss < 0.02 => "good",
        Some(rtt) if rtt < 300.0 && loss < 0.08 => "fair",
        Some(_) => "poor",
    }
}

#[expect(clippy::type_complexity, reason = "two text targets in one system")]
fn update_hud(
    figures: Res<'_, SessionFigures>,
    activity: Res<'_, VoiceActivity>,
    trust: Res<'_, PeerTrust>,
    mut texts: ParamSet<
        '_,
        '_,
        (
            Query<'_, '_, &mut Text, With<HudText>>,
            Query<'_, '_, &mut Text, With<StatusLine>>,
            Query<'_, '_, (&HudButton, &Children)>,
            Query<'_, '_, &mut Text>,
        ),
    >,
) {
    if !figures.is_changed() && !activity.is_changed() && !trust.is_changed() {
        return;
    }
    let mut lines = Vec::new();
    if let Some(why) = &figures.failed {
        lines.push(format!("Not connected: {why}"));
    } else if figures.me.is_none() {
        lines.push("Connecting...".to_owned());
    } else if figures.people.is_empty() {
        lines.push("Waiting for the others to join...".to_owned());
    } else {
        lines.push("Who is here".to_owned());
        if let Some(me) = &figures.me {
            let you = if activity.muted {
                "muted"
            } else if activity.local_speaking {
                "speaking"
            } else {
                "listening"
            };
            lines.push(format!("  You ({}) - {you}", role_name(me.role)));
        }
        for person in &figures.people {
            let state = if figures.lost.contains(&person.id) {
                "connection lost - check the Wi-Fi, VPN or firewall; F5 tries again".to_owned()
            } else if figures.reconnecting.contains(&person.id) {
                "reconnecting...".to_owned()
            } else if !figures.connected.contains(&person.id) {
                "joining...".to_owned()
            } else {
                let mut s = Vec::new();
                if activity.is_speaking(person.id) {
                    s.push("speaking");
                }
                if activity
                    .muted_peers
                    .get(&person.id)
                    .copied()
                    .unwrap_or(false)
                {
                    s.push("muted");
                }
                let q = figures.stats.get(&person.id).map_or("connecting", |st| {
                    let rtt = match st.rtt_ms {
                        // Heard through the group's media server: no connection of its own
                        // to time, so its voice's loss says how it goes.
                        None if figures.group && st.audio_packets_received > 0 => Some(0.0),
                        rtt => rtt,
                    };
                    quality(rtt, st.audio_packets_lost, st.audio_packets_received)
                });
                s.push(q);
                s.join(", ")
            };
            lines.push(format!("  {} - {state}", role_name(person.role)));
            if trust.show_words
                && let Some(words) = trust.words.get(&person.id)
            {
                lines.push(format!("    words: {words}"));
            }
        }
        if figures.relay_unavailable.is_some() {
            lines.push(
                "  The relay server cannot be used: someone on a strict network may not get through"
                    .to_owned(),
            );
        }
        if figures.server_lost {
            lines
                .push("  The server is out of reach: the call goes on, reconnecting...".to_owned());
        }
        // Short lines: the panel's width is its longest, and the scene panel sits beside it.
        if figures.media_lost.is_some() {
            lines.push("  Media server lost: F5 reconnects".to_owned());
        } else if figures.group {
            lines.push("  Voices go via the media server".to_owned());
        }
        if trust.show_words {
            lines.push("Read the words aloud: the same on both".to_owned());
            lines.push("sides means no one is in between.".to_owned());
        }
    }
    // Write only what changed: a changed `Text` is laid out again, which is not free.
    let panel = lines.join("\n");
    for mut text in &mut texts.p0() {
        if text.0 != panel {
            text.0.clone_from(&panel);
        }
    }
    let status = match figures
        .stats
        .values()
        .filter_map(|s| s.rtt_ms.map(|r| (r, s)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
    {
        Some((rtt, s)) => format!(
            "Connection {}: {:.0} ms round trip, {:.0} ms voice jitter",
            quality(Some(rtt), s.audio_packets_lost, s.audio_packets_received),
            rtt,
            s.audio_jitter_ms.unwrap_or(0.0)
        ),
        None if figures.failed.is_some() => "Not connected".to_owned(),
        None => "Connecting...".to_owned(),
    };
    let mic = if activity.muted {
        "Microphone muted"
    } else {
        "Microphone on"
    };
    let line =
        format!("{status}  |  {mic}  |  look: right-drag, move: WASD, point: hold left button");
    for mut text in &mut texts.p1() {
        if text.0 != line {
            text.0.clone_from(&line);
        }
    }
    let labels: Vec<(Entity, &'static str)> = texts
        .p2()
        .iter()
        .filter(|(b, _)| **b == HudButton::Mute)
        .flat_map(|(_, children)| children.iter().map(|c| (c, ())))
        .map(|(c, ())| {
            (
                c,
                if activity.muted {
                    "Unmute (M)"
                } else {
                    "Mute (M)"
                },
            )
        })
        .collect();
    let mut all = texts.p3();
    for (entity, label) in labels {
        if let Ok(mut text) = all.get_mut(entity)
            && text.0 != label
        {
            label.clone_into(&mut text.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use haven_proto::signal::Role;

    use super::*;

    #[test]
    fn quality_reads_rtt_and_loss() {
        assert_eq!(quality(None, 0, 0), "connecting");
        assert_eq!(quality(Some(20.0), 0, 1000), "good");
        assert_eq!(quality(Some(20.0), 50, 1000), "fair");
        assert_eq!(quality(Some(400.0), 0, 1000), "poor");
        assert_eq!(quality(Some(20.0), 200, 800), "poor");
    }

    /// A seat that changes in the window's very first frame (a welcome that came at once)
    /// still moves the view there, as does a later one (a new chair after a resume).
    #[test]
    fn the_view_moves_to_a_seat_given_in_the_first_frame_and_later() {
        #[derive(Resource)]
        struct Next(Vec<Seat>);
        fn welcome(mut next: ResMut<'_, Next>, mut commands: Commands<'_, '_>) {
            if let Some(seat) = next.0.pop() {
                commands.insert_resource(seat);
            }
        }
        let (first, later) = (Seat::group_chair(0, 6), Seat::group_chair(3, 6));
        let mut app = App::new();
        app.add_plugins(MinimalPlugins)
            .insert_resource(Seat::for_role(Role::Clinician))
            .insert_resource(Next(vec![later, first]))
            .add_systems(Startup, spawn_flat)
            .add_systems(PreUpdate, welcome)
            .add_systems(Update, reseat);
        for seat in [first, later] {
            app.update();
            let world = app.world_mut();
            let at = world
                .query_filtered::<&Transform, With<FlatCamera>>()
                .single(world)
                .expect("the camera");
            assert_eq!(*at, FlatView::seated(seat).transform());
        }
    }

    #[test]
    fn the_default_view_looks_at_the_patient() {
        for role in [Role::Clinician, Role::Patient] {
            let seat = Seat::for_role(role);
            let t = FlatView::seated(seat).transform();
            let across = (seat.looks_at - t.translation).normalize();
            assert!(
                t.forward().as_vec3().angle_between(across) < 0.01,
                "{role:?}"
            );
        }
    }
}

#[cfg(test)]
mod font_tests {
    use ab_glyph::Font as _;

    /// Every character of the demo's sample records, and of a fixture in the scripts real
    /// records are written in (accents, Greek units, Cyrillic names, typographic
    /// punctuation), has a glyph in the font the window installs.
    #[test]
    fn every_character_of_real_records_has_a_glyph() {
        let mut fonts = bevy::asset::Assets::<bevy::text::Font>::default();
        super::install_font(&mut fonts);
        let installed = fonts
            .get(bevy::asset::AssetId::default())
            .expect("the default font is installed");
        let font = ab_glyph::FontRef::try_from_slice(installed.data.data()).expect("a font");
        let sample = include_str!("../../../../assets/demo/patient-summary.json");
        let fixture = "Doesn’t leave the house much… “Müller”, Zoë, Ångström, Łódź, \
                       François — 5 µg/L, 37 °C, ±2 %, Δ, Ω, α-blocker, Иванов Пётр, \
                       ‘quoted’ – ≤ ≥ × ÷ € £ ¼ ½ № ™";
        let missing: Vec<char> = sample
            .chars()
            .chain(fixture.chars())
            .filter(|c| !c.is_control())
            .filter(|c| font.glyph_id(*c).0 == 0)
            .collect();
        assert!(missing.is_empty(), "no glyph for {missing:?}");
        // A character it lacks reads as missing (CJK is out of its scope): the check can fail.
        assert_eq!(font.glyph_id('漢').0, 0);
    }
}
