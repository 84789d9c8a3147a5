//! The bridge from the network to the frame loop: each frame drains what the session thread
//! delivered (never waiting) and turns it into messages the room's systems read.

use std::sync::Mutex;

use bevy::prelude::*;
use haven_proto::control::Control;
use haven_proto::signal::PeerId;
use haven_session::{Session, SessionEvent};

use crate::avatar::{AvatarChosen, PeerGone, PoseReceived};

/// The most events taken in one frame, so a flood cannot stall a frame.
const EVENTS_PER_FRAME: usize = 2_000;

/// The live session, owned by the app. The mutex is only ever taken by the frame loop.
#[derive(Resource, Debug)]
pub struct SessionLink(pub Mutex<Session>);

/// What the session has delivered so far (for the UI and the demo's figures).
#[derive(Resource, Debug, Default, Clone)]
pub struct SessionFigures {
    /// Pose updates received.
    pub poses_received: u64,
    /// Audio packets received.
    pub audio_frames_received: u64,
    /// Peers connected now.
    pub connected: Vec<PeerId>,
    /// Why the session ended, if it did.
    pub failed: Option<String>,
}

/// Drains the session into messages.
#[derive(Debug, Default)]
pub struct LinkPlugin;

impl Plugin for LinkPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<SessionFigures>().add_systems(
            PreUpdate,
            poll_session.run_if(resource_exists::<SessionLink>),
        );
    }
}

fn poll_session(
    link: Res<'_, SessionLink>,
    mut figures: ResMut<'_, SessionFigures>,
    mut poses: MessageWriter<'_, PoseReceived>,
    mut chosen: MessageWriter<'_, AvatarChosen>,
    mut gone: MessageWriter<'_, PeerGone>,
) {
    let Ok(mut session) = link.0.try_lock() else {
        return;
    };
    for _ in 0..EVENTS_PER_FRAME {
        let Some(event) = session.try_event() else {
            break;
        };
        match event {
            SessionEvent::Pose { from, update } => {
                figures.poses_received += 1;
                poses.write(PoseReceived { peer: from, update });
            }
            SessionEvent::Control {
                from,
                message: Control::Avatar(choice),
                ..
            } => {
                chosen.write(AvatarChosen { peer: from, choice });
            }
            SessionEvent::Audio { .. } => figures.audio_frames_received += 1,
            SessionEvent::PeerConnected(p) => figures.connected.push(p),
            SessionEvent::PeerLeft(p) => {
                figures.connected.retain(|&c| c != p);
                gone.write(PeerGone(p));
            }
            SessionEvent::Failed(why) => figures.failed = Some(why),
            _ => {}
        }
    }
}
