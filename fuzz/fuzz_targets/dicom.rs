//! Any bytes as DICOM: described, rendered and de-identified, or a typed error.
#![no_main]

use haven_share::dicom::{self, DeidKey, DicomLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = DicomLimits::default();
    if dicom::info(data, &limits).is_ok() {
        let _ = dicom::render_frame(data, 0, &limits);
        let _ = dicom::deidentify(data, &DeidKey::generate().expect("randomness"), &limits);
    }
});
