//! Consults stepped by hand, for tests: a [`ConsultStepper`] holds two or three room apps
//! (clinician, patient, later therapist), each headless on `MinimalPlugins` with manual time,
//! joined to one in-memory session hub (`haven_session::loopback`), and steps them explicitly:
//! every app runs one frame (its requests reach the hub), then the hub delivers (the others
//! see them in their next frame). Nothing waits on a clock or a socket, so a two-sided test
//! runs in milliseconds and the same way every time.

#[cfg(test)]
mod scenes;
#[cfg(test)]
mod sharing;
#[cfg(test)]
mod therapy;

use std::time::Duration;

use bevy::asset::AssetPlugin;
use bevy::gizmos::{AppGizmoBuilder as _, GizmoAsset};
use bevy::mesh::Mesh;
use bevy::pbr::StandardMaterial;
use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use haven_proto::signal::{PeerId, Role, RoomId};
use haven_session::loopback::LoopbackHub;

use crate::RoomPlugins;
use crate::session::{SessionFigures, SessionLink};

/// What a headless room app needs and no more: `MinimalPlugins`, assets for meshes and
/// materials, the default gizmo group (not the whole gizmo plugin, whose skinned-mesh and
/// frustum parts want the renderer's assets), and time advanced by `step` each update.
pub fn headless_app(step: Duration) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default()))
        .init_asset::<GizmoAsset>()
        .init_gizmo_group::<DefaultGizmoConfigGroup>()
        .init_asset::<Mesh>()
        .init_asset::<StandardMaterial>()
        .init_asset::<Image>()
        .insert_resource(TimeUpdateStrategy::ManualDuration(step));
    app
}

/// What a participant proves and checks of clinic credentials (see `haven_signal::clinic`).
#[derive(Debug, Default)]
pub struct Trust {
    /// Its own credential (a clinician or therapist).
    pub identity: Option<std::sync::Arc<haven_signal::clinic::Identity>>,
    /// The clinic it checks clinicians and therapists against (a patient's invite names it).
    pub clinic: Option<haven_signal::clinic::ClinicPublicKey>,
}

/// One participant of a stepped consult.
#[derive(Debug)]
pub struct Participant {
    /// Its role.
    pub role: Role,
    /// Its peer id on the hub.
    pub peer: PeerId,
    /// Its room app.
    pub app: App,
}

/// Two or three room apps side by side over an in-memory session hub, stepped explicitly.
#[derive(Debug)]
pub struct ConsultStepper {
    /// The hub the apps' sessions are joined to (tests cut participants off through it).
    pub hub: LoopbackHub,
    /// The participants, in the order they joined.
    pub participants: Vec<Participant>,
}

/// A scratch folder for a test, removed when dropped.
#[cfg(test)]
pub(crate) struct Scratch(pub(crate) std::path::PathBuf);

#[cfg(test)]
impl Scratch {
    pub(crate) fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("haven-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        Self(dir)
    }
}

#[cfg(test)]
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A frame: 10 ms of manual time.
pub const FRAME: Duration = Duration::from_millis(10);

impl ConsultStepper {
    /// A consult with one participant per role, in this order, each app set up by `setup`
    /// (called before the room's plugins are added: insert settings there) and joined.
    pub fn new(roles: &[Role], setup: impl FnMut(Role, &mut App)) -> Self {
        Self::new_checked(roles, setup, |_| Trust::default())
    }

    /// Like [`ConsultStepper::new`], each participant with the clinic credential it proves
    /// and the clinic it checks others against (`trust`).
    pub fn new_checked(
        roles: &[Role],
        mut setup: impl FnMut(Role, &mut App),
        mut trust: impl FnMut(Role) -> Trust,
    ) -> Self {
        let mut hub = LoopbackHub::new("stepped".parse::<RoomId>().expect("a valid room id"));
        let mut participants = Vec::new();
        for &role in roles {
            let mut app = headless_app(FRAME);
            setup(role, &mut app);
            app.add_plugins(RoomPlugins);
            let Trust { identity, clinic } = trust(role);
            let session = hub.join_checked(role, identity, clinic);
            app.insert_resource(SessionLink::new(session));
            participants.push(Participant {
                role,
                peer: PeerId(0),
                app,
            });
        }
        let mut stepper = Self { hub, participants };
        // Until every app has been welcomed and sees the others connected.
        let expected = roles.len().saturating_sub(1);
        let joined = stepper.step_until(20, |s| {
            s.participants.iter().all(|p| {
                let figures = p.app.world().resource::<SessionFigures>();
                figures.me.is_some() && figures.connected.len() == expected
            })
        });
        assert!(
            joined,
            "every participant joined and connected within 20 frames"
        );
        for p in &mut stepper.participants {
            p.peer = p
                .app
                .world()
                .resource::<SessionFigures>()
                .me
                .expect("welcomed")
                .id;
        }
        stepper
    }

    /// A participant who joins later, its app set up by `setup`; steps until everyone sees it
    /// connected (bounded). Returns its peer id.
    pub fn join(&mut self, role: Role, setup: impl FnOnce(&mut App)) -> PeerId {
        self.join_checked(role, setup, Trust::default())
    }

    /// Like [`ConsultStepper::join`], with a clinic credential and a clinic to check against.
    pub fn join_checked(
        &mut self,
        role: Role,
        setup: impl FnOnce(&mut App),
        trust: Trust,
    ) -> PeerId {
        let mut app = headless_app(FRAME);
        setup(&mut app);
        app.add_plugins(RoomPlugins);
        let session = self.hub.join_checked(role, trust.identity, trust.clinic);
        app.insert_resource(SessionLink::new(session));
        self.participants.push(Participant {
            role,
            peer: PeerId(0),
            app,
        });
        let expected = self.participants.len() - 1;
        let joined = self.step_until(20, |s| {
            s.participants.iter().all(|p| {
                let figures = p.app.world().resource::<SessionFigures>();
                figures.me.is_some() && figures.connected.len() == expected
            })
        });
        assert!(joined, "the newcomer joined and connected within 20 frames");
        let newcomer = self.participants.last_mut().expect("just joined");
        newcomer.peer = newcomer
            .app
            .world()
            .resource::<SessionFigures>()
            .me
            .expect("welcomed")
            .id;
        newcomer.peer
    }

    /// The first participant in `role`.
    pub fn get(&mut self, role: Role) -> &mut Participant {
        self.participants
            .iter_mut()
            .find(|p| p.role == role)
            .expect("a participant in that role")
    }

    /// The app of the first participant in `role`.
    pub fn app(&mut self, role: Role) -> &mut App {
        &mut self.get(role).app
    }

    /// One frame everywhere: every app updates (its requests reach the hub), then the hub
    /// delivers them.
    pub fn step(&mut self) {
        for p in &mut self.participants {
            p.app.update();
        }
        self.hub.pump();
    }

    /// Steps until `done` holds (checked before each step), at most `frames` times; whether it
    /// came to hold.
    pub fn step_until(&mut self, frames: usize, mut done: impl FnMut(&mut Self) -> bool) -> bool {
        for _ in 0..frames {
            if done(self) {
                return true;
            }
            self.step();
        }
        done(self)
    }

    /// `frames` frames everywhere.
    pub fn steps(&mut self, frames: usize) {
        for _ in 0..frames {
            self.step();
        }
    }
}
