//! `haven audit verify`: any bytes as an audit log (a file a user hands over, possibly
//! truncated, edited or forged). A typed error or a report; no panic; two logs agree or not
//! whichever is "mine".
#![no_main]

use haven_share::audit;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = audit::verify(data).map(|report| report.intact());
    let _ = audit::verify_sessions(data);
    // Two logs (the input cut in two at the first blank line) agree or not whichever side
    // is "mine".
    let cut = data
        .windows(2)
        .position(|w| w == b"\n\n")
        .map_or(data.len(), |i| i + 1);
    let (a, b) = data.split_at(cut);
    match (audit::compare(a, b), audit::compare(b, a)) {
        (Ok(ab), Ok(ba)) => assert_eq!(ab.agree(), ba.agree(), "agreement depends on the side"),
        (Err(_), Err(_)) => {}
        (ab, ba) => panic!(
            "one way round reads, the other not: {:?} / {:?}",
            ab.is_ok(),
            ba.is_ok()
        ),
    }
});
