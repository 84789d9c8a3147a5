//! The sound card, through cpal: the microphone as a [`Source`] and the speakers as a
//! [`Sink`]. Both run at 48 kHz mono; the device callbacks only move samples through a
//! bounded queue, so a slow consumer drops audio instead of blocking the audio thread.
//!
//! With no sound card (CI, servers) opening fails with [`DeviceError`] and the caller uses the
//! file, synthetic or silent source and a file or null sink instead.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use cpal::traits::{DeviceTrait as _, HostTrait as _, StreamTrait as _};
use thiserror::Error;

use crate::SAMPLE_RATE;
use crate::sink::Sink;
use crate::source::Source;

/// At most this much audio waits in either queue (200 ms); more is dropped, oldest first.
const QUEUE: usize = SAMPLE_RATE as usize / 5;

/// Why a sound device could not be used.
#[derive(Debug, Error)]
pub enum DeviceError {
    /// No default input or output device.
    #[error("no {0} device")]
    NoDevice(&'static str),
    /// The device refused 48 kHz mono, or the stream could not start.
    #[error("{what}: {why}")]
    Stream {
        /// What was being opened.
        what: &'static str,
        /// cpal's reason.
        why: String,
    },
}

fn config() -> cpal::StreamConfig {
    cpal::StreamConfig {
        channels: 1,
        sample_rate: cpal::SampleRate(SAMPLE_RATE),
        buffer_size: cpal::BufferSize::Default,
    }
}

fn push_bounded(queue: &Mutex<VecDeque<i16>>, samples: impl Iterator<Item = i16>) {
    let mut q = queue.lock().unwrap_or_else(|p| p.into_inner());
    q.extend(samples);
    let excess = q.len().saturating_sub(QUEUE);
    q.drain(..excess);
}

/// The default microphone.
pub struct Microphone {
    queue: Arc<Mutex<VecDeque<i16>>>,
    _stream: cpal::Stream,
}

impl std::fmt::Debug for Microphone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Microphone").finish_non_exhaustive()
    }
}

impl Microphone {
    /// Opens and starts the default input device at 48 kHz mono.
    pub fn open() -> Result<Self, DeviceError> {
        let device = cpal::default_host()
            .default_input_device()
            .ok_or(DeviceError::NoDevice("input"))?;
        let queue = Arc::new(Mutex::new(VecDeque::with_capacity(QUEUE)));
        let filled = Arc::clone(&queue);
        let stream = device
            .build_input_stream(
                &config(),
                move |data: &[f32], _: &cpal::InputCallbackInfo| {
                    push_bounded(&filled, data.iter().map(|&s| (s * 32767.0) as i16));
                },
                |e| tracing::warn!(error = %e, "microphone stream error"),
                None,
            )
            .map_err(|e| DeviceError::Stream {
                what: "opening the microphone",
                why: e.to_string(),
            })?;
        stream.play().map_err(|e| DeviceError::Stream {
            what: "starting the microphone",
            why: e.to_string(),
        })?;
        Ok(Self {
            queue,
            _stream: stream,
        })
    }
}

impl Source for Microphone {
    fn next_frame(&mut self, samples: usize) -> Vec<i16> {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let n = samples.min(q.len());
        let mut frame: Vec<i16> = q.drain(..n).collect();
        // An underrun (the device is behind the frame clock) is filled with silence.
        frame.resize(samples, 0);
        frame
    }
}

/// The default speakers.
pub struct Speakers {
    queue: Arc<Mutex<VecDeque<i16>>>,
    _stream: cpal::Stream,
}

impl std::fmt::Debug for Speakers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Speakers").finish_non_exhaustive()
    }
}

impl Speakers {
    /// Opens and starts the default output device at 48 kHz mono.
    pub fn open() -> Result<Self, DeviceError> {
        let device = cpal::default_host()
            .default_output_device()
            .ok_or(DeviceError::NoDevice("output"))?;
        let queue = Arc::new(Mutex::new(VecDeque::with_capacity(QUEUE)));
        let drained = Arc::clone(&queue);
        let stream = device
            .build_output_stream(
                &config(),
                move |data: &mut [f32], _: &cpal::OutputCallbackInfo| {
                    let mut q = drained.lock().unwrap_or_else(|p| p.into_inner());
                    for out in data.iter_mut() {
                        *out = q.pop_front().map_or(0.0, |s| f32::from(s) / 32768.0);
                    }
                },
                |e| tracing::warn!(error = %e, "speaker stream error"),
                None,
            )
            .map_err(|e| DeviceError::Stream {
                what: "opening the speakers",
                why: e.to_string(),
            })?;
        stream.play().map_err(|e| DeviceError::Stream {
            what: "starting the speakers",
            why: e.to_string(),
        })?;
        Ok(Self {
            queue,
            _stream: stream,
        })
    }
}

impl Sink for Speakers {
    fn play(&mut self, frame: &[i16]) {
        push_bounded(&self.queue, frame.iter().copied());
    }
}
