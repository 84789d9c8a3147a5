//! Any bytes on the `pose` channel: an update with finite numbers and unit quaternions, or a
//! typed error. A decoded update must survive a second round trip within tolerance.
#![no_main]

use haven_proto::pose;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(update) = pose::decode(data) {
        for p in [Some(update.head), update.left_hand, update.right_hand]
            .into_iter()
            .flatten()
        {
            assert!(p.position.iter().all(|c| c.is_finite()));
            let n: f32 = p.orientation.iter().map(|c| c * c).sum();
            assert!((n - 1.0).abs() < 1e-4);
        }
        let (pos, rot) = pose::round_trip_error(&update).expect("tracking survives");
        assert!(pos <= 0.001 && rot <= 0.1);
    }
});
