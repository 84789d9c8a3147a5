//! Writes the fuzz targets' kept seeds (`fuzz/corpus/TARGET/seed-*`): one valid input or a
//! few for each wire format and for the audit log, made with Haven's own encoders, so that
//! every fuzz run starts past the version byte and the outer layout. Run it again when a
//! format changes: `cargo run --example fuzz_seeds -- fuzz/corpus`.
//! (The decoders of files, records, DICOM and images, start from `tests/data` instead.)

use std::path::{Path, PathBuf};

use haven_proto::bulk::{self, Bulk, CancelReason, ObjectId, ObjectKind};
use haven_proto::control::{self, Control};
use haven_proto::pose::{self, Placement, PoseUpdate};
use haven_proto::signal::{ClientMessage, Role};
use haven_proto::transfer::manifest_for;
use haven_share::audit::{Action, AuditLog, ObjectId as AuditId, object_digest};

fn write(root: &Path, target: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir = root.join(target);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(format!("seed-{name}")), bytes)
}

fn audit_log(session: &str, owner: Role, peer: [u8; 32]) -> Vec<u8> {
    let id = |s: &str| AuditId::new(s).expect("an id");
    let (mut log, mut out) = AuditLog::start(id(session), owner, 1_700_000_000).expect("starts");
    let scan = object_digest(b"a scan");
    for (i, (action, object, digest)) in [
        (Action::PeerKey, "peer2", peer),
        (Action::Share, "share0", scan),
        (Action::View, "peer2-object1", scan),
        (Action::Revoke, "share0", scan),
    ]
    .into_iter()
    .enumerate()
    {
        out.push_str(
            &log.append(
                1_700_000_001 + i as i64,
                action,
                owner,
                &id(object),
                &digest,
            )
            .expect("appends"),
        );
    }
    out.push_str(&log.close(1_700_000_100, owner).expect("closes"));
    out.into_bytes()
}

fn main() -> std::io::Result<()> {
    let root: PathBuf = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("fuzz/corpus"), PathBuf::from);
    let hand = Placement {
        position: [0.2, 1.1, -0.4],
        ..Placement::IDENTITY
    };
    for (name, update) in [
        (
            "head",
            PoseUpdate {
                seq: 7,
                sent_at_ms: 1234,
                head: Placement::IDENTITY,
                left_hand: None,
                right_hand: None,
            },
        ),
        (
            "hands",
            PoseUpdate {
                seq: 65535,
                sent_at_ms: 9,
                head: Placement::IDENTITY,
                left_hand: Some(hand),
                right_hand: Some(hand),
            },
        ),
    ] {
        write(&root, "pose", name, &pose::encode(&update))?;
    }
    for (name, message) in [
        ("speaking", Control::Speaking { speaking: true }),
        ("heartbeat", Control::Heartbeat),
        (
            "revoked",
            Control::Revoked {
                object: ObjectId(3),
            },
        ),
        ("words", Control::WordsReveal { nonce: vec![5; 32] }),
    ] {
        write(&root, "control", name, &control::encode(&message))?;
    }
    let manifest = manifest_for(ObjectId(1), ObjectKind::Dicom, b"a small scan");
    for (name, message) in [
        ("manifest", Bulk::Manifest(manifest.clone())),
        (
            "chunk",
            Bulk::Chunk {
                id: ObjectId(1),
                offset: 0,
                data: b"a small scan".to_vec(),
            },
        ),
        (
            "ack",
            Bulk::Ack {
                id: ObjectId(1),
                received: 12,
            },
        ),
        (
            "cancel",
            Bulk::Cancel {
                id: ObjectId(1),
                reason: CancelReason::Declined,
            },
        ),
        ("resume", Bulk::Resume(manifest)),
    ] {
        write(&root, "bulk", name, &bulk::encode(&message))?;
    }
    // The transfer target reads a role byte (even: the patient), then ops [op, id, b, c]: a
    // manifest of 16·b + c bytes (op 0), a chunk at (37·b + c) mod (size + 2) of c + 1 bytes
    // (op 2), a resume (5), a cancel (6). Object 2 is 33 bytes: whole in one chunk, or 10
    // bytes then a resume and a cancel.
    write(&root, "transfer", "whole", &[0, 0, 2, 2, 1, 2, 2, 18, 34])?;
    write(
        &root,
        "transfer",
        "resume",
        &[0, 0, 2, 2, 1, 2, 2, 13, 9, 5, 2, 2, 1, 6, 2, 0, 0],
    )?;
    // The jitter target reads ops of eight bytes: packets 10 ms apart, with playout turns.
    let mut jitter = Vec::new();
    for i in 0..40u32 {
        jitter.extend((1000 + i * 480).to_le_bytes());
        jitter.extend([0, 0, 20, 0]);
        jitter.extend([0, 0, 0, 0, 0, 0, 0, 1]);
    }
    write(&root, "jitter", "steady", &jitter)?;
    for (name, message) in [
        (
            "hello",
            ClientMessage::Hello {
                version: haven_proto::signal::SIGNAL_VERSION,
                token: haven_proto::Redacted::new("hv1.e30.AAAA".to_owned()),
            },
        ),
        ("bye", ClientMessage::Bye),
    ] {
        write(&root, "signal", name, message.encode().as_bytes())?;
    }
    write(
        &root,
        "invite",
        "patient",
        haven_proto::invite::Invite {
            host: "127.0.0.1".into(),
            port: 8443,
            room: "room-1".parse().expect("a room"),
            role: Role::Patient,
            exp: 1_800_000_000,
            nonce: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            uses: 5,
            pin: Some("ab".repeat(32)),
            clinic: None,
            group: None,
        }
        .to_token(&[7; 32])
        .as_bytes(),
    )?;
    let patient = audit_log("session-p", Role::Patient, [2; 32]);
    let clinician = audit_log("session-c", Role::Clinician, [1; 32]);
    write(&root, "audit", "patient", &patient)?;
    write(
        &root,
        "audit",
        "two-logs",
        &[&patient[..], b"\n", &clinician[..]].concat(),
    )?;
    Ok(())
}
