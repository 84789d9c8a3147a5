//! What the patient sees, in the therapist's window: a second camera at the patient's streamed
//! head pose renders the same room and scene (the mirror of the patient's scene state) into a
//! texture, shown in the corner beside the therapist's own view. No video: it costs only the
//! pose channel the avatars already use.
//!
//! The camera's near plane sits past the patient's own head, so the inside of the avatar's head
//! does not hide the view; the patient's hands show, as the patient sees them.

use bevy::asset::RenderAssetUsages;
use bevy::camera::RenderTarget;
use bevy::camera::visibility::RenderLayers;
use bevy::prelude::*;
use bevy::render::render_resource::{TextureDimension, TextureFormat, TextureUsages};
use haven_proto::signal::Role;

use super::FlatCamera;
use crate::avatar::{AvatarPart, AvatarSystems, RemoteAvatar};
use crate::button::RoomButton;
use crate::scenes::Scenes;
use crate::session::SessionFigures;

/// The view's size in pixels (16:9, as the patient's window).
pub const VIEW_SIZE: UVec2 = UVec2::new(480, 270);

/// The layer of what only this window shows (its own in-room buttons): the window's camera
/// sees it, the patient's view does not (the patient never sees the therapist's buttons).
const OWN_LAYER: usize = 1;

/// The near plane of the patient's view: past the avatar's head sphere (0.11 m).
const NEAR: f32 = 0.15;

/// The patient's view for a therapist.
#[derive(Debug, Default)]
pub struct PatientViewPlugin;

impl Plugin for PatientViewPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(
            Update,
            (spawn, own_things, follow_head, show)
                .chain()
                .run_if(super::flat_active)
                .after(AvatarSystems::Place)
                .after(crate::scenes::SceneSystems),
        );
    }
}

/// The camera at the patient's head.
#[derive(Component, Debug)]
pub struct PatientViewCamera;

/// The picture of what the patient sees, in the window's corner.
#[derive(Component, Debug)]
pub struct PatientViewPicture;

fn spawn(
    mut commands: Commands<'_, '_>,
    figures: Res<'_, SessionFigures>,
    cameras: Query<'_, '_, (), With<PatientViewCamera>>,
    images: Option<ResMut<'_, Assets<Image>>>,
) {
    let (Some(me), Some(mut images)) = (figures.me, images) else {
        return;
    };
    if me.role != Role::Therapist || !cameras.is_empty() {
        return;
    }
    let mut image = Image::new_fill(
        bevy::render::render_resource::Extent3d {
            width: VIEW_SIZE.x,
            height: VIEW_SIZE.y,
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        &[0, 0, 0, 255],
        TextureFormat::Bgra8UnormSrgb,
        RenderAssetUsages::default(),
    );
    image.texture_descriptor.usage = TextureUsages::TEXTURE_BINDING
        | TextureUsages::COPY_DST
        | TextureUsages::COPY_SRC
        | TextureUsages::RENDER_ATTACHMENT;
    let image = images.add(image);
    commands.spawn((
        PatientViewCamera,
        Camera3d::default(),
        Camera {
            // Before the window's own camera, so the picture is ready when the UI draws it.
            order: -1,
            is_active: false,
            ..default()
        },
        RenderTarget::Image(image.clone().into()),
        Projection::Perspective(PerspectiveProjection {
            near: NEAR,
            ..default()
        }),
        Transform::default(),
    ));
    commands
        .spawn((
            PatientViewPicture,
            Node {
                position_type: PositionType::Absolute,
                right: px(12),
                bottom: px(64),
                flex_direction: FlexDirection::Column,
                padding: UiRect::all(px(4)),
                row_gap: px(2),
                border_radius: BorderRadius::all(px(6)),
                ..default()
            },
            BackgroundColor(Color::srgba(0.97, 0.97, 0.95, 0.92)),
            Visibility::Hidden,
        ))
        .with_children(|p| {
            p.spawn(super::label(
                "What the patient sees",
                13.0,
                Color::srgb(0.13, 0.16, 0.20),
            ));
            p.spawn((
                ImageNode::new(image),
                Node {
                    width: px(VIEW_SIZE.x),
                    height: px(VIEW_SIZE.y),
                    ..default()
                },
            ));
        });
}

/// An in-room button drawn and not yet given a layer.
type NewButton = (With<RoomButton>, With<Mesh3d>, Without<RenderLayers>);

/// This window's own in-room buttons go on [`OWN_LAYER`], which the window's camera sees and
/// the patient's view does not.
fn own_things(
    mut commands: Commands<'_, '_>,
    view: Query<'_, '_, (), With<PatientViewCamera>>,
    window: Query<'_, '_, Entity, (With<FlatCamera>, Without<RenderLayers>)>,
    buttons: Query<'_, '_, Entity, NewButton>,
    mut gizmos: ResMut<'_, GizmoConfigStore>,
) {
    if view.is_empty() {
        return;
    }
    let (labels, _) = gizmos.config_mut::<crate::world_panel::ButtonLabels>();
    if labels.render_layers != RenderLayers::layer(OWN_LAYER) {
        labels.render_layers = RenderLayers::layer(OWN_LAYER);
    }
    for camera in &window {
        commands
            .entity(camera)
            .insert(RenderLayers::from_layers(&[0, OWN_LAYER]));
    }
    for button in &buttons {
        commands
            .entity(button)
            .insert(RenderLayers::layer(OWN_LAYER));
    }
}

/// The camera takes the patient's head pose (root and head part, composed: propagation runs
/// later in the frame), without the head's drawn scale.
fn follow_head(
    scenes: Res<'_, Scenes>,
    figures: Res<'_, SessionFigures>,
    avatars: Query<'_, '_, (&RemoteAvatar, &Transform, &Children), Without<PatientViewCamera>>,
    parts: Query<'_, '_, (&AvatarPart, &Transform), Without<PatientViewCamera>>,
    mut camera: Query<'_, '_, (&mut Camera, &mut Transform), With<PatientViewCamera>>,
) {
    let Ok((mut camera, mut at)) = camera.single_mut() else {
        return;
    };
    let head = scenes.patient_in(&figures).and_then(|peer| {
        let (_, root, children) = avatars.iter().find(|(a, _, _)| a.peer == peer)?;
        children.iter().find_map(|child| match parts.get(child) {
            // Place and turn only: the head's drawn scale (a flattened sphere) would
            // stretch the view.
            Ok((AvatarPart::Head, head)) => {
                let at = root.mul_transform(*head);
                Some(Transform::from_translation(at.translation).with_rotation(at.rotation))
            }
            _ => None,
        })
    });
    // No pose yet (or no patient): nothing to render.
    let active = head.is_some() && scenes.player.showing().is_some();
    if camera.is_active != active {
        camera.is_active = active;
    }
    if let Some(head) = head {
        *at = head;
    }
}

/// The picture shows while the patient is in a scene (or the safe room) and its pose arrives.
fn show(
    camera: Query<'_, '_, &Camera, With<PatientViewCamera>>,
    mut picture: Query<'_, '_, &mut Visibility, With<PatientViewPicture>>,
) {
    let (Ok(camera), Ok(mut visibility)) = (camera.single(), picture.single_mut()) else {
        return;
    };
    visibility.set_if_neq(if camera.is_active {
        Visibility::Inherited
    } else {
        Visibility::Hidden
    });
}
