//! Voice in the room: `haven_voice`'s voice thread on its own 10 ms clock (capture → encode →
//! send; receive → jitter buffer → mix → speakers), so it never waits for a frame and a slow
//! frame never makes a gap in what is heard. The frame loop only reads the voice-activity levels (for the speaking
//! indicator), flips mute, and tells the peers when the local person starts or stops speaking.

use std::collections::HashMap;

use bevy::prelude::*;
use haven_proto::control::Control;
use haven_proto::signal::PeerId;
use haven_session::VoiceLink;
use haven_voice::engine::EngineOptions;
use haven_voice::sink::Sink;
use haven_voice::source::Source;
use haven_voice::thread::{VoiceOptions, VoiceThreadError};

use crate::button::{Pressed, RoomButton};
use crate::session::{ControlReceived, PeerLeft, SendControl};

/// The running voice thread (`haven_voice`'s runner on the session's voice link). Dropping it
/// stops the thread.
#[derive(Resource, Debug)]
pub struct VoiceThread(pub haven_voice::thread::VoiceThread<PeerId>);

impl VoiceThread {
    /// Starts the voice thread on `link`, capturing from `source` and playing into `sink`.
    pub fn start(
        link: VoiceLink,
        options: EngineOptions,
        source: Box<dyn Source>,
        sink: Box<dyn Sink>,
    ) -> Result<Self, VoiceThreadError> {
        let options = VoiceOptions {
            engine: options,
            live: true,
        };
        haven_voice::thread::VoiceThread::spawn(options, source, sink, link).map(Self)
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
    /// Remote peers' voice levels as heard here, dBFS (the avatars' mouths follow them).
    pub levels: HashMap<PeerId, f32>,
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

/// The voice feature's systems. A peer that left is forgotten by the voice thread here,
/// before the scene's sound changes for it (the scenes run after), so no frame plays a new
/// sound with a departed peer's voice.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VoiceSystems;

impl Plugin for VoicePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<VoiceActivity>()
            .add_message::<SetMuted>()
            .add_systems(Startup, add_mute_button)
            .add_systems(
                Update,
                (press_mute, apply_mute, read_activity, label_mute_button)
                    .chain()
                    .in_set(VoiceSystems),
            );
    }
}

/// The in-room mute button.
#[derive(Component, Debug)]
struct MuteButton;

fn add_mute_button(mut commands: Commands<'_, '_>) {
    commands.spawn((
        MuteButton,
        RoomButton {
            label: "Mute".to_owned(),
            colour: Color::srgb(0.90, 0.92, 0.93),
            order: 0,
        },
    ));
}

fn press_mute(
    mut pressed: MessageReader<'_, '_, Pressed>,
    buttons: Query<'_, '_, (), With<MuteButton>>,
    activity: Res<'_, VoiceActivity>,
    mut mute: MessageWriter<'_, SetMuted>,
) {
    for Pressed(button) in pressed.read() {
        if buttons.contains(*button) {
            mute.write(SetMuted(!activity.muted));
        }
    }
}

fn label_mute_button(
    activity: Res<'_, VoiceActivity>,
    mut buttons: Query<'_, '_, &mut RoomButton, With<MuteButton>>,
) {
    let label = if activity.muted { "Unmute" } else { "Mute" };
    for mut button in &mut buttons {
        if button.label != label {
            label.clone_into(&mut button.label);
        }
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
            thread.0.set_muted(muted);
        }
        out.write(SendControl(Control::Muted { muted }));
    }
}

fn read_activity(
    thread: Option<Res<'_, VoiceThread>>,
    mut said: MessageReader<'_, '_, ControlReceived>,
    mut gone: MessageReader<'_, '_, PeerLeft>,
    mut activity: ResMut<'_, VoiceActivity>,
    mut out: MessageWriter<'_, SendControl>,
    mut told: Local<'_, HashMap<PeerId, bool>>,
) {
    for m in said.read() {
        match m.message {
            Control::Speaking { speaking } => {
                told.insert(m.from, speaking);
            }
            Control::Muted { muted } => {
                activity.muted_peers.insert(m.from, muted);
            }
            _ => {}
        }
    }
    for PeerLeft(peer) in gone.read() {
        told.remove(peer);
        activity.muted_peers.remove(peer);
        activity.speaking.remove(peer);
        activity.levels.remove(peer);
        if let Some(thread) = &thread {
            thread.0.forget(*peer);
        }
    }
    let heard = thread.as_ref().and_then(|t| t.0.try_snapshot());
    let was_speaking = activity.local_speaking;
    let mut speaking: HashMap<PeerId, bool> = told.clone();
    if let Some(heard) = heard {
        // For a peer whose voice arrives here, what is heard wins over what it said: it is
        // what the listener hears now. Peers not heard (yet) keep what they said.
        speaking.extend(heard.peers);
        activity.levels = heard.levels;
        activity.local_speaking = heard.local_speaking && !activity.muted;
        activity.local_level_db = heard.local_level_db;
        activity.packets_received = heard.figures.frames_received;
        activity.packets_sent = heard.figures.frames_sent;
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
