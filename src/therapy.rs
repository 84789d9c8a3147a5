//! The headless patient's scene: the participant without a window runs the scene as the
//! patient's room app does (the authority, `haven_scenes::ScenePlayer`): it applies a verified
//! therapist's commands, says the scene's state to the therapists on each change, beats at 1 Hz
//! while a scene runs, and goes to the safe room when the therapist falls silent or leaves.
//! With `--accept-scenes` it accepts every proposal (the demo's simulated patient); without
//! it, it declines them: a scripted stand-in cannot consent. The scene's sound plays under the
//! voices (`--voice-out` records it), silent in the safe room.

use std::collections::HashMap;
use std::time::Instant;

use haven_proto::control::Control;
use haven_proto::signal::{PeerId, Role};
use haven_scenes::player::{Effect, HEARTBEAT_EVERY_MS, Phase, Sender};
use haven_scenes::{Command, ScenePlayer};
use haven_session::Session;
use tracing::{info, warn};

/// The headless patient's scene.
pub(crate) struct HeadlessScene {
    player: ScenePlayer,
    epoch: Instant,
    accept: bool,
    /// Therapists in the room, and whether they may run a scene (verified, or no clinic to
    /// check against).
    therapists: HashMap<PeerId, bool>,
    last_beat: u64,
    /// Scene commands refused, for the figures.
    pub(crate) refused: u64,
    /// Scenes run, by name, for the figures.
    pub(crate) scenes_started: Vec<String>,
    /// What the scene sounds like now, for the voice thread's playout.
    pub(crate) sound: haven_app::scenes::sound::SoundShared,
}

impl HeadlessScene {
    pub(crate) fn new(accept: bool) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(7, |d| d.as_nanos() as u64);
        Self {
            player: ScenePlayer::new(seed, 0),
            epoch: Instant::now(),
            accept,
            therapists: HashMap::new(),
            last_beat: 0,
            refused: 0,
            scenes_started: Vec::new(),
            sound: haven_app::scenes::sound::SoundShared::default(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A therapist is in the room; `trusted`: it may run a scene.
    pub(crate) fn therapist(&mut self, peer: PeerId, trusted: bool) {
        self.therapists.insert(peer, trusted);
    }

    /// A peer left: if no therapist is left, the safe room.
    pub(crate) fn left(&mut self, peer: PeerId) {
        if self.therapists.remove(&peer).is_some() && self.therapists.is_empty() {
            let now = self.now();
            self.player.therapist_left(now);
        }
    }

    /// A room event from a peer in `role`; a scene command refused because its sender may not
    /// send it is recorded in `audit` (which keeps the first 32 a peer).
    pub(crate) fn on_control(
        &mut self,
        from: PeerId,
        role: Role,
        message: &Control,
        audit: &mut haven_share::audit::AuditWriter,
    ) {
        let command = match message {
            Control::Scene(command) => *command,
            Control::Heartbeat => Command::Heartbeat,
            _ => return,
        };
        let sender = match (role, self.therapists.get(&from)) {
            (Role::Therapist, Some(true)) => Sender::Therapist,
            _ => Sender::Other,
        };
        let now = self.now();
        if let Err(why) = self.player.apply(sender, command, now) {
            self.refused += 1;
            if haven_session::worth_logging(self.refused) {
                warn!(peer = %from, command = command.name(), %why, "a scene command was refused");
            }
            if matches!(why, haven_scenes::Refused::NotAllowed { .. }) {
                audit_refused(from, message, audit);
            }
        }
    }

    /// A scene command the session refused outright (the sender's role may not send one).
    pub(crate) fn refused_by_session(
        &mut self,
        from: PeerId,
        message: &Control,
        audit: &mut haven_share::audit::AuditWriter,
    ) {
        if let Control::Scene(_) = message {
            self.refused += 1;
            audit_refused(from, message, audit);
        }
    }

    /// Time passes: the player ticks, the patient answers proposals, the state and heartbeats go
    /// to the therapists.
    pub(crate) fn step(&mut self, session: &Session) {
        let now = self.now();
        self.player.tick(now);
        self.sound.set(self.player.soundscape(now), now);
        let mut changed = false;
        // Answering a proposal makes more effects (the scene starts): bounded rounds.
        for _ in 0..3 {
            let effects: Vec<Effect> = self.player.drain_effects().collect();
            if effects.is_empty() {
                break;
            }
            for effect in effects {
                changed = true;
                match effect {
                    Effect::Proposed { scene, intensity } => {
                        let answer = if self.accept {
                            Command::Accept
                        } else {
                            Command::Decline
                        };
                        info!(
                            scene = scene.name(),
                            intensity,
                            accepted = self.accept,
                            "a scene was proposed"
                        );
                        let _ = self.player.apply(Sender::Patient, answer, now);
                    }
                    Effect::Started(scene) => self.scenes_started.push(scene.name().to_owned()),
                    Effect::SafeRoom(why) => info!(?why, "in the safe room"),
                    _ => {}
                }
            }
        }
        let running = !matches!(self.player.phase(), Phase::Consult);
        let beat = running && now.saturating_sub(self.last_beat) >= HEARTBEAT_EVERY_MS;
        if !(changed || beat) {
            return;
        }
        let state = Box::new(self.player.snapshot(now));
        for (&to, _) in self.therapists.iter().filter(|(_, trusted)| **trusted) {
            session.send_control_to(to, &Control::SceneState(state.clone()));
            if beat {
                session.send_control_to(to, &Control::Heartbeat);
            }
        }
        if beat {
            self.last_beat = now;
        }
    }
}

/// Audits a refused scene command (heartbeats are not; the log keeps the first 32 a peer).
fn audit_refused(from: PeerId, message: &Control, audit: &mut haven_share::audit::AuditWriter) {
    // A heartbeat is not a command; an unverified therapist sends one a second. (The log
    // itself keeps at most 32 refusals a peer.)
    if !matches!(message, Control::Heartbeat) {
        let what = match message {
            Control::Scene(command) => format!("scene:{}", command.name()),
            other => other.kind().to_owned(),
        };
        audit.refused(from, &what, &haven_proto::control::encode(message));
    }
}

/// A scripted therapist without a window (`haven join --headless --propose SCENE:N`): once the
/// patient is connected it proposes the scene at that intensity, and it beats at 1 Hz to the
/// patient so the scene is not ended for silence. For trials and the demo's patient window.
pub(crate) struct HeadlessTherapist {
    propose: Option<(haven_scenes::SceneId, u8)>,
    patient: Option<PeerId>,
    proposed: bool,
    epoch: Instant,
    last_beat: u64,
}

impl HeadlessTherapist {
    pub(crate) fn new(propose: Option<(haven_scenes::SceneId, u8)>) -> Self {
        Self {
            propose,
            patient: None,
            proposed: false,
            epoch: Instant::now(),
            last_beat: 0,
        }
    }

    /// A peer connected, in `role`.
    pub(crate) fn connected(&mut self, peer: PeerId, role: Option<Role>) {
        if role == Some(Role::Patient) {
            self.patient = Some(peer);
        }
    }

    /// A peer left.
    pub(crate) fn left(&mut self, peer: PeerId) {
        if self.patient == Some(peer) {
            self.patient = None;
        }
    }

    /// Time passes: the proposal once, then the heartbeat.
    pub(crate) fn step(&mut self, session: &Session) {
        let (Some((scene, intensity)), Some(patient)) = (self.propose, self.patient) else {
            return;
        };
        if !self.proposed {
            self.proposed = true;
            info!(scene = scene.name(), intensity, "proposing a scene");
            session.send_control_to(
                patient,
                &Control::Scene(Command::Propose { scene, intensity }),
            );
        }
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        if now.saturating_sub(self.last_beat) >= HEARTBEAT_EVERY_MS {
            self.last_beat = now;
            session.send_control_to(patient, &Control::Heartbeat);
        }
    }
}

/// `heights:6` → (Heights, 6): a scene's name in lower case (spaces as dashes) and an intensity.
pub(crate) fn parse_proposal(text: &str) -> Result<(haven_scenes::SceneId, u8), String> {
    let (name, intensity) = text
        .split_once(':')
        .ok_or_else(|| format!("expected SCENE:INTENSITY, got {text:?}"))?;
    let scene = haven_scenes::SceneId::ALL
        .into_iter()
        .find(|s| s.name().to_lowercase().replace(' ', "-") == name)
        .ok_or_else(|| format!("no scene called {name:?}"))?;
    let intensity: u8 = intensity
        .parse()
        .map_err(|_| format!("intensity {intensity:?} is not 0-10"))?;
    if intensity > haven_scenes::catalog::MAX_INTENSITY {
        return Err(format!("intensity {intensity} is not 0-10"));
    }
    Ok((scene, intensity))
}
