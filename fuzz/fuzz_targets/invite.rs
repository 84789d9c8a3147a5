//! Any text as an invite string: its parts, or a typed error.
#![no_main]

use haven_proto::invite;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(parsed) = invite::parse(text) {
            // What was read writes out to an invite that reads back the same.
            let again = invite::parse(&parsed.invite.to_token(&parsed.tag)).expect("re-encodes");
            assert_eq!(again.invite, parsed.invite);
        }
    }
});
