//! Where played-out audio goes when there is no speaker.

use std::path::Path;

/// Takes frames of 48 kHz mono samples.
pub trait Sink: Send {
    /// Plays one frame.
    fn play(&mut self, frame: &[i16]);
}

/// Drops everything.
#[derive(Debug, Default)]
pub struct NullSink;

impl Sink for NullSink {
    fn play(&mut self, _frame: &[i16]) {}
}

/// Keeps everything in memory (tests compare it with what was sent).
#[derive(Debug, Default)]
pub struct Collect {
    /// Every sample played, in order.
    pub samples: Vec<i16>,
}

impl Sink for Collect {
    fn play(&mut self, frame: &[i16]) {
        self.samples.extend_from_slice(frame);
    }
}

/// Writes a 48 kHz 16-bit mono WAV file.
pub struct WavSink {
    writer: hound::WavWriter<std::io::BufWriter<std::fs::File>>,
}

impl std::fmt::Debug for WavSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavSink").finish_non_exhaustive()
    }
}

impl WavSink {
    /// Creates (or truncates) the file.
    pub fn create(path: &Path) -> Result<Self, hound::Error> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: crate::SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        Ok(Self {
            writer: hound::WavWriter::create(path, spec)?,
        })
    }

    /// Writes the header's final lengths.
    pub fn finish(self) -> Result<(), hound::Error> {
        self.writer.finalize()
    }
}

impl Sink for WavSink {
    fn play(&mut self, frame: &[i16]) {
        for &s in frame {
            if self.writer.write_sample(s).is_err() {
                tracing::warn!("writing the WAV sink failed; dropping audio");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{Source as _, Synthetic, WavSource};

    #[test]
    fn a_wav_written_reads_back_the_same() {
        let path = std::env::temp_dir().join(format!("haven-voice-{}.wav", std::process::id()));
        let mut src = Synthetic::voice_like(3);
        let frames: Vec<Vec<i16>> = (0..5).map(|_| src.next_frame(480)).collect();
        let mut sink = WavSink::create(&path).expect("creates");
        for f in &frames {
            sink.play(f);
        }
        sink.finish().expect("finalises");
        let mut back = WavSource::open(&path).expect("opens");
        for f in &frames {
            assert_eq!(&back.next_frame(480), f);
        }
        assert!(back.finished());
        assert_eq!(back.next_frame(480), vec![0; 480]);
        std::fs::remove_file(&path).expect("cleanup");
    }
}
