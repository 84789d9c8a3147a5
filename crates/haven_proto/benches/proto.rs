//! Pose and control encode/decode costs. `cargo bench -p haven_proto`.

use haven_proto::pose::{self, Placement, PoseUpdate};
use haven_proto::{control, signal};

fn main() {
    divan::main();
}

fn sample() -> PoseUpdate {
    PoseUpdate {
        seq: 4242,
        sent_at_ms: 31_337,
        head: Placement {
            position: [0.12, 1.63, -0.4],
            orientation: [0.05, 0.38, -0.02, 0.92],
        },
        left_hand: Some(Placement {
            position: [-0.25, 1.12, -0.7],
            orientation: [0.7, 0.1, 0.1, 0.7],
        }),
        right_hand: Some(Placement {
            position: [0.31, 1.08, -0.65],
            orientation: [-0.3, 0.6, 0.2, 0.71],
        }),
    }
}

#[divan::bench]
fn pose_encode(b: divan::Bencher<'_, '_>) {
    let u = sample();
    b.bench(|| pose::encode(divan::black_box(&u)));
}

#[divan::bench]
fn pose_decode(b: divan::Bencher<'_, '_>) {
    let bytes = pose::encode(&sample());
    b.bench(|| pose::decode(divan::black_box(&bytes)));
}

/// Reference: the same pose as JSON floats (what a naive implementation would send).
#[divan::bench]
fn pose_json_reference(b: divan::Bencher<'_, '_>) {
    let u = sample();
    let v = [u.head, u.left_hand.unwrap_or(Placement::IDENTITY)];
    b.bench(|| serde_json::to_string(&divan::black_box(v).map(|p| (p.position, p.orientation))));
}

#[divan::bench]
fn control_round_trip(b: divan::Bencher<'_, '_>) {
    let m = control::Control::Speaking { speaking: true };
    b.bench(|| control::decode(&control::encode(divan::black_box(&m))));
}

#[divan::bench]
fn signal_decode_offer(b: divan::Bencher<'_, '_>) {
    let text = signal::ClientMessage::Offer {
        to: signal::PeerId(2),
        sdp: haven_proto::Redacted::new("v=0\r\n".repeat(200)),
    }
    .encode();
    b.bench(|| signal::ClientMessage::decode(divan::black_box(&text)));
}
