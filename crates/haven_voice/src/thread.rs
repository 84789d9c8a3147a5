//! The voice thread: one participant's [`VoiceEngine`] on its own thread and its own clock
//! (one frame period per turn: packets in → jitter buffers; capture → encode → send; mix →
//! sink), so voice never waits for a frame loop and a slow frame never makes a gap in what is
//! heard. The room app and `haven join --headless` both run it.
//!
//! The network is behind [`VoiceTransport`] (haven_session's `VoiceLink` is one), so this crate
//! knows nothing of sessions. What one turn does is [`VoiceLoop::turn`], which takes no clock
//! and can be stepped by a test; [`VoiceThread`] runs turns on a fixed period and publishes a
//! [`VoiceSnapshot`] (who is speaking, the local level, the figures) after each.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{error, warn};

use crate::engine::{EngineError, EngineOptions, VoiceEngine};
use crate::jitter::JitterStats;
use crate::sink::Sink;
use crate::source::Source;

/// A voice packet from a peer, as it came off the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedPacket {
    /// RTP timestamp, 48 kHz.
    pub timestamp: u32,
    /// RTP sequence number.
    pub sequence: u16,
    /// One Opus packet.
    pub payload: Vec<u8>,
    /// When it arrived.
    pub arrived: Instant,
}

/// Where voice packets come from and go to: the network side of the voice thread.
pub trait VoiceTransport: Send + 'static {
    /// Who a packet came from.
    type Peer: Copy + Eq + Hash + Send + 'static;
    /// The next packet if one has arrived; never waits.
    fn try_recv(&mut self) -> Option<(Self::Peer, ReceivedPacket)>;
    /// Sends one Opus packet of `duration`; `skipped` counts the DTX frames not sent just
    /// before it.
    fn send(&self, packet: Vec<u8>, duration: Duration, skipped: u16);
    /// Whether the other end is gone (the thread then stops).
    fn is_closed(&self) -> bool;
}

/// How the voice thread runs.
#[derive(Clone, Copy, Debug)]
pub struct VoiceOptions {
    /// The engine's options (frame length, echo cancellation, disguise).
    pub engine: EngineOptions,
    /// Capture from the start. When `false` the source is not read and nothing is sent until
    /// [`VoiceThread::set_live`] (`haven join` waits for a first peer, so a WAV file starts
    /// playing when someone can hear it). Playout runs either way.
    pub live: bool,
}

impl Default for VoiceOptions {
    fn default() -> Self {
        Self {
            engine: EngineOptions::default(),
            live: true,
        }
    }
}

/// Frame counts since the start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VoiceFigures {
    /// Packets sent (DTX silence skipped is not counted).
    pub frames_sent: u64,
    /// Packets received from peers.
    pub frames_received: u64,
    /// Packets played (decoded, or rebuilt from the next one's FEC), every peer.
    pub frames_played: u64,
    /// Concealments, every peer.
    pub frames_concealed: u64,
}

/// What the voice thread publishes after each turn.
#[derive(Clone, Debug)]
pub struct VoiceSnapshot<P> {
    /// Whether the local person is speaking (never while muted or not live).
    pub local_speaking: bool,
    /// The local microphone's smoothed level, dBFS.
    pub local_level_db: f32,
    /// Whether the microphone is muted.
    pub muted: bool,
    /// Each peer heard so far, and whether it is speaking now.
    pub peers: HashMap<P, bool>,
    /// Each peer's voice level as heard here, dBFS (smoothed like the local one).
    pub levels: HashMap<P, f32>,
    /// The figures.
    pub figures: VoiceFigures,
}

impl<P> Default for VoiceSnapshot<P> {
    fn default() -> Self {
        Self {
            local_speaking: false,
            local_level_db: -100.0,
            muted: false,
            peers: HashMap::new(),
            levels: HashMap::new(),
            figures: VoiceFigures::default(),
        }
    }
}

pub use crate::engine::Ambience;

/// One participant's voice, one turn at a time: what the voice thread runs, without its clock.
pub struct VoiceLoop<T: VoiceTransport> {
    engine: VoiceEngine<T::Peer>,
    transport: T,
    source: Box<dyn Source>,
    sink: Box<dyn Sink>,
    /// Arrival times are measured from here (signed: a packet may be stamped earlier).
    started: Instant,
    received: u64,
    /// Playout figures of peers already forgotten.
    retired: JitterStats,
    /// The sound under the voices, if any.
    ambience: Option<Box<dyn Ambience>>,
}

impl<T: VoiceTransport> std::fmt::Debug for VoiceLoop<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceLoop")
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

/// A frame of the sound under the voices, read before the turn's packets (see
/// [`VoiceLoop::step`]).
struct Ready(Vec<i16>);

impl Ambience for Ready {
    fn fill(&mut self, out: &mut [i16]) {
        let n = out.len().min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        out[n..].fill(0);
    }
}

fn add(total: &mut JitterStats, s: &JitterStats) {
    total.played += s.played;
    total.recovered += s.recovered;
    total.concealed += s.concealed;
}

impl<T: VoiceTransport> VoiceLoop<T> {
    /// A loop over `transport`, capturing from `source` and playing into `sink`; arrival
    /// times count from `started`.
    pub fn new(
        options: EngineOptions,
        source: Box<dyn Source>,
        sink: Box<dyn Sink>,
        transport: T,
        started: Instant,
    ) -> Result<Self, EngineError> {
        Ok(Self {
            engine: VoiceEngine::new(options)?,
            transport,
            source,
            sink,
            started,
            received: 0,
            retired: JitterStats::default(),
            ambience: None,
        })
    }

    /// Plays `ambience` under the voices from the next turn (`None`: none).
    pub fn set_ambience(&mut self, ambience: Option<Box<dyn Ambience>>) {
        self.ambience = ambience;
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// One frame period: takes every packet that arrived, captures and sends a frame when
    /// `live` (nothing is sent while `muted`), and plays one mixed frame.
    pub fn turn(&mut self, live: bool, muted: bool) {
        self.step(Vec::new, live, muted);
    }

    /// [`turn`](Self::turn), forgetting the peers that `gone` names (peers that left).
    ///
    /// In this order, so that nothing of a peer plays once its leaving is acted on: the sound
    /// under the voices is read first, then `gone`, then the packets. Whoever says a peer is
    /// gone says so before changing that sound (the headless patient's safe room when its
    /// therapist leaves), so a frame that plays the new sound forgets the peer; and a peer's
    /// packets were all queued before it was said gone (the session closes its voice first),
    /// so they are taken and dropped with it, instead of bringing its voice back, playing on
    /// (concealed) after it left.
    pub fn step(&mut self, gone: impl FnOnce() -> Vec<T::Peer>, live: bool, muted: bool) {
        let frame = self.engine.frame();
        let under = self.ambience.as_mut().map(|ambience| {
            let mut under = vec![0; frame.samples()];
            ambience.fill(&mut under);
            Ready(under)
        });
        let gone = gone();
        self.receive();
        for peer in gone {
            self.forget(peer);
        }
        self.engine.set_muted(muted);
        if live {
            match self.engine.capture(self.source.next_frame(frame.samples())) {
                Ok(Some(out)) => self.transport.send(
                    out.packet,
                    Duration::from_millis(frame.millis()),
                    out.skipped,
                ),
                Ok(None) => {}
                Err(e) => warn!(error = %e, "a voice frame was dropped"),
            }
        }
        let mut under = under;
        let played = match under.as_mut() {
            Some(ready) => self.engine.playout_with(Some(ready)),
            None => self.engine.playout(),
        };
        match played {
            Ok(mix) => self.sink.play(&mix),
            Err(e) => warn!(error = %e, "a playout frame was dropped"),
        }
    }

    /// Takes every packet that arrived.
    fn receive(&mut self) {
        while let Some((from, packet)) = self.transport.try_recv() {
            self.received += 1;
            let arrived_ms = match packet.arrived.checked_duration_since(self.started) {
                Some(after) => after.as_secs_f64() * 1000.0,
                None => -(self.started - packet.arrived).as_secs_f64() * 1000.0,
            };
            self.engine
                .push(from, packet.timestamp, packet.payload, arrived_ms);
        }
    }

    /// Forgets a peer that left (its figures stay in the totals).
    pub fn forget(&mut self, peer: T::Peer) {
        if let Some(stats) = self.engine.remove(peer) {
            add(&mut self.retired, &stats);
        }
    }

    /// Who is speaking and the figures, now.
    pub fn snapshot(&self, live: bool) -> VoiceSnapshot<T::Peer> {
        let mut playout = self.retired;
        for (_, stats) in self.engine.stats() {
            add(&mut playout, &stats);
        }
        let local = self.engine.local_activity();
        VoiceSnapshot {
            local_speaking: live && local.speaking && !self.engine.muted(),
            local_level_db: local.level_db,
            muted: self.engine.muted(),
            peers: self
                .engine
                .activity()
                .map(|(p, a)| (p, a.speaking))
                .collect(),
            levels: self
                .engine
                .activity()
                .map(|(p, a)| (p, a.level_db))
                .collect(),
            figures: VoiceFigures {
                frames_sent: self.engine.sent(),
                frames_received: self.received,
                frames_played: playout.played + playout.recovered,
                frames_concealed: playout.concealed,
            },
        }
    }
}

/// Why the voice thread did not start.
#[derive(Debug, thiserror::Error)]
pub enum VoiceThreadError {
    /// The engine could not be built (Opus or the echo canceller refused).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The thread could not be started.
    #[error("starting the voice thread: {0}")]
    Thread(#[from] std::io::Error),
}

struct Shared<P> {
    muted: AtomicBool,
    live: AtomicBool,
    stop: AtomicBool,
    snapshot: Mutex<VoiceSnapshot<P>>,
    gone: Mutex<Vec<P>>,
    /// A sound to play under the voices from the next turn.
    ambience: Mutex<Option<Box<dyn Ambience>>>,
}

/// The running voice thread (named `haven-voice`). Dropping it stops the thread.
pub struct VoiceThread<P> {
    shared: Arc<Shared<P>>,
    handle: Option<JoinHandle<()>>,
}

impl<P> std::fmt::Debug for VoiceThread<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceThread")
            .field("running", &self.handle.is_some())
            .finish_non_exhaustive()
    }
}

impl<P: Copy + Eq + Hash + Send + 'static> VoiceThread<P> {
    /// Starts the voice thread on `transport`, capturing from `source` and playing into
    /// `sink`, one turn per frame period. Returns once the engine is built.
    pub fn spawn<T: VoiceTransport<Peer = P>>(
        options: VoiceOptions,
        source: Box<dyn Source>,
        sink: Box<dyn Sink>,
        transport: T,
    ) -> Result<Self, VoiceThreadError> {
        let shared = Arc::new(Shared {
            muted: AtomicBool::new(false),
            live: AtomicBool::new(options.live),
            stop: AtomicBool::new(false),
            snapshot: Mutex::new(VoiceSnapshot::default()),
            gone: Mutex::new(Vec::new()),
            ambience: Mutex::new(None),
        });
        let theirs = Arc::clone(&shared);
        let (ready_tx, ready) = std::sync::mpsc::sync_channel(1);
        let handle = std::thread::Builder::new()
            .name("haven-voice".into())
            .spawn(move || {
                let started = Instant::now();
                match VoiceLoop::new(options.engine, source, sink, transport, started) {
                    Ok(voice) => {
                        let _ = ready_tx.send(Ok(()));
                        run(voice, options, &theirs, started);
                    }
                    Err(e) => {
                        error!(error = %e, "voice could not start");
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })?;
        match ready.recv() {
            Ok(Ok(())) => Ok(Self {
                shared,
                handle: Some(handle),
            }),
            Ok(Err(e)) => {
                let _ = handle.join();
                Err(e.into())
            }
            Err(_) => {
                let _ = handle.join();
                Err(std::io::Error::other("the voice thread ended before it started").into())
            }
        }
    }

    /// Mutes (nothing is sent at all) or unmutes the microphone.
    pub fn set_muted(&self, muted: bool) {
        self.shared.muted.store(muted, Ordering::Relaxed);
    }

    /// Starts (or stops) capturing and sending; see [`VoiceOptions::live`].
    pub fn set_live(&self, live: bool) {
        self.shared.live.store(live, Ordering::Relaxed);
    }

    /// Plays `ambience` under the voices from the next turn on (it replaces any before).
    pub fn set_ambience(&self, ambience: Box<dyn Ambience>) {
        *self
            .shared
            .ambience
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(ambience);
    }

    /// Forgets a peer that left.
    pub fn forget(&self, peer: P) {
        self.shared
            .gone
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(peer);
    }

    /// The latest snapshot, or `None` if the voice thread is writing it right now (never
    /// waits: for a frame loop).
    pub fn try_snapshot(&self) -> Option<VoiceSnapshot<P>> {
        self.shared.snapshot.try_lock().ok().map(|s| s.clone())
    }

    /// The latest snapshot (waits, briefly, for the voice thread to finish writing it).
    pub fn snapshot(&self) -> VoiceSnapshot<P> {
        self.shared
            .snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether the thread has stopped (its transport closed).
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops the thread, waits for it, and returns the final figures.
    pub fn stop(mut self) -> VoiceFigures {
        self.halt();
        self.snapshot().figures
    }
}

impl<P> VoiceThread<P> {
    fn halt(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl<P> Drop for VoiceThread<P> {
    fn drop(&mut self) {
        self.halt();
    }
}

fn run<T: VoiceTransport>(
    mut voice: VoiceLoop<T>,
    options: VoiceOptions,
    shared: &Shared<T::Peer>,
    started: Instant,
) {
    let period = Duration::from_millis(options.engine.frame.millis());
    let mut next = started;
    while !shared.stop.load(Ordering::Relaxed) && !voice.transport().is_closed() {
        if let Ok(mut ambience) = shared.ambience.try_lock()
            && let Some(ambience) = ambience.take()
        {
            voice.set_ambience(Some(ambience));
        }
        let live = shared.live.load(Ordering::Relaxed);
        // Waits (briefly: a push) rather than miss a leaving said just before the sound
        // read above changed.
        let gone =
            || std::mem::take(&mut *shared.gone.lock().unwrap_or_else(PoisonError::into_inner));
        voice.step(gone, live, shared.muted.load(Ordering::Relaxed));
        let snapshot = voice.snapshot(live);
        *shared
            .snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = snapshot;
        // A fixed clock; after a stall (the machine was busy) start again from now rather
        // than rushing through the missed frames.
        next += period;
        let now = Instant::now();
        if next + period * 10 < now {
            next = now;
        }
        std::thread::sleep(next.saturating_duration_since(now));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;
    use crate::sink::Collect;
    use crate::source::{Silent, Synthetic};

    /// Wraps a sink so a test can read what was played while the loop owns it.
    struct Shared(Arc<Mutex<Collect>>);

    impl Sink for Shared {
        fn play(&mut self, frame: &[i16]) {
            self.0.lock().expect("not poisoned").play(frame);
        }
    }

    /// Silence under the voices; as it is read, peer 8 is said gone.
    struct SaysGone(Arc<Mutex<Vec<u8>>>);

    impl Ambience for SaysGone {
        fn fill(&mut self, out: &mut [i16]) {
            self.0.lock().expect("not poisoned").push(8);
            out.fill(0);
        }
    }

    /// A source that speaks for `speech` frames, then is silent.
    struct SpeechThenSilence {
        voice: Synthetic,
        left: u32,
    }

    impl Source for SpeechThenSilence {
        fn next_frame(&mut self, samples: usize) -> Vec<i16> {
            if self.left > 0 {
                self.left -= 1;
                self.voice.next_frame(samples)
            } else {
                Silent.next_frame(samples)
            }
        }
    }

    /// What a fake transport sent: each packet and its skipped-frame count.
    type Sent = Arc<Mutex<Vec<(Vec<u8>, u16)>>>;

    /// Packets in from a queue the test fills; packets out into a list.
    struct Fake {
        incoming: mpsc::Receiver<(u8, ReceivedPacket)>,
        sent: Sent,
        closed: Arc<AtomicBool>,
    }

    impl VoiceTransport for Fake {
        type Peer = u8;

        fn try_recv(&mut self) -> Option<(u8, ReceivedPacket)> {
            self.incoming.try_recv().ok()
        }

        fn send(&self, packet: Vec<u8>, _duration: Duration, skipped: u16) {
            self.sent
                .lock()
                .expect("not poisoned")
                .push((packet, skipped));
        }

        fn is_closed(&self) -> bool {
            self.closed.load(Ordering::Relaxed)
        }
    }

    fn fake() -> (
        Fake,
        mpsc::Sender<(u8, ReceivedPacket)>,
        Sent,
        Arc<AtomicBool>,
    ) {
        let (tx, incoming) = mpsc::channel();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let closed = Arc::new(AtomicBool::new(false));
        let transport = Fake {
            incoming,
            sent: Arc::clone(&sent),
            closed: Arc::clone(&closed),
        };
        (transport, tx, sent, closed)
    }

    #[test]
    fn speech_is_sent_then_silence_is_skipped_and_mute_sends_nothing() {
        let (transport, _tx, sent, _) = fake();
        let source = SpeechThenSilence {
            voice: Synthetic::voice_like(5),
            left: 100,
        };
        let started = Instant::now();
        let mut voice = VoiceLoop::new(
            EngineOptions::default(),
            Box::new(source),
            Box::new(crate::sink::NullSink),
            transport,
            started,
        )
        .expect("engine");
        let mut heard_speaking = false;
        for _ in 0..100 {
            voice.turn(true, false);
            heard_speaking |= voice.snapshot(true).local_speaking;
        }
        let speech = sent.lock().expect("not poisoned").len();
        assert!(speech >= 95, "{speech} of 100 speech frames sent");
        assert!(heard_speaking);
        // A second of silence: DTX skips most of it, and the indicator goes off.
        for _ in 0..100 {
            voice.turn(true, false);
        }
        let silence = sent.lock().expect("not poisoned").len() - speech;
        assert!(silence < 30, "{silence} of 100 silent frames sent");
        assert!(!voice.snapshot(true).local_speaking);
        // Not live: the source is not read, nothing is sent.
        for _ in 0..50 {
            voice.turn(false, false);
        }
        // Muted: nothing at all, speech or not.
        let before = sent.lock().expect("not poisoned").len();
        for _ in 0..100 {
            voice.turn(true, true);
        }
        assert_eq!(sent.lock().expect("not poisoned").len(), before);
        let snapshot = voice.snapshot(true);
        assert!(snapshot.muted && !snapshot.local_speaking);
        assert_eq!(snapshot.figures.frames_sent, before as u64);
    }

    /// A silent participant's loop; where its packets go, what it played, when it started.
    type Listening = (
        VoiceLoop<Fake>,
        mpsc::Sender<(u8, ReceivedPacket)>,
        Arc<Mutex<Collect>>,
        Instant,
    );

    /// A silent participant's loop that records what it plays.
    fn listening() -> Listening {
        let (transport, tx, _, _) = fake();
        let played = Arc::new(Mutex::new(Collect::default()));
        let started = Instant::now();
        let voice = VoiceLoop::new(
            EngineOptions::default(),
            Box::new(Silent),
            Box::new(Shared(Arc::clone(&played))),
            transport,
            started,
        )
        .expect("engine");
        (voice, tx, played, started)
    }

    #[test]
    fn received_packets_are_played_and_counted() {
        let (mut voice, tx, played, started) = listening();
        let mut encoder =
            crate::codec::VoiceEncoder::new(crate::FrameDuration::Ms10).expect("encoder");
        let mut talker = Synthetic::voice_like(3);
        for i in 0..150u32 {
            let payload = encoder.encode(&talker.next_frame(480)).expect("encodes");
            let packet = ReceivedPacket {
                timestamp: 1000 + i * 480,
                sequence: i as u16,
                payload,
                // Some packets are stamped before the loop started: still in order.
                arrived: started + Duration::from_millis(u64::from(i) * 10)
                    - Duration::from_millis(30),
            };
            tx.send((7, packet)).expect("queued");
            voice.turn(true, false);
        }
        let snapshot = voice.snapshot(true);
        assert_eq!(snapshot.figures.frames_received, 150);
        assert!(
            snapshot.figures.frames_played >= 140,
            "{:?}",
            snapshot.figures
        );
        assert_eq!(
            snapshot.peers.get(&7),
            Some(&true),
            "the talker is heard speaking"
        );
        let loud = played
            .lock()
            .expect("not poisoned")
            .samples
            .iter()
            .filter(|s| s.unsigned_abs() > 1000)
            .count();
        assert!(loud > 10_000, "only {loud} loud samples played");
        // Forgotten, its figures stay in the totals.
        voice.forget(7);
        let after = voice.snapshot(true);
        assert!(after.peers.is_empty());
        assert_eq!(after.figures.frames_played, snapshot.figures.frames_played);
    }

    /// A peer's packets still queued when it is said gone are dropped with it: its voice
    /// does not come back (nor play on, concealed) after it left; another peer's goes on.
    #[test]
    fn packets_on_their_way_when_a_peer_left_do_not_bring_its_voice_back() {
        let (mut voice, tx, played, started) = listening();
        let mut encoder =
            crate::codec::VoiceEncoder::new(crate::FrameDuration::Ms10).expect("encoder");
        let mut talker = Synthetic::voice_like(3);
        let mut send = |peer: u8, i: u32| {
            let packet = ReceivedPacket {
                timestamp: 1000 + i * 480,
                sequence: i as u16,
                payload: encoder.encode(&talker.next_frame(480)).expect("encodes"),
                arrived: started + Duration::from_millis(u64::from(i) * 10),
            };
            tx.send((peer, packet)).expect("queued");
        };
        for i in 0..50 {
            send(7, i);
            send(8, i);
            voice.turn(true, false);
        }
        // Peer 7 leaves with three packets still queued.
        for i in 50..53 {
            send(7, i);
            send(8, i);
        }
        voice.step(|| vec![7], true, false);
        let from = played.lock().expect("not poisoned").samples.len();
        for i in 53..100 {
            send(8, i);
            voice.turn(true, false);
        }
        let snapshot = voice.snapshot(true);
        assert!(!snapshot.peers.contains_key(&7), "{:?}", snapshot.peers);
        assert!(snapshot.peers.contains_key(&8));
        // Only peer 8 is left. It is said gone just before the sound under the voices changes
        // (here, as that sound's frame is read): from the frame with the new sound on, nothing
        // of it plays.
        let said_gone = Arc::new(Mutex::new(Vec::new()));
        voice.set_ambience(Some(Box::new(SaysGone(Arc::clone(&said_gone)))));
        let from_silent = played.lock().expect("not poisoned").samples.len();
        voice.step(
            || std::mem::take(&mut *said_gone.lock().expect("not poisoned")),
            true,
            false,
        );
        for _ in 0..20 {
            voice.turn(true, false);
        }
        let samples = &played.lock().expect("not poisoned").samples;
        assert!(samples[from..from_silent].iter().any(|&s| s != 0));
        assert!(samples[from_silent..].iter().all(|&s| s == 0));
    }

    #[test]
    fn the_thread_runs_on_its_clock_and_stops_when_told_or_when_the_transport_closes() {
        let (transport, _tx, sent, closed) = fake();
        let thread = VoiceThread::spawn(
            VoiceOptions::default(),
            Box::new(Synthetic::voice_like(1)),
            Box::new(crate::sink::NullSink),
            transport,
        )
        .expect("starts");
        std::thread::sleep(Duration::from_millis(200));
        assert!(thread.snapshot().figures.frames_sent > 5);
        thread.set_muted(true);
        let figures = thread.stop();
        assert!(figures.frames_sent > 5, "{figures:?}");
        assert!(sent.lock().expect("not poisoned").len() as u64 >= figures.frames_sent);
        drop(closed);

        let (transport, _tx, _, closed) = fake();
        let thread = VoiceThread::spawn(
            VoiceOptions {
                live: false,
                ..VoiceOptions::default()
            },
            Box::new(Synthetic::voice_like(1)),
            Box::new(crate::sink::NullSink),
            transport,
        )
        .expect("starts");
        closed.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(thread.is_finished());
        assert_eq!(thread.stop().frames_sent, 0);
    }
}
