//! Any text as a signaling message, from either side: a message or a typed error.
#![no_main]

use haven_proto::signal::{ClientMessage, ServerMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(m) = ClientMessage::decode(text) {
            assert_eq!(ClientMessage::decode(&m.encode()).expect("re-encodes"), m);
        }
        if let Ok(m) = ServerMessage::decode(text) {
            assert_eq!(ServerMessage::decode(&m.encode()).expect("re-encodes"), m);
        }
    }
});
