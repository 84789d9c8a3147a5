//! Exposure-therapy scenes in the room: the patient's app runs the scene (the authority, a
//! `haven_scenes::ScenePlayer`) and says its state to the therapists; a therapist's app mirrors
//! that state and sends commands. The room's [`Environment`] follows what the patient sees.
//!
//! - The patient's side applies a therapist's `Control::Scene` only from a therapist whose
//!   clinic credential verified (or whose patient's invite names no clinic); anything else is
//!   refused with its reason (logged by kind, and kept for the console), and the session goes
//!   on. Its own actions ([`PatientAction`]: accept, decline, the safe room) apply locally,
//!   with no network. It sends `Control::SceneState` to every therapist on each change, and a
//!   heartbeat at 1 Hz while a scene runs; 5 s without the therapist's heartbeat, or the
//!   therapist leaving, sends it to the safe room by itself.
//! - A therapist's side keeps a mirror of the patient's player from the last state it sent
//!   (mapped onto its own clock), sends [`TherapistAction`]s as `Control::Scene`, and a
//!   heartbeat at 1 Hz while a scene runs or waits.
//! - [`SceneFade`] tells the front end to fade to black and back (a scene or a discrete change,
//!   or the safe room in under 300 ms).

mod draw;
pub mod sound;

use bevy::prelude::*;
use haven_proto::control::Control;
use haven_proto::signal::{PeerId, Role};
use haven_scenes::player::{Effect, HEARTBEAT_EVERY_MS, Phase, Sender};
use haven_scenes::{Command, Refused, SceneId, ScenePlayer};
use haven_signal::clinic::NotVerified;

pub use draw::SceneDrawPlugin;

use crate::room::Environment;
use crate::session::{ControlReceived, ControlRefused, PeerLeft, SendControlTo, SessionFigures};
use crate::trust::PeerTrust;

/// The patient's own scene actions (from the consent panel, Esc, the controller's grips).
#[derive(Message, Clone, Copy, Debug, PartialEq)]
pub struct PatientAction(pub Command);

/// How the therapist appears to the patient while a scene (or the safe room) is shown: the
/// patient's choice, made on their own side (the therapist's app is not told).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TherapistPresence {
    /// The therapist's avatar stands where it is.
    #[default]
    Shown,
    /// Only the voice: no avatar, name or speaking ring.
    VoiceOnly,
    /// In the public-speaking hall, the voice comes from a listener in the front row (the
    /// ring shows over that listener while the therapist speaks); elsewhere, voice only.
    InAudience,
}

impl TherapistPresence {
    /// The next choice, in the order the panel cycles them.
    pub fn next(self) -> Self {
        match self {
            Self::Shown => Self::VoiceOnly,
            Self::VoiceOnly => Self::InAudience,
            Self::InAudience => Self::Shown,
        }
    }

    /// As the patient's panel says it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Shown => "shown",
            Self::VoiceOnly => "voice only",
            Self::InAudience => "a voice in the audience",
        }
    }
}

/// The patient chose how the therapist appears in scenes.
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChoosePresence(pub TherapistPresence);

/// A therapist's console actions, sent to the patient's app.
#[derive(Message, Clone, Copy, Debug, PartialEq)]
pub struct TherapistAction(pub Command);

/// Fade to black and back, `ms` long, from `since` (the app's time, ms).
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq)]
pub struct SceneFade {
    /// When it started.
    pub since: u64,
    /// How long.
    pub ms: u32,
}

impl SceneFade {
    /// How black the screen is at `now`: 0 clear, 1 black (up in the first half, down after).
    pub fn alpha(&self, now: u64) -> f32 {
        if self.ms == 0 {
            return 0.0;
        }
        let t = now.saturating_sub(self.since) as f32 / self.ms as f32;
        if t >= 1.0 {
            0.0
        } else {
            1.0 - (2.0 * t - 1.0).abs()
        }
    }
}

/// The scene on this side: the authority (patient) or a mirror (therapist).
#[derive(Resource, Debug)]
pub struct Scenes {
    /// The player: the patient's own, or a therapist's mirror of it.
    pub player: ScenePlayer,
    /// Mirror: the patient's clock minus ours when its state arrived, ms.
    offset: i64,
    /// Refused commands (who, why), newest last, at most 32: the console shows them.
    pub refused: Vec<(PeerId, Refused)>,
    /// Commands dropped while the patient was in the safe room (the console shows them).
    pub dropped: Vec<&'static str>,
    /// The console's notices (declined, a break suggested), newest last.
    pub notices: Vec<String>,
    /// When this side last sent its heartbeat, ms.
    last_beat: u64,
    /// The patient (on a therapist's side), once its state arrived.
    pub patient: Option<PeerId>,
    /// The therapists told the state so far (on the patient's side).
    told: Vec<PeerId>,
    /// Scene commands the player refused so far (only the first few are logged).
    refusals: u64,
    /// The scene drawn now: the player's, from the moment its fade is at black.
    pub drawn: Option<SceneId>,
    /// How the therapist appears in scenes (the patient's choice; on the patient's side).
    pub presence: TherapistPresence,
    /// The cue of an announced event the patient sees now, and when (our time, ms) it goes:
    /// when the event happens, 3 s on.
    pub cue: Option<(haven_scenes::Event, u64)>,
}

impl Scenes {
    fn new(now: u64) -> Self {
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        Self {
            player: ScenePlayer::new(u64::from_le_bytes(seed), now),
            offset: 0,
            refused: Vec::new(),
            dropped: Vec::new(),
            notices: Vec::new(),
            last_beat: 0,
            patient: None,
            told: Vec::new(),
            refusals: 0,
            drawn: None,
            presence: TherapistPresence::Shown,
            cue: None,
        }
    }

    /// The patient: the one whose scene this side mirrors, else the patient in the room.
    pub fn patient_in(&self, figures: &SessionFigures) -> Option<PeerId> {
        self.patient.or_else(|| {
            figures
                .people
                .iter()
                .find(|p| p.role == Role::Patient)
                .map(|p| p.id)
        })
    }

    /// The player's time for our time `now` (the patient's clock, on a mirror).
    pub fn player_time(&self, now: u64) -> u64 {
        now.saturating_add_signed(self.offset)
    }
}

/// The scenes feature's systems run in this set (after sharing and the voice, before the front
/// ends).
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SceneSystems;

/// The scene, its control and its drawing.
#[derive(Debug, Default)]
pub struct ScenePlugin;

impl Plugin for ScenePlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(Scenes::new(0))
            .init_resource::<SceneFade>()
            .init_resource::<SceneSoundLink>()
            .add_message::<PatientAction>()
            .add_message::<TherapistAction>()
            .add_message::<ChoosePresence>()
            .add_systems(
                Update,
                (
                    (grips_to_safe_room, safe_room_button),
                    patient_side,
                    therapist_side,
                    follow,
                    present_therapist,
                    play_sound,
                )
                    .chain()
                    .in_set(SceneSystems)
                    .after(crate::trust::TrustSystems)
                    .after(crate::voice::VoiceSystems),
            );
    }
}

/// The most refusals, drops and notices kept for the console.
const KEPT: usize = 32;

/// Appends `item`, keeping the last [`KEPT`].
pub(crate) fn keep_last<T>(list: &mut Vec<T>, item: T) {
    list.push(item);
    let excess = list.len().saturating_sub(KEPT);
    list.drain(..excess);
}

/// Audits a refused scene command from `peer` (heartbeats are not audited; the log keeps
/// the first 32 a peer). Without the sharing feature there is no log.
fn audit_refused(
    sharing: Option<&mut crate::sharing::Sharing>,
    peer: PeerId,
    command: Command,
    message: &Control,
) {
    // A heartbeat is not a command; an unverified therapist sends one a second. (The log
    // itself keeps at most 32 refusals a peer.)
    if command == Command::Heartbeat {
        return;
    }
    if let Some(sharing) = sharing {
        sharing.audit_refused(
            peer,
            &format!("scene:{}", command.name()),
            &haven_proto::control::encode(message),
        );
    }
}

/// This app's time, ms (the scenes' clock on this side): real time, not the virtual clock,
/// which holds back a slow frame's delta (250 ms at most) and so would run slow on a busy
/// machine, stretching the therapist's heartbeat past the patient's 5 s.
pub fn now_ms(time: &Time<Real>) -> u64 {
    u64::try_from(time.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Who a scene command's sender is to the player: a therapist counts only when its clinic
/// credential verified, or when this side checks none (the invite names no clinic).
pub fn sender(role: Role, trust: &PeerTrust, peer: PeerId) -> Sender {
    match (role, trust.verdicts.get(&peer)) {
        (Role::Therapist, Some(Ok(_) | Err(NotVerified::NoClinic))) => Sender::Therapist,
        _ => Sender::Other,
    }
}

/// The connected therapists that may run a scene (verified, or no clinic to check against):
/// only they get the scene's state.
pub fn therapists(figures: &SessionFigures, trust: &PeerTrust) -> Vec<PeerId> {
    figures
        .people
        .iter()
        .filter(|p| p.role == Role::Therapist && figures.connected.contains(&p.id))
        .filter(|p| sender(p.role, trust, p.id) == Sender::Therapist)
        .map(|p| p.id)
        .collect()
}

#[expect(
    clippy::too_many_arguments,
    reason = "one system: the patient's side in order"
)]
fn patient_side(
    time: Res<'_, Time<Real>>,
    figures: Res<'_, SessionFigures>,
    trust: Res<'_, PeerTrust>,
    mut scenes: ResMut<'_, Scenes>,
    mut fade: ResMut<'_, SceneFade>,
    mut sharing: Option<ResMut<'_, crate::sharing::Sharing>>,
    mut received: MessageReader<'_, '_, ControlReceived>,
    mut refused_by_session: MessageReader<'_, '_, ControlRefused>,
    mut local: MessageReader<'_, '_, PatientAction>,
    mut left: MessageReader<'_, '_, PeerLeft>,
    mut out: MessageWriter<'_, SendControlTo>,
) {
    if figures.me.is_none_or(|me| me.role != Role::Patient) {
        return;
    }
    let now = now_ms(&time);
    let scenes = &mut *scenes;
    // Whether the therapists must hear the state again: a command that took (a heartbeat
    // changes nothing), or an effect. Events that ended are said with the next heartbeat.
    let mut changed = false;
    for m in received.read() {
        let command = match &m.message {
            Control::Scene(command) => *command,
            Control::Heartbeat => Command::Heartbeat,
            _ => continue,
        };
        match scenes
            .player
            .apply(sender(m.role, &trust, m.from), command, now)
        {
            Ok(()) => changed |= command != Command::Heartbeat,
            Err(why) => {
                scenes.refusals += 1;
                if haven_session::worth_logging(scenes.refusals) {
                    warn!(peer = %m.from, command = command.name(), %why, "a scene command was refused");
                }
                if matches!(why, Refused::NotAllowed { .. }) {
                    audit_refused(sharing.as_deref_mut(), m.from, command, &m.message);
                }
                keep_last(&mut scenes.refused, (m.from, why));
            }
        }
    }
    // A scene command the session refused outright (its sender's role may not send one).
    for m in refused_by_session.read() {
        if let Control::Scene(command) = &m.message {
            audit_refused(sharing.as_deref_mut(), m.from, *command, &m.message);
            let why = Refused::NotAllowed {
                sender: Sender::Other,
                command: command.name(),
            };
            keep_last(&mut scenes.refused, (m.from, why));
        }
    }
    for PatientAction(command) in local.read() {
        // A press that makes no sense now (leaving a safe room one is not in) changes nothing.
        changed |= scenes.player.apply(Sender::Patient, *command, now).is_ok();
    }
    // The therapist gone: no one watches over the scene.
    let gone = left.read().count() > 0;
    let watching = therapists(&figures, &trust);
    if gone && watching.is_empty() {
        scenes.player.therapist_left(now);
    }
    // A therapist who just became able to watch (connected and verified) gets the state.
    if watching != scenes.told {
        changed |= watching.iter().any(|t| !scenes.told.contains(t));
        scenes.told.clone_from(&watching);
    }
    scenes.player.tick(now);
    for effect in scenes.player.drain_effects() {
        changed = true;
        match effect {
            Effect::Fade { ms } => *fade = SceneFade { since: now, ms },
            Effect::Cue(event) => {
                scenes.cue = Some((event, now + haven_scenes::player::CUE_LEAD_MS));
            }
            Effect::Happens { .. } | Effect::SafeRoom(_) | Effect::Ended => scenes.cue = None,
            Effect::SuggestBreak => keep_last(
                &mut scenes.notices,
                "30 minutes in this scene: time for a break?".to_owned(),
            ),
            _ => {}
        }
    }
    let running = !matches!(scenes.player.phase(), Phase::Consult);
    let beat = running && now.saturating_sub(scenes.last_beat) >= HEARTBEAT_EVERY_MS;
    if changed || beat {
        let state = Box::new(scenes.player.snapshot(now));
        for to in watching {
            out.write(SendControlTo {
                to,
                message: Control::SceneState(state.clone()),
            });
            if beat {
                out.write(SendControlTo {
                    to,
                    message: Control::Heartbeat,
                });
            }
        }
        if beat {
            scenes.last_beat = now;
        }
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one system: the therapist's side in order"
)]
fn therapist_side(
    time: Res<'_, Time<Real>>,
    figures: Res<'_, SessionFigures>,
    mut scenes: ResMut<'_, Scenes>,
    mut fade: ResMut<'_, SceneFade>,
    mut received: MessageReader<'_, '_, ControlReceived>,
    mut actions: MessageReader<'_, '_, TherapistAction>,
    mut left: MessageReader<'_, '_, PeerLeft>,
    mut out: MessageWriter<'_, SendControlTo>,
) {
    if figures.me.is_none_or(|me| me.role != Role::Therapist) {
        return;
    }
    let now = now_ms(&time);
    // The patient left: nothing of its scene is true any more.
    for PeerLeft(peer) in left.read() {
        if scenes.patient == Some(*peer) {
            scenes.player = ScenePlayer::new(0, now);
            scenes.patient = None;
            keep_last(&mut scenes.notices, "The patient left.".to_owned());
        }
    }
    for m in received.read() {
        if let Control::SceneState(state) = &m.message {
            let showing = scenes.player.showing();
            if matches!(scenes.player.phase(), Phase::Proposed { .. })
                && state.phase == Phase::Consult
            {
                keep_last(&mut scenes.notices, "The patient said not now.".to_owned());
            }
            scenes.offset = i64::try_from(state.now).unwrap_or(i64::MAX)
                - i64::try_from(now).unwrap_or(i64::MAX);
            scenes.player = ScenePlayer::mirror((**state).clone());
            scenes.patient = Some(m.from);
            if scenes.player.showing() != showing {
                *fade = SceneFade {
                    since: now,
                    ms: haven_scenes::player::SCENE_FADE_MS,
                };
            }
        }
    }
    let Some(patient) = scenes.patient_in(&figures) else {
        return;
    };
    // While the patient's connection is down, commands are not sent (they would arrive late,
    // all at once): the console says so.
    let reachable =
        figures.connected.contains(&patient) && !figures.reconnecting.contains(&patient);
    for TherapistAction(command) in actions.read() {
        if !reachable {
            let note = format!(
                "Not sent ({}): the patient's connection is down.",
                command.name()
            );
            keep_last(&mut scenes.notices, note);
            continue;
        }
        // The patient's app drops what comes while they are in the safe room: say so here.
        if matches!(scenes.player.phase(), Phase::SafeRoom { .. })
            && !matches!(command, Command::Stop | Command::Heartbeat)
        {
            keep_last(&mut scenes.dropped, command.name());
        }
        out.write(SendControlTo {
            to: patient,
            message: Control::Scene(*command),
        });
    }
    // The heartbeat goes whenever the patient is reachable, scene or not.
    if reachable && now.saturating_sub(scenes.last_beat) >= HEARTBEAT_EVERY_MS {
        scenes.last_beat = now;
        out.write(SendControlTo {
            to: patient,
            message: Control::Heartbeat,
        });
    }
}

/// On the patient's side, the therapist's avatar follows the patient's choice while a scene
/// (or the safe room) is drawn; in the consult room it is always shown.
fn present_therapist(
    mut chosen: MessageReader<'_, '_, ChoosePresence>,
    figures: Res<'_, SessionFigures>,
    mut scenes: ResMut<'_, Scenes>,
    mut commands: Commands<'_, '_>,
    mut avatars: Query<
        '_,
        '_,
        (
            Entity,
            &crate::avatar::RemoteAvatar,
            Option<&mut Visibility>,
        ),
    >,
) {
    if let Some(ChoosePresence(presence)) = chosen.read().last() {
        scenes.presence = *presence;
    }
    if figures.me.is_none_or(|me| me.role != Role::Patient) {
        return;
    }
    let hide = scenes.drawn.is_some() && scenes.presence != TherapistPresence::Shown;
    let wanted = if hide {
        Visibility::Hidden
    } else {
        Visibility::Inherited
    };
    for (entity, avatar, visibility) in &mut avatars {
        let therapist = figures
            .people
            .iter()
            .any(|p| p.id == avatar.peer && p.role == Role::Therapist);
        match (therapist, visibility) {
            (true, Some(mut visibility)) => {
                visibility.set_if_neq(wanted);
            }
            (true, None) => {
                commands.entity(entity).insert(wanted);
            }
            (false, _) => {}
        }
    }
}

/// How long both grips are held for the safe room, ms.
pub const GRIPS_HOLD_MS: u64 = 500;

/// Both grips held for [`GRIPS_HOLD_MS`] while a scene runs: the patient goes to the safe
/// room (once per hold; let go and hold again for the next). Local, no network.
fn grips_to_safe_room(
    time: Res<'_, Time<Real>>,
    figures: Res<'_, SessionFigures>,
    scenes: Res<'_, Scenes>,
    grips: Option<Res<'_, crate::rig::LocalGrips>>,
    mut held_since: Local<'_, Option<(u64, bool)>>,
    mut out: MessageWriter<'_, PatientAction>,
) {
    if figures.me.is_none_or(|me| me.role != Role::Patient) {
        return;
    }
    // Only while a scene runs: a hand resting on the grips in a plain consult is no request.
    let both = grips.is_some_and(|g| g.left && g.right) && scenes.player.phase() == Phase::Running;
    let now = now_ms(&time);
    match (*held_since, both) {
        (_, false) => *held_since = None,
        (None, true) => *held_since = Some((now, false)),
        (Some((since, false)), true) if now.saturating_sub(since) >= GRIPS_HOLD_MS => {
            out.write(PatientAction(Command::EnterSafeRoom));
            *held_since = Some((since, true));
        }
        (Some(_), true) => {}
    }
}

/// The in-room "Safe room" button, in front of the patient while a scene runs (the headset's
/// ray and trigger press it, as the window's click does).
#[derive(Component, Debug)]
struct SafeRoomButton;

fn safe_room_button(
    mut commands: Commands<'_, '_>,
    figures: Res<'_, SessionFigures>,
    scenes: Res<'_, Scenes>,
    buttons: Query<'_, '_, Entity, With<SafeRoomButton>>,
    mut pressed: MessageReader<'_, '_, crate::button::Pressed>,
    mut out: MessageWriter<'_, PatientAction>,
) {
    let wanted = figures.me.is_some_and(|me| me.role == Role::Patient)
        && scenes.player.phase() == Phase::Running;
    for crate::button::Pressed(button) in pressed.read() {
        if buttons.contains(*button) && wanted {
            out.write(PatientAction(Command::EnterSafeRoom));
        }
    }
    match (wanted, buttons.iter().next()) {
        (true, None) => {
            commands.spawn((
                SafeRoomButton,
                crate::button::RoomButton {
                    label: "Safe room".to_owned(),
                    colour: Color::srgb(0.55, 0.80, 0.72),
                    order: 5,
                },
            ));
        }
        (false, Some(button)) => commands.entity(button).despawn(),
        _ => {}
    }
}

/// The patient's scene sound: what is sounding, shared with the voice thread's playout.
#[derive(Resource, Debug, Default)]
pub struct SceneSoundLink {
    /// What is sounding.
    pub shared: sound::SoundShared,
    /// The voice thread plays it.
    given: bool,
}

/// On the patient's side, the voice thread plays the scene's sound under the voices: given
/// the sound once, then told what sounds every frame (the safe room: silence).
fn play_sound(
    time: Res<'_, Time<Real>>,
    figures: Res<'_, SessionFigures>,
    scenes: Res<'_, Scenes>,
    voice: Option<Res<'_, crate::voice::VoiceThread>>,
    mut link: ResMut<'_, SceneSoundLink>,
) {
    if figures.me.is_none_or(|me| me.role != Role::Patient) {
        return;
    }
    if !link.given
        && let Some(voice) = voice
    {
        voice
            .0
            .set_ambience(Box::new(sound::SceneAmbience::new(link.shared.clone())));
        link.given = true;
    }
    let now = now_ms(&time);
    link.shared.set(scenes.player.soundscape(now), now);
}

/// The room follows what the patient sees: a change of scene is drawn when its fade is at
/// black (halfway), so the fade hides the swap.
fn follow(
    time: Res<'_, Time<Real>>,
    fade: Res<'_, SceneFade>,
    mut scenes: ResMut<'_, Scenes>,
    mut environment: ResMut<'_, Environment>,
) {
    let showing = scenes.player.showing();
    let black = fade.since + u64::from(fade.ms / 2);
    if scenes.drawn != showing && now_ms(&time) >= black {
        scenes.drawn = showing;
    }
    let next = match scenes.drawn {
        None => Environment::ConsultRoom,
        Some(SceneId::SafeRoom) => Environment::SafeRoom,
        Some(_) => Environment::Scene,
    };
    if *environment != next {
        *environment = next;
    }
}
