//! Any bytes on the `control` channel: an event or a typed error; events re-encode to bytes
//! that decode to the same event.
#![no_main]

use haven_proto::control;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = control::decode(data) {
        let again = control::decode(&control::encode(&message)).expect("re-encodes");
        assert_eq!(format!("{again:?}"), format!("{message:?}"));
    }
});
