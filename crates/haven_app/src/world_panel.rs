//! The in-room buttons, laid out and pressed: every [`RoomButton`] a feature declares is
//! pressed with the pointer (in XR the controller's ray and trigger, in the flat window a
//! click). In the window the plain buttons stand in a row on the table's edge in front of the
//! local seat, by their `order`. In the headset they sit at the top of the board beside the
//! seat, above the board's lines ([`OnBoard`]: the patient's picker), where a seated person
//! reads them without turning their head far: about 0.7 m from the eyes, to the front left,
//! turned to face them, and placed from the seat, not the head, so it stays put when they
//! look around. A press is the pointer turning on while it hits a button.

use bevy::color::palettes::css;
use bevy::prelude::*;

use crate::button::{BoardLine, FrontEnd, OnBoard, PressButtons, Pressed, RoomButton};
use crate::hit::{HitBox, first_hit, on_box};
use crate::layout::Seat;
use crate::rig::LocalPointer;
use crate::text::Page;

/// Lays out and presses the in-room buttons.
#[derive(Debug, Default)]
pub struct WorldPanelPlugin;

impl Plugin for WorldPanelPlugin {
    fn build(&self, app: &mut App) {
        app.init_gizmo_group::<ButtonLabels>()
            .init_resource::<FrontEnd>()
            .add_systems(
                Update,
                (
                    dress,
                    lay_out,
                    write_lines,
                    press.in_set(PressButtons),
                    label,
                )
                    .chain(),
            );
    }
}

/// The buttons' labels are drawn in their own gizmo group, so a front end can keep them to the
/// cameras that see the buttons.
#[derive(Default, Reflect, GizmoConfigGroup)]
pub struct ButtonLabels;

const BUTTON: Vec3 = Vec3::new(0.16, 0.07, 0.02);
/// Where the first button stands from the seat's centre line, and the step to the next.
const FIRST_OFFSET: f32 = 0.33;
const STEP: f32 = 0.19;

/// The board: how wide, where its top is (from its centre), the pitch of its lines and of its
/// rows of plain buttons (three to a row).
const BOARD_WIDTH: f32 = 0.58;
const BOARD_TOP: f32 = 0.34;
const LINE: f32 = 0.036;
const INDENT: f32 = 0.03;
const ROW_PITCH: f32 = 0.09;
const PER_ROW: usize = 3;
/// A line's text: 1.8 cm letters, 1.5° at the board's distance (readable in today's headsets).
const LINE_PAGE: Page = Page {
    size: UVec2::new(768, 44),
    px: 25.0,
    line_px: 30.0,
    margin: 8.0,
    ink: [33, 41, 51, 255],
    paper: [0, 0, 0, 0],
    centred: false,
};
const PAPER: Color = Color::srgb(0.96, 0.96, 0.93);
const TICK_LINE: Color = Color::srgb(0.90, 0.93, 0.94);

/// The board's backing (it stops the ray, so a press never reaches what is behind it).
#[derive(Component)]
struct Backing;

/// Buttons not dressed yet, or changed since.
type Undressed = Or<(Without<HitBox>, Changed<RoomButton>, Changed<OnBoard>)>;

/// What the backing's layout writes.
type BackingParts = (Entity, &'static mut Transform, &'static mut HitBox);

/// A line's text, drawn on it.
#[derive(Component)]
struct LineText;

/// Where the board stands for a seat: 0.5 m ahead, 0.42 m to the left, 0.18 m below the eyes,
/// turned to face them.
pub fn board_frame(seat: Seat) -> Transform {
    let ahead = (seat.looks_at - seat.eyes)
        .with_y(0.0)
        .normalize_or(Vec3::NEG_Z);
    let left = Vec3::Y.cross(ahead);
    let centre = seat.eyes + ahead * 0.50 + left * 0.42 - Vec3::Y * 0.18;
    Transform::from_translation(centre).looking_at(centre + (centre - seat.eyes), Vec3::Y)
}

/// Where the way from `eyes` along `towards` (level) first comes over the table, 9 cm inside
/// its edge (the table spans x −0.7..0.7 and z −0.45..0.45): the slab test on the level
/// plane. From the 1:1 chairs, straight across the middle of a long side.
fn table_edge(eyes: Vec3, towards: Vec3) -> Vec3 {
    const INSIDE: Vec2 = Vec2::new(0.61, 0.36);
    let from = Vec2::new(eyes.x, eyes.z);
    let way = Vec2::new(towards.x, towards.z);
    let enters = |from: f32, way: f32, half: f32| {
        if way.abs() < 1e-4 {
            f32::NEG_INFINITY
        } else {
            ((-half - from) / way).min((half - from) / way)
        }
    };
    let t = enters(from.x, way.x, INSIDE.x)
        .max(enters(from.y, way.y, INSIDE.y))
        .max(0.0);
    let at = from + way * t;
    Vec3::new(at.x, 0.0, at.y)
}

/// A board line's size (narrower when indented).
fn line_size(indent: u8) -> Vec3 {
    Vec3::new(
        BOARD_WIDTH - 0.02 - f32::from(indent) * INDENT,
        LINE * 0.88,
        0.006,
    )
}

/// Gives each newly declared button its box and look, again when it changes (a line of the
/// board that is now a button, or indented).
fn dress(
    mut commands: Commands<'_, '_>,
    new: Query<'_, '_, (Entity, &RoomButton, Option<&OnBoard>), Undressed>,
    mut meshes: ResMut<'_, Assets<Mesh>>,
    mut materials: ResMut<'_, Assets<StandardMaterial>>,
) {
    for (entity, button, line) in &new {
        let (size, colour) = match line {
            None => (BUTTON, button.colour),
            Some(line) => (
                line_size(line.indent),
                match line.kind {
                    BoardLine::Text => PAPER,
                    BoardLine::Tick(_) => TICK_LINE,
                    BoardLine::Button => button.colour,
                },
            ),
        };
        commands.entity(entity).insert((
            HitBox::of_size(size),
            Mesh3d(meshes.add(Cuboid::from_size(size))),
            MeshMaterial3d(materials.add(StandardMaterial {
                base_color: colour,
                perceptual_roughness: 0.6,
                ..default()
            })),
        ));
    }
}

/// Places every button where the front end shows it (written only when it moves), and the
/// board's backing behind what is on the board.
fn lay_out(
    mut commands: Commands<'_, '_>,
    seat: Option<Res<'_, Seat>>,
    front: Res<'_, FrontEnd>,
    mut all: Query<'_, '_, (Entity, &RoomButton, Option<&OnBoard>, &mut Transform)>,
    mut backing: Query<'_, '_, BackingParts, (With<Backing>, Without<RoomButton>)>,
    mut meshes: ResMut<'_, Assets<Mesh>>,
    mut materials: ResMut<'_, Assets<StandardMaterial>>,
) {
    let seat = seat.map(|s| *s).unwrap_or_default();
    let on_board_row = *front == FrontEnd::Xr;
    // Plain buttons in order (ties by entity: each its own place); lines by their number.
    let mut row: Vec<(u8, Entity)> = all
        .iter()
        .filter(|(_, _, line, _)| line.is_none())
        .map(|(e, b, _, _)| (b.order, e))
        .collect();
    row.sort_unstable();
    let has_lines = all.iter().any(|(_, _, line, _)| line.is_some());
    let mut places: Vec<(Entity, Transform)> = Vec::with_capacity(row.len());

    // The window's row, on the table's near edge where the seat looks across it, to the
    // seat's left, facing the seat: the 1:1 chairs face each other along z; a group room's
    // ring chairs look at the table's centre from all round.
    let towards = (seat.looks_at - seat.eyes)
        .with_y(0.0)
        .normalize_or(Vec3::NEG_Z);
    let left = Vec3::Y.cross(towards);
    let edge = table_edge(seat.eyes, towards).with_y(0.80);
    let facing = Transform::IDENTITY.looking_to(towards, Vec3::Y).rotation;
    let frame = board_frame(seat);
    let rows = if on_board_row {
        row.len().div_ceil(PER_ROW)
    } else {
        0
    };
    for (place, (_, entity)) in row.iter().enumerate() {
        let at = if on_board_row {
            let local = Vec3::new(
                -BOARD_WIDTH / 2.0 + 0.09 + STEP * (place % PER_ROW) as f32,
                BOARD_TOP - 0.05 - ROW_PITCH * (place / PER_ROW) as f32,
                0.015,
            );
            frame * Transform::from_translation(local)
        } else {
            Transform::from_translation(edge + left * (FIRST_OFFSET + STEP * place as f32))
                .with_rotation(facing)
        };
        places.push((*entity, at));
    }
    let lines_top = BOARD_TOP - 0.01 - ROW_PITCH * rows as f32;
    let mut deepest = BOARD_TOP - ROW_PITCH * rows as f32;
    for (entity, _, line, _) in &all {
        let Some(line) = line else { continue };
        let size = line_size(line.indent);
        let y = lines_top - LINE * (f32::from(line.line) + 0.5);
        deepest = deepest.min(y - LINE / 2.0);
        let x = BOARD_WIDTH / 2.0 - 0.01 - size.x / 2.0;
        places.push((entity, frame * Transform::from_xyz(x, y, 0.008)));
    }
    for (entity, next) in places {
        if let Ok((_, _, _, mut at)) = all.get_mut(entity)
            && *at != next
        {
            *at = next;
        }
    }

    // The backing, behind whatever is on the board: a unit cube scaled to it (hit boxes
    // ignore scale, so its box says its size).
    let wanted = on_board_row && !row.is_empty() || has_lines;
    let height = BOARD_TOP - deepest + 0.02;
    let size = Vec3::new(BOARD_WIDTH + 0.02, height, 0.008);
    let next =
        (frame * Transform::from_xyz(0.0, BOARD_TOP + 0.01 - height / 2.0, 0.0)).with_scale(size);
    match (wanted, backing.single_mut()) {
        (true, Ok((_, mut at, mut hit))) => {
            if *at != next {
                *at = next;
                *hit = HitBox::of_size(size);
            }
        }
        (true, Err(_)) => {
            commands.spawn((
                Backing,
                HitBox::of_size(size),
                next,
                Mesh3d(meshes.add(Cuboid::from_size(Vec3::ONE))),
                MeshMaterial3d(materials.add(StandardMaterial {
                    base_color: PAPER,
                    perceptual_roughness: 0.9,
                    ..default()
                })),
            ));
        }
        (false, Ok((entity, ..))) => {
            commands.entity(entity).despawn();
        }
        (false, Err(_)) => {}
    }
}

/// Draws each board line's text (in the room's font: it may be what the patient shares) on
/// its face, again whenever the line changes.
fn write_lines(
    mut commands: Commands<'_, '_>,
    lines: Query<'_, '_, (Entity, &RoomButton, &OnBoard, Option<&Children>), Changed<OnBoard>>,
    written: Query<'_, '_, (), With<LineText>>,
    mut images: ResMut<'_, Assets<Image>>,
    mut meshes: ResMut<'_, Assets<Mesh>>,
    mut materials: ResMut<'_, Assets<StandardMaterial>>,
) {
    for (entity, button, line, children) in &lines {
        for child in children.into_iter().flatten() {
            if written.contains(*child) {
                commands.entity(*child).despawn();
            }
        }
        let text = match line.kind {
            BoardLine::Tick(true) => format!("☑  {}", line.text.expose()),
            BoardLine::Tick(false) => format!("☐  {}", line.text.expose()),
            BoardLine::Text | BoardLine::Button => line.text.expose().clone(),
        };
        // Light words on a dark button.
        let dark = line.kind == BoardLine::Button && button.colour.luminance() < 0.35;
        let page = Page {
            ink: if dark {
                [255, 255, 255, 255]
            } else {
                LINE_PAGE.ink
            },
            ..LINE_PAGE
        };
        let size = line_size(line.indent);
        let material = materials.add(StandardMaterial {
            base_color_texture: Some(images.add(page.image(&[text]))),
            unlit: true,
            alpha_mode: AlphaMode::Blend,
            ..default()
        });
        commands.entity(entity).with_child((
            LineText,
            Mesh3d(meshes.add(Rectangle::new(size.x, size.y))),
            MeshMaterial3d(material),
            Transform::from_xyz(0.0, 0.0, size.z / 2.0 + 0.001),
        ));
    }
}

fn press(
    pointer: Res<'_, LocalPointer>,
    targets: Query<'_, '_, (&HitBox, &GlobalTransform)>,
    buttons: Query<'_, '_, (Entity, &HitBox, &GlobalTransform), With<RoomButton>>,
    mut was_active: Local<'_, bool>,
    mut pressed: MessageWriter<'_, Pressed>,
) {
    let went_on = pointer.active && !*was_active;
    *was_active = pointer.active;
    if !went_on || !pointer.direction.is_normalized() {
        return;
    }
    // Cast here rather than read last frame's hit: the press and its ray are the same frame's.
    let Some(at) = first_hit(pointer.origin, pointer.direction, targets) else {
        return;
    };
    for (entity, target, transform) in &buttons {
        if on_box(at, target, transform) {
            pressed.write(Pressed(entity));
        }
    }
}

fn label(
    mut gizmos: Gizmos<'_, '_, ButtonLabels>,
    buttons: Query<'_, '_, (&RoomButton, &GlobalTransform), Without<OnBoard>>,
) {
    for (button, at) in &buttons {
        let (_, rotation, translation) = at.to_scale_rotation_translation();
        // On the face towards the seat (+z of a button that looks away from it).
        let front = translation + rotation * Vec3::Z * (BUTTON.z / 2.0 + 0.002);
        gizmos.text(
            Isometry3d::new(front, rotation),
            &button.label,
            0.035,
            Vec2::ZERO,
            Color::from(css::BLACK),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use haven_proto::signal::Role;

    use super::*;

    fn place(app: &mut App, label: &str) -> Vec3 {
        let world = app.world_mut();
        world
            .query::<(&RoomButton, &Transform)>()
            .iter(world)
            .find(|(b, _)| b.label == label)
            .map(|(_, t)| t.translation)
            .expect("the button is there")
    }

    /// The window's row stands on the table's edge in front of the seat, whichever chair:
    /// across the middle of a long side from the 1:1 chairs, and for every chair of a group
    /// room's ring on the way from it to the table's centre, just inside the table.
    #[test]
    fn the_row_stands_on_the_table_in_front_of_every_chair() {
        for role in [Role::Patient, Role::Clinician] {
            let seat = Seat::for_role(role);
            let edge = table_edge(
                seat.eyes,
                (seat.looks_at - seat.eyes).with_y(0.0).normalize(),
            );
            assert!(
                edge.x.abs() < 1e-6 && (edge.z.abs() - 0.36).abs() < 1e-5,
                "{edge}"
            );
            assert!(edge.z.signum() == seat.eyes.z.signum());
        }
        for size in 2..=12u8 {
            for chair in 0..size {
                let seat = Seat::group_chair(chair, size);
                let towards = (seat.looks_at - seat.eyes).with_y(0.0).normalize();
                let edge = table_edge(seat.eyes, towards);
                // On the table, 9 cm inside its edge on one side at least.
                assert!(
                    edge.x.abs() <= 0.61 + 1e-4 && edge.z.abs() <= 0.36 + 1e-4,
                    "{edge}"
                );
                assert!(
                    (edge.x.abs() - 0.61).abs() < 1e-4 || (edge.z.abs() - 0.36).abs() < 1e-4,
                    "{edge}"
                );
                // Ahead of the seat, towards the centre.
                let ahead = (edge - seat.eyes.with_y(0.0)).normalize();
                assert!(
                    ahead.dot(towards) > 0.999,
                    "chair {chair} of {size}: {edge}"
                );
            }
        }
    }

    /// A button that comes later (the patient's "Safe room" during a scene) takes its place in
    /// the row, the others move up, none stands on another; and when it goes they close up.
    #[test]
    fn a_button_that_comes_later_never_stands_on_another() {
        let mut app = crate::stepper::headless_app(Duration::from_millis(10));
        app.add_plugins(WorldPanelPlugin)
            .init_resource::<LocalPointer>()
            .add_message::<Pressed>();
        for (label, order) in [("Mute", 0), ("Leave", 255)] {
            app.world_mut().spawn(RoomButton {
                label: label.to_owned(),
                colour: Color::WHITE,
                order,
            });
        }
        app.update();
        let leave_before = place(&mut app, "Leave");
        let later = app
            .world_mut()
            .spawn(RoomButton {
                label: "Safe room".to_owned(),
                colour: Color::WHITE,
                order: 5,
            })
            .id();
        app.update();
        let (mute, safe, leave) = (
            place(&mut app, "Mute"),
            place(&mut app, "Safe room"),
            place(&mut app, "Leave"),
        );
        assert!(mute.distance(safe) >= STEP * 0.99, "{mute} {safe}");
        assert!(safe.distance(leave) >= STEP * 0.99, "{safe} {leave}");
        assert_eq!(safe, leave_before, "it takes the place after Mute");
        app.world_mut().entity_mut(later).despawn();
        app.update();
        assert_eq!(place(&mut app, "Leave"), leave_before, "Leave closes up");
    }
}
