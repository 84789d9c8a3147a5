//! A therapy session end to end: ratings, the record on both sides, the ladder's step, the
//! safe room and the report, over the in-memory hub through the real bridge.

use haven_proto::signal::Role;
use haven_scenes::ladder::Step;
use haven_scenes::player::Phase;
use haven_scenes::ratings::{Plan, Request, Scale, Source, Why};
use haven_scenes::record::Entry;
use haven_scenes::{Command, SceneId};

use super::{ConsultStepper, Scratch};
use crate::scenes::{PatientAction, Scenes, TherapistAction};
use crate::session::LeaveRequested;
use crate::sharing::ShareSettings;
use crate::therapy::{AnswerRating, AskRating, LadderAction, Therapy, TherapySettings};

/// A consult of these roles: the patient with `patient`'s settings, everyone else keeping
/// what they may in `keep`.
fn consult(roles: &[Role], patient: &TherapySettings, keep: &std::path::Path) -> ConsultStepper {
    ConsultStepper::new(roles, |role, app| {
        if role == Role::Patient {
            app.insert_resource(patient.clone());
        } else {
            app.insert_resource(ShareSettings {
                keep_dir: Some(keep.to_path_buf()),
                ..ShareSettings::default()
            });
        }
    })
}

/// The therapist adds heights steps (intensity, predicted SUDS) to the patient's ladder.
fn add_steps(s: &mut ConsultStepper, steps: &[(u8, u8)]) {
    for &(intensity, predicted) in steps {
        s.app(Role::Therapist)
            .world_mut()
            .write_message(LadderAction::Add(Step {
                scene: SceneId::Heights,
                intensity,
                pins: Vec::new(),
                predicted,
            }));
    }
    let n = steps.len();
    assert!(s.step_until(20, |s| therapy(s, Role::Therapist).ladder.steps.len() == n));
}

fn therapy(s: &mut ConsultStepper, role: Role) -> &Therapy {
    s.app(role).world().resource::<Therapy>()
}

fn ask(s: &mut ConsultStepper, request: Request) {
    s.app(Role::Therapist)
        .world_mut()
        .write_message(AskRating(request));
}

fn scene(s: &mut ConsultStepper, command: Command) {
    s.app(Role::Therapist)
        .world_mut()
        .write_message(TherapistAction(command));
}

/// Waits for a prompt of `scale` on the patient's side and answers it with `value`.
fn answer(s: &mut ConsultStepper, scale: Scale, value: u8) -> Why {
    assert!(
        s.step_until(30, |s| therapy(s, Role::Patient)
            .open()
            .iter()
            .any(|p| p.scale == scale)),
        "a {} prompt opened",
        scale.name()
    );
    let prompt = *therapy(s, Role::Patient)
        .open()
        .iter()
        .find(|p| p.scale == scale)
        .expect("open");
    s.app(Role::Patient)
        .world_mut()
        .write_message(AnswerRating {
            prompt: prompt.id,
            value,
        });
    s.steps(2);
    prompt.why
}

/// The whole session: a prediction, an ask answered, an ask left unanswered (no answer after
/// 20 s, never 0), a therapist's entry, the ladder's next step (its prediction, then the step
/// itself), the safe room and back, the end and its rating; both sides hold the same
/// timeline; the patient's machine has the report; the therapist's keeps a copy only because
/// the patient said "save", and only the Bundle, with its Consent and a Provenance.
#[test]
fn a_full_therapy_session_gives_the_same_timeline_on_both_sides_and_the_report() {
    let scratch = Scratch::new("therapy-session");
    let report_dir = scratch.0.join("patient-report");
    let ladder_file = scratch.0.join("ladder.json");
    let keep = scratch.0.join("therapist-kept");
    let settings = TherapySettings {
        report_dir: Some(report_dir.clone()),
        ladder_file: Some(ladder_file.clone()),
        save_for_therapist: true,
        anchors: None,
    };
    let mut consult = consult(&[Role::Therapist, Role::Patient], &settings, &keep);
    // Only on demand: the plan's own prompts would land in the middle of this script.
    ask(
        &mut consult,
        Request::Plan(Plan {
            every_ms: None,
            after_change: false,
            fms_every_ms: None,
        }),
    );
    // The ladder, built together: two steps of heights.
    add_steps(&mut consult, &[(5, 60), (3, 40)]);
    let saved = std::fs::read(&ladder_file).expect("the ladder is saved on the patient's machine");
    assert_eq!(
        haven_scenes::ladder::Ladder::parse(&saved)
            .expect("reads")
            .steps
            .iter()
            .map(|s| s.predicted)
            .collect::<Vec<_>>(),
        vec![40, 60],
        "sorted by predicted SUDS"
    );
    // Next step: another scene, so it is proposed, and the proposal asks the prediction.
    consult
        .app(Role::Therapist)
        .world_mut()
        .write_message(LadderAction::Next);
    // The headset's stick, flicked up twice and down once (held between flicks): 50 → 55.
    assert!(consult.step_until(30, |s| {
        s.app(Role::Patient)
            .world()
            .resource::<crate::therapy::RatingDraft>()
            .prompt
            .is_some()
    }));
    for y in [0.9, 0.95, 0.0, 0.8, 0.1, -0.7, 0.0] {
        consult
            .app(Role::Patient)
            .world_mut()
            .insert_resource(crate::rig::LocalStick { y });
        consult.steps(2);
    }
    assert_eq!(
        consult
            .app(Role::Patient)
            .world()
            .resource::<crate::therapy::RatingDraft>()
            .value,
        55
    );
    assert_eq!(
        answer(&mut consult, Scale::Suds, 35),
        Why::Prediction {
            scene: SceneId::Heights,
            intensity: 3
        }
    );
    consult
        .app(Role::Patient)
        .world_mut()
        .write_message(PatientAction(Command::Accept));
    assert!(consult.step_until(20, |s| {
        s.app(Role::Therapist)
            .world()
            .resource::<Scenes>()
            .player
            .phase()
            == Phase::Running
    }));
    ask(&mut consult, Request::Ask { scale: Scale::Suds });
    assert_eq!(answer(&mut consult, Scale::Suds, 55), Why::Demand);
    // Asked, and left: no answer after 20 s (2,000 frames of 10 ms).
    ask(&mut consult, Request::Ask { scale: Scale::Suds });
    assert!(consult.step_until(20, |s| !therapy(s, Role::Patient).open().is_empty()));
    assert!(consult.step_until(2_100, |s| therapy(s, Role::Patient).open().is_empty()));
    // What the patient said aloud, typed by the therapist.
    ask(
        &mut consult,
        Request::Entry {
            scale: Scale::Suds,
            value: 50,
        },
    );
    // The ladder's next step (the same scene): the prediction, then the step.
    consult
        .app(Role::Therapist)
        .world_mut()
        .write_message(LadderAction::Next);
    assert_eq!(
        answer(&mut consult, Scale::Suds, 60),
        Why::Prediction {
            scene: SceneId::Heights,
            intensity: 5
        }
    );
    assert!(consult.step_until(30, |s| {
        s.app(Role::Patient)
            .world()
            .resource::<Scenes>()
            .player
            .state()
            .intensity
            == 5
    }));
    // The safe room and back.
    for command in [Command::EnterSafeRoom, Command::LeaveSafeRoom] {
        consult
            .app(Role::Patient)
            .world_mut()
            .write_message(PatientAction(command));
        consult.steps(50);
    }
    ask(&mut consult, Request::Ask { scale: Scale::Suds });
    answer(&mut consult, Scale::Suds, 45);
    scene(&mut consult, Command::End);
    assert_eq!(answer(&mut consult, Scale::Suds, 30), Why::End);
    consult.steps(10);
    // The same timeline on both sides.
    let mine = therapy(&mut consult, Role::Patient).record().clone();
    let theirs = therapy(&mut consult, Role::Therapist).record().clone();
    assert_eq!(mine, theirs, "the therapist's copy is the patient's record");
    let ratings = mine.ratings();
    let got: Vec<(Why, Option<u8>, Source)> =
        ratings.iter().map(|r| (r.why, r.value, r.source)).collect();
    let h = |intensity| Why::Prediction {
        scene: SceneId::Heights,
        intensity,
    };
    assert_eq!(
        got,
        vec![
            (h(3), Some(35), Source::Patient),
            (Why::Demand, Some(55), Source::Patient),
            (Why::Demand, None, Source::NoAnswer),
            (Why::Demand, Some(50), Source::Therapist),
            (h(5), Some(60), Source::Patient),
            (Why::Demand, Some(45), Source::Patient),
            (Why::End, Some(30), Source::Patient),
        ]
    );
    let kinds: Vec<&str> = mine
        .entries
        .iter()
        .filter_map(|s| match s.entry {
            Entry::Started { .. } => Some("started"),
            Entry::Intensity { .. } => Some("step"),
            Entry::SafeRoom { .. } => Some("safe"),
            Entry::LeftSafeRoom => Some("back"),
            Entry::Ended => Some("ended"),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, ["started", "step", "safe", "back", "ended"]);
    let steps = mine.steps(mine.last_at());
    assert_eq!(steps.len(), 2);
    assert_eq!((steps[0].predicted, steps[0].peak), (Some(35), Some(55)));
    assert_eq!((steps[1].predicted, steps[1].peak), (Some(60), Some(45)));
    assert!(steps[1].safe_ms >= 400, "{}", steps[1].safe_ms);
    // The report is on the patient's machine (written off the frame loop: bounded frames).
    assert!(consult.step_until(5_000, |s| !therapy(s, Role::Patient).reports.is_empty()));
    for name in haven_report::FILES {
        assert!(report_dir.join(name).is_file(), "{name}");
    }
    let report = haven_report::read(&report_dir.join("timeline.json")).expect("reads back");
    assert_eq!(report.record(), mine);
    // The therapist's side has it in memory only, until the consult ends; then, with the
    // patient's "save", it keeps the Bundle with its Consent and a Provenance.
    assert!(!keep.exists() || std::fs::read_dir(&keep).expect("dir").count() == 0);
    consult
        .app(Role::Patient)
        .world_mut()
        .write_message(LeaveRequested);
    consult.steps(20);
    let kept: Vec<String> = std::fs::read_dir(&keep)
        .expect("the keep folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(kept.len(), 3, "{kept:?}");
    let bundle = kept
        .iter()
        .find(|n| !n.contains("consent") && !n.contains("provenance"))
        .expect("the Bundle");
    assert_eq!(
        std::fs::read(keep.join(bundle)).expect("read"),
        std::fs::read(report_dir.join("fhir-bundle.json")).expect("read"),
        "what the therapist keeps is the patient's Bundle"
    );
}

/// Without the patient's "save", the therapist's side writes nothing, even with a keep
/// folder; and only the patient answers, only a therapist asks.
#[test]
fn without_save_the_therapist_keeps_nothing_and_only_a_therapist_asks() {
    let scratch = Scratch::new("therapy-nosave");
    let report_dir = scratch.0.join("patient-report");
    let keep = scratch.0.join("therapist-kept");
    let settings = TherapySettings {
        report_dir: Some(report_dir.clone()),
        ..TherapySettings::default()
    };
    let mut consult = consult(
        &[Role::Therapist, Role::Patient, Role::Clinician],
        &settings,
        &keep,
    );
    // A clinician's ask is refused (by the session: not its role's to send).
    let patient = consult.get(Role::Patient).peer;
    consult
        .app(Role::Clinician)
        .world_mut()
        .write_message(crate::session::SendControlTo {
            to: patient,
            message: haven_proto::control::Control::Rating(Request::Ask { scale: Scale::Suds }),
        });
    consult.steps(5);
    assert!(therapy(&mut consult, Role::Patient).open().is_empty());
    scene(
        &mut consult,
        Command::Propose {
            scene: SceneId::Spiders,
            intensity: 2,
        },
    );
    answer(&mut consult, Scale::Suds, 20);
    consult
        .app(Role::Patient)
        .world_mut()
        .write_message(PatientAction(Command::Accept));
    consult.steps(20);
    scene(&mut consult, Command::End);
    answer(&mut consult, Scale::Suds, 10);
    assert!(consult.step_until(5_000, |s| !therapy(s, Role::Patient).reports.is_empty()));
    assert!(report_dir.join("timeline.json").is_file());
    consult
        .app(Role::Patient)
        .world_mut()
        .write_message(LeaveRequested);
    consult.steps(20);
    assert!(
        !keep.exists() || std::fs::read_dir(&keep).expect("dir").count() == 0,
        "nothing on the therapist's disk without the patient's save"
    );
}

/// "Next step" clicked twice while the first waits for its prediction takes one step, only
/// once the patient answered; taking "save" back withdraws the report offered for keeping,
/// and the therapist's side keeps nothing of it.
#[test]
fn a_double_next_takes_one_step_and_a_save_taken_back_keeps_nothing() {
    let scratch = Scratch::new("therapy-next");
    let report_dir = scratch.0.join("patient-report");
    let keep = scratch.0.join("therapist-kept");
    let settings = TherapySettings {
        report_dir: Some(report_dir.clone()),
        save_for_therapist: true,
        ..TherapySettings::default()
    };
    let mut consult = consult(&[Role::Therapist, Role::Patient], &settings, &keep);
    scene(
        &mut consult,
        Command::Propose {
            scene: SceneId::Heights,
            intensity: 2,
        },
    );
    answer(&mut consult, Scale::Suds, 20);
    consult
        .app(Role::Patient)
        .world_mut()
        .write_message(PatientAction(Command::Accept));
    consult.steps(20);
    // The ladder, built together: two steps of heights.
    add_steps(&mut consult, &[(4, 40), (6, 60)]);
    for _ in 0..2 {
        consult
            .app(Role::Therapist)
            .world_mut()
            .write_message(LadderAction::Next);
        consult.steps(3);
    }
    let intensity = |s: &mut ConsultStepper| {
        s.app(Role::Patient)
            .world()
            .resource::<Scenes>()
            .player
            .state()
            .intensity
    };
    consult.steps(30);
    assert_eq!(
        intensity(&mut consult),
        2,
        "no step before the prediction is in"
    );
    assert_eq!(
        answer(&mut consult, Scale::Suds, 45),
        Why::Prediction {
            scene: SceneId::Heights,
            intensity: 4
        }
    );
    assert!(consult.step_until(30, |s| intensity(s) == 4));
    consult.steps(30);
    assert_eq!(intensity(&mut consult), 4, "the second click took nothing");
    assert!(therapy(&mut consult, Role::Patient).open().is_empty());
    // The end: the report is offered for keeping; then the patient takes "save" back.
    scene(&mut consult, Command::End);
    answer(&mut consult, Scale::Suds, 30);
    assert!(consult.step_until(50, |s| {
        s.app(Role::Therapist)
            .world()
            .resource::<crate::sharing::Sharing>()
            .ledger
            .incoming()
            .any(|(_, e)| e.object.is_some())
    }));
    consult
        .app(Role::Patient)
        .world_mut()
        .resource_mut::<TherapySettings>()
        .save_for_therapist = false;
    assert!(consult.step_until(30, |s| {
        s.app(Role::Therapist)
            .world()
            .resource::<crate::sharing::Sharing>()
            .ledger
            .incoming()
            .count()
            == 0
    }));
    consult
        .app(Role::Patient)
        .world_mut()
        .write_message(LeaveRequested);
    consult.steps(20);
    assert!(
        !keep.exists() || std::fs::read_dir(&keep).expect("dir").count() == 0,
        "the save taken back: nothing kept"
    );
}
