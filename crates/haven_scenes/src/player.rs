//! The scene state machine: commands applied at a time `now` (ms, the caller's clock) give the
//! scene's state and its effects. Sans-IO: nothing here reads a clock or touches the network.
//!
//! The rules:
//! - Only the therapist proposes a scene, sets the intensity, pins and fires; only the patient
//!   accepts or declines, and enters or leaves the safe room. Anything else is refused with a
//!   typed reason ([`Refused`]) and changes nothing.
//! - **The patient agrees first**: a proposed scene waits for the patient's accept (or decline).
//! - **No jump cuts**: continuous parameters ramp over the time the therapist sets (3 s by
//!   default, 0 = cut); a discrete one changes under a fade ([`Effect::Fade`]); a new scene
//!   starts under a fade.
//! - **Announced events**: a cue ([`Effect::Cue`]) 3 s before the event happens.
//! - **The safe room, always**: the patient enters it from any state, at once (a fade under
//!   300 ms, the scene's sound gone); the therapist's STOP sends them there; so do 5 s without
//!   the therapist's heartbeat and the therapist leaving. Only the patient leaves it. While the
//!   patient is there, the therapist's commands are dropped (and reported dropped); on leaving,
//!   the scene resumes at the state it had when they entered, ramped in from calm.
//! - A break is suggested after 30 minutes in a scene.
//! - More than 20 commands a second from the therapist are refused (a flood).

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::catalog::{Event, MAX_INTENSITY, Param, SceneId};

/// The ramp time when the therapist sets none, ms.
pub const DEFAULT_RAMP_MS: u32 = 3_000;
/// The longest ramp accepted, ms.
pub const MAX_RAMP_MS: u32 = 120_000;
/// How long before an announced event its cue shows, ms.
pub const CUE_LEAD_MS: u64 = 3_000;
/// The fade into the safe room, ms (under 300).
pub const SAFE_FADE_MS: u32 = 250;
/// The fade over a scene change or a discrete parameter's change, ms.
pub const SCENE_FADE_MS: u32 = 600;
/// Without the therapist's heartbeat this long, the patient goes to the safe room, ms.
pub const HEARTBEAT_TIMEOUT_MS: u64 = 5_000;
/// How often each side sends its heartbeat while a scene runs, ms.
pub const HEARTBEAT_EVERY_MS: u64 = 1_000;
/// A break is suggested after this long in a scene, ms.
pub const BREAK_AFTER_MS: u64 = 30 * 60 * 1_000;
/// Commands from the therapist accepted in one second.
pub const MAX_COMMANDS_PER_S: u32 = 20;

/// Who sent a command (the app maps the sender's role to this).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sender {
    /// The patient, on their own device.
    Patient,
    /// A therapist (whose clinic credential verified, where the patient's invite names one).
    Therapist,
    /// Anyone else (a clinician, an unverified therapist): refused for every command.
    Other,
}

impl Sender {
    /// Who, in a sentence ("the patient", "a verified therapist", "anyone else").
    pub fn described(self) -> &'static str {
        match self {
            Self::Patient => "the patient",
            Self::Therapist => "a therapist",
            Self::Other => "a participant who is not a verified therapist",
        }
    }
}

/// What a therapist or the patient asks of the scene.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Therapist: propose a scene at an intensity (the patient accepts or declines).
    Propose {
        /// Which.
        scene: SceneId,
        /// 0–10.
        intensity: u8,
    },
    /// Patient: start the proposed scene.
    Accept,
    /// Patient: not this scene now.
    Decline,
    /// Therapist: a new intensity, reached over `ramp_ms` (0 = at once).
    SetIntensity {
        /// 0–10.
        intensity: u8,
        /// The ramp, ms.
        ramp_ms: u32,
    },
    /// Therapist: hold one parameter at a value whatever the intensity.
    Pin {
        /// Which.
        param: Param,
        /// Its value.
        value: f32,
    },
    /// Therapist: let the parameter follow the intensity again.
    Unpin {
        /// Which.
        param: Param,
    },
    /// Therapist: make something happen, with a cue 3 s before if `announce`.
    Fire {
        /// What.
        event: Event,
        /// Show a cue first.
        announce: bool,
    },
    /// Therapist: STOP: the patient goes to the safe room.
    Stop,
    /// Therapist: end the scene; back to the consult room.
    End,
    /// Patient: to the safe room.
    EnterSafeRoom,
    /// Patient: back to the scene (or the consult room) from the safe room.
    LeaveSafeRoom,
    /// Therapist: still here.
    Heartbeat,
}

impl Command {
    /// Its name, for logs and the console (no values).
    pub fn name(self) -> &'static str {
        match self {
            Self::Propose { .. } => "propose",
            Self::Accept => "accept",
            Self::Decline => "decline",
            Self::SetIntensity { .. } => "set intensity",
            Self::Pin { .. } => "pin",
            Self::Unpin { .. } => "unpin",
            Self::Fire { .. } => "fire",
            Self::Stop => "stop",
            Self::End => "end",
            Self::EnterSafeRoom => "enter safe room",
            Self::LeaveSafeRoom => "leave safe room",
            Self::Heartbeat => "heartbeat",
        }
    }

    fn patients(self) -> bool {
        matches!(
            self,
            Self::Accept | Self::Decline | Self::EnterSafeRoom | Self::LeaveSafeRoom
        )
    }
}

/// Why a command changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum Refused {
    /// The sender's role may not send it.
    #[error("{} may not {command}", sender.described())]
    NotAllowed {
        /// Who sent it.
        sender: Sender,
        /// What.
        command: &'static str,
    },
    /// Intensity above 10, or a ramp over two minutes.
    #[error("intensity or ramp out of range")]
    OutOfRange,
    /// The scene has no such parameter, or the value is not one it takes.
    #[error("not a parameter of this scene, or not a value it takes")]
    BadParameter,
    /// The event does not belong to the scene running.
    #[error("that event does not belong to this scene")]
    WrongScene,
    /// It makes no sense now (accept with nothing proposed, intensity with no scene, ...).
    #[error("{0} makes no sense now")]
    NotNow(&'static str),
    /// The patient is in the safe room: the therapist's command is dropped (not queued).
    #[error("the patient is in the safe room: dropped")]
    InSafeRoom,
    /// More than 20 commands in a second.
    #[error("too many commands at once")]
    Flood,
}

/// Why the patient is in the safe room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SafeReason {
    /// They chose to go.
    Patient,
    /// The therapist's STOP.
    Stop,
    /// No heartbeat from the therapist for 5 s.
    TherapistSilent,
    /// The therapist left.
    TherapistLeft,
}

/// What the app does for the player.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Effect {
    /// Ask the patient: start this scene at this intensity?
    Proposed {
        /// Which.
        scene: SceneId,
        /// At.
        intensity: u8,
    },
    /// The patient declined the proposal.
    Declined,
    /// A scene starts (under a fade).
    Started(SceneId),
    /// Fade to black and back over `ms` (a scene or discrete change happens at its middle).
    Fade {
        /// Its length.
        ms: u32,
    },
    /// Show the cue of an announced event (it happens [`CUE_LEAD_MS`] later).
    Cue(Event),
    /// It happens now.
    Happens {
        /// What.
        event: Event,
        /// It had a cue.
        announced: bool,
    },
    /// The patient is in the safe room now: fade (under 300 ms), the scene's sound off.
    SafeRoom(SafeReason),
    /// The patient left the safe room; the scene ramps back in.
    LeftSafeRoom,
    /// A therapist's command was dropped while the patient was in the safe room (the
    /// therapist's console shows it).
    Dropped(&'static str),
    /// 30 minutes in this scene: suggest a break.
    SuggestBreak,
    /// The scene ended: the consult room.
    Ended,
}

/// Where the scene stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// The consult room, no scene.
    Consult,
    /// A scene proposed, waiting for the patient.
    Proposed {
        /// Which.
        scene: SceneId,
        /// At.
        intensity: u8,
    },
    /// A scene runs.
    Running,
    /// The patient is in the safe room; `resume`: a scene was running and comes back when
    /// they leave.
    SafeRoom {
        /// Why they are there.
        why: SafeReason,
        /// Since when (the player's time), ms.
        since: u64,
        /// A scene to resume.
        resume: bool,
    },
}

/// One parameter's value over time: a ramp from `from` at `start` to `to` at `start + ms`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ramp {
    /// Which.
    pub param: Param,
    /// Where it started.
    pub from: f32,
    /// Where it goes.
    pub to: f32,
    /// When it started, ms.
    pub start: u64,
    /// How long it takes, ms (0: at once).
    pub ms: u32,
}

impl Ramp {
    /// When (ms, on the player's clock) a rising count crossed `level` on this ramp: `None`
    /// if it did not cross it (it was there before, or it is not reached).
    pub fn crossed(&self, level: f32) -> Option<u64> {
        if !(self.from < level && level <= self.to) {
            return None;
        }
        let k = (level - self.from) / (self.to - self.from);
        Some(self.start + (k * self.ms as f32) as u64)
    }

    /// Its value at `now` (linear; `to` after the end).
    pub fn at(&self, now: u64) -> f32 {
        let elapsed = now.saturating_sub(self.start);
        if self.ms == 0 || elapsed >= u64::from(self.ms) {
            self.to
        } else {
            let t = elapsed as f32 / self.ms as f32;
            self.from + (self.to - self.from) * t
        }
    }
}

/// An event of the timeline.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Happened {
    /// When, ms.
    pub at: u64,
    /// What.
    pub event: Event,
    /// It had a cue.
    pub announced: bool,
}

/// Everything a mirror needs to run the same scene: what the patient's app sends the
/// therapist's (on joining, and on every change).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SceneState {
    /// Where it stands.
    pub phase: Phase,
    /// The scene running (or waiting in the safe room).
    pub scene: Option<SceneId>,
    /// The intensity set.
    pub intensity: u8,
    /// Seeds every stimulus.
    pub seed: u64,
    /// When the scene started, ms.
    pub started: u64,
    /// Each parameter's ramp.
    pub ramps: Vec<Ramp>,
    /// Pinned parameters.
    pub pins: Vec<(Param, f32)>,
    /// Announced events still to happen, and when.
    pub pending: Vec<(u64, Event)>,
    /// Events under way: when each happened.
    pub events: Vec<Happened>,
    /// The sender's time when it sent this state, ms: a mirror maps its own clock onto the
    /// sender's with it.
    pub now: u64,
}

/// The scene state machine (see the [module](self)).
#[derive(Debug)]
pub struct ScenePlayer {
    state: SceneState,
    /// Parameters saved on entering the safe room from a running scene.
    saved: Option<Vec<(Param, f32)>>,
    last_heartbeat: u64,
    window: (u64, u32),
    break_suggested: bool,
    timeline: Vec<Happened>,
    effects: Vec<Effect>,
}

impl ScenePlayer {
    /// A player in the consult room; `seed` seeds the stimuli (random per consult), `now` is
    /// when the therapist's heartbeat clock starts.
    pub fn new(seed: u64, now: u64) -> Self {
        Self {
            state: SceneState {
                phase: Phase::Consult,
                scene: None,
                intensity: 0,
                seed,
                started: now,
                ramps: Vec::new(),
                pins: Vec::new(),
                pending: Vec::new(),
                events: Vec::new(),
                now,
            },
            saved: None,
            last_heartbeat: now,
            window: (now / 1000, 0),
            break_suggested: false,
            timeline: Vec::new(),
            effects: Vec::new(),
        }
    }

    /// A mirror of a patient's player from its state (a therapist's app, or one that joined
    /// late): it computes the same parameters and stimuli from then on.
    pub fn mirror(state: SceneState) -> Self {
        let now = state.now;
        let mut player = Self::new(state.seed, now);
        player.state = state;
        player
    }

    /// The state as it stands.
    pub fn state(&self) -> &SceneState {
        &self.state
    }

    /// The state at `now`, to send to a mirror.
    pub fn snapshot(&self, now: u64) -> SceneState {
        SceneState {
            now,
            ..self.state.clone()
        }
    }

    /// Where the scene stands.
    pub fn phase(&self) -> Phase {
        self.state.phase
    }

    /// The scene shown now: the safe room while the patient is there, the consult room
    /// (`None`) when no scene runs.
    pub fn showing(&self) -> Option<SceneId> {
        match self.state.phase {
            Phase::SafeRoom { .. } => Some(SceneId::SafeRoom),
            Phase::Running => self.state.scene,
            Phase::Consult | Phase::Proposed { .. } => None,
        }
    }

    /// Every event that happened in this consult, in order.
    pub fn timeline(&self) -> &[Happened] {
        &self.timeline
    }

    /// The effects of what was fed in so far, in order.
    pub fn drain_effects(&mut self) -> std::vec::Drain<'_, Effect> {
        self.effects.drain(..)
    }

    /// A parameter's value at `now` (`None` if the running scene has no such parameter).
    pub fn value(&self, param: Param, now: u64) -> Option<f32> {
        self.state
            .ramps
            .iter()
            .find(|r| r.param == param)
            .map(|r| r.at(now))
    }

    /// For a count parameter (spiders, listeners): when each of the first `slots` came in, as
    /// scene time (ms since the scene started; at least 1), or 0 for those there before its
    /// last ramp. Pure, from the ramp: the patient's app and a mirror agree, and a newcomer
    /// can walk in from outside the view ([`crate::stimulus::ENTER_MS`]).
    pub fn entered(&self, count: Param, slots: usize) -> Vec<u64> {
        let ramp = self.state.ramps.iter().find(|r| r.param == count);
        (0..slots)
            .map(|i| {
                ramp.and_then(|r| r.crossed(i as f32 + 0.5))
                    .map_or(0, |at| at.saturating_sub(self.state.started).max(1))
            })
            .collect()
    }

    /// Every parameter's value at `now`, in table order.
    pub fn values(&self, now: u64) -> Vec<(Param, f32)> {
        self.state
            .ramps
            .iter()
            .map(|r| (r.param, r.at(now)))
            .collect()
    }

    /// Applies a command from `sender` at `now`. Refused: nothing changes.
    pub fn apply(&mut self, sender: Sender, command: Command, now: u64) -> Result<(), Refused> {
        let allowed = match sender {
            Sender::Patient => command.patients(),
            Sender::Therapist => !command.patients(),
            Sender::Other => false,
        };
        if !allowed {
            return Err(Refused::NotAllowed {
                sender,
                command: command.name(),
            });
        }
        if sender == Sender::Therapist {
            // Every word from the therapist shows it is there.
            self.last_heartbeat = self.last_heartbeat.max(now);
            if command == Command::Heartbeat {
                return Ok(());
            }
            // STOP is never refused as a flood.
            if command != Command::Stop {
                self.count(now)?;
            }
            if let Phase::SafeRoom { .. } = self.state.phase
                && command != Command::Stop
            {
                self.effects.push(Effect::Dropped(command.name()));
                return Err(Refused::InSafeRoom);
            }
        }
        match command {
            Command::Propose { scene, intensity } => {
                if intensity > MAX_INTENSITY {
                    return Err(Refused::OutOfRange);
                }
                if scene == SceneId::SafeRoom {
                    return Err(Refused::NotNow("proposing the safe room"));
                }
                // One scene at a time: the therapist ends this one first (the console does).
                if self.state.phase == Phase::Running {
                    return Err(Refused::NotNow("proposing while a scene runs"));
                }
                self.state.phase = Phase::Proposed { scene, intensity };
                self.effects.push(Effect::Proposed { scene, intensity });
            }
            Command::Accept => {
                let Phase::Proposed { scene, intensity } = self.state.phase else {
                    return Err(Refused::NotNow("accept"));
                };
                self.start(scene, intensity, now);
            }
            Command::Decline => {
                if !matches!(self.state.phase, Phase::Proposed { .. }) {
                    return Err(Refused::NotNow("decline"));
                }
                self.state.phase = if self.state.scene.is_some() {
                    Phase::Running
                } else {
                    Phase::Consult
                };
                self.effects.push(Effect::Declined);
            }
            Command::SetIntensity { intensity, ramp_ms } => {
                if intensity > MAX_INTENSITY || ramp_ms > MAX_RAMP_MS {
                    return Err(Refused::OutOfRange);
                }
                let scene = self.running()?;
                self.state.intensity = intensity;
                let targets = scene.parameters(intensity);
                self.retarget(scene, &targets, ramp_ms, now);
            }
            Command::Pin { param, value } => {
                let scene = self.running()?;
                if !scene.spec(param).is_some_and(|s| s.accepts(value)) {
                    return Err(Refused::BadParameter);
                }
                self.state.pins.retain(|(p, _)| *p != param);
                self.state.pins.push((param, value));
                let targets = scene.parameters(self.state.intensity);
                self.retarget(scene, &targets, DEFAULT_RAMP_MS, now);
            }
            Command::Unpin { param } => {
                let scene = self.running()?;
                if scene.spec(param).is_none() {
                    return Err(Refused::BadParameter);
                }
                self.state.pins.retain(|(p, _)| *p != param);
                let targets = scene.parameters(self.state.intensity);
                self.retarget(scene, &targets, DEFAULT_RAMP_MS, now);
            }
            Command::Fire { event, announce } => {
                let scene = self.running()?;
                if event.scene() != scene {
                    return Err(Refused::WrongScene);
                }
                if announce {
                    self.effects.push(Effect::Cue(event));
                    self.state.pending.push((now + CUE_LEAD_MS, event));
                } else {
                    self.happen(event, false, now);
                }
            }
            Command::Stop => self.enter_safe_room(SafeReason::Stop, now),
            Command::End => {
                self.state.phase = Phase::Consult;
                self.state.scene = None;
                self.clear_scene();
                self.effects.push(Effect::Fade { ms: SCENE_FADE_MS });
                self.effects.push(Effect::Ended);
            }
            Command::EnterSafeRoom => self.enter_safe_room(SafeReason::Patient, now),
            Command::LeaveSafeRoom => {
                let Phase::SafeRoom { resume, why, .. } = self.state.phase else {
                    return Err(Refused::NotNow("leave safe room"));
                };
                // A scene comes back only with a therapist there to watch over it: after
                // the therapist fell silent or left, the patient goes to the consult room.
                let resume = resume && matches!(why, SafeReason::Patient | SafeReason::Stop);
                self.effects.push(Effect::LeftSafeRoom);
                self.effects.push(Effect::Fade { ms: SCENE_FADE_MS });
                match (resume, self.state.scene, self.saved.take()) {
                    (true, Some(scene), Some(saved)) => {
                        // Back at the state it had, ramped in from calm.
                        self.state.phase = Phase::Running;
                        self.state.ramps = scene
                            .parameters(0)
                            .into_iter()
                            .map(|(param, calm)| {
                                let to = saved
                                    .iter()
                                    .find(|(p, _)| *p == param)
                                    .map_or(calm, |(_, v)| *v);
                                let discrete = scene.spec(param).is_some_and(|s| s.discrete());
                                Ramp {
                                    param,
                                    from: if discrete { to } else { calm },
                                    to,
                                    start: now,
                                    ms: if discrete { 0 } else { DEFAULT_RAMP_MS },
                                }
                            })
                            .collect();
                        // The therapist's clock starts again from here.
                        self.last_heartbeat = now;
                    }
                    _ => {
                        self.state.phase = Phase::Consult;
                        self.state.scene = None;
                        self.clear_scene();
                    }
                }
            }
            // Taken above.
            Command::Heartbeat => {}
        }
        Ok(())
    }

    /// The scene running (not proposed, not in the safe room).
    fn running(&self) -> Result<SceneId, Refused> {
        match (self.state.phase, self.state.scene) {
            (Phase::Running, Some(scene)) => Ok(scene),
            _ => Err(Refused::NotNow("a scene command with no scene running")),
        }
    }

    /// Counts a therapist's command; refuses the 21st in a second.
    fn count(&mut self, now: u64) -> Result<(), Refused> {
        let second = now / 1000;
        if self.window.0 != second {
            self.window = (second, 0);
        }
        self.window.1 += 1;
        if self.window.1 > MAX_COMMANDS_PER_S {
            return Err(Refused::Flood);
        }
        Ok(())
    }

    fn clear_scene(&mut self) {
        self.state.ramps.clear();
        self.state.pins.clear();
        self.state.pending.clear();
        self.state.events.clear();
        self.saved = None;
    }

    fn start(&mut self, scene: SceneId, intensity: u8, now: u64) {
        self.clear_scene();
        self.state.phase = Phase::Running;
        self.state.scene = Some(scene);
        self.state.intensity = intensity;
        self.state.started = now;
        self.break_suggested = false;
        self.last_heartbeat = now;
        // A new scene starts under a fade, at its values: nothing to ramp from.
        self.state.ramps = scene
            .parameters(intensity)
            .into_iter()
            .map(|(param, to)| Ramp {
                param,
                from: to,
                to,
                start: now,
                ms: 0,
            })
            .collect();
        self.effects.push(Effect::Fade { ms: SCENE_FADE_MS });
        self.effects.push(Effect::Started(scene));
    }

    /// Ramps every parameter to `targets` (pins win); discrete changes go under one fade.
    fn retarget(&mut self, scene: SceneId, targets: &[(Param, f32)], ramp_ms: u32, now: u64) {
        let mut faded = false;
        for (param, table) in targets {
            let to = self
                .state
                .pins
                .iter()
                .find(|(p, _)| p == param)
                .map_or(*table, |(_, v)| *v);
            let discrete = scene.spec(*param).is_some_and(|s| s.discrete());
            if let Some(ramp) = self.state.ramps.iter_mut().find(|r| r.param == *param) {
                let from = ramp.at(now);
                if from == to && ramp.to == to {
                    continue;
                }
                if discrete {
                    faded = true;
                    *ramp = Ramp {
                        param: *param,
                        from: to,
                        to,
                        start: now,
                        ms: 0,
                    };
                } else {
                    *ramp = Ramp {
                        param: *param,
                        from,
                        to,
                        start: now,
                        ms: ramp_ms,
                    };
                }
            }
        }
        if faded {
            self.effects.push(Effect::Fade { ms: SCENE_FADE_MS });
        }
    }

    fn happen(&mut self, event: Event, announced: bool, now: u64) {
        let happened = Happened {
            at: now,
            event,
            announced,
        };
        self.state.events.push(happened);
        self.timeline.push(happened);
        self.effects.push(Effect::Happens { event, announced });
    }

    fn enter_safe_room(&mut self, why: SafeReason, now: u64) {
        if let Phase::SafeRoom { .. } = self.state.phase {
            return;
        }
        let resume = self.state.phase == Phase::Running;
        if resume {
            self.saved = Some(self.values(now));
        }
        // Cues and events under way go with the scene: nothing waits to burst out later.
        self.state.pending.clear();
        self.state.events.clear();
        self.state.phase = Phase::SafeRoom {
            why,
            since: now,
            resume,
        };
        self.effects.push(Effect::Fade { ms: SAFE_FADE_MS });
        self.effects.push(Effect::SafeRoom(why));
    }

    /// The therapist left: the patient goes to the safe room if a scene runs or waits.
    pub fn therapist_left(&mut self, now: u64) {
        if matches!(self.state.phase, Phase::Running | Phase::Proposed { .. }) {
            self.enter_safe_room(SafeReason::TherapistLeft, now);
        }
    }

    /// Time passes: announced events happen when their cue's time is up, events that are
    /// over are forgotten, heartbeat silence sends the patient to the safe room, and a break
    /// is suggested after 30 minutes.
    pub fn tick(&mut self, now: u64) {
        if matches!(self.state.phase, Phase::Running | Phase::Proposed { .. })
            && now.saturating_sub(self.last_heartbeat) > HEARTBEAT_TIMEOUT_MS
        {
            self.enter_safe_room(SafeReason::TherapistSilent, now);
            return;
        }
        if self.state.phase != Phase::Running {
            return;
        }
        let due: Vec<Event> = self
            .state
            .pending
            .iter()
            .filter(|(at, _)| *at <= now)
            .map(|(_, e)| *e)
            .collect();
        self.state.pending.retain(|(at, _)| *at > now);
        for event in due {
            self.happen(event, true, now);
        }
        self.state
            .events
            .retain(|h| h.at + h.event.duration_ms() > now);
        if !self.break_suggested && now.saturating_sub(self.state.started) >= BREAK_AFTER_MS {
            self.break_suggested = true;
            self.effects.push(Effect::SuggestBreak);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Sender = Sender::Therapist;
    const P: Sender = Sender::Patient;

    /// A patient's player running heights at `intensity`, started at t = 1000.
    fn running(intensity: u8) -> ScenePlayer {
        let mut player = ScenePlayer::new(7, 0);
        player
            .apply(
                T,
                Command::Propose {
                    scene: SceneId::Heights,
                    intensity,
                },
                1_000,
            )
            .expect("proposed");
        player.apply(P, Command::Accept, 1_000).expect("accepted");
        player.drain_effects().count();
        player
    }

    /// Spiders from 2 to 8 over 3 s: the two there before have no entry time; each newcomer
    /// comes in as the ramped count passes it, in order, within the ramp; the mirror agrees.
    #[test]
    fn newcomers_come_in_as_the_count_ramps_past_them() {
        let mut player = ScenePlayer::new(7, 0);
        let propose = Command::Propose {
            scene: SceneId::Spiders,
            intensity: 5,
        };
        player.apply(T, propose, 1_000).expect("proposed");
        player.apply(P, Command::Accept, 1_000).expect("accepted");
        let set = Command::SetIntensity {
            intensity: 10,
            ramp_ms: 3_000,
        };
        player.apply(T, set, 11_000).expect("set");
        let entered = player.entered(Param::SpiderCount, 8);
        assert_eq!(&entered[..2], &[0, 0], "{entered:?}");
        let newcomers = &entered[2..];
        assert!(newcomers.windows(2).all(|w| w[0] < w[1]), "{entered:?}");
        // Scene time: the ramp runs 10 000..13 000 ms after the start.
        assert!(
            newcomers.iter().all(|t| (10_000..=13_000).contains(t)),
            "{entered:?}"
        );
        let mirror = ScenePlayer::mirror(player.snapshot(12_000));
        assert_eq!(mirror.entered(Param::SpiderCount, 8), entered);
    }

    fn effects(player: &mut ScenePlayer) -> Vec<Effect> {
        player.drain_effects().collect()
    }

    #[test]
    fn a_scene_starts_only_when_the_patient_accepts() {
        let mut player = ScenePlayer::new(1, 0);
        let propose = Command::Propose {
            scene: SceneId::Spiders,
            intensity: 3,
        };
        player.apply(T, propose, 10).expect("proposed");
        assert_eq!(player.showing(), None, "nothing until the patient says yes");
        assert_eq!(
            effects(&mut player),
            vec![Effect::Proposed {
                scene: SceneId::Spiders,
                intensity: 3
            }]
        );
        player.apply(P, Command::Decline, 20).expect("declined");
        assert_eq!(player.phase(), Phase::Consult);
        assert_eq!(effects(&mut player), vec![Effect::Declined]);
        assert_eq!(
            player.apply(P, Command::Accept, 30),
            Err(Refused::NotNow("accept"))
        );
        player.apply(T, propose, 40).expect("proposed again");
        player.apply(P, Command::Accept, 50).expect("accepted");
        assert_eq!(player.showing(), Some(SceneId::Spiders));
        assert_eq!(
            effects(&mut player),
            vec![
                Effect::Proposed {
                    scene: SceneId::Spiders,
                    intensity: 3
                },
                Effect::Fade { ms: SCENE_FADE_MS },
                Effect::Started(SceneId::Spiders)
            ]
        );
    }

    /// Every frame of a ramp moves by at most its share of the change: no jump, whatever the
    /// frame rate; a ramp of 0 is a cut; discrete parameters change under a fade.
    #[test]
    fn ramps_respect_the_ramp_time_frame_by_frame() {
        let mut player = running(0);
        let start = 2_000;
        player
            .apply(
                T,
                Command::SetIntensity {
                    intensity: 10,
                    ramp_ms: 5_000,
                },
                start,
            )
            .expect("set");
        assert!(
            effects(&mut player).contains(&Effect::Fade { ms: SCENE_FADE_MS }),
            "the railing and floor change under a fade"
        );
        let (from, to) = (0.5f32, 150.0f32);
        let per_ms = (to - from) / 5_000.0;
        let mut last = player.value(Param::HeightM, start).expect("height");
        assert_eq!(last, from);
        for frame in 1..=400u64 {
            let now = start + frame * 14; // 14 ms frames (72 Hz)
            let height = player.value(Param::HeightM, now).expect("height");
            assert!(height >= last, "never down on the way up");
            assert!(
                height - last <= per_ms * 14.0 + 1e-3,
                "frame {frame}: {last} -> {height}"
            );
            last = height;
        }
        assert_eq!(player.value(Param::HeightM, start + 5_000), Some(to));
        assert_eq!(player.value(Param::Railing, start), Some(3.0), "at once");
        player
            .apply(
                T,
                Command::SetIntensity {
                    intensity: 2,
                    ramp_ms: 0,
                },
                9_000,
            )
            .expect("cut");
        assert_eq!(player.value(Param::HeightM, 9_000), Some(4.0));
    }

    #[test]
    fn a_pin_holds_a_parameter_whatever_the_intensity() {
        let mut player = running(2);
        player
            .apply(
                T,
                Command::Pin {
                    param: Param::Wind,
                    value: 0.0,
                },
                2_000,
            )
            .expect("pinned");
        player
            .apply(
                T,
                Command::SetIntensity {
                    intensity: 9,
                    ramp_ms: 0,
                },
                3_000,
            )
            .expect("set");
        assert_eq!(player.value(Param::Wind, 9_000), Some(0.0));
        assert_eq!(player.value(Param::HeightM, 9_000), Some(100.0));
        player
            .apply(T, Command::Unpin { param: Param::Wind }, 10_000)
            .expect("unpinned");
        assert_eq!(
            player.value(Param::Wind, 10_000 + u64::from(DEFAULT_RAMP_MS)),
            Some(0.65)
        );
    }

    #[test]
    fn an_announced_event_happens_three_seconds_after_its_cue() {
        let mut player = running(5);
        player
            .apply(
                T,
                Command::Fire {
                    event: Event::Gust,
                    announce: true,
                },
                5_000,
            )
            .expect("fired");
        assert_eq!(effects(&mut player), vec![Effect::Cue(Event::Gust)]);
        player.apply(T, Command::Heartbeat, 7_000).expect("beat");
        player.tick(5_000 + CUE_LEAD_MS - 1);
        assert!(effects(&mut player).is_empty(), "not yet");
        player.tick(5_000 + CUE_LEAD_MS);
        assert_eq!(
            effects(&mut player),
            vec![Effect::Happens {
                event: Event::Gust,
                announced: true
            }]
        );
        player
            .apply(
                T,
                Command::Fire {
                    event: Event::LookDown,
                    announce: false,
                },
                8_100,
            )
            .expect("fired");
        let timeline: Vec<(u64, Event, bool)> = player
            .timeline()
            .iter()
            .map(|h| (h.at, h.event, h.announced))
            .collect();
        assert_eq!(
            timeline,
            vec![(8_000, Event::Gust, true), (8_100, Event::LookDown, false)]
        );
    }

    /// The safe room from any state; the therapist's commands there are dropped, not queued;
    /// leaving resumes the scene at the state it had, ramped in from calm.
    #[test]
    fn the_safe_room_from_anywhere_drops_commands_and_resumes_where_it_was() {
        let mut idle = ScenePlayer::new(1, 0);
        idle.apply(P, Command::EnterSafeRoom, 5)
            .expect("from the consult room");
        assert_eq!(idle.showing(), Some(SceneId::SafeRoom));
        idle.apply(P, Command::LeaveSafeRoom, 6).expect("back");
        assert_eq!(idle.showing(), None);

        let mut player = running(6);
        let before = player.values(4_000);
        player
            .apply(
                T,
                Command::Fire {
                    event: Event::Gust,
                    announce: true,
                },
                4_000,
            )
            .expect("cue");
        player
            .apply(P, Command::EnterSafeRoom, 4_500)
            .expect("safe");
        let fx = effects(&mut player);
        assert!(fx.contains(&Effect::Fade { ms: SAFE_FADE_MS }) && SAFE_FADE_MS < 300);
        assert!(fx.contains(&Effect::SafeRoom(SafeReason::Patient)));
        assert_eq!(
            player.apply(
                T,
                Command::SetIntensity {
                    intensity: 10,
                    ramp_ms: 0
                },
                5_000
            ),
            Err(Refused::InSafeRoom)
        );
        assert_eq!(effects(&mut player), vec![Effect::Dropped("set intensity")]);
        assert_eq!(
            player.apply(T, Command::LeaveSafeRoom, 5_500),
            Err(Refused::NotAllowed {
                sender: T,
                command: "leave safe room"
            }),
            "only the patient leaves it"
        );
        player.tick(9_000);
        assert!(
            !effects(&mut player)
                .iter()
                .any(|e| matches!(e, Effect::Happens { .. })),
            "the announced gust went with the scene"
        );
        player
            .apply(P, Command::LeaveSafeRoom, 10_000)
            .expect("back");
        assert_eq!(player.showing(), Some(SceneId::Heights));
        let calm = SceneId::Heights.parameters(0);
        assert_eq!(player.value(Param::HeightM, 10_000), Some(calm[0].1));
        assert_eq!(
            player.values(10_000 + u64::from(DEFAULT_RAMP_MS)),
            before,
            "the state it had, not the dropped intensity"
        );
    }

    #[test]
    fn silence_from_the_therapist_or_its_leaving_sends_the_patient_to_the_safe_room() {
        let mut player = running(4);
        for t in (2_000..=9_000).step_by(1_000) {
            player.apply(T, Command::Heartbeat, t).expect("beat");
            player.tick(t);
        }
        assert_eq!(
            player.showing(),
            Some(SceneId::Heights),
            "heartbeats keep it"
        );
        player.tick(9_000 + HEARTBEAT_TIMEOUT_MS);
        assert_eq!(
            player.showing(),
            Some(SceneId::Heights),
            "5 s is not yet over 5 s"
        );
        player.tick(9_000 + HEARTBEAT_TIMEOUT_MS + 1);
        assert!(matches!(
            player.phase(),
            Phase::SafeRoom {
                why: SafeReason::TherapistSilent,
                ..
            }
        ));
        let mut left = running(4);
        left.therapist_left(1_500);
        assert!(matches!(
            left.phase(),
            Phase::SafeRoom {
                why: SafeReason::TherapistLeft,
                ..
            }
        ));
        // STOP from the therapist, and in the consult room nothing happens without a scene.
        let mut stopped = running(4);
        stopped.apply(T, Command::Stop, 1_200).expect("stop");
        assert!(matches!(
            stopped.phase(),
            Phase::SafeRoom {
                why: SafeReason::Stop,
                ..
            }
        ));
        let mut idle = ScenePlayer::new(1, 0);
        idle.tick(60_000);
        assert_eq!(idle.phase(), Phase::Consult);
    }

    /// A mirror built from the patient's state computes the same values at every later time.
    #[test]
    fn a_late_joiners_mirror_equals_the_live_scene() {
        let mut live = running(3);
        live.apply(
            T,
            Command::SetIntensity {
                intensity: 8,
                ramp_ms: 6_000,
            },
            2_000,
        )
        .expect("set");
        live.apply(
            T,
            Command::Pin {
                param: Param::Wind,
                value: 0.1,
            },
            3_000,
        )
        .expect("pin");
        let mirror = ScenePlayer::mirror(live.state().clone());
        for t in (3_000..12_000).step_by(250) {
            assert_eq!(mirror.values(t), live.values(t), "at {t}");
        }
        assert_eq!(mirror.showing(), live.showing());
    }

    /// Bad input: each refused with its reason, and nothing else changes.
    #[test]
    fn bad_commands_are_refused_and_change_nothing() {
        let mut player = running(5);
        let before = player.state().clone();
        let refusals = [
            (
                T,
                Command::SetIntensity {
                    intensity: 11,
                    ramp_ms: 0,
                },
                Refused::OutOfRange,
            ),
            (
                T,
                Command::SetIntensity {
                    intensity: 3,
                    ramp_ms: MAX_RAMP_MS + 1,
                },
                Refused::OutOfRange,
            ),
            (
                T,
                Command::Pin {
                    param: Param::SpiderCount,
                    value: 2.0,
                },
                Refused::BadParameter,
            ),
            (
                T,
                Command::Pin {
                    param: Param::Railing,
                    value: 1.5,
                },
                Refused::BadParameter,
            ),
            (
                T,
                Command::Pin {
                    param: Param::Wind,
                    value: f32::NAN,
                },
                Refused::BadParameter,
            ),
            (
                T,
                Command::Fire {
                    event: Event::Applause,
                    announce: false,
                },
                Refused::WrongScene,
            ),
            (
                Sender::Other,
                Command::Stop,
                Refused::NotAllowed {
                    sender: Sender::Other,
                    command: "stop",
                },
            ),
            (
                P,
                Command::SetIntensity {
                    intensity: 1,
                    ramp_ms: 0,
                },
                Refused::NotAllowed {
                    sender: P,
                    command: "set intensity",
                },
            ),
        ];
        for (sender, command, why) in refusals {
            assert_eq!(
                player.apply(sender, command, 2_000),
                Err(why),
                "{command:?}"
            );
        }
        assert_eq!(player.state(), &before);
        // A flood: 20 in a second pass, the 21st does not.
        let mut flooded = running(1);
        for i in 0..MAX_COMMANDS_PER_S {
            flooded
                .apply(
                    T,
                    Command::SetIntensity {
                        intensity: 2,
                        ramp_ms: 0,
                    },
                    5_000 + u64::from(i),
                )
                .expect("within the limit");
        }
        assert_eq!(
            flooded.apply(
                T,
                Command::SetIntensity {
                    intensity: 9,
                    ramp_ms: 0
                },
                5_500
            ),
            Err(Refused::Flood)
        );
        assert_eq!(flooded.state().intensity, 2);
    }

    #[test]
    fn a_break_is_suggested_once_after_half_an_hour() {
        let mut player = running(1);
        let mut suggested = 0;
        for minute in 1..=40u64 {
            let t = 1_000 + minute * 60_000;
            player.apply(T, Command::Heartbeat, t).expect("beat");
            player.tick(t);
            suggested += effects(&mut player)
                .iter()
                .filter(|e| **e == Effect::SuggestBreak)
                .count();
        }
        assert_eq!(suggested, 1);
    }

    /// A proposal long after the last heartbeat (the therapist talked first for a minute) is
    /// shown to the patient, not taken for silence; STOP goes through a flood; proposing over
    /// a running scene is refused; the safe room from a proposal.
    #[test]
    fn a_late_proposal_stop_in_a_flood_and_the_safe_room_from_a_proposal() {
        let mut player = ScenePlayer::new(1, 0);
        let propose = Command::Propose {
            scene: SceneId::Flying,
            intensity: 2,
        };
        player.apply(T, propose, 60_000).expect("proposed");
        player.tick(60_010);
        assert!(
            matches!(player.phase(), Phase::Proposed { .. }),
            "{:?}",
            player.phase()
        );
        player
            .apply(P, Command::EnterSafeRoom, 60_020)
            .expect("safe, from a proposal");
        assert_eq!(player.showing(), Some(SceneId::SafeRoom));
        player
            .apply(P, Command::LeaveSafeRoom, 60_030)
            .expect("back");
        assert_eq!(
            player.phase(),
            Phase::Consult,
            "nothing was running to resume"
        );

        let mut busy = running(3);
        assert_eq!(
            busy.apply(T, propose, 2_000),
            Err(Refused::NotNow("proposing while a scene runs"))
        );
        for i in 0..30 {
            let _ = busy.apply(T, Command::Unpin { param: Param::Wind }, 3_000 + i);
        }
        busy.apply(T, Command::Stop, 3_100)
            .expect("STOP is never a flood");
        assert!(matches!(busy.phase(), Phase::SafeRoom { .. }));
    }

    /// After the therapist left (or fell silent), leaving the safe room goes to the consult
    /// room: no scene runs without someone watching over it.
    #[test]
    fn no_scene_comes_back_without_a_therapist() {
        let mut player = running(7);
        player.therapist_left(2_000);
        player
            .apply(P, Command::LeaveSafeRoom, 3_000)
            .expect("leaves");
        assert_eq!(player.phase(), Phase::Consult);
        assert_eq!(player.showing(), None);
        let mut silent = running(7);
        silent.tick(1_000 + HEARTBEAT_TIMEOUT_MS + 1);
        silent
            .apply(P, Command::LeaveSafeRoom, 9_000)
            .expect("leaves");
        assert_eq!(silent.phase(), Phase::Consult);
    }

    /// A mirror made from a snapshot sent at the patient's `now`, on a machine whose clock
    /// reads 40 s less, computes the patient's values once its clock is mapped onto the
    /// patient's (patient time = mirror time + offset).
    #[test]
    fn a_mirror_on_another_clock_maps_onto_the_patients() {
        let mut live = running(2);
        live.apply(
            T,
            Command::SetIntensity {
                intensity: 9,
                ramp_ms: 5_000,
            },
            2_000,
        )
        .expect("set");
        let sent_at = 3_000;
        let mirror = ScenePlayer::mirror(live.snapshot(sent_at));
        let received_at_mirror = 500u64; // the mirror's clock when the state arrived
        let offset = sent_at as i64 - received_at_mirror as i64;
        for mirror_now in (500..9_000u64).step_by(500) {
            let patient_now = mirror_now.saturating_add_signed(offset);
            assert_eq!(mirror.values(patient_now), live.values(patient_now));
        }
        assert_eq!(mirror.state().now, sent_at);
    }
}
