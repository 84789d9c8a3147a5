//! Haven's XR front end, on bevy_mod_openxr.
//!
//! [`with_xr`] wraps Bevy's default plugins in bevy_mod_openxr's when the user asked for XR.
//! If OpenXR cannot start (no runtime installed, no headset), bevy_mod_openxr logs its error and
//! installs the normal renderer; [`XrFrontEndPlugin`] then logs one line saying the app runs
//! flat, and the flat front end takes over. When it can, the headset drives the local head
//! (the mean of the two eye views), the controllers' grip poses the hands, and the right
//! controller's aim pose with its trigger the shared pointer, and the two grips squeezed
//! (`LocalGrips`: both for half a second take a patient to the safe room), all through the
//! same local rig the flat front end writes: the room does not know which one runs. If the XR session does
//! not start within [`START_TIMEOUT_S`], or ends, the app falls back to flat the same way.

use std::ops::Deref as _;

use bevy::app::PluginGroupBuilder;
use bevy::prelude::*;
use bevy_mod_openxr::action_binding::{OxrSendActionBindings, OxrSuggestActionBinding};
use bevy_mod_openxr::action_set_attaching::OxrAttachActionSet;
use bevy_mod_openxr::action_set_syncing::{OxrActionSetSyncSet, OxrSyncActionSet};
use bevy_mod_openxr::resources::OxrInstance;
use bevy_mod_openxr::session::OxrSession;
use bevy_mod_openxr::{add_xr_plugins, openxr_session_running};
use bevy_mod_xr::camera::XrCamera;
use bevy_mod_xr::session::{XrSessionCreated, XrState, XrTracker, XrTrackingRoot};
use bevy_mod_xr::spaces::XrSpaceLocationFlags;
use haven_app::FrontEnd;
use haven_app::layout::Seat;
use haven_app::rig::{LocalGrips, LocalHand, LocalHead, LocalPointer, LocalStick, Side};

/// How long the XR session may take to start before the app runs flat instead, seconds.
pub const START_TIMEOUT_S: f64 = 20.0;

/// Bevy's default plugins, wrapped in bevy_mod_openxr's when `xr` is asked for.
pub fn with_xr(defaults: PluginGroupBuilder, xr: bool) -> PluginGroupBuilder {
    if xr {
        add_xr_plugins(defaults)
    } else {
        defaults
    }
}

/// Picks the front end from whether OpenXR started; drives the local rig from the headset.
/// Add it after the plugins from [`with_xr`].
#[derive(Debug, Default)]
pub struct XrFrontEndPlugin;

impl Plugin for XrFrontEndPlugin {
    fn build(&self, app: &mut App) {
        let front = match app.world().get_resource::<XrState>() {
            // XR was not asked for.
            None => FrontEnd::Flat,
            Some(XrState::Unavailable) => {
                warn!(
                    "XR: OpenXR could not start (no runtime or no headset; the reason is logged \
                     above), so Haven runs in the flat window"
                );
                FrontEnd::Flat
            }
            Some(_) => FrontEnd::Xr,
        };
        app.insert_resource(front);
        if front == FrontEnd::Flat {
            return;
        }
        app.add_systems(Startup, (create_actions, place_tracking_root))
            // A group room's patient is seated once the welcome says where.
            .add_systems(
                Update,
                place_tracking_root.run_if(resource_exists_and_changed::<Seat>),
            )
            .add_systems(OxrSendActionBindings, suggest_bindings)
            .add_systems(XrSessionCreated, (attach_actions, spawn_rig))
            .add_systems(
                PreUpdate,
                sync_actions
                    .before(OxrActionSetSyncSet)
                    .run_if(openxr_session_running.and_then(resource_exists::<Controllers>)),
            )
            .add_systems(
                Update,
                read_controllers
                    .before(drive_rig)
                    .run_if(openxr_session_running.and_then(resource_exists::<Controllers>)),
            );
        add_rig_systems(app);
    }
}

/// What bevy_mod_openxr gives the rig, turned into the room's rig: the eye views, the
/// controllers' spaces with their location flags and [`ControllerState`] drive the head,
/// hands, pointer, grips and stick while the session runs; the session's state decides when
/// to fall back to flat. Nothing here calls OpenXR, so tests drive it by writing those.
fn add_rig_systems(app: &mut App) {
    app.init_resource::<ControllerState>().add_systems(
        Update,
        (
            drive_rig.run_if(|state: Option<Res<'_, XrState>>| {
                state.is_some_and(|s| *s == XrState::Running)
            }),
            fall_back_to_flat,
        )
            .chain(),
    );
}

/// The controllers' buttons as this frame's action states say (false and 0 when a binding is
/// inactive: no controller, or one without that input).
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq)]
struct ControllerState {
    /// The right trigger (select).
    select: bool,
    left_squeeze: bool,
    right_squeeze: bool,
    /// The right thumbstick (or trackpad), up and down, −1 to 1.
    stick_y: f32,
}

/// The controllers' actions.
#[derive(Resource)]
struct Controllers {
    set: openxr::ActionSet,
    left_grip: openxr::Action<openxr::Posef>,
    right_grip: openxr::Action<openxr::Posef>,
    right_aim: openxr::Action<openxr::Posef>,
    select: openxr::Action<bool>,
    /// The grips squeezed (both, half a second: the patient's way to the safe room).
    left_squeeze: openxr::Action<bool>,
    right_squeeze: openxr::Action<bool>,
    /// The right thumbstick (a trackpad on the Vive): flicked up or down, it moves a rating.
    right_stick: openxr::Action<openxr::Vector2f>,
}

#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
enum Tracked {
    Grip(Side),
    Aim,
}

fn create_actions(
    mut commands: Commands<'_, '_>,
    instance: Option<Res<'_, OxrInstance>>,
    mut front: ResMut<'_, FrontEnd>,
) {
    let Some(instance) = instance else {
        return;
    };
    let made = (|| -> openxr::Result<Controllers> {
        let set = instance.create_action_set("haven", "Haven", 0)?;
        Ok(Controllers {
            left_grip: set.create_action("left_grip", "Left hand", &[])?,
            right_grip: set.create_action("right_grip", "Right hand", &[])?,
            right_aim: set.create_action("right_aim", "Pointer", &[])?,
            select: set.create_action("select", "Point", &[])?,
            left_squeeze: set.create_action("left_squeeze", "Left grip", &[])?,
            right_squeeze: set.create_action("right_squeeze", "Right grip", &[])?,
            right_stick: set.create_action("right_stick", "Rating up and down", &[])?,
            set,
        })
    })();
    match made {
        Ok(c) => commands.insert_resource(c),
        Err(e) => {
            warn!(
                "XR: the controllers could not be set up ({e}), so Haven runs in the flat window"
            );
            *front = FrontEnd::Flat;
        }
    }
}

fn suggest_bindings(
    controllers: Option<Res<'_, Controllers>>,
    mut bindings: MessageWriter<'_, OxrSuggestActionBinding>,
) {
    let Some(c) = controllers else {
        return;
    };
    // The grips, where the controller has them (the simple controller has none).
    for (profile, squeeze) in [
        (
            "/interaction_profiles/oculus/touch_controller",
            "squeeze/value",
        ),
        (
            "/interaction_profiles/valve/index_controller",
            "squeeze/value",
        ),
        ("/interaction_profiles/htc/vive_controller", "squeeze/click"),
    ] {
        for (action, side) in [
            (c.left_squeeze.as_raw(), "left"),
            (c.right_squeeze.as_raw(), "right"),
        ] {
            bindings.write(OxrSuggestActionBinding {
                action,
                interaction_profile: profile.into(),
                bindings: vec![format!("/user/hand/{side}/input/{squeeze}").into()],
            });
        }
    }
    // The right thumbstick (the Vive's trackpad).
    for (profile, stick) in [
        (
            "/interaction_profiles/oculus/touch_controller",
            "thumbstick",
        ),
        ("/interaction_profiles/valve/index_controller", "thumbstick"),
        ("/interaction_profiles/htc/vive_controller", "trackpad"),
    ] {
        bindings.write(OxrSuggestActionBinding {
            action: c.right_stick.as_raw(),
            interaction_profile: profile.into(),
            bindings: vec![format!("/user/hand/right/input/{stick}").into()],
        });
    }
    // Each profile the common headsets' controllers speak; the runtime picks the one in hand.
    for (profile, select) in [
        (
            "/interaction_profiles/khr/simple_controller",
            "select/click",
        ),
        (
            "/interaction_profiles/oculus/touch_controller",
            "trigger/value",
        ),
        (
            "/interaction_profiles/valve/index_controller",
            "trigger/click",
        ),
        ("/interaction_profiles/htc/vive_controller", "trigger/click"),
    ] {
        for (action, path) in [
            (
                c.left_grip.as_raw(),
                "/user/hand/left/input/grip/pose".to_owned(),
            ),
            (
                c.right_grip.as_raw(),
                "/user/hand/right/input/grip/pose".to_owned(),
            ),
            (
                c.right_aim.as_raw(),
                "/user/hand/right/input/aim/pose".to_owned(),
            ),
            (
                c.select.as_raw(),
                format!("/user/hand/right/input/{select}"),
            ),
        ] {
            bindings.write(OxrSuggestActionBinding {
                action,
                interaction_profile: profile.into(),
                bindings: vec![path.into()],
            });
        }
    }
}

/// The tracking space's floor sits under the local seat, facing across the table.
fn place_tracking_root(
    seat: Option<Res<'_, Seat>>,
    mut root: Query<'_, '_, &mut Transform, With<XrTrackingRoot>>,
) {
    let seat = seat.map(|s| *s).unwrap_or_default();
    let floor = Vec3::new(seat.eyes.x, 0.0, seat.eyes.z);
    let ahead = Vec3::new(seat.looks_at.x, 0.0, seat.looks_at.z);
    for mut t in &mut root {
        *t = Transform::from_translation(floor).looking_at(ahead, Vec3::Y);
    }
}

fn attach_actions(
    controllers: Option<Res<'_, Controllers>>,
    mut attach: MessageWriter<'_, OxrAttachActionSet>,
) {
    if let Some(c) = controllers {
        attach.write(OxrAttachActionSet(c.set.clone()));
    }
}

fn spawn_rig(
    mut commands: Commands<'_, '_>,
    controllers: Option<Res<'_, Controllers>>,
    session: Res<'_, OxrSession>,
    heads: Query<'_, '_, (), With<LocalHead>>,
) {
    let Some(c) = controllers else {
        return;
    };
    if heads.is_empty() {
        spawn_local_rig(&mut commands);
    }
    for (action, which) in [
        (&c.left_grip, Tracked::Grip(Side::Left)),
        (&c.right_grip, Tracked::Grip(Side::Right)),
        (&c.right_aim, Tracked::Aim),
    ] {
        match session.create_action_space(action, openxr::Path::NULL, Isometry3d::IDENTITY) {
            Ok(space) => {
                commands.spawn((space, which, XrTracker, Transform::default()));
            }
            Err(e) => warn!("XR: a controller space could not be made ({e})"),
        }
    }
}

/// The local head and hands the headset moves (the hands untracked until a controller is).
fn spawn_local_rig(commands: &mut Commands<'_, '_>) {
    commands.spawn((LocalHead, Transform::default()));
    for side in [Side::Left, Side::Right] {
        commands.spawn((
            LocalHand {
                side,
                tracked: false,
            },
            Transform::default(),
        ));
    }
}

fn sync_actions(controllers: Res<'_, Controllers>, mut sync: MessageWriter<'_, OxrSyncActionSet>) {
    sync.write(OxrSyncActionSet(controllers.set.clone()));
}

/// Reads the controllers' action states (the one part of the rig that calls OpenXR).
fn read_controllers(
    controllers: Res<'_, Controllers>,
    session: Res<'_, OxrSession>,
    mut state: ResMut<'_, ControllerState>,
) {
    let held = |action: &openxr::Action<bool>| {
        action
            .state(session.deref(), openxr::Path::NULL)
            .is_ok_and(|s| s.is_active && s.current_state)
    };
    let stick_y = controllers
        .right_stick
        .state(session.deref(), openxr::Path::NULL)
        .ok()
        .filter(|s| s.is_active && s.current_state.y.is_finite())
        .map_or(0.0, |s| s.current_state.y.clamp(-1.0, 1.0));
    let next = ControllerState {
        select: held(&controllers.select),
        left_squeeze: held(&controllers.left_squeeze),
        right_squeeze: held(&controllers.right_squeeze),
        stick_y,
    };
    if *state != next {
        *state = next;
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one system: the headset's state into the rig"
)]
fn drive_rig(
    controls: Res<'_, ControllerState>,
    eyes: Query<'_, '_, &GlobalTransform, With<XrCamera>>,
    tracked: Query<'_, '_, (&Tracked, &GlobalTransform, &XrSpaceLocationFlags)>,
    mut head: Query<'_, '_, &mut Transform, (With<LocalHead>, Without<LocalHand>)>,
    mut hands: Query<'_, '_, (&mut LocalHand, &mut Transform), Without<LocalHead>>,
    mut pointer: ResMut<'_, LocalPointer>,
    mut grips: ResMut<'_, LocalGrips>,
    mut stick: ResMut<'_, LocalStick>,
) {
    // The head between the eyes.
    let views: Vec<Transform> = eyes.iter().map(|g| g.compute_transform()).collect();
    if let (Some(first), Ok(mut h)) = (views.first(), head.single_mut()) {
        let n = views.len() as f32;
        h.translation = views.iter().map(|v| v.translation).sum::<Vec3>() / n;
        h.rotation = views
            .iter()
            .skip(1)
            .fold(first.rotation, |acc, v| acc.slerp(v.rotation, 1.0 / n));
    }
    let mut aim = None;
    for (which, at, flags) in &tracked {
        let known = flags.position_tracked && flags.rotation_tracked;
        match which {
            Tracked::Grip(side) => {
                for (mut hand, mut t) in &mut hands {
                    if hand.side == *side {
                        hand.tracked = known;
                        if known {
                            *t = at.compute_transform();
                        }
                    }
                }
            }
            Tracked::Aim if known => aim = Some(at.compute_transform()),
            Tracked::Aim => {}
        }
    }
    let pressed = controls.select;
    let squeezed = LocalGrips {
        left: controls.left_squeeze,
        right: controls.right_squeeze,
    };
    if *grips != squeezed {
        *grips = squeezed;
    }
    let y = controls.stick_y;
    if stick.y != y {
        stick.y = y;
    }
    let next = match aim {
        Some(t) => LocalPointer {
            active: pressed,
            origin: t.translation,
            direction: t.forward().as_vec3(),
        },
        None => LocalPointer::default(),
    };
    if *pointer != next {
        *pointer = next;
    }
}

/// The local rig's entities (head and hands).
type RigFilter = Or<(With<LocalHead>, With<LocalHand>)>;

/// Runs flat when the XR session never starts or ends: the flat front end then spawns its
/// camera in the window.
fn fall_back_to_flat(
    mut commands: Commands<'_, '_>,
    rig: Query<'_, '_, Entity, RigFilter>,
    state: Option<Res<'_, XrState>>,
    time: Res<'_, Time<Real>>,
    mut front: ResMut<'_, FrontEnd>,
    mut was_running: Local<'_, bool>,
) {
    if *front != FrontEnd::Xr {
        return;
    }
    let state = state.map(|s| *s);
    let running = state == Some(XrState::Running);
    *was_running |= running;
    let why = match state {
        None | Some(XrState::Unavailable) => Some("OpenXR is not available"),
        Some(XrState::Exiting { .. } | XrState::Stopping) if *was_running => {
            Some("the headset session ended")
        }
        _ if !*was_running && time.elapsed_secs_f64() > START_TIMEOUT_S => {
            Some("the headset session did not start")
        }
        _ => None,
    };
    if let Some(why) = why {
        warn!("XR: {why}, so Haven runs in the flat window");
        // The flat front end brings its own rig.
        for entity in &rig {
            commands.entity(entity).despawn();
        }
        // Grips held when the headset went are not held in the window.
        commands.insert_resource(LocalGrips::default());
        commands.insert_resource(LocalStick::default());
        *front = FrontEnd::Flat;
    }
}

#[cfg(test)]
mod tests {
    //! No OpenXR runtime can be installed on these machines, so these put in what
    //! bevy_mod_openxr would write (the eye views, the controllers' spaces with their location
    //! flags, the action states, the session's state) and check the rig and the front end.

    use std::time::Duration;

    use haven_app::stepper::headless_app;

    use super::*;

    fn app(state: XrState) -> App {
        let mut app = headless_app(Duration::from_secs(1));
        app.init_resource::<LocalPointer>()
            .init_resource::<LocalGrips>()
            .init_resource::<LocalStick>()
            .insert_resource(FrontEnd::Xr)
            .insert_resource(state);
        add_rig_systems(&mut app);
        app.add_systems(Startup, |mut commands: Commands<'_, '_>| {
            spawn_local_rig(&mut commands);
        });
        app
    }

    fn at(x: f32, y: f32, z: f32, yaw: f32) -> GlobalTransform {
        GlobalTransform::from(
            Transform::from_xyz(x, y, z).with_rotation(Quat::from_rotation_y(yaw)),
        )
    }

    fn flags(tracked: bool) -> XrSpaceLocationFlags {
        XrSpaceLocationFlags {
            position_tracked: tracked,
            rotation_tracked: tracked,
        }
    }

    fn head(app: &mut App) -> Transform {
        let world = app.world_mut();
        *world
            .query_filtered::<&Transform, With<LocalHead>>()
            .single(world)
            .expect("one head")
    }

    fn hand(app: &mut App, side: Side) -> (bool, Vec3) {
        let world = app.world_mut();
        world
            .query::<(&LocalHand, &Transform)>()
            .iter(world)
            .find(|(h, _)| h.side == side)
            .map(|(h, t)| (h.tracked, t.translation))
            .expect("the hand")
    }

    /// The head sits between the two eye views and turns with them; a tracked grip moves its
    /// hand; an untracked one leaves its hand untracked where it was (the avatar rests it in
    /// the lap); the aim with the trigger is the pointer; the grips and the stick go through.
    #[test]
    fn the_rig_follows_the_headset_and_the_controllers() {
        let mut app = app(XrState::Running);
        app.world_mut()
            .spawn((XrCamera(0), at(-0.032, 1.2, 0.5, 0.3)));
        app.world_mut()
            .spawn((XrCamera(1), at(0.032, 1.2, 0.5, 0.3)));
        app.world_mut().spawn((
            Tracked::Grip(Side::Left),
            at(-0.2, 0.9, 0.2, 0.0),
            flags(true),
        ));
        let right = app
            .world_mut()
            .spawn((
                Tracked::Grip(Side::Right),
                at(0.25, 0.95, 0.1, 0.0),
                flags(false),
            ))
            .id();
        let aim = app
            .world_mut()
            .spawn((Tracked::Aim, at(0.25, 0.95, 0.1, 0.0), flags(true)))
            .id();
        app.insert_resource(ControllerState {
            select: true,
            left_squeeze: true,
            right_squeeze: false,
            stick_y: 0.8,
        });
        app.update();

        let h = head(&mut app);
        assert!(
            h.translation.distance(Vec3::new(0.0, 1.2, 0.5)) < 1e-5,
            "{h:?}"
        );
        assert!(h.rotation.angle_between(Quat::from_rotation_y(0.3)) < 1e-4);
        assert_eq!(
            hand(&mut app, Side::Left),
            (true, Vec3::new(-0.2, 0.9, 0.2))
        );
        let (tracked, _) = hand(&mut app, Side::Right);
        assert!(
            !tracked,
            "an untracked controller leaves its hand untracked"
        );
        let pointer = *app.world().resource::<LocalPointer>();
        assert!(pointer.active, "the trigger turns the pointer on");
        assert!(pointer.origin.distance(Vec3::new(0.25, 0.95, 0.1)) < 1e-5);
        assert!(pointer.direction.distance(Vec3::NEG_Z) < 1e-5);
        assert_eq!(
            *app.world().resource::<LocalGrips>(),
            LocalGrips {
                left: true,
                right: false
            }
        );
        assert_eq!(app.world().resource::<LocalStick>().y, 0.8);

        // The right controller is found again; then the trigger is let go; then the aim is lost.
        app.world_mut().entity_mut(right).insert(flags(true));
        app.insert_resource(ControllerState::default());
        app.update();
        assert_eq!(
            hand(&mut app, Side::Right),
            (true, Vec3::new(0.25, 0.95, 0.1))
        );
        let pointer = *app.world().resource::<LocalPointer>();
        assert!(!pointer.active, "the trigger let go turns it off");
        assert!(pointer.direction.is_normalized(), "still aimed");
        app.world_mut().entity_mut(aim).insert(flags(false));
        app.update();
        assert_eq!(
            *app.world().resource::<LocalPointer>(),
            LocalPointer::default(),
            "no aim, no pointer"
        );
        assert_eq!(*app.world().resource::<FrontEnd>(), FrontEnd::Xr);
    }

    /// A session that never reaches running falls back to the flat window after the timeout,
    /// once: the headset's rig goes (the flat front end brings its own), held grips are let go.
    #[test]
    fn a_session_that_never_runs_falls_back_to_flat_once() {
        let mut app = app(XrState::Ready);
        app.insert_resource(LocalGrips {
            left: true,
            right: true,
        });
        let mut switched_at = None;
        for second in 0..(START_TIMEOUT_S as usize + 5) {
            app.update();
            if switched_at.is_none() && *app.world().resource::<FrontEnd>() == FrontEnd::Flat {
                switched_at = Some(second);
            }
        }
        let switched_at = switched_at.expect("it fell back");
        assert!(
            (START_TIMEOUT_S as usize - 1..=START_TIMEOUT_S as usize + 1).contains(&switched_at),
            "after about {START_TIMEOUT_S} s, not {switched_at}"
        );
        let world = app.world_mut();
        let rig = world.query_filtered::<(), RigFilter>().iter(world).count();
        assert_eq!(rig, 0, "the headset's rig is gone");
        assert_eq!(*app.world().resource::<LocalGrips>(), LocalGrips::default());
        // Once: a flat front end stays flat (a rig the window spawns is left alone).
        app.world_mut().spawn((LocalHead, Transform::default()));
        app.update();
        app.update();
        let world = app.world_mut();
        assert_eq!(
            world
                .query_filtered::<(), With<LocalHead>>()
                .iter(world)
                .count(),
            1
        );
    }

    /// A session that ran and then ends (the runtime stops it) falls back to flat at once; one
    /// that is still running does not, however long it runs.
    #[test]
    fn a_session_that_ends_falls_back_to_flat() {
        let mut app = app(XrState::Running);
        for _ in 0..(START_TIMEOUT_S as usize + 5) {
            app.update();
        }
        assert_eq!(*app.world().resource::<FrontEnd>(), FrontEnd::Xr);
        app.insert_resource(XrState::Stopping);
        app.update();
        assert_eq!(*app.world().resource::<FrontEnd>(), FrontEnd::Flat);
    }
}
