//! Imaging benchmarks: strip a 12 MP JPEG carrying EXIF (GPS, serials), XMP, ICC and a
//! comment; de-identify DICOM files; decode a DICOM frame and window it.
//!
//! `cargo bench -p haven_share --bench imaging`

use std::io::Cursor;
use std::sync::LazyLock;

use divan::Bencher;
use haven_share::dicom::{self, DeidKey, DicomFile, DicomLimits};
use haven_share::images::{self, ImageKind, ImageLimits};
use image::codecs::jpeg::JpegEncoder;

fn main() {
    divan::main();
}

fn read(path: &str) -> Vec<u8> {
    let path = format!("{}/../../tests/data/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("bench data {path}: {e}"))
}

/// The metadata segments (APP1 EXIF and XMP, APP2 ICC, COM) of the camera test JPEG.
fn metadata_segments(jpeg: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 2;
    while i + 4 <= jpeg.len() && jpeg[i] == 0xFF {
        let marker = jpeg[i + 1];
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        if marker == 0xDA {
            break;
        }
        if matches!(marker, 0xE1 | 0xE2 | 0xFE) {
            out.extend_from_slice(&jpeg[i..i + 2 + len]);
        }
        i += 2 + len;
    }
    out
}

/// A 4000×3000 photo-like JPEG (quality 90) with real EXIF/XMP/ICC/COM segments spliced in.
static JPEG_12MP: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let (w, h) = (4000_u32, 3000_u32);
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        // Smooth gradients plus deterministic texture, so the encoder has real work.
        let n = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) >> 27;
        image::Rgb([
            ((x * 255 / w) as u8).wrapping_add(n as u8),
            ((y * 255 / h) as u8).wrapping_add((n >> 1) as u8),
            (((x + y) / 30) as u8).wrapping_add((n >> 2) as u8),
        ])
    });
    let mut plain = Vec::new();
    JpegEncoder::new_with_quality(&mut Cursor::new(&mut plain), 90)
        .encode_image(&img)
        .expect("bench JPEG encodes");
    let segments = metadata_segments(&read("images/camera_gps_serial.jpg"));
    let mut jpeg = plain[..2].to_vec();
    jpeg.extend_from_slice(&segments);
    jpeg.extend_from_slice(&plain[2..]);
    jpeg
});

#[divan::bench(sample_count = 10)]
fn strip_12mp_jpeg(bencher: Bencher<'_, '_>) {
    let jpeg = &*JPEG_12MP;
    let limits = ImageLimits::default();
    bencher
        .counter(divan::counter::BytesCount::of_slice(jpeg))
        .bench(|| {
            images::strip(divan::black_box(jpeg), Some(ImageKind::Jpeg), &limits).expect("strips")
        });
}

#[divan::bench(args = ["CT_small.dcm", "examples_overlay.dcm", "examples_ybr_color.dcm"])]
fn deidentify_dicom(bencher: Bencher<'_, '_>, name: &str) {
    let bytes = read(&format!("dicom/{name}"));
    let key = DeidKey::from_bytes([9; 32]);
    let limits = DicomLimits::default();
    bencher
        .counter(divan::counter::BytesCount::of_slice(&bytes))
        .bench(|| {
            dicom::deidentify(divan::black_box(&bytes), &key, &limits).expect("de-identifies")
        });
}

#[divan::bench(args = ["CT_small.dcm", "MR_small_RLE.dcm", "examples_overlay.dcm", "examples_ybr_color.dcm"])]
fn open_decode_window_frame(bencher: Bencher<'_, '_>, name: &str) {
    let bytes = read(&format!("dicom/{name}"));
    let limits = DicomLimits::default();
    bencher.bench(|| {
        let file = DicomFile::open(divan::black_box(&bytes), &limits).expect("opens");
        let frame = file.frame(0).expect("decodes");
        let window = frame.default_window().unwrap_or(dicom::Window {
            center: 128.0,
            width: 256.0,
        });
        dicom::apply_window(&frame, window.center, window.width)
    });
}

#[divan::bench]
fn window_512x512(bencher: Bencher<'_, '_>) {
    let frame = dicom::Frame {
        width: 512,
        height: 512,
        pixels: dicom::FramePixels::Gray(
            (0..512 * 512).map(|i| (i % 4096) as f32 - 1024.0).collect(),
        ),
        window: None,
        invert: false,
    };
    bencher.bench(|| dicom::apply_window(divan::black_box(&frame), 40.0, 400.0));
}
