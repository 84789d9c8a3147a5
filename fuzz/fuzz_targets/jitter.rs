//! The jitter buffer (`haven_voice::jitter`), stateful: packets with any timestamps, sizes
//! and arrival times (reordered, duplicated, wrapping, jumping, floods), mixed with playout
//! turns. No panic, a target depth within its limits, playout that never goes back in time,
//! and concealment that ends: once packets stop coming, playout reaches the next one held
//! within a second of audio (about a hundred turns) or runs dry and waits, however far the
//! sender's clock jumped. (While packets keep coming, a flood past the buffer's bound evicts
//! the oldest and may keep it concealing: that is the flood's doing.)
#![no_main]

use haven_voice::jitter::{
    CONCEAL_SAMPLES, JitterBuffer, MAX_TARGET_MS, MIN_TARGET_MS, Playout, REBUFFER_AFTER,
    RESYNC_SAMPLES,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buffer = JitterBuffer::new();
    let mut now = 0.0f64;
    let mut last_next: Option<u64> = None;
    let mut concealed_in_a_row = 0u64;
    let most_in_a_row = RESYNC_SAMPLES / u64::from(CONCEAL_SAMPLES) + u64::from(REBUFFER_AFTER) + 2;
    for op in data.chunks(8).take(2000) {
        let mut bytes = [0u8; 8];
        bytes[..op.len()].copy_from_slice(op);
        let timestamp = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        // 10, 20, 40 or 60 ms, or nonsense.
        let samples = match bytes[4] & 7 {
            0 => 480,
            1 => 960,
            2 => 1920,
            3 => 2880,
            4 => 0,
            _ => u32::from(bytes[5]) * 97,
        };
        now += f64::from(bytes[6]) * 0.5;
        if bytes[7] & 1 == 0 {
            buffer.push(timestamp, samples, vec![bytes[7]; 3], now);
            concealed_in_a_row = 0;
        } else {
            match buffer.pop() {
                Playout::Conceal(samples) => {
                    assert!(samples > 0);
                    concealed_in_a_row += 1;
                    assert!(
                        concealed_in_a_row <= most_in_a_row,
                        "{concealed_in_a_row} turns of concealment in a row"
                    );
                }
                Playout::Packet(_) | Playout::Recover { .. } | Playout::Wait => {
                    concealed_in_a_row = 0;
                }
            }
        }
        let target = buffer.target_ms();
        assert!(
            (MIN_TARGET_MS..=MAX_TARGET_MS).contains(&target),
            "target {target}"
        );
        assert!(buffer.depth_ms().is_finite());
        if let Some(next) = buffer.next_timestamp() {
            if let Some(last) = last_next {
                assert!(next >= last, "playout went back: {last} then {next}");
            }
            last_next = Some(next);
        } else {
            last_next = None;
        }
    }
});
