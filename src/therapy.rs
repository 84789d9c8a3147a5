//! The headless patient's scene: the participant without a window runs the scene as the
//! patient's room app does (the authority, `haven_scenes::ScenePlayer`): it applies a verified
//! therapist's commands, says the scene's state to the therapists on each change, beats at 1 Hz
//! while a scene runs, and goes to the safe room when the therapist falls silent or leaves.
//! With `--accept-scenes` it accepts every proposal (the demo's simulated patient); without
//! it, it declines them: a scripted stand-in cannot consent. The scene's sound plays under the
//! voices (`--voice-out` records it), silent in the safe room.
//!
//! It keeps the therapy record as the room app does (`haven_scenes::therapy::Therapy`): a
//! verified therapist's rating requests, the record's entries to the therapists, avoidance from
//! its own scripted head. A script ([`PatientScript`]) stands in for the person: its answers
//! in order (one left unanswered where it says `-`), and a visit to the safe room after the
//! first event. After a scene's closing rating it writes the report (`--report DIR`) and,
//! with `--save-report`, offers the FHIR Bundle to the therapists for keeping.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Instant;

use haven_proto::control::Control;
use haven_proto::signal::{PeerId, Role};
use haven_scenes::player::{Effect, HEARTBEAT_EVERY_MS, Phase, Sender};
use haven_scenes::{Command, ScenePlayer};
use haven_session::Session;
use tracing::{debug, info, warn};

/// What the scripted patient answers and does.
#[derive(Debug, Default)]
pub(crate) struct PatientScript {
    /// SUDS answers, in the order asked (`None`: leave it unanswered).
    pub(crate) suds: VecDeque<Option<u8>>,
    /// FMS answers, in the order asked.
    pub(crate) fms: VecDeque<Option<u8>>,
    /// After the first event, to the safe room for this long (ms), then back.
    pub(crate) safe_room_after_event: Option<u64>,
}

/// How long the scripted patient takes to answer, ms.
const ANSWER_AFTER_MS: u64 = 1_500;

/// A scripted patient's answers, in order (`None`: leave that one unanswered).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Answers(pub(crate) Vec<Option<u8>>);

/// `40,55,-,30`: answers in order, `-` for none.
pub(crate) fn parse_answers(text: &str) -> Result<Answers, String> {
    text.split(',')
        .map(|a| match a.trim() {
            "-" => Ok(None),
            n => n
                .parse::<u8>()
                .map(Some)
                .map_err(|_| format!("{n:?} is not an answer (a number, or - for none)")),
        })
        .collect::<Result<_, _>>()
        .map(Answers)
}

/// Where the headless patient's report goes.
#[derive(Debug, Clone)]
pub(crate) struct ReportTo {
    /// The folder (the patient's).
    pub(crate) dir: PathBuf,
    /// The patient said "save": offer the Bundle to the therapists for keeping.
    pub(crate) save: bool,
    /// Who it is about.
    pub(crate) subject: haven_report::Subject,
}

/// A report being written on its own thread: where its files went, or why not.
type ReportWriter = std::thread::JoinHandle<Result<Vec<PathBuf>, String>>;

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
    /// The therapy record (the authority).
    keeper: haven_scenes::therapy::Therapy,
    /// Avoidance from the scripted head.
    gaze: haven_scenes::gaze::Gaze,
    script: PatientScript,
    /// Accept the proposal at this time (once its prediction is answered).
    accept_at: Option<u64>,
    /// Back from the safe room at this time.
    back_at: Option<u64>,
    went_to_safe_room: bool,
    /// The last prompt the script answered or left (each takes one answer).
    handled: u32,
    /// Therapists told the whole record.
    told: Vec<PeerId>,
    report: Option<ReportTo>,
    started_unix: u64,
    /// Reports written, for the figures.
    pub(crate) reports_written: u32,
    /// The record's length when the last report was written.
    reported: usize,
    /// The report being written (off this loop), and its offer for when it is.
    writing: Option<(ReportWriter, Option<haven_share::offer::Offer>)>,
    /// Ratings answered by the script, for the figures.
    pub(crate) ratings_answered: u32,
}

impl HeadlessScene {
    pub(crate) fn new(accept: bool, script: PatientScript, report: Option<ReportTo>) -> Self {
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
            keeper: haven_scenes::therapy::Therapy::new(0),
            gaze: haven_scenes::gaze::Gaze::default(),
            script,
            accept_at: None,
            back_at: None,
            went_to_safe_room: false,
            handled: 0,
            told: Vec::new(),
            report,
            started_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            reports_written: 0,
            reported: 0,
            writing: None,
            ratings_answered: 0,
        }
    }

    /// The scripted head turned this way (x, y, z, w, in the room): avoidance at 10 Hz.
    pub(crate) fn head(&mut self, rotation: [f32; 4]) {
        let now = self.now();
        if !self.gaze.due(now) {
            return;
        }
        let showing = self.player.showing();
        let state = self.player.state();
        let stimulus = showing.and_then(|scene| {
            haven_scenes::gaze::stimulus(
                scene,
                state.seed,
                &self.player.values(now),
                &self.player.entered(haven_scenes::Param::SpiderCount, 8),
                now.saturating_sub(state.started),
            )
        });
        self.gaze.sample(
            now,
            haven_scenes::gaze::head_forward(rotation),
            stimulus,
            showing.filter(|s| *s != haven_scenes::SceneId::SafeRoom),
        );
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
        let sender = match (role, self.therapists.get(&from)) {
            (Role::Therapist, Some(true)) => Sender::Therapist,
            _ => Sender::Other,
        };
        let now = self.now();
        if let Control::Rating(request) = message {
            if let Err(why) = self.keeper.request(sender, *request, now) {
                self.refused += 1;
                if haven_session::worth_logging(self.refused) {
                    warn!(peer = %from, %why, "a rating request was refused");
                }
            }
            return;
        }
        let command = match message {
            Control::Scene(command) => *command,
            Control::Heartbeat => Command::Heartbeat,
            _ => return,
        };
        if command != Command::Heartbeat {
            debug!(command = command.name(), "a scene command");
        }
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

    /// Time passes: the player ticks, the patient answers proposals and ratings, the state,
    /// the record's new entries and heartbeats go to the therapists. Returns the report's
    /// offer when one was written with the patient's "save".
    pub(crate) fn step(&mut self, session: &Session) -> Option<haven_share::offer::Offer> {
        let now = self.now();
        self.player.tick(now);
        // The script: a proposal is accepted once its prediction is answered; a rating is
        // answered after a moment; after the first event, the safe room and back.
        if self.accept_at.is_some_and(|at| now >= at) {
            self.accept_at = None;
            let _ = self.player.apply(Sender::Patient, Command::Accept, now);
        }
        if self.back_at.is_some_and(|at| now >= at) {
            self.back_at = None;
            let _ = self
                .player
                .apply(Sender::Patient, Command::LeaveSafeRoom, now);
        }
        for prompt in self.keeper.open() {
            if prompt.id <= self.handled
                || self.keeper.at(now) < prompt.asked.saturating_add(ANSWER_AFTER_MS)
            {
                continue;
            }
            self.handled = prompt.id;
            let queue = match prompt.scale {
                haven_scenes::ratings::Scale::Suds => &mut self.script.suds,
                haven_scenes::ratings::Scale::Fms => &mut self.script.fms,
            };
            // Each answer once: a `-` leaves this prompt to run out.
            if let Some(answer) = queue.pop_front()
                && let Some(value) = answer
                && self
                    .keeper
                    .answer(Sender::Patient, prompt.id, value, now)
                    .is_ok()
            {
                self.ratings_answered += 1;
            }
        }
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
                        info!(
                            scene = scene.name(),
                            intensity,
                            accepted = self.accept,
                            "a scene was proposed"
                        );
                        if !self.accept {
                            let _ = self.player.apply(Sender::Patient, Command::Decline, now);
                        } else if self.script.suds.is_empty() {
                            let _ = self.player.apply(Sender::Patient, Command::Accept, now);
                        } else {
                            // How bad it is expected to be, first (the record asks it).
                            self.accept_at = Some(now + ANSWER_AFTER_MS + 200);
                        }
                    }
                    Effect::Happens { .. } if !self.went_to_safe_room => {
                        if let Some(ms) = self.script.safe_room_after_event {
                            self.went_to_safe_room = true;
                            let _ = self
                                .player
                                .apply(Sender::Patient, Command::EnterSafeRoom, now);
                            self.back_at = Some(now + ms);
                        }
                    }
                    Effect::Started(scene) => self.scenes_started.push(scene.name().to_owned()),
                    Effect::SafeRoom(why) => info!(?why, "in the safe room"),
                    _ => {}
                }
            }
        }
        let offer = self.record(session, now);
        let running = !matches!(self.player.phase(), Phase::Consult);
        let beat = running && now.saturating_sub(self.last_beat) >= HEARTBEAT_EVERY_MS;
        if !(changed || beat) {
            return offer;
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
        offer
    }

    /// Leaving the consult: the report as it stands, if anything was recorded since the last
    /// (a report offered for keeping stays the one on disk).
    pub(crate) fn leaving(&mut self) {
        let now = self.now();
        self.keeper.observe(&self.player, now);
        // Nothing is offered any more: the consult is over.
        let _ = self.finish_write();
        if let Some(to) = &self.report
            && self.keeper.record().entries.len() > self.reported
        {
            let report = self.report_now(&to.subject.clone(), now);
            match haven_report::write(&to.dir.clone(), &report) {
                Ok(_) => self.reports_written += 1,
                Err(why) => warn!(%why, "the therapy report could not be written"),
            }
        }
    }

    fn report_now(&self, subject: &haven_report::Subject, now: u64) -> haven_report::SessionReport {
        haven_report::SessionReport::new(
            self.keeper.record(),
            self.keeper.at(now),
            Some(self.keeper.plan()),
            self.gaze.figures(),
            self.gaze.heat().clone(),
            subject,
            self.started_unix,
        )
    }

    /// The record: what changed is written, sent to the therapists (the whole record to one
    /// newly able to watch), and after a scene's closing rating the report is written.
    fn record(&mut self, session: &Session, now: u64) -> Option<haven_share::offer::Offer> {
        self.keeper.observe(&self.player, now);
        self.keeper.tick(now);
        let mut watching: Vec<PeerId> = self
            .therapists
            .iter()
            .filter(|(_, trusted)| **trusted)
            .map(|(p, _)| *p)
            .collect();
        watching.sort();
        let new = self.keeper.unsent().to_vec();
        // What was asked and how it came back (never the value: health data).
        for stamped in &new {
            match stamped.entry {
                haven_scenes::record::Entry::Asked(p) => {
                    info!(
                        scale = p.scale.name(),
                        why = p.why.describe(),
                        "a rating was asked"
                    );
                }
                haven_scenes::record::Entry::Rated { scale, source, .. } => {
                    info!(
                        scale = scale.name(),
                        source = source.describe(),
                        "a rating came back"
                    );
                }
                other => debug!(kind = other.kind(), "recorded"),
            }
        }
        for to in &watching {
            let entries = if self.told.contains(to) {
                &new[..]
            } else {
                &self.keeper.record().entries[..]
            };
            for stamped in entries {
                session.send_control_to(*to, &Control::Record(*stamped));
            }
        }
        self.told = watching;
        let closed = new.iter().any(|s| {
            matches!(
                s.entry,
                haven_scenes::record::Entry::Rated {
                    why: haven_scenes::ratings::Why::End,
                    ..
                }
            )
        });
        // A write under way ends first: then its offer (if the patient said "save") goes,
        // once the report is whole on this machine.
        let finished = self.writing.as_ref().is_some_and(|(w, _)| w.is_finished());
        let done = if finished { self.finish_write() } else { None };
        let Some(to) = self.report.clone().filter(|_| closed) else {
            return done;
        };
        if self.writing.is_some() {
            let _ = self.finish_write();
        }
        let report = self.report_now(&to.subject, now);
        self.reported = self.keeper.record().entries.len();
        let offer = to.save.then(|| {
            haven_app::therapy::report_offer(
                &report,
                to.subject == haven_report::Subject::Anonymous,
            )
            .map_err(|why| warn!(%why, "the report could not be offered"))
            .ok()
        });
        // Drawing the charts takes a while: not on this loop, which sends the poses.
        let writer = std::thread::spawn(move || {
            haven_report::write(&to.dir, &report).map_err(|e| e.to_string())
        });
        self.writing = Some((writer, offer.flatten()));
        done
    }

    /// Waits for the write under way; its offer, if it was written.
    fn finish_write(&mut self) -> Option<haven_share::offer::Offer> {
        let (writer, offer) = self.writing.take()?;
        match writer.join() {
            Ok(Ok(_)) => {
                self.reports_written += 1;
                info!("the therapy report was written on this machine");
                offer
            }
            Ok(Err(why)) => {
                warn!(%why, "the therapy report could not be written");
                None
            }
            Err(_) => {
                warn!("the therapy report's writer stopped");
                None
            }
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
