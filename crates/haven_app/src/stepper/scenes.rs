//! Exposure scenes end to end: a therapist's app and a patient's app stepped side by side over
//! the in-memory hub, through the real bridge, trust verdicts and scene players.

use bevy::prelude::*;
use haven_proto::control::Control;
use haven_proto::signal::Role;
use haven_scenes::catalog::Param;
use haven_scenes::player::{Phase, SafeReason};
use haven_scenes::{Command, Refused, SceneId};

use super::ConsultStepper;
use crate::room::Environment;
use crate::scenes::{PatientAction, Scenes, TherapistAction};
use crate::session::SendControlTo;

fn scenes(stepper: &mut ConsultStepper, role: Role) -> &Scenes {
    stepper.app(role).world().resource::<Scenes>()
}

fn therapist(stepper: &mut ConsultStepper, command: Command) {
    stepper
        .app(Role::Therapist)
        .world_mut()
        .write_message(TherapistAction(command));
}

fn patient(stepper: &mut ConsultStepper, command: Command) {
    stepper
        .app(Role::Patient)
        .world_mut()
        .write_message(PatientAction(command));
}

/// The patient's audit lines that record a refused command.
fn refusals_audited(stepper: &mut ConsultStepper) -> Vec<String> {
    stepper
        .app(Role::Patient)
        .world()
        .resource::<crate::sharing::Sharing>()
        .audit_lines()
        .iter()
        .filter(|l| l.contains(r#""action":"refuse""#))
        .cloned()
        .collect()
}

fn environment(stepper: &mut ConsultStepper, role: Role) -> Environment {
    *stepper.app(role).world().resource::<Environment>()
}

/// The therapist proposes, the patient accepts, the therapist raises the intensity and fires
/// an event; the patient's scene follows, the therapist's mirror shows the same, and both
/// rooms become the scene. STOP and the safe room go and come back.
#[test]
fn a_therapist_runs_a_scene_the_patient_accepted_and_the_mirror_follows() {
    let mut consult = ConsultStepper::new(&[Role::Therapist, Role::Patient], |_, _| {});
    therapist(
        &mut consult,
        Command::Propose {
            scene: SceneId::Heights,
            intensity: 2,
        },
    );
    assert!(consult.step_until(20, |s| matches!(
        scenes(s, Role::Patient).player.phase(),
        Phase::Proposed { .. }
    )));
    assert_eq!(
        environment(&mut consult, Role::Patient),
        Environment::ConsultRoom
    );
    patient(&mut consult, Command::Accept);
    assert!(consult.step_until(20, |s| {
        scenes(s, Role::Therapist).player.showing() == Some(SceneId::Heights)
    }));
    // Each room swaps to the scene when its fade is at black (half of 600 ms).
    assert!(consult.step_until(31, |s| {
        environment(s, Role::Patient) == Environment::Scene
            && environment(s, Role::Therapist) == Environment::Scene
    }));
    therapist(
        &mut consult,
        Command::SetIntensity {
            intensity: 8,
            ramp_ms: 0,
        },
    );
    assert!(consult.step_until(20, |s| {
        let p = scenes(s, Role::Patient);
        p.player.value(Param::HeightM, 0) == Some(70.0)
    }));
    consult.steps(3);
    // The mirror's values, at the same moment of the patient's clock, are the patient's.
    let now = consult
        .app(Role::Patient)
        .world()
        .resource::<Time>()
        .elapsed()
        .as_millis() as u64;
    let live = scenes(&mut consult, Role::Patient).player.values(now);
    let mirror = scenes(&mut consult, Role::Therapist).player.values(now);
    assert_eq!(live, mirror);
    // STOP: the patient is in the safe room, and the therapist sees it.
    therapist(&mut consult, Command::Stop);
    assert!(consult.step_until(20, |s| {
        matches!(
            scenes(s, Role::Therapist).player.phase(),
            Phase::SafeRoom {
                why: SafeReason::Stop,
                ..
            }
        )
    }));
    assert!(consult.step_until(14, |s| {
        environment(s, Role::Patient) == Environment::SafeRoom
    }));
    // What the therapist sends meanwhile is dropped, and shown dropped.
    therapist(
        &mut consult,
        Command::SetIntensity {
            intensity: 10,
            ramp_ms: 0,
        },
    );
    consult.steps(5);
    assert!(
        scenes(&mut consult, Role::Patient)
            .refused
            .iter()
            .any(|(_, why)| *why == Refused::InSafeRoom)
    );
    patient(&mut consult, Command::LeaveSafeRoom);
    assert!(consult.step_until(20, |s| {
        scenes(s, Role::Therapist).player.showing() == Some(SceneId::Heights)
    }));
    assert_eq!(
        scenes(&mut consult, Role::Patient).player.state().intensity,
        8
    );
}

/// A clinician's scene command is refused with its reason and changes nothing; the patient's
/// scene goes on.
#[test]
fn a_scene_command_from_anyone_but_a_therapist_is_refused() {
    let mut consult = ConsultStepper::new(&[Role::Clinician, Role::Patient], |_, _| {});
    let patient_id = consult.get(Role::Patient).peer;
    consult
        .app(Role::Clinician)
        .world_mut()
        .write_message(SendControlTo {
            to: patient_id,
            message: Control::Scene(Command::Propose {
                scene: SceneId::Spiders,
                intensity: 9,
            }),
        });
    consult.steps(5);
    // The session refuses it at the role check already; nothing reaches the player.
    let patient_scenes = scenes(&mut consult, Role::Patient);
    assert_eq!(patient_scenes.player.phase(), Phase::Consult);
    assert_eq!(
        patient_scenes.refused.len(),
        1,
        "{:?}",
        patient_scenes.refused
    );
    // The patient's audit log says who sent what (by id and digest: no patient data).
    let audited = refusals_audited(&mut consult);
    assert_eq!(audited.len(), 1, "{audited:?}");
    let clinician = consult.get(Role::Clinician).peer;
    assert!(
        audited[0].contains(&format!(r#""object":"{clinician}:scene:propose""#)),
        "{audited:?}"
    );
}

/// The therapist goes silent (its connection cut): within 5 s the patient's app goes to the
/// safe room by itself.
#[test]
fn a_silent_therapist_sends_the_patient_to_the_safe_room_within_five_seconds() {
    let mut consult = ConsultStepper::new(&[Role::Therapist, Role::Patient], |_, _| {});
    therapist(
        &mut consult,
        Command::Propose {
            scene: SceneId::Speaking,
            intensity: 5,
        },
    );
    consult.steps(5);
    patient(&mut consult, Command::Accept);
    assert!(consult.step_until(20, |s| {
        scenes(s, Role::Patient).player.showing() == Some(SceneId::Speaking)
    }));
    // Heartbeats keep it running for 10 s.
    consult.steps(1_000);
    assert_eq!(
        scenes(&mut consult, Role::Patient).player.showing(),
        Some(SceneId::Speaking)
    );
    let therapist_id = consult.get(Role::Therapist).peer;
    consult.hub.cut(therapist_id);
    // 5 s of silence (500 frames of 10 ms), and a little more.
    assert!(consult.step_until(560, |s| {
        matches!(
            scenes(s, Role::Patient).player.phase(),
            Phase::SafeRoom {
                why: SafeReason::TherapistSilent,
                ..
            }
        )
    }));
    // The scene stays drawn until the fade is black (125 ms), then the safe room.
    assert_eq!(environment(&mut consult, Role::Patient), Environment::Scene);
    assert!(consult.step_until(14, |s| {
        environment(s, Role::Patient) == Environment::SafeRoom
    }));
}

/// With a clinic in the patient's invite, a therapist whose credential does not verify cannot
/// run a scene: its proposal is refused as not a therapist's, and nothing changes.
#[test]
fn an_unverified_therapist_cannot_run_a_scene() {
    use haven_signal::clinic::ClinicKey;

    use super::Trust;

    let clinic = ClinicKey::generate("Northside Clinic").expect("key");
    let key = clinic.public_key();
    let mut consult = ConsultStepper::new_checked(
        &[Role::Therapist, Role::Patient],
        |_, _| {},
        |role| Trust {
            identity: None,
            clinic: (role == Role::Patient).then_some(key),
        },
    );
    therapist(
        &mut consult,
        Command::Propose {
            scene: SceneId::Heights,
            intensity: 1,
        },
    );
    consult.steps(10);
    let patient_scenes = scenes(&mut consult, Role::Patient);
    assert_eq!(patient_scenes.player.phase(), Phase::Consult);
    assert!(
        patient_scenes.refused.iter().any(|(_, why)| matches!(
            why,
            Refused::NotAllowed {
                sender: haven_scenes::player::Sender::Other,
                ..
            }
        )),
        "{:?}",
        patient_scenes.refused
    );
    // And it is told nothing of the scene.
    assert!(scenes(&mut consult, Role::Therapist).patient.is_none());
    // The proposal is in the patient's audit log (its heartbeats, refused too, are not).
    let audited = refusals_audited(&mut consult);
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert!(audited[0].contains(":scene:propose"), "{audited:?}");
    // A flood of them is audited up to 32, and the session goes on.
    for _ in 0..50 {
        therapist(&mut consult, Command::End);
    }
    consult.steps(10);
    assert_eq!(refusals_audited(&mut consult).len(), 32);
    assert_eq!(
        scenes(&mut consult, Role::Patient).player.phase(),
        Phase::Consult
    );
}

/// An announced event: the patient sees its cue at once, and the event happens 3 s later (the
/// cue goes then).
#[test]
fn an_announced_event_shows_its_cue_to_the_patient_three_seconds_before() {
    use haven_scenes::Event;

    let mut consult = ConsultStepper::new(&[Role::Therapist, Role::Patient], |_, _| {});
    therapist(
        &mut consult,
        Command::Propose {
            scene: SceneId::Speaking,
            intensity: 4,
        },
    );
    consult.steps(5);
    patient(&mut consult, Command::Accept);
    assert!(consult.step_until(20, |s| {
        scenes(s, Role::Patient).player.phase() == Phase::Running
    }));
    therapist(
        &mut consult,
        Command::Fire {
            event: Event::Cough,
            announce: true,
        },
    );
    assert!(consult.step_until(10, |s| scenes(s, Role::Patient).cue.is_some()));
    assert_eq!(
        scenes(&mut consult, Role::Patient).cue.map(|(e, _)| e),
        Some(Event::Cough)
    );
    // 2.5 s on, still the cue and not the cough; by 3.1 s the cough, and no cue.
    consult.steps(250);
    let patient_scenes = scenes(&mut consult, Role::Patient);
    assert!(patient_scenes.cue.is_some());
    assert!(patient_scenes.player.timeline().is_empty());
    consult.steps(60);
    let patient_scenes = scenes(&mut consult, Role::Patient);
    assert!(patient_scenes.cue.is_none());
    assert_eq!(
        patient_scenes
            .player
            .timeline()
            .iter()
            .map(|h| (h.event, h.announced))
            .collect::<Vec<_>>(),
        vec![(Event::Cough, true)]
    );
}

/// In the headset, both grips held half a second take the patient to the safe room (a shorter
/// squeeze does nothing); the in-room "Safe room" button stands in front of the patient while a
/// scene runs, and pressing it does the same. Neither needs the network.
#[test]
fn the_grips_held_half_a_second_or_the_safe_room_button_take_the_patient_out() {
    use crate::button::{Pressed, RoomButton};
    use crate::rig::LocalGrips;

    let mut consult = ConsultStepper::new(&[Role::Therapist, Role::Patient], |_, _| {});
    therapist(
        &mut consult,
        Command::Propose {
            scene: SceneId::Heights,
            intensity: 3,
        },
    );
    consult.steps(5);
    patient(&mut consult, Command::Accept);
    assert!(consult.step_until(20, |s| {
        scenes(s, Role::Patient).player.phase() == Phase::Running
    }));
    let grips = |s: &mut ConsultStepper, held: bool| {
        s.app(Role::Patient)
            .world_mut()
            .insert_resource(LocalGrips {
                left: held,
                right: held,
            });
    };
    let in_safe_room = |s: &mut ConsultStepper| {
        matches!(
            scenes(s, Role::Patient).player.phase(),
            Phase::SafeRoom {
                why: SafeReason::Patient,
                ..
            }
        )
    };
    // 0.3 s: nothing.
    grips(&mut consult, true);
    consult.steps(30);
    grips(&mut consult, false);
    consult.steps(2);
    assert_eq!(
        scenes(&mut consult, Role::Patient).player.phase(),
        Phase::Running
    );
    // Held: out within half a second (and a little).
    grips(&mut consult, true);
    assert!(consult.step_until(55, in_safe_room));
    grips(&mut consult, false);
    // Back, then the button.
    patient(&mut consult, Command::LeaveSafeRoom);
    assert!(consult.step_until(20, |s| {
        scenes(s, Role::Patient).player.phase() == Phase::Running
    }));
    consult.steps(2);
    let world = consult.app(Role::Patient).world_mut();
    let button = world
        .query::<(Entity, &RoomButton)>()
        .iter(world)
        .find(|(_, b)| b.label == "Safe room")
        .map(|(e, _)| e)
        .expect("the Safe room button stands in front of the patient");
    world.write_message(Pressed(button));
    assert!(consult.step_until(3, in_safe_room));
    // In the safe room, the button is gone (the way back is the patient's panel).
    consult.steps(2);
    let world = consult.app(Role::Patient).world_mut();
    assert!(
        !world
            .query::<&RoomButton>()
            .iter(world)
            .any(|b| b.label == "Safe room")
    );
}

/// The therapist proposes the speaking hall at 4, the patient accepts, and the patient's room
/// becomes the scene.
fn speaking_at_4(consult: &mut ConsultStepper) {
    therapist(
        consult,
        Command::Propose {
            scene: SceneId::Speaking,
            intensity: 4,
        },
    );
    consult.steps(5);
    patient(consult, Command::Accept);
    assert!(consult.step_until(40, |s| {
        environment(s, Role::Patient) == Environment::Scene
    }));
    consult.steps(2);
}

/// The patient keeps the therapist's avatar out of the scene ("voice only"): hidden while the
/// scene is drawn, back in the consult room; "shown" keeps it in the scene.
#[test]
fn the_patient_chooses_how_the_therapist_appears_in_a_scene() {
    use crate::avatar::RemoteAvatar;
    use crate::scenes::{ChoosePresence, TherapistPresence};

    let mut consult = ConsultStepper::new(&[Role::Therapist, Role::Patient], |_, _| {});
    let therapist_id = consult.get(Role::Therapist).peer;
    // The therapist's head moves (its pose makes its avatar on the patient's side).
    consult
        .app(Role::Therapist)
        .world_mut()
        .spawn((crate::rig::LocalHead, Transform::from_xyz(0.0, 1.2, 0.9)));
    let seen = |s: &mut ConsultStepper| {
        let world = s.app(Role::Patient).world_mut();
        world
            .query::<(&RemoteAvatar, Option<&Visibility>)>()
            .iter(world)
            .find(|(a, _)| a.peer == therapist_id)
            .map(|(_, v)| v.copied())
    };
    consult
        .app(Role::Patient)
        .world_mut()
        .write_message(ChoosePresence(TherapistPresence::VoiceOnly));
    speaking_at_4(&mut consult);
    assert_eq!(seen(&mut consult), Some(Some(Visibility::Hidden)));
    // Back in the consult room, the therapist is there again.
    therapist(&mut consult, Command::End);
    assert!(consult.step_until(40, |s| {
        environment(s, Role::Patient) == Environment::ConsultRoom
    }));
    consult.steps(2);
    assert_eq!(seen(&mut consult), Some(Some(Visibility::Inherited)));
    // "Shown": in the scene too.
    consult
        .app(Role::Patient)
        .world_mut()
        .write_message(ChoosePresence(TherapistPresence::Shown));
    speaking_at_4(&mut consult);
    assert_eq!(seen(&mut consult), Some(Some(Visibility::Inherited)));
}
