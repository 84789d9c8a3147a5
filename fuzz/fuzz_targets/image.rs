//! Any bytes as an image to strip: a clean re-encoded image or a typed error, within the limits.
#![no_main]

use haven_share::images::{self, ImageLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = ImageLimits {
        max_pixels: 4_000_000,
        ..ImageLimits::default()
    };
    if let Ok(stripped) = images::strip(data, None, &limits) {
        // What comes out carries no metadata.
        assert!(images::metadata(&stripped.bytes).map_or(true, |m| m.is_empty()));
    }
});
