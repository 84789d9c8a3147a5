//! Any bytes on the `bulk` channel: a frame within the format's limits, or a typed error.
#![no_main]

use haven_proto::bulk::{self, Bulk, MAX_CHUNK, MAX_OBJECT_SIZE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match bulk::decode(data) {
        Ok(Bulk::Chunk { data, offset, .. }) => {
            assert!(data.len() <= MAX_CHUNK);
            assert!(offset + data.len() as u64 <= MAX_OBJECT_SIZE);
        }
        Ok(Bulk::Manifest(m)) => assert!(m.size <= MAX_OBJECT_SIZE),
        Ok(_) | Err(_) => {}
    }
});
