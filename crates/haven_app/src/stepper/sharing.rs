//! Sharing end to end: a patient's app and a clinician's (and a therapist's) app stepped side
//! by side over the in-memory session hub, so every share goes through the real bridge, the
//! real session API and transfer code, and both sides' ledgers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bevy::prelude::*;
use haven_proto::Redacted;
use haven_proto::bulk::{ObjectId, ObjectKind};
use haven_proto::control::{Control, Share};
use haven_proto::signal::Role;
use haven_share::audit;
use haven_share::ledger::ShareKey;
use haven_share::offer::{Offer, ShareTerms, object_offer, records_offer};
use haven_share::records;

use super::{ConsultStepper, Scratch};
use crate::session::{
    ControlReceived, LeaveRequested, ObjectArrived, ObjectCancelled, ObjectProgress, SendControl,
    SendObject,
};
use crate::sharing::{AnswerNewcomer, OfferShare, RevokeShare, ShareSettings, ShareTexts, Sharing};

/// What a participant heard, counted by a test system.
#[derive(Resource, Debug, Default)]
struct Heard {
    shared: usize,
    revoked: usize,
    purged: usize,
    arrived: usize,
    progress: usize,
    cancelled: usize,
}

fn hear(
    mut heard: ResMut<'_, Heard>,
    mut controls: MessageReader<'_, '_, ControlReceived>,
    mut arrived: MessageReader<'_, '_, ObjectArrived>,
    mut progress: MessageReader<'_, '_, ObjectProgress>,
    mut cancelled: MessageReader<'_, '_, ObjectCancelled>,
) {
    for m in controls.read() {
        match m.message {
            Control::Shared(_) => heard.shared += 1,
            Control::Revoked { .. } => heard.revoked += 1,
            Control::Purged { .. } => heard.purged += 1,
            _ => {}
        }
    }
    heard.arrived += arrived.read().count();
    heard.progress += progress.read().count();
    heard.cancelled += cancelled.read().count();
}

/// A consult of these roles; `settings` gives each side's share settings.
fn consult(roles: &[Role], settings: impl Fn(Role) -> ShareSettings) -> ConsultStepper {
    ConsultStepper::new(roles, |role, app| {
        app.insert_resource(settings(role))
            .init_resource::<Heard>()
            .add_systems(Update, hear);
    })
}

fn terms(may_keep: bool) -> ShareTerms {
    ShareTerms {
        anonymous: false,
        may_keep,
        share_for: Duration::from_secs(600),
    }
}

fn records_bytes() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../assets/demo/patient-summary.json"
    ))
    .expect("the demo's records")
}

/// The demo's records as the patient shares them, with a real Consent.
fn summary(may_keep: bool) -> Offer {
    let parsed = records::parse(&records_bytes(), &records::Limits::default()).expect("parses");
    records_offer(parsed, "Summary", &terms(may_keep)).expect("an offer")
}

/// A picture-sized object of `len` bytes (not a real picture: it is never decoded here).
fn blob(len: usize) -> Offer {
    let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    object_offer(ObjectKind::Image, Arc::new(data), "Scan", &terms(false)).expect("an offer")
}

fn sharing(stepper: &mut ConsultStepper, role: Role) -> &Sharing {
    stepper.app(role).world().resource::<Sharing>()
}

fn heard(stepper: &mut ConsultStepper, role: Role) -> &Heard {
    stepper.app(role).world().resource::<Heard>()
}

fn offer(stepper: &mut ConsultStepper, offer: Offer) {
    stepper
        .app(Role::Patient)
        .world_mut()
        .write_message(OfferShare(offer));
}

/// Steps until the clinician said it viewed the patient's first share (bounded).
fn viewed(consult: &mut ConsultStepper) -> bool {
    consult.step_until(50, |s| {
        sharing(s, Role::Patient)
            .ledger
            .outgoing()
            .first()
            .is_some_and(|o| o.viewed)
    })
}

fn count(lines: &[String], action: &str) -> usize {
    let needle = format!("\"{action}\"");
    lines.iter().filter(|l| l.contains(&needle)).count()
}

#[test]
fn a_share_is_shown_viewed_then_revoked_purged_and_audited() {
    let scratch = Scratch::new("share-audit");
    let log = scratch.0.join("audit.jsonl");
    let mut consult = consult(&[Role::Clinician, Role::Patient], |role| ShareSettings {
        audit: (role == Role::Clinician).then(|| log.clone()),
        ..ShareSettings::default()
    });
    offer(&mut consult, summary(false));
    let seen = viewed(&mut consult);
    assert!(seen, "the clinician viewed it and said so");
    let board = consult
        .app(Role::Clinician)
        .world()
        .resource::<ShareTexts>()
        .board
        .clone()
        .expect("on the board");
    assert!(
        board.expose().iter().any(|l| l.starts_with("Problems")),
        "a summary"
    );
    // The patient takes it back: gone from memory and from the board, and said so.
    consult
        .app(Role::Patient)
        .world_mut()
        .write_message(RevokeShare(0));
    let purged = consult.step_until(50, |s| {
        sharing(s, Role::Patient).ledger.outgoing()[0].purged
    });
    assert!(purged, "the clinician said it dropped it");
    let clinician = consult.app(Role::Clinician).world();
    assert_eq!(clinician.resource::<Sharing>().ledger.incoming().count(), 0);
    assert!(clinician.resource::<ShareTexts>().board.is_none());
    drop(consult);
    // The log: start, the patient's audit key, view, revoke, purge, close — intact, and no
    // contents in it.
    let bytes = std::fs::read(&log).expect("the log was written");
    let report = audit::verify(&bytes).expect("reads");
    assert!(report.intact() && report.closed, "{report:?}");
    assert_eq!(report.entries, 6);
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains("Problems") && !text.contains("Summary"));
}

#[test]
fn a_patient_who_leaves_takes_everything_except_what_the_clinic_may_keep() {
    let scratch = Scratch::new("share-keep");
    let keep = scratch.0.join("kept");
    let mut consult = consult(&[Role::Clinician, Role::Patient], |role| ShareSettings {
        keep_dir: (role == Role::Clinician).then(|| keep.clone()),
        ..ShareSettings::default()
    });
    let kept = summary(true);
    let kept_bytes = kept.data.expose().as_ref().clone();
    offer(&mut consult, blob(2_000));
    offer(&mut consult, kept);
    let both = consult.step_until(50, |s| {
        sharing(s, Role::Clinician)
            .ledger
            .incoming()
            .filter(|(_, e)| e.object.is_some() && e.terms.is_some())
            .count()
            == 2
    });
    assert!(both, "both arrived");
    consult
        .app(Role::Patient)
        .world_mut()
        .write_message(LeaveRequested);
    let settled = consult.step_until(20, |s| {
        sharing(s, Role::Clinician).ledger.incoming().count() == 0
    });
    assert!(settled, "purged from memory when the patient left");
    // Only the one the patient allowed was written: the object, its Consent and a
    // Provenance, named by the object's hash (nothing from the patient in a file name).
    let mut names: Vec<String> = std::fs::read_dir(&keep)
        .expect("the keep folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    let digest = haven_share::keep::file_stem(&audit::object_digest(&kept_bytes));
    assert!(names.iter().all(|n| n.starts_with(&digest)), "{names:?}");
    assert_eq!(
        std::fs::read(keep.join(format!("{digest}.json"))).ok(),
        Some(kept_bytes)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: PathBuf| std::fs::metadata(p).expect("there").permissions().mode() & 0o777;
        assert_eq!(
            mode(keep.clone()),
            0o700,
            "the keep folder is the clinic user's only"
        );
        for name in &names {
            assert_eq!(mode(keep.join(name)), 0o600, "{name}");
        }
    }
    let lines = consult
        .app(Role::Clinician)
        .world()
        .resource::<Sharing>()
        .audit_lines()
        .to_vec();
    assert_eq!(
        (count(&lines, "keep"), count(&lines, "purge")),
        (1, 1),
        "{lines:?}"
    );
}

#[test]
fn a_transfer_under_way_shows_its_progress_until_it_arrives() {
    let mut consult = consult(&[Role::Clinician, Role::Patient], |_| {
        ShareSettings::default()
    });
    offer(&mut consult, blob(6 << 20));
    let mut seen = Vec::new();
    let arrived = consult.step_until(400, |s| {
        let texts = s.app(Role::Clinician).world().resource::<ShareTexts>();
        if let Some(p) = &texts.progress {
            seen.push(p.clone());
        }
        heard(s, Role::Clinician).arrived == 1
    });
    assert!(arrived, "the object arrived");
    assert!(
        seen.iter().any(|p| p.starts_with("Receiving a share: ")
            && p != "Receiving a share: 0 %"
            && p != "Receiving a share: 100 %"),
        "progress was shown on the way: {seen:?}"
    );
    consult.step();
    assert_eq!(
        consult
            .app(Role::Clinician)
            .world()
            .resource::<ShareTexts>()
            .progress,
        None
    );
}

#[test]
fn a_revoke_said_again_after_a_reconnect_changes_nothing() {
    let mut consult = consult(&[Role::Clinician, Role::Patient], |_| {
        ShareSettings::default()
    });
    offer(&mut consult, summary(false));
    assert!(viewed(&mut consult));
    consult
        .app(Role::Patient)
        .world_mut()
        .write_message(RevokeShare(0));
    assert!(consult.step_until(50, |s| heard(s, Role::Patient).purged == 1));
    // The connection is rebuilt: the patient says the revoke again.
    let clinician = consult.get(Role::Clinician).peer;
    consult.hub.cut(clinician);
    consult.steps(3);
    consult.hub.restore(clinician);
    assert!(consult.step_until(50, |s| heard(s, Role::Clinician).revoked == 2));
    consult.steps(5);
    assert_eq!(
        heard(&mut consult, Role::Patient).purged,
        1,
        "one purge, not two"
    );
    let lines = sharing(&mut consult, Role::Clinician)
        .audit_lines()
        .to_vec();
    assert_eq!(count(&lines, "revoke"), 1, "{lines:?}");
}

/// After a rebuilt connection the patient's side says again, to that clinician only, what it
/// shares (terms) and what it took back.
#[test]
fn a_reconnect_repeats_the_share_terms_and_revokes_to_that_peer() {
    let mut consult = consult(&[Role::Clinician, Role::Therapist, Role::Patient], |_| {
        ShareSettings::default()
    });
    offer(&mut consult, summary(false));
    offer(&mut consult, blob(1_000));
    assert!(consult.step_until(50, |s| {
        [Role::Clinician, Role::Therapist]
            .iter()
            .all(|&r| heard(s, r).arrived == 2 && heard(s, r).shared == 2)
    }));
    consult
        .app(Role::Patient)
        .world_mut()
        .write_message(RevokeShare(1));
    assert!(consult.step_until(50, |s| {
        heard(s, Role::Clinician).revoked == 1 && heard(s, Role::Therapist).revoked == 1
    }));
    let clinician = consult.get(Role::Clinician).peer;
    consult.hub.cut(clinician);
    consult.steps(3);
    consult.hub.restore(clinician);
    assert!(consult.step_until(50, |s| heard(s, Role::Clinician).revoked == 2));
    consult.steps(5);
    let c = heard(&mut consult, Role::Clinician);
    let c = (c.shared, c.revoked);
    let t = heard(&mut consult, Role::Therapist);
    let t = (t.shared, t.revoked);
    assert_eq!(c, (3, 2), "terms and revoke said again");
    assert_eq!(
        t,
        (2, 1),
        "the therapist's connection was not rebuilt: nothing again"
    );
    // The repeated terms change nothing on the clinician's side: the kept share is shown once.
    assert_eq!(
        sharing(&mut consult, Role::Clinician)
            .ledger
            .incoming()
            .count(),
        1
    );
}

#[test]
fn a_share_revoked_while_on_its_way_never_shows() {
    let mut consult = consult(&[Role::Clinician, Role::Patient], |_| {
        ShareSettings::default()
    });
    offer(&mut consult, blob(8 << 20));
    // A few frames in, part of it has arrived.
    assert!(consult.step_until(100, |s| heard(s, Role::Clinician).progress > 0));
    consult
        .app(Role::Patient)
        .world_mut()
        .write_message(RevokeShare(0));
    consult.steps(60);
    let clinician = sharing(&mut consult, Role::Clinician);
    assert_eq!(clinician.ledger.incoming().count(), 0, "nothing held");
    let lines = clinician.audit_lines().to_vec();
    assert_eq!(count(&lines, "view"), 0, "never shown: {lines:?}");
    assert_eq!(
        heard(&mut consult, Role::Clinician).arrived,
        0,
        "never arrived whole"
    );
    let patient = sharing(&mut consult, Role::Patient);
    assert!(patient.ledger.outgoing()[0].delivered.is_empty());
    assert_eq!(
        heard(&mut consult, Role::Patient).purged,
        1,
        "the clinician said so"
    );
}

#[test]
fn leaving_the_consult_purges_what_is_held_and_tells_the_patient() {
    let mut consult = consult(&[Role::Clinician, Role::Patient], |_| {
        ShareSettings::default()
    });
    offer(&mut consult, summary(false));
    assert!(viewed(&mut consult));
    consult
        .app(Role::Clinician)
        .world_mut()
        .write_message(LeaveRequested);
    assert!(consult.step_until(20, |s| {
        sharing(s, Role::Patient).ledger.outgoing()[0].purged
    }));
    assert_eq!(
        sharing(&mut consult, Role::Clinician)
            .ledger
            .incoming()
            .count(),
        0
    );
}

#[test]
fn nothing_is_written_without_a_keep_folder() {
    let mut consult = consult(&[Role::Clinician, Role::Patient], |_| {
        ShareSettings::default()
    });
    offer(&mut consult, summary(true));
    assert!(consult.step_until(50, |s| heard(s, Role::Clinician).arrived == 1));
    consult
        .app(Role::Patient)
        .world_mut()
        .write_message(LeaveRequested);
    assert!(consult.step_until(20, |s| {
        sharing(s, Role::Clinician).ledger.incoming().count() == 0
    }));
    let lines = sharing(&mut consult, Role::Clinician)
        .audit_lines()
        .to_vec();
    assert_eq!(
        (count(&lines, "purge"), count(&lines, "keep")),
        (1, 0),
        "{lines:?}"
    );
}

/// A clinician cannot share: its `Control::Shared` is refused by the patient's session, and
/// its object is refused at the manifest (the clinician hears the transfer cancelled; the
/// patient never holds a byte of it).
#[test]
fn a_clinicians_share_and_object_are_refused_end_to_end() {
    let mut consult = consult(&[Role::Clinician, Role::Patient], |_| {
        ShareSettings::default()
    });
    let patient = consult.get(Role::Patient).peer;
    let forged = Share {
        object: ObjectId(77),
        label: Redacted::new("forged".to_owned()),
        consent: Redacted::new("{}".to_owned()),
        may_keep: true,
        until: 0,
    };
    let world = consult.app(Role::Clinician).world_mut();
    world.write_message(SendControl(Control::Shared(forged)));
    world.write_message(SendObject {
        to: patient,
        object: ObjectId(77),
        kind: ObjectKind::Image,
        data: Redacted::new(Arc::new(vec![9; 200_000])),
    });
    assert!(consult.step_until(30, |s| heard(s, Role::Clinician).cancelled == 1));
    consult.steps(5);
    let heard_by_patient = heard(&mut consult, Role::Patient);
    assert_eq!(
        (
            heard_by_patient.shared,
            heard_by_patient.arrived,
            heard_by_patient.progress
        ),
        (0, 0, 0),
        "{heard_by_patient:?}"
    );
    assert_eq!(
        sharing(&mut consult, Role::Patient)
            .ledger
            .incoming()
            .count(),
        0
    );
}

/// The patient's own board shows the newest records they share; when those are taken back,
/// the ones still shared come back on it (not "Nothing shared yet").
#[test]
fn the_patients_board_falls_back_to_what_is_still_shared() {
    let mut consult = consult(&[Role::Clinician, Role::Patient], |_| {
        ShareSettings::default()
    });
    offer(&mut consult, summary(false));
    consult.step();
    offer(&mut consult, summary(false));
    consult.steps(2);
    let board_from = |c: &mut ConsultStepper| {
        c.app(Role::Patient)
            .world()
            .resource::<ShareTexts>()
            .board_from
    };
    assert_eq!(board_from(&mut consult), Some(ShareKey::Mine(1)));
    consult
        .app(Role::Patient)
        .world_mut()
        .write_message(RevokeShare(1));
    consult.steps(2);
    assert_eq!(board_from(&mut consult), Some(ShareKey::Mine(0)));
    consult
        .app(Role::Patient)
        .world_mut()
        .write_message(RevokeShare(0));
    consult.steps(2);
    assert_eq!(board_from(&mut consult), None);
}

/// A clinician who joins while the patient shares gets nothing until the patient says yes;
/// then it gets what is shared now. One the patient says no to gets nothing, not even what is
/// shared later.
#[test]
fn a_newcomer_gets_nothing_until_the_patient_says_yes() {
    let mut consult = consult(&[Role::Clinician, Role::Patient], |_| {
        ShareSettings::default()
    });
    offer(&mut consult, summary(false));
    assert!(viewed(&mut consult));
    let hear_too = |app: &mut App| {
        app.insert_resource(ShareSettings::default())
            .init_resource::<Heard>()
            .add_systems(Update, hear);
    };
    let therapist = consult.join(Role::Therapist, hear_too);
    consult.steps(10);
    assert_eq!(
        sharing(&mut consult, Role::Patient).ledger.newcomers(),
        &[therapist],
        "the patient is asked"
    );
    let nothing = heard(&mut consult, Role::Therapist);
    assert_eq!(
        (nothing.shared, nothing.arrived, nothing.progress),
        (0, 0, 0)
    );
    consult
        .app(Role::Patient)
        .world_mut()
        .write_message(AnswerNewcomer {
            peer: therapist,
            share: true,
        });
    assert!(consult.step_until(50, |s| {
        let h = heard(s, Role::Therapist);
        h.shared == 1 && h.arrived == 1
    }));
    assert!(
        sharing(&mut consult, Role::Patient)
            .ledger
            .newcomers()
            .is_empty()
    );
    // A second clinician, declined: nothing now, nothing later.
    let second = consult.join(Role::Clinician, hear_too);
    assert!(
        consult.step_until(10, |s| sharing(s, Role::Patient)
            .ledger
            .newcomers()
            .contains(&second)),
        "the patient is asked about the second one too"
    );
    consult
        .app(Role::Patient)
        .world_mut()
        .write_message(AnswerNewcomer {
            peer: second,
            share: false,
        });
    consult.step();
    assert!(
        sharing(&mut consult, Role::Patient)
            .ledger
            .newcomers()
            .is_empty()
    );
    offer(&mut consult, blob(1_000));
    consult.steps(20);
    let declined = &consult
        .participants
        .iter()
        .find(|p| p.peer == second)
        .expect("the second clinician")
        .app;
    let h = declined.world().resource::<Heard>();
    assert_eq!((h.shared, h.arrived, h.progress), (0, 0, 0));
    assert_eq!(
        heard(&mut consult, Role::Therapist).arrived,
        2,
        "the therapist got the new one"
    );
}

/// "Viewed" is said only for what was shown: records once they are on the board, a picture
/// once its texture is up. These apps have no renderer, so a picture arrives and is never
/// shown: never reported viewed, never audited as a view.
#[test]
fn viewed_is_said_only_for_what_was_shown() {
    let mut consult = consult(&[Role::Clinician, Role::Patient], |_| {
        ShareSettings::default()
    });
    offer(&mut consult, blob(3_000));
    assert!(consult.step_until(50, |s| heard(s, Role::Clinician).arrived == 1));
    consult.steps(20);
    assert!(!sharing(&mut consult, Role::Patient).ledger.outgoing()[0].viewed);
    let lines = sharing(&mut consult, Role::Clinician)
        .audit_lines()
        .to_vec();
    assert_eq!(count(&lines, "view"), 0, "{lines:?}");
    offer(&mut consult, summary(false));
    assert!(consult.step_until(50, |s| {
        sharing(s, Role::Patient)
            .ledger
            .outgoing()
            .get(1)
            .is_some_and(|o| o.viewed)
    }));
}

/// The patient's `--share-for`: a share whose time is up is gone from the clinician's side,
/// said on the wall, audited as expired, and the patient is told.
#[test]
fn a_share_ends_when_the_patient_said() {
    let mut consult = consult(&[Role::Clinician, Role::Patient], |_| {
        ShareSettings::default()
    });
    let parsed = records::parse(&records_bytes(), &records::Limits::default()).expect("parses");
    let over = ShareTerms {
        share_for: Duration::ZERO,
        ..terms(true)
    };
    offer(
        &mut consult,
        records_offer(parsed, "Summary", &over).expect("an offer"),
    );
    assert!(consult.step_until(50, |s| heard(s, Role::Patient).purged == 1));
    let clinician = consult.app(Role::Clinician).world();
    assert_eq!(clinician.resource::<Sharing>().ledger.incoming().count(), 0);
    let texts = clinician.resource::<ShareTexts>();
    assert!(texts.board.is_none(), "never shown");
    assert_eq!(
        texts.notice.as_deref(),
        Some("A share's time ran out: it was removed")
    );
    let lines = clinician.resource::<Sharing>().audit_lines().to_vec();
    assert_eq!(
        (count(&lines, "expire"), count(&lines, "view")),
        (1, 0),
        "{lines:?}"
    );
}

/// With an invite that names the clinic, the patient's app shows who the clinic vouches for
/// and shares only with them: a verified clinician gets the share and is captioned "Verified
/// by …"; a therapist with no credential, even once the patient says yes to the newcomer, gets
/// nothing until the patient says to share anyway. Both ends of each connection hold the same
/// safety words.
#[test]
fn only_clinicians_the_clinic_vouches_for_get_shares_unless_the_patient_says_otherwise() {
    use haven_signal::clinic::ClinicKey;

    use super::Trust;
    use crate::sharing::TrustAnyway;
    use crate::trust::PeerTrust;

    let clinic = ClinicKey::generate("Northside Clinic").expect("key");
    let doctor = Arc::new(
        clinic
            .issue("Dr Ada Byrne", "GP", "GMC 1", 0, u64::MAX)
            .expect("credential"),
    );
    let key = clinic.public_key();
    let mut consult = ConsultStepper::new_checked(
        &[Role::Clinician, Role::Patient],
        |role, app| {
            app.insert_resource(ShareSettings {
                verify_clinicians: role == Role::Patient,
                ..ShareSettings::default()
            })
            .init_resource::<Heard>()
            .add_systems(Update, hear);
        },
        |role| match role {
            Role::Patient => Trust {
                identity: None,
                clinic: Some(key),
            },
            _ => Trust {
                identity: Some(Arc::clone(&doctor)),
                clinic: None,
            },
        },
    );
    offer(&mut consult, summary(false));
    assert!(viewed(&mut consult), "the verified clinician got it");
    let clinician = consult.get(Role::Clinician).peer;
    let patient = consult.get(Role::Patient).peer;
    let trust = consult.app(Role::Patient).world().resource::<PeerTrust>();
    assert_eq!(
        trust.caption(clinician).as_deref(),
        Some("Verified by Northside Clinic: Dr Ada Byrne, GP")
    );
    let patients_words = trust.words.get(&clinician).copied().expect("words");
    let clinicians_words = consult
        .app(Role::Clinician)
        .world()
        .resource::<PeerTrust>()
        .words
        .get(&patient)
        .copied()
        .expect("words");
    assert_eq!(patients_words, clinicians_words);

    let therapist = consult.join(Role::Therapist, |app| {
        app.insert_resource(ShareSettings::default())
            .init_resource::<Heard>()
            .add_systems(Update, hear);
    });
    consult
        .app(Role::Patient)
        .world_mut()
        .write_message(AnswerNewcomer {
            peer: therapist,
            share: true,
        });
    // The therapist's first room event (its avatar) is not a credential.
    assert!(consult.step_until(20, |s| {
        sharing(s, Role::Patient)
            .ledger
            .unverified()
            .contains(&therapist)
    }));
    consult.steps(10);
    let h = heard(&mut consult, Role::Therapist);
    assert_eq!((h.shared, h.arrived, h.progress), (0, 0, 0), "nothing yet");
    assert_eq!(
        consult
            .app(Role::Patient)
            .world()
            .resource::<PeerTrust>()
            .caption(therapist)
            .as_deref(),
        Some("NOT verified: they sent no clinic credential")
    );
    consult
        .app(Role::Patient)
        .world_mut()
        .write_message(TrustAnyway(therapist));
    assert!(consult.step_until(50, |s| heard(s, Role::Therapist).arrived == 1));
}

/// Each side announces its audit key when the channels open and records the other's, so the
/// two logs of one consult can be compared afterwards: they agree, and each names the other's
/// key.
#[test]
fn each_side_records_the_others_audit_key_and_the_two_logs_agree() {
    let scratch = Scratch::new("share-audit-keys");
    let log_of = |role: Role| scratch.0.join(format!("{role}.jsonl"));
    let mut consult = consult(&[Role::Clinician, Role::Patient], |role| ShareSettings {
        audit: Some(log_of(role)),
        ..ShareSettings::default()
    });
    offer(&mut consult, summary(false));
    assert!(viewed(&mut consult));
    drop(consult);
    let patient = std::fs::read(log_of(Role::Patient)).expect("the patient's log");
    let clinician = std::fs::read(log_of(Role::Clinician)).expect("the clinician's log");
    for log in [&patient, &clinician] {
        assert_eq!(count_in(log, "peer-key"), 1, "the other side's key, once");
    }
    let compared = audit::compare(&patient, &clinician).expect("compares");
    assert!(compared.agree(), "{compared:?}");
    assert_eq!(compared.matched, vec![(0, 0)]);
    // Another consult's log is not this one's other side.
    let (mut other, header) = audit::AuditLog::start(
        audit::ObjectId::new("session-other").expect("an id"),
        Role::Clinician,
        1,
    )
    .expect("starts");
    let mut stranger = header;
    stranger.push_str(&other.close(2, Role::Clinician).expect("closes"));
    let compared = audit::compare(&patient, stranger.as_bytes()).expect("compares");
    assert!(!compared.agree());
    assert!(compared.matched.is_empty());
}

fn count_in(log: &[u8], action: &str) -> usize {
    let lines: Vec<String> = String::from_utf8_lossy(log)
        .lines()
        .map(str::to_owned)
        .collect();
    count(&lines, action)
}

/// The board lines the patient's headset shows: (text, kind, centre, facing).
fn board_lines(app: &mut App) -> Vec<(String, crate::button::BoardLine, Vec3, Vec3)> {
    let world = app.world_mut();
    let mut lines: Vec<(u16, String, crate::button::BoardLine, Vec3, Vec3)> = world
        .query::<(&crate::button::OnBoard, &GlobalTransform)>()
        .iter(world)
        .map(|(l, at)| {
            let (_, rotation, centre) = at.to_scale_rotation_translation();
            (
                l.line,
                l.text.expose().clone(),
                l.kind,
                centre,
                rotation * Vec3::Z,
            )
        })
        .collect();
    lines.sort_by_key(|l| l.0);
    lines
        .into_iter()
        .map(|(_, t, k, c, f)| (t, k, c, f))
        .collect()
}

/// Aims the patient's controller at a point from 0.6 m in front of it and pulls the trigger
/// (the ray and the trigger as the XR front end writes them), then lets go.
fn pull_trigger_at(consult: &mut ConsultStepper, at: Vec3, facing: Vec3) {
    let origin = at + facing * 0.15;
    for active in [false, true, false] {
        *consult
            .app(Role::Patient)
            .world_mut()
            .resource_mut::<crate::rig::LocalPointer>() = crate::rig::LocalPointer {
            active,
            origin,
            direction: (at - origin).normalize(),
        };
        consult.step();
    }
}

/// Presses the board line whose text starts with `text`.
fn press_line(consult: &mut ConsultStepper, text: &str) {
    let lines = board_lines(consult.app(Role::Patient));
    let (_, _, at, facing) = lines
        .iter()
        .find(|(t, ..)| t.starts_with(text))
        .unwrap_or_else(|| {
            panic!(
                "a line {text:?} in {:?}",
                lines.iter().map(|l| &l.0).collect::<Vec<_>>()
            )
        })
        .clone();
    pull_trigger_at(consult, at, facing);
}

/// The headset patient shares without the window: on the board beside their seat they untick
/// everything, tick two records, press "Share ticked"; the clinician gets exactly those; the
/// list pages on; "Stop sharing" takes it back. Mute sits on the same board, within reach.
#[test]
fn the_headset_patient_shares_and_stops_through_the_board() {
    use crate::button::{BoardLine, FrontEnd, OnBoard, RoomButton};
    use crate::sharing::picker::{Candidate, SharePicker};

    let mut consult = ConsultStepper::new(&[Role::Clinician, Role::Patient], |role, app| {
        app.insert_resource(ShareSettings::default());
        if role == Role::Patient {
            let parsed =
                records::parse(&records_bytes(), &records::Limits::default()).expect("parses");
            // The ray is cast against where things are: transforms propagate here.
            app.add_plugins(TransformPlugin)
                .insert_resource(FrontEnd::Xr)
                .insert_resource(SharePicker::new(
                    vec![Candidate::records("summary", parsed, &[])],
                    terms(false),
                ));
        }
    });
    consult.steps(3);
    let lines = board_lines(consult.app(Role::Patient));
    assert!(
        lines.len() <= 3 + crate::world_picker::LIST_LINES + 6,
        "a page of the list, not all of it: {}",
        lines.len()
    );
    let header = "Records: summary (all";
    assert!(
        matches!(
            lines.iter().find(|l| l.0.starts_with(header)),
            Some((_, BoardLine::Tick(true), ..))
        ),
        "everything starts ticked"
    );
    press_line(&mut consult, header);
    let lines = board_lines(consult.app(Role::Patient));
    let rows: Vec<String> = lines
        .iter()
        .filter(|(t, k, ..)| *k == BoardLine::Tick(false) && !t.starts_with(header))
        .map(|l| l.0.clone())
        .collect();
    assert!(
        rows.len() >= 2,
        "record rows unticked: {rows:?} in {:?}",
        lines.iter().map(|l| (&l.0, l.1, l.2)).collect::<Vec<_>>()
    );
    for row in &rows[..2] {
        press_line(&mut consult, row);
    }
    assert_eq!(
        consult
            .app(Role::Patient)
            .world()
            .resource::<SharePicker>()
            .ticked(),
        2
    );
    press_line(&mut consult, "Share ticked (2)");
    let got = consult.step_until(3000, |s| {
        s.app(Role::Clinician)
            .world()
            .resource::<ShareTexts>()
            .board
            .is_some()
    });
    assert!(got, "the clinician's board shows the share");
    let shown = consult
        .app(Role::Clinician)
        .world()
        .resource::<ShareTexts>()
        .board
        .clone()
        .expect("shown");
    // Exactly the two ticked records reached the clinician, none of the unticked ones.
    let board: Vec<&String> = shown
        .expose()
        .iter()
        .filter(|l| !l.trim().is_empty())
        .collect();
    for (i, row) in rows.iter().enumerate() {
        let on_board = board.iter().filter(|l| l.contains(row.as_str())).count();
        let wanted = usize::from(i < 2);
        assert_eq!(
            on_board, wanted,
            "{row:?} on the clinician's board: {board:?}"
        );
    }
    // The list pages on: "More" shows lines the first page did not.
    let first_page: Vec<String> = board_lines(consult.app(Role::Patient))
        .into_iter()
        .map(|l| l.0)
        .collect();
    press_line(&mut consult, "▼  More");
    let next_page: Vec<String> = board_lines(consult.app(Role::Patient))
        .into_iter()
        .map(|l| l.0)
        .collect();
    assert!(
        next_page.iter().any(|l| !first_page.contains(l)),
        "the next page shows other lines"
    );
    assert!(
        next_page.iter().any(|l| l.starts_with("▲  Earlier")),
        "{next_page:?}"
    );

    press_line(&mut consult, "Stop sharing");
    let stopped = consult.step_until(100, |s| {
        s.app(Role::Clinician)
            .world()
            .resource::<ShareTexts>()
            .board
            .is_none()
    });
    assert!(stopped, "the clinician's board is cleared");
    assert!(sharing(&mut consult, Role::Patient).ledger.outgoing()[0].revoked);

    // Mute is on the board too, within reach of the seat, and answers the trigger.
    let app = consult.app(Role::Patient);
    let world = app.world_mut();
    let at = world
        .query_filtered::<(&GlobalTransform, &RoomButton), Without<OnBoard>>()
        .iter(world)
        .find(|(_, b)| b.label == "Mute")
        .map(|(at, _)| *at)
        .expect("a Mute button");
    let seat = world
        .get_resource::<crate::layout::Seat>()
        .copied()
        .unwrap_or_default();
    let reach = at.translation().distance(seat.eyes);
    assert!((0.5..0.9).contains(&reach), "Mute {reach} m from the eyes");
    let (_, rotation, centre) = at.to_scale_rotation_translation();
    pull_trigger_at(&mut consult, centre, rotation * Vec3::Z);
    let muted = consult
        .app(Role::Patient)
        .world()
        .resource::<crate::voice::VoiceActivity>()
        .muted;
    assert!(muted, "the trigger on Mute mutes");

    // Back to the window (the headset session ended): the board's picker goes with it.
    consult.app(Role::Patient).insert_resource(FrontEnd::Flat);
    consult.steps(2);
    assert_eq!(board_lines(consult.app(Role::Patient)), vec![]);
}
