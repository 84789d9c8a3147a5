//! Exposure therapy's numbers in the room: ratings (SUDS, FMS), the session record, avoidance
//! from the head pose, the fear ladder and the report.
//!
//! - **The patient's side** keeps the record (`haven_scenes::therapy::Therapy`, the
//!   authority): it watches the scene player, asks ratings on its plan, takes a verified
//!   therapist's `Control::Rating` requests and the patient's own answers ([`AnswerRating`]),
//!   and sends each new entry to the therapists as `Control::Record` (a therapist who becomes
//!   able to watch gets the whole record first). It holds the patient's fear ladder
//!   (read from and saved to the patient's own file, [`TherapySettings::ladder_file`]),
//!   applies a therapist's `Control::LadderEdit` and says the ladder again. When a scene's
//!   closing rating is in, it writes the report into the patient's folder
//!   ([`TherapySettings::report_dir`]) and, when the patient said "save", offers the FHIR
//!   Bundle to the therapists as a share they may keep (with its Consent; the keeping side
//!   writes a Provenance). Without "save" nothing of it reaches the therapist's disk.
//! - **A therapist's side** holds a copy of the record from those entries (in memory only,
//!   gone with the consult), sends [`AskRating`]s and [`LadderAction`]s, and takes a ladder's
//!   "next step" in one click: the prediction first ("how bad do you expect it to be?"), the
//!   step itself once it is answered or has run out.
//! - **Both** read avoidance from the patient's head (the patient's own rig, or the patient's
//!   avatar on a therapist's side) at 10 Hz (`haven_scenes::gaze`).

use std::path::PathBuf;
use std::sync::Arc;

use bevy::prelude::*;
use haven_proto::Redacted;
use haven_proto::control::{AvatarChoice, Control};
use haven_proto::signal::{PeerId, Role};
use haven_scenes::gaze::Gaze;
use haven_scenes::ladder::{Edit, Ladder, Step};
use haven_scenes::player::{Phase, Sender};
use haven_scenes::ratings::{Prompt, Request, Source, Why};
use haven_scenes::record::{Entry, Record};
use haven_scenes::{Command, Param, SceneId};

use crate::avatar::{AvatarPart, LocalAvatar, RemoteAvatar};
use crate::rig::LocalHead;
use crate::scenes::{Scenes, TherapistAction, now_ms};
use crate::session::{ControlReceived, SendControlTo, SessionFigures};
use crate::trust::PeerTrust;

/// Where the patient's side keeps what is theirs (the binary sets it; without it the record
/// stays in memory and the ladder starts empty).
#[derive(Resource, Clone, Debug, Default)]
pub struct TherapySettings {
    /// The report's folder, on the patient's machine.
    pub report_dir: Option<PathBuf>,
    /// The patient's fear ladder (JSON), read at the start and saved on every change.
    pub ladder_file: Option<PathBuf>,
    /// The patient said "save": the therapist's side may keep a copy of the report.
    pub save_for_therapist: bool,
    /// The patient's own words at 0, 25, 50, 75 and 100 on the SUDS slider (shown on their
    /// side only).
    pub anchors: Option<[String; 5]>,
}

/// The patient answers an open prompt.
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnswerRating {
    /// The prompt.
    pub prompt: u32,
    /// The value.
    pub value: u8,
}

/// The patient sets the answer of the prompt open now (the window's slider and keys, the
/// headset's buttons), then sends it.
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RatingInput {
    /// Move it by this many steps (5 on SUDS, 1 on FMS).
    Nudge(i32),
    /// Set it.
    Set(u8),
    /// Send it as the answer.
    Send,
}

/// The answer being set for the prompt open now, on the patient's side.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RatingDraft {
    /// The prompt it answers.
    pub prompt: Option<Prompt>,
    /// Its value so far.
    pub value: u8,
}

/// A therapist's rating request (ask now, the plan, an entry typed for the patient).
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
pub struct AskRating(pub Request);

/// A therapist's ladder action.
#[derive(Message, Clone, Debug, PartialEq)]
pub enum LadderAction {
    /// The next step, in one click (the prediction, then the step).
    Next,
    /// The step before, in one click.
    Back,
    /// Add a step.
    Add(Step),
    /// Remove a step.
    Remove(u8),
}

/// A step a therapist's side waits to take: sent once its prediction is answered or ran out.
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    /// The ladder's index.
    pub index: usize,
    /// The step.
    pub step: Step,
    /// The record's length when the prediction was asked (its answer comes after).
    pub since: usize,
    /// When it was clicked, the player's time, ms.
    pub at: u64,
}

/// The therapy record on this side, the ladder, avatar-free avoidance.
#[derive(Resource, Debug, Default)]
pub struct Therapy {
    /// The patient's side: the record keeper (the authority).
    keeper: Option<haven_scenes::therapy::Therapy>,
    /// A therapist's side: the record as the patient's app sent it.
    mirror: Record,
    /// Whose record the copy is.
    mirror_of: Option<PeerId>,
    /// Avoidance, from the patient's head.
    pub gaze: Gaze,
    /// The patient's ladder (the patient's own, or a therapist's copy).
    pub ladder: Ladder,
    /// The ladder was read from the patient's file.
    ladder_read: bool,
    /// Therapists told the whole record so far.
    told: Vec<PeerId>,
    /// A therapist's step waiting for its prediction.
    pub pending: Option<Pending>,
    /// The console's notices (a break suggested), newest last.
    pub notices: Vec<String>,
    /// Reports written on the patient's side, and where the last went.
    pub reports: Vec<PathBuf>,
    /// The record's length when the last report was written.
    reported: usize,
    /// The report being written, off the frame loop.
    writing: Option<bevy::tasks::Task<Result<Vec<PathBuf>, String>>>,
    /// The reports' Bundles offered for keeping (the patient's "save"), to withdraw.
    offered: Vec<Arc<Vec<u8>>>,
    /// What the patient should know: the report saved or not, the ladder not read.
    pub patient_notice: Option<String>,
    /// When the record began, Unix seconds.
    started_unix: u64,
    /// Requests refused so far (only the first few are logged).
    refusals: u64,
}

impl Therapy {
    /// A report's write ended: say where, or why not, to the patient.
    fn written(&mut self, done: Result<Vec<PathBuf>, String>) {
        match done {
            Ok(paths) => {
                info!("the therapy report was written on this machine");
                self.reports.extend(paths.into_iter().take(1));
                self.patient_notice =
                    Some("Your session report is saved on this computer.".to_owned());
            }
            Err(why) => {
                warn!(%why, "the therapy report could not be written");
                self.patient_notice =
                    Some(format!("Your session report could not be saved ({why})."));
            }
        }
    }

    /// A therapist's side forgets the patient's record, ladder and figures.
    fn forget(&mut self) {
        self.mirror = Record::default();
        self.mirror_of = None;
        self.ladder = Ladder::default();
        self.pending = None;
        self.gaze = Gaze::default();
        self.notices.clear();
    }

    /// The record as this side holds it.
    pub fn record(&self) -> &Record {
        self.keeper.as_ref().map_or(&self.mirror, |k| k.record())
    }

    /// The prompts waiting for the patient.
    pub fn open(&self) -> Vec<Prompt> {
        self.record().open()
    }

    /// The record's time now (ms since it began), for the player's time `player_now`: the
    /// patient's record begins at the patient's app's start, so on a therapist's side it is
    /// the mirror's time of the patient's clock.
    pub fn at(&self, player_now: u64) -> u64 {
        self.keeper
            .as_ref()
            .map_or(player_now, |k| k.at(player_now))
    }

    /// The ratings plan (the patient's side; a therapist's from the record).
    pub fn plan(&self) -> haven_scenes::ratings::Plan {
        self.keeper.as_ref().map_or_else(
            || {
                self.mirror
                    .entries
                    .iter()
                    .rev()
                    .find_map(|s| match s.entry {
                        Entry::Plan(p) => Some(p),
                        _ => None,
                    })
                    .unwrap_or_default()
            },
            haven_scenes::therapy::Therapy::plan,
        )
    }
}

/// The therapy feature's systems run in this set (after the scenes').
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TherapySystems;

/// Ratings, the record, avoidance, the ladder and the report.
#[derive(Debug, Default)]
pub struct TherapyPlugin;

impl Plugin for TherapyPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Therapy>()
            .init_resource::<TherapySettings>()
            .init_resource::<RatingDraft>()
            .add_message::<RatingInput>()
            .add_message::<AnswerRating>()
            .add_message::<AskRating>()
            .add_message::<LadderAction>()
            .add_systems(
                Update,
                (
                    draft,
                    rating_buttons,
                    patient_side,
                    withdraw_report,
                    therapist_side,
                    gaze,
                )
                    .chain()
                    .in_set(TherapySystems)
                    .after(crate::scenes::SceneSystems),
            );
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[expect(
    clippy::too_many_arguments,
    reason = "one system: the patient's side in order"
)]
fn patient_side(
    time: Res<'_, Time<Real>>,
    figures: Res<'_, SessionFigures>,
    trust: Res<'_, PeerTrust>,
    scenes: Res<'_, Scenes>,
    settings: Res<'_, TherapySettings>,
    avatar: Option<Res<'_, LocalAvatar>>,
    mut therapy: ResMut<'_, Therapy>,
    mut received: MessageReader<'_, '_, ControlReceived>,
    mut answers: MessageReader<'_, '_, AnswerRating>,
    mut out: MessageWriter<'_, SendControlTo>,
    mut offers: MessageWriter<'_, crate::sharing::OfferShare>,
    mut leave: MessageReader<'_, '_, crate::session::LeaveRequested>,
) {
    if figures.me.is_none_or(|me| me.role != Role::Patient) {
        return;
    }
    let now = now_ms(&time);
    let therapy = &mut *therapy;
    if therapy.keeper.is_none() {
        // The record's clock is the player's: both sides read the same times.
        therapy.keeper = Some(haven_scenes::therapy::Therapy::new(0));
        therapy.started_unix = unix_now().saturating_sub(now / 1000);
    }
    if !therapy.ladder_read {
        therapy.ladder_read = true;
        if let Some(path) = &settings.ladder_file {
            match std::fs::read(path).map(|b| Ladder::parse(&b)) {
                Ok(Ok(ladder)) => therapy.ladder = ladder,
                Ok(Err(why)) => {
                    warn!(%why, "the fear ladder file was not read");
                    therapy.patient_notice =
                        Some(format!("Your fear ladder file could not be read ({why})."));
                }
                // No file yet: the ladder starts empty and is saved when it changes.
                Err(_) => {}
            }
        }
    }
    if let Some(task) = therapy.writing.as_mut()
        && let Some(done) =
            bevy::tasks::block_on(bevy::tasks::futures_lite::future::poll_once(task))
    {
        therapy.writing = None;
        therapy.written(done);
    }
    let Some(keeper) = therapy.keeper.as_mut() else {
        return;
    };
    let mut ladder_changed = false;
    for m in received.read() {
        let sender = crate::scenes::sender(m.role, &trust, m.from);
        let result = match &m.message {
            Control::Rating(request) => keeper.request(sender, *request, now),
            Control::LadderEdit(edit) if sender == Sender::Therapist => {
                ladder_changed |= therapy.ladder.apply(edit.clone()).is_ok();
                Ok(())
            }
            Control::LadderEdit(_) => Err(haven_scenes::Refused::NotAllowed {
                sender,
                command: "change the ladder",
            }),
            _ => continue,
        };
        if let Err(why) = result {
            therapy.refusals += 1;
            if haven_session::worth_logging(therapy.refusals) {
                warn!(peer = %m.from, kind = m.message.kind(), %why, "a therapy request was refused");
            }
        }
    }
    for a in answers.read() {
        if let Err(why) = keeper.answer(Sender::Patient, a.prompt, a.value, now) {
            debug!(%why, "an answer was not taken");
        }
    }
    keeper.observe(&scenes.player, now);
    keeper.tick(now);
    if ladder_changed && let Some(path) = &settings.ladder_file {
        let part = path.with_extension("part");
        if let Err(why) = std::fs::write(&part, therapy.ladder.to_json())
            .and_then(|()| std::fs::rename(&part, path))
        {
            warn!(%why, "the fear ladder could not be saved");
            therapy.patient_notice = Some(format!("Your fear ladder could not be saved ({why})."));
        }
    }
    // The therapists who may watch get the whole record (and the ladder) once, then each
    // entry as it is written.
    let watching = crate::scenes::therapists(&figures, &trust);
    let fresh: Vec<PeerId> = watching
        .iter()
        .copied()
        .filter(|t| !therapy.told.contains(t))
        .collect();
    therapy.told.clone_from(&watching);
    let Some(keeper) = therapy.keeper.as_mut() else {
        return;
    };
    let new = keeper.unsent().to_vec();
    for to in &fresh {
        for stamped in &keeper.record().entries {
            out.write(SendControlTo {
                to: *to,
                message: Control::Record(*stamped),
            });
        }
        out.write(SendControlTo {
            to: *to,
            message: Control::Ladder(Box::new(therapy.ladder.clone())),
        });
    }
    for to in watching.iter().filter(|t| !fresh.contains(t)) {
        for stamped in &new {
            out.write(SendControlTo {
                to: *to,
                message: Control::Record(*stamped),
            });
        }
        if ladder_changed {
            out.write(SendControlTo {
                to: *to,
                message: Control::Ladder(Box::new(therapy.ladder.clone())),
            });
        }
    }
    // A scene's closing rating is in (answered or run out): the report, on this machine.
    let closed = new
        .iter()
        .any(|s| matches!(s.entry, Entry::Rated { why: Why::End, .. }));
    // Leaving: the report as it stands, if anything came since the last (nothing is offered:
    // the consult is over; an offered report stays the one the clinic may keep).
    let leaving = leave.read().count() > 0 && therapy.record().entries.len() > therapy.reported;
    if (closed || leaving)
        && let Some(dir) = &settings.report_dir
    {
        let subject = match avatar.as_deref().map(|a| &a.0) {
            Some(AvatarChoice::Named { name, .. }) => {
                haven_report::Subject::Named(name.expose().clone())
            }
            _ => haven_report::Subject::Anonymous,
        };
        let report = session_report(therapy, now, &subject);
        therapy.reported = therapy.record().entries.len();
        if leaving {
            // The app ends now: the report is written before it does (a write under way
            // first, so the two never meet in the folder).
            if let Some(task) = therapy.writing.take() {
                let done = bevy::tasks::block_on(task);
                therapy.written(done);
            }
            let done = haven_report::write(dir, &report).map_err(|e| e.to_string());
            therapy.written(done);
        } else {
            if settings.save_for_therapist {
                match report_offer(&report, subject == haven_report::Subject::Anonymous) {
                    Ok(offer) => {
                        therapy.offered.push(Arc::clone(offer.data.expose()));
                        offers.write(crate::sharing::OfferShare(offer));
                    }
                    Err(why) => warn!(%why, "the report could not be offered"),
                }
            }
            // Drawing the charts and writing the files takes a frame or two: off the frame
            // loop (a headset drops no frame for it).
            if let Some(task) = therapy.writing.take() {
                let done = bevy::tasks::block_on(task);
                therapy.written(done);
            }
            let dir = dir.clone();
            therapy.writing = Some(bevy::tasks::IoTaskPool::get().spawn(async move {
                haven_report::write(&dir, &report).map_err(|e| e.to_string())
            }));
        }
    }
}

/// The label of the report's share (generic: it names no one).
const REPORT_LABEL: &str = "Therapy session report";

/// The patient takes their "save" back: the report offered for keeping is withdrawn (the
/// clinic's side drops it and keeps nothing of it).
fn withdraw_report(
    settings: Res<'_, TherapySettings>,
    therapy: Res<'_, Therapy>,
    sharing: Option<Res<'_, crate::sharing::Sharing>>,
    mut saved: Local<'_, bool>,
    mut revoke: MessageWriter<'_, crate::sharing::RevokeShare>,
) {
    let was = std::mem::replace(&mut *saved, settings.save_for_therapist);
    if !was || settings.save_for_therapist {
        return;
    }
    let Some(sharing) = sharing else {
        return;
    };
    for (index, share) in sharing.ledger.outgoing().iter().enumerate() {
        let ours = therapy
            .offered
            .iter()
            .any(|data| Arc::ptr_eq(data, share.offer.data.expose()));
        if !share.revoked && ours {
            revoke.write(crate::sharing::RevokeShare(index));
        }
    }
}

/// The report of this side's record at the player's time `now`.
fn session_report(
    therapy: &Therapy,
    now: u64,
    subject: &haven_report::Subject,
) -> haven_report::SessionReport {
    haven_report::SessionReport::new(
        therapy.record(),
        therapy.at(now),
        Some(therapy.plan()),
        therapy.gaze.figures(),
        therapy.gaze.heat().clone(),
        subject,
        therapy.started_unix,
    )
}

/// The report's FHIR Bundle as a share the clinic may keep (the patient said "save"): its
/// Consent names it by digest, the keeping side writes a Provenance.
pub fn report_offer(
    report: &haven_report::SessionReport,
    anonymous: bool,
) -> Result<haven_share::offer::Offer, haven_share::offer::OfferError> {
    let bundle = haven_report::fhir::bundle_json(report);
    let terms = haven_share::offer::ShareTerms {
        anonymous,
        may_keep: true,
        share_for: std::time::Duration::from_secs(24 * 3600),
    };
    let mut offer = haven_share::offer::object_offer(
        haven_proto::bulk::ObjectKind::Fhir,
        Arc::new(bundle),
        REPORT_LABEL,
        &terms,
    )?;
    // Not patient data, and the same for everyone: a generic label either way.
    offer.label = Redacted::new(REPORT_LABEL.to_owned());
    Ok(offer)
}

#[expect(
    clippy::too_many_arguments,
    reason = "one system: the therapist's side in order"
)]
fn therapist_side(
    time: Res<'_, Time<Real>>,
    figures: Res<'_, SessionFigures>,
    scenes: Res<'_, Scenes>,
    mut therapy: ResMut<'_, Therapy>,
    mut received: MessageReader<'_, '_, ControlReceived>,
    mut left: MessageReader<'_, '_, crate::session::PeerLeft>,
    mut asks: MessageReader<'_, '_, AskRating>,
    mut ladder: MessageReader<'_, '_, LadderAction>,
    mut out: MessageWriter<'_, SendControlTo>,
    mut scene: MessageWriter<'_, TherapistAction>,
) {
    if figures.me.is_none_or(|me| me.role != Role::Therapist) {
        return;
    }
    let therapy = &mut *therapy;
    // The patient gone: nothing of their record stays here.
    for crate::session::PeerLeft(peer) in left.read() {
        if therapy.mirror_of == Some(*peer) {
            therapy.forget();
        }
    }
    for m in received.read() {
        if m.role != Role::Patient {
            continue;
        }
        // Another patient's record (a rejoin) starts a new copy.
        if matches!(m.message, Control::Record(_) | Control::Ladder(_))
            && therapy.mirror_of != Some(m.from)
        {
            therapy.forget();
            therapy.mirror_of = Some(m.from);
        }
        match &m.message {
            Control::Record(stamped) => {
                if therapy.mirror.entries.len() < haven_scenes::record::MAX_ENTRIES {
                    therapy.mirror.entries.push(*stamped);
                }
                match stamped.entry {
                    Entry::SuggestBreak => crate::scenes::keep_last(
                        &mut therapy.notices,
                        "Motion sickness 15 or more: suggest a break.".to_owned(),
                    ),
                    Entry::Rated {
                        source: Source::NoAnswer,
                        ..
                    } => crate::scenes::keep_last(
                        &mut therapy.notices,
                        "No answer within 20 s.".to_owned(),
                    ),
                    _ => {}
                }
            }
            Control::Ladder(l) => therapy.ladder = (**l).clone(),
            _ => {}
        }
    }
    let Some(patient) = scenes.patient_in(&figures) else {
        return;
    };
    let send = |out: &mut MessageWriter<'_, SendControlTo>, message: Control| {
        out.write(SendControlTo {
            to: patient,
            message,
        });
    };
    for AskRating(request) in asks.read() {
        send(&mut out, Control::Rating(*request));
    }
    let phase = scenes.player.phase();
    let running = scenes
        .player
        .state()
        .scene
        .filter(|_| phase == Phase::Running);
    let now = scenes.player_time(now_ms(&time));
    for action in ladder.read() {
        let target = match action {
            LadderAction::Add(step) => {
                send(&mut out, Control::LadderEdit(Edit::Add(step.clone())));
                continue;
            }
            LadderAction::Remove(i) => {
                send(&mut out, Control::LadderEdit(Edit::Remove(*i)));
                continue;
            }
            // One step at a time, and none from the safe room: the patient comes back first.
            _ if therapy.pending.is_some() => {
                crate::scenes::keep_last(
                    &mut therapy.notices,
                    "A step is waiting for its prediction.".to_owned(),
                );
                continue;
            }
            _ if matches!(phase, Phase::SafeRoom { .. } | Phase::Proposed { .. }) => {
                crate::scenes::keep_last(
                    &mut therapy.notices,
                    "Not now: the patient is in the safe room, or a scene waits for them."
                        .to_owned(),
                );
                continue;
            }
            LadderAction::Next => therapy.ladder.next().map(|(i, s)| (i, s.clone())),
            LadderAction::Back => therapy.ladder.back().map(|(i, s)| (i, s.clone())),
        };
        let Some((index, step)) = target else {
            continue;
        };
        if running == Some(step.scene) {
            // The same scene: the prediction first, the step once it is in.
            send(
                &mut out,
                Control::Rating(Request::Predict {
                    scene: step.scene,
                    intensity: step.intensity,
                }),
            );
        } else {
            // Another scene: proposing it asks the patient's prediction on their side.
            if running.is_some() {
                scene.write(TherapistAction(Command::End));
            }
            scene.write(TherapistAction(Command::Propose {
                scene: step.scene,
                intensity: step.intensity,
            }));
        }
        therapy.pending = Some(Pending {
            index,
            step,
            since: therapy.mirror.entries.len(),
            at: now,
        });
    }
    let Some(pending) = therapy.pending.clone() else {
        return;
    };
    // The pending step: its own prediction (the prompt asked for it after the click) answered
    // or run out, for the same scene; the scene started, for another. It gives up after a
    // minute, or when the patient said not now.
    let after = therapy
        .mirror
        .entries
        .get(pending.since..)
        .unwrap_or_default();
    let asked = after.iter().find_map(|s| match s.entry {
        Entry::Asked(p)
            if p.why
                == (Why::Prediction {
                    scene: pending.step.scene,
                    intensity: pending.step.intensity,
                }) =>
        {
            Some(p.id)
        }
        _ => None,
    });
    let predicted = asked.is_some_and(|id| {
        after
            .iter()
            .any(|s| matches!(s.entry, Entry::Rated { prompt: Some(p), .. } if p == id))
    });
    let started = after
        .iter()
        .any(|s| matches!(s.entry, Entry::Started { scene, .. } if scene == pending.step.scene));
    let reach = Control::LadderEdit(Edit::Reach(u8::try_from(pending.index).unwrap_or(u8::MAX)));
    let pins = |scene: &mut MessageWriter<'_, TherapistAction>| {
        for (param, value) in &pending.step.pins {
            scene.write(TherapistAction(Command::Pin {
                param: *param,
                value: *value,
            }));
        }
    };
    if started && running == Some(pending.step.scene) {
        pins(&mut scene);
        send(&mut out, reach);
        therapy.pending = None;
    } else if predicted && !started && running == Some(pending.step.scene) {
        scene.write(TherapistAction(Command::SetIntensity {
            intensity: pending.step.intensity,
            ramp_ms: haven_scenes::player::DEFAULT_RAMP_MS,
        }));
        pins(&mut scene);
        send(&mut out, reach);
        therapy.pending = None;
    } else if now.saturating_sub(pending.at) > PENDING_MS
        || after.iter().any(|s| s.entry == Entry::Ended) && !started
    {
        crate::scenes::keep_last(
            &mut therapy.notices,
            "The step was not taken (the scene ended, or no word from the patient).".to_owned(),
        );
        therapy.pending = None;
    }
}

/// How long a ladder step waits for its prediction or its scene, ms.
const PENDING_MS: u64 = 60_000;

/// Avoidance at 10 Hz from the patient's head: the patient's own rig on their side, the
/// patient's avatar on a therapist's.
fn gaze(
    time: Res<'_, Time<Real>>,
    figures: Res<'_, SessionFigures>,
    scenes: Res<'_, Scenes>,
    mut therapy: ResMut<'_, Therapy>,
    local: Query<'_, '_, &Transform, With<LocalHead>>,
    avatars: Query<'_, '_, (&RemoteAvatar, &Transform, &Children)>,
    parts: Query<'_, '_, (&AvatarPart, &Transform)>,
) {
    let role = figures.me.map(|m| m.role);
    let head = match role {
        Some(Role::Patient) => local.iter().next().map(|t| t.rotation),
        Some(Role::Therapist) => scenes.patient.and_then(|peer| {
            let (_, root, children) = avatars.iter().find(|(a, _, _)| a.peer == peer)?;
            children.iter().find_map(|child| match parts.get(child) {
                Ok((AvatarPart::Head, head)) => Some(root.rotation * head.rotation),
                _ => None,
            })
        }),
        _ => None,
    };
    let Some(head) = head else {
        return;
    };
    let now = now_ms(&time);
    let player_now = scenes.player_time(now);
    if !therapy.gaze.due(player_now) {
        return;
    }
    let showing = scenes.player.showing();
    let stimulus = showing.and_then(|scene| {
        let values = scenes.player.values(player_now);
        let entered = scenes.player.entered(Param::SpiderCount, 8);
        let t = player_now.saturating_sub(scenes.player.state().started);
        haven_scenes::gaze::stimulus(scene, scenes.player.state().seed, &values, &entered, t)
    });
    let forward = haven_scenes::gaze::head_forward(head.to_array());
    therapy.gaze.sample(
        player_now,
        forward,
        stimulus,
        showing.filter(|s| *s != SceneId::SafeRoom),
    );
}

/// The patient's draft answer: a new prompt starts it at the last answer of its scale (or the
/// middle); the window's and the headset's inputs move it and send it.
fn draft(
    figures: Res<'_, SessionFigures>,
    therapy: Res<'_, Therapy>,
    mut draft: ResMut<'_, RatingDraft>,
    mut input: MessageReader<'_, '_, RatingInput>,
    mut answers: MessageWriter<'_, AnswerRating>,
) {
    if figures.me.is_none_or(|me| me.role != Role::Patient) {
        input.clear();
        return;
    }
    // The prompt shown: a prediction or SUDS first, then FMS.
    let open = therapy.open();
    let shown = open
        .iter()
        .find(|p| p.scale == haven_scenes::ratings::Scale::Suds)
        .or_else(|| open.first())
        .copied();
    if draft.prompt.map(|p| p.id) != shown.map(|p| p.id) {
        let start = shown.map_or(0, |p| {
            therapy
                .record()
                .ratings()
                .iter()
                .rev()
                .filter(|r| r.scale == p.scale && r.source != Source::NoAnswer)
                .find_map(|r| r.value)
                .unwrap_or(p.scale.max() / 2 / p.scale.step() * p.scale.step())
        });
        *draft = RatingDraft {
            prompt: shown,
            value: start,
        };
    }
    let Some(prompt) = draft.prompt else {
        input.clear();
        return;
    };
    for i in input.read() {
        match *i {
            RatingInput::Nudge(steps) => draft.value = prompt.scale.nudge(draft.value, steps),
            RatingInput::Set(v) if prompt.scale.accepts(v) => draft.value = v,
            RatingInput::Set(_) => {}
            RatingInput::Send => {
                answers.write(AnswerRating {
                    prompt: prompt.id,
                    value: draft.value,
                });
            }
        }
    }
}

/// The in-room buttons that answer a prompt (the headset's ray presses them, as the window's
/// click does): less, the value, more, send; the headset's stick flicked up or down moves
/// the value a step.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
enum RatingButton {
    Less,
    Value,
    More,
    Send,
}

/// The stick pushed past 0.6 up or down moves the rating one step; it must come back under
/// 0.3 before the next.
const STICK_PUSH: f32 = 0.6;
const STICK_REST: f32 = 0.3;

fn rating_buttons(
    mut commands: Commands<'_, '_>,
    draft: Res<'_, RatingDraft>,
    stick: Option<Res<'_, crate::rig::LocalStick>>,
    mut flicked: Local<'_, bool>,
    mut buttons: Query<'_, '_, (Entity, &RatingButton, &mut crate::button::RoomButton)>,
    mut pressed: MessageReader<'_, '_, crate::button::Pressed>,
    mut input: MessageWriter<'_, RatingInput>,
) {
    for crate::button::Pressed(entity) in pressed.read() {
        if let Ok((_, which, _)) = buttons.get(*entity) {
            input.write(match which {
                RatingButton::Less => RatingInput::Nudge(-1),
                RatingButton::More => RatingInput::Nudge(1),
                RatingButton::Value | RatingButton::Send => RatingInput::Send,
            });
        }
    }
    let Some(prompt) = draft.prompt else {
        for (entity, _, _) in &buttons {
            commands.entity(entity).despawn();
        }
        return;
    };
    // The headset's stick: one step a flick.
    let y = stick.map_or(0.0, |s| s.y);
    if !*flicked && y.abs() >= STICK_PUSH {
        *flicked = true;
        input.write(RatingInput::Nudge(if y > 0.0 { 1 } else { -1 }));
    } else if y.abs() < STICK_REST {
        *flicked = false;
    }
    let value = format!("{} {}", prompt.scale.name(), draft.value);
    if buttons.is_empty() {
        for (which, label, order) in [
            (RatingButton::Less, "less".to_owned(), 10),
            (RatingButton::Value, value, 11),
            (RatingButton::More, "more".to_owned(), 12),
            (RatingButton::Send, "Send".to_owned(), 13),
        ] {
            commands.spawn((
                which,
                crate::button::RoomButton {
                    label,
                    colour: Color::srgb(0.80, 0.86, 0.95),
                    order,
                },
            ));
        }
        return;
    }
    for (_, which, mut button) in &mut buttons {
        if *which == RatingButton::Value && button.label != value {
            button.label.clone_from(&value);
        }
    }
}
