//! Voice in the room: its own thread on a 10 ms clock (capture → encode → send; receive →
//! jitter buffer → mix → speakers), so it never waits for a frame and a slow frame never makes
//! a gap in what is heard. The frame loop only reads the voice-activity levels (for the speaking
//! indicator), flips mute, and tells the peers when the local person starts or stops speaking.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bevy::prelude::*;
use haven_proto::control::Control;
use haven_proto::signal::PeerId;
use haven_session::VoiceLink;
use haven_voice::engine::{EngineOptions, VoiceEngine};
use haven_voice::sink::Sink;
use haven_voice::source::Source;

use crate::avatar::PeerGone;
use crate::link::{SendControl, VoiceStateChanged};

/// What the voice thread publishes each frame period.
#[derive(Clone, Debug, Default)]
struct Snapshot {
    local_speaking: bool,
    local_level_db: f32,
    peers: HashMap<PeerId, bool>,
    packets_received: u64,
    packets_sent: u64,
}

#[derive(Debug, Default)]
struct Shared {
    muted: AtomicBool,
    stop: AtomicBool,
    snapshot: Mutex<Snapshot>,
    gone: Mutex<Vec<PeerId>>,
}

/// The running voice thread. Dropping it stops the thread.
#[derive(Resource, Debug)]
pub struct VoiceThread {
    shared: Arc<Shared>,
    handle: Option<JoinHandle<()>>,
}

impl VoiceThread {
    /// Starts the voice thread on `link`, capturing from `source` and playing into `sink`.
    pub fn start(
        link: VoiceLink,
        options: EngineOptions,
        source: Box<dyn Source>,
        sink: Box<dyn Sink>,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let theirs = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("haven-voice".into())
            .spawn(move || run(link, options, source, sink, &theirs))?;
        Ok(Self {
            shared,
            handle: Some(handle),
        })
    }
}

impl Drop for VoiceThread {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn run(
    mut link: VoiceLink,
    options: EngineOptions,
    mut source: Box<dyn Source>,
    mut sink: Box<dyn Sink>,
    shared: &Shared,
) {
    let mut engine = match VoiceEngine::<PeerId>::new(options) {
        Ok(engine) => engine,
        Err(e) => {
            bevy::log::error!(error = %e, "voice could not start; the consult goes on without it");
            return;
        }
    };
    let period = Duration::from_millis(options.frame.millis());
    let started = Instant::now();
    let mut next = started;
    let mut snapshot = Snapshot::default();
    while !shared.stop.load(Ordering::Relaxed) && !link.is_closed() {
        while let Some((from, packet)) = link.try_recv() {
            snapshot.packets_received += 1;
            let arrived = packet.arrived_ms_since(started);
            engine.push(from, packet.timestamp, packet.payload, arrived);
        }
        if let Ok(mut gone) = shared.gone.try_lock() {
            for peer in gone.drain(..) {
                engine.remove(peer);
            }
        }
        engine.set_muted(shared.muted.load(Ordering::Relaxed));
        match engine.capture(source.next_frame(options.frame.samples())) {
            Ok(Some(out)) => {
                link.send_audio(out.packet, period, out.skipped);
                snapshot.packets_sent += 1;
            }
            Ok(None) => {}
            Err(e) => bevy::log::warn!(error = %e, "a voice frame was dropped"),
        }
        match engine.playout() {
            Ok(mix) => sink.play(&mix),
            Err(e) => bevy::log::warn!(error = %e, "a playout frame was dropped"),
        }
        let local = engine.local_activity();
        snapshot.local_speaking = local.speaking;
        snapshot.local_level_db = local.level_db;
        snapshot.peers = engine.activity().map(|(p, a)| (p, a.speaking)).collect();
        if let Ok(mut shared) = shared.snapshot.try_lock() {
            shared.clone_from(&snapshot);
        }
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

/// Who is speaking, for the indicator and the session panel.
#[derive(Resource, Clone, Debug, Default)]
pub struct VoiceActivity {
    /// Whether the local person is speaking (never while muted).
    pub local_speaking: bool,
    /// The local microphone's level, dBFS.
    pub local_level_db: f32,
    /// Whether the local microphone is muted.
    pub muted: bool,
    /// Remote peers speaking now (from their voice as heard, or what they said).
    pub speaking: HashMap<PeerId, bool>,
    /// Remote peers that said they muted.
    pub muted_peers: HashMap<PeerId, bool>,
    /// Voice packets received so far.
    pub packets_received: u64,
    /// Voice packets sent so far.
    pub packets_sent: u64,
}

impl VoiceActivity {
    /// Whether a remote peer is speaking now.
    pub fn is_speaking(&self, peer: PeerId) -> bool {
        self.speaking.get(&peer).copied().unwrap_or(false)
    }
}

/// Asks to mute (`true`) or unmute the local microphone.
#[derive(Message, Clone, Copy, Debug)]
pub struct SetMuted(pub bool);

/// Voice activity into the frame loop; mute out of it.
#[derive(Debug, Default)]
pub struct VoicePlugin;

impl Plugin for VoicePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<VoiceActivity>()
            .add_message::<SetMuted>()
            .add_systems(Update, (apply_mute, read_activity).chain());
    }
}

fn apply_mute(
    mut requests: MessageReader<'_, '_, SetMuted>,
    thread: Option<Res<'_, VoiceThread>>,
    mut activity: ResMut<'_, VoiceActivity>,
    mut out: MessageWriter<'_, SendControl>,
) {
    for &SetMuted(muted) in requests.read() {
        if activity.muted == muted {
            continue;
        }
        activity.muted = muted;
        if let Some(thread) = &thread {
            thread.shared.muted.store(muted, Ordering::Relaxed);
        }
        out.write(SendControl(Control::Muted { muted }));
    }
}

fn read_activity(
    thread: Option<Res<'_, VoiceThread>>,
    mut said: MessageReader<'_, '_, VoiceStateChanged>,
    mut gone: MessageReader<'_, '_, PeerGone>,
    mut activity: ResMut<'_, VoiceActivity>,
    mut out: MessageWriter<'_, SendControl>,
    mut told: Local<'_, HashMap<PeerId, bool>>,
) {
    for m in said.read() {
        if let Some(s) = m.speaking {
            told.insert(m.peer, s);
        }
        if let Some(muted) = m.muted {
            activity.muted_peers.insert(m.peer, muted);
        }
    }
    for PeerGone(peer) in gone.read() {
        told.remove(peer);
        activity.muted_peers.remove(peer);
        activity.speaking.remove(peer);
        if let Some(thread) = &thread
            && let Ok(mut list) = thread.shared.gone.lock()
        {
            list.push(*peer);
        }
    }
    let heard = thread
        .as_ref()
        .and_then(|t| t.shared.snapshot.try_lock().ok().map(|s| s.clone()));
    let was_speaking = activity.local_speaking;
    let mut speaking: HashMap<PeerId, bool> = told.clone();
    if let Some(heard) = heard {
        // For a peer whose voice arrives here, what is heard wins over what it said: it is
        // what the listener hears now. Peers not heard (yet) keep what they said.
        speaking.extend(heard.peers);
        activity.local_speaking = heard.local_speaking && !activity.muted;
        activity.local_level_db = heard.local_level_db;
        activity.packets_received = heard.packets_received;
        activity.packets_sent = heard.packets_sent;
    }
    if activity.speaking != speaking {
        activity.speaking = speaking;
    }
    if activity.local_speaking != was_speaking {
        out.write(SendControl(Control::Speaking {
            speaking: activity.local_speaking,
        }));
    }
}
