//! The wall display and the records board: what the sharing protocol shows. The newest
//! picture or scan is decoded off the frame loop and put on the display (one quad, so
//! window/level has one target); the newest records' summary fills the board; both are
//! cleared when their share is no longer held. The caption and the records' summary are what
//! the patient wrote or chose, so they are drawn in the room's font ([`crate::text::Page`]:
//! curly quotes, accents, Greek units) on textures; progress and "Nothing shared yet" are the
//! app's own words, in gizmo stroke text.

use std::sync::Arc;

use bevy::asset::uuid_handle;
use bevy::color::palettes::css;
use bevy::pbr::{Material, MaterialPlugin};
use bevy::prelude::*;
use bevy::render::render_resource::AsBindGroup;
use bevy::shader::{Shader, ShaderRef};
use bevy::tasks::futures::check_ready;
use bevy::tasks::{AsyncComputeTaskPool, Task};
use haven_proto::Redacted;
use haven_proto::bulk::ObjectKind;
use haven_share::ledger::{Effect, ShareKey};
use haven_share::records;

use super::picture::{Picture, picture};
use super::protocol::{Outbox, ShareSystems, Sharing};
use crate::layout::{Anchor, DISPLAY, DISPLAY_SIZE};
use crate::text::Page;

/// The wall display's shader (window/level, zoom and pan).
const DISPLAY_SHADER: Handle<Shader> = uuid_handle!("6b2f6f0e-3c1d-4b8e-9a51-5d0c7a2e9f13");

/// Where a picture goes (just in front of the display), and how big it may be.
const PICTURE_CENTRE: Vec3 = Vec3::new(DISPLAY.x, DISPLAY.y, DISPLAY.z + 0.018);
const PICTURE_SIZE: Vec2 = Vec2::new(DISPLAY_SIZE.x - 0.1, DISPLAY_SIZE.y - 0.1);

/// What the display and the board say: captions, the records' summary, transfers under way.
#[derive(Resource, Debug, Default)]
pub struct ShareTexts {
    /// The wall display's caption (the share's label), if it shows something.
    pub display: Option<Redacted<String>>,
    /// The records board's summary lines, if it shows something.
    pub board: Option<Redacted<Vec<String>>>,
    /// Shares on their way, as "Receiving a share: 45 %" (both sides see transfers).
    pub progress: Option<String>,
    /// Whose share the board shows.
    pub board_from: Option<ShareKey>,
    /// Something the viewer should know about the last share ("could not be shown").
    pub notice: Option<String>,
}

/// The display and the board.
#[derive(Debug, Default)]
pub struct DisplayPlugin;

impl Plugin for DisplayPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ShareTexts>().add_systems(
            Update,
            (progress, present).chain().in_set(ShareSystems::Present),
        );
        // The picture needs the renderer; headless tests and benches run without one (they
        // still decode, on the compute pool, and the quad's place is kept).
        if let Some(mut shaders) = app.world_mut().get_resource_mut::<Assets<Shader>>() {
            let _ = shaders.insert(
                DISPLAY_SHADER.id(),
                Shader::from_wgsl(
                    include_str!("../../../../shaders/dicom_window.wgsl"),
                    "shaders/dicom_window.wgsl",
                ),
            );
            app.add_plugins(MaterialPlugin::<DisplayMaterial>::default())
                .add_systems(
                    Update,
                    (
                        place_picture.after(ShareSystems::Present),
                        write_pages.after(ShareSystems::Present),
                        label_anchors,
                    ),
                );
        }
    }
}

/// Show effects for the newest picture (if `picture`) and the newest records (if `records`)
/// among this side's offers still held.
fn newest_held_offers(
    ledger: &haven_share::ledger::ShareLedger,
    picture: bool,
    records: bool,
) -> Vec<Effect> {
    let newest = |pictures: bool| {
        ledger
            .outgoing()
            .iter()
            .enumerate()
            .rev()
            .find(|(_, s)| {
                !s.revoked
                    && (s.offer.kind == ObjectKind::Fhir) != pictures
                    && matches!(
                        s.offer.kind,
                        ObjectKind::Fhir | ObjectKind::Image | ObjectKind::Dicom
                    )
            })
            .map(|(i, s)| Effect::Show {
                key: ShareKey::Mine(i),
                kind: s.offer.kind,
                data: s.offer.data.clone(),
                label: s.offer.label.clone(),
            })
    };
    [
        records.then(|| newest(false)),
        picture.then(|| newest(true)),
    ]
    .into_iter()
    .flatten()
    .flatten()
    .collect()
}

/// Transfers under way, in one line (no labels: it may show before the terms arrive).
fn progress(sharing: Res<'_, Sharing>, mut texts: ResMut<'_, ShareTexts>) {
    let (got, total) = sharing.ledger.receiving();
    let sending = sharing
        .ledger
        .outgoing()
        .iter()
        .filter(|s| s.in_flight())
        .count();
    let progress = if let Some(pct) = (got * 100).checked_div(total) {
        Some(format!("Receiving a share: {pct} %"))
    } else if sending > 0 {
        Some(format!("Sending {sending} share(s)..."))
    } else {
        None
    };
    if texts.progress != progress {
        texts.progress = progress;
    }
}

/// Applies the protocol's show and purge effects: the newest picture to the display (decoded
/// off the frame loop), the newest records to the board; on the clinician's side each share
/// put on show is reported viewed.
fn present(
    mut commands: Commands<'_, '_>,
    sharing: ResMut<'_, Sharing>,
    mut texts: ResMut<'_, ShareTexts>,
    quads: Query<'_, '_, (Entity, &DisplayQuad)>,
    decoding: Query<'_, '_, (Entity, &Decoding)>,
    figures: Res<'_, crate::session::SessionFigures>,
    mut out: Outbox<'_>,
) {
    let sharing = sharing.into_inner();
    if sharing.view.is_empty() {
        return;
    }
    let mut view = std::mem::take(&mut sharing.view);
    // The patient's own display shows the newest offer still held: when one is taken back,
    // the newest picture and records still shared come back (the ledger knows them).
    let taken_back: Vec<ShareKey> = view
        .iter()
        .filter_map(|e| match e {
            Effect::Purge(key @ ShareKey::Mine(_)) => Some(*key),
            _ => None,
        })
        .collect();
    if !taken_back.is_empty() {
        let picture = quads.iter().any(|(_, q)| taken_back.contains(&q.key))
            || decoding.iter().any(|(_, d)| taken_back.contains(&d.key));
        let records = texts.board_from.is_some_and(|k| taken_back.contains(&k));
        view.extend(newest_held_offers(&sharing.ledger, picture, records));
    }
    // The newest picture wins the display.
    let last_picture = view.iter().rposition(|e| {
        matches!(
            e,
            Effect::Show {
                kind: ObjectKind::Image | ObjectKind::Dicom,
                ..
            }
        )
    });
    for (i, effect) in view.into_iter().enumerate() {
        match effect {
            Effect::Show {
                key,
                kind,
                data,
                label,
            } => {
                match kind {
                    ObjectKind::Fhir => {
                        match records::parse(data.expose(), &records::Limits::default()) {
                            Ok(parsed) => {
                                let text = records::render_text(&records::summarise(&parsed));
                                texts.board = Some(Redacted::new(
                                    text.expose().lines().map(str::to_owned).collect(),
                                ));
                                texts.board_from = Some(key);
                                // On the board now: viewed.
                                sharing.ledger.shown(key);
                            }
                            Err(e) => {
                                warn!("shared records could not be read: {e}");
                                texts.notice = Some("Shared records could not be read".to_owned());
                            }
                        }
                    }
                    // A picture is viewed once its texture is up (`place_picture`).
                    ObjectKind::Image | ObjectKind::Dicom if Some(i) == last_picture => {
                        commands.spawn(Decoding::start(
                            key,
                            kind,
                            Arc::clone(data.expose()),
                            label,
                            0,
                            false,
                        ));
                    }
                    _ => {}
                }
            }
            Effect::Expired(_) => {
                texts.notice = Some("A share's time ran out: it was removed".to_owned());
            }
            Effect::Purge(key) => {
                for (entity, quad) in &quads {
                    if quad.key == key {
                        commands.entity(entity).despawn();
                        texts.display = None;
                    }
                }
                for (entity, pending) in &decoding {
                    if pending.key == key {
                        commands.entity(entity).despawn();
                    }
                }
                if texts.board_from == Some(key) {
                    texts.board = None;
                    texts.board_from = None;
                }
            }
            _ => {}
        }
    }
    // The views just said go out with this frame's requests.
    sharing.apply(figures.me.map(|m| m.role), &mut out);
}

/// The wall display's material: a texture of values (grey, windowed here) or colours.
#[derive(Asset, TypePath, AsBindGroup, Clone, Debug)]
pub struct DisplayMaterial {
    /// x centre, y width, z invert, w colour.
    #[uniform(0)]
    pub window: Vec4,
    /// xy the image point at the centre, z zoom.
    #[uniform(0)]
    pub view: Vec4,
    /// The values.
    #[texture(1, sample_type = "float", filterable = false)]
    pub values: Handle<Image>,
}

impl Material for DisplayMaterial {
    fn fragment_shader() -> ShaderRef {
        ShaderRef::Handle(DISPLAY_SHADER)
    }
}

/// What the wall display shows now.
#[derive(Component, Debug)]
pub struct DisplayQuad {
    /// The file's window (to go back to).
    pub default_window: Vec4,
    /// Whose share it shows.
    pub key: ShareKey,
    /// The frame shown, and how many the picture has (DICOM multi-frame; 1 otherwise).
    pub frame: u32,
    /// How many frames the picture has.
    pub frames: u32,
    /// The share's label (the caption).
    pub label: Redacted<String>,
}

/// A shared picture being decoded off the frame loop.
#[derive(Component)]
pub struct Decoding {
    task: Task<Option<Picture>>,
    /// Whose share.
    pub key: ShareKey,
    label: Redacted<String>,
    /// Which frame.
    frame: u32,
    /// Another frame of the picture on the display (dropped if that picture has gone).
    paging: bool,
}

impl Decoding {
    /// Decodes frame `frame` of a picture on the compute pool.
    pub fn start(
        key: ShareKey,
        kind: ObjectKind,
        data: Arc<Vec<u8>>,
        label: Redacted<String>,
        frame: u32,
        paging: bool,
    ) -> Self {
        let task = AsyncComputeTaskPool::get().spawn(async move { picture(kind, &data, frame) });
        Self {
            task,
            key,
            label,
            frame,
            paging,
        }
    }
}

/// The wall display's caption: the label, the frame for a multi-frame picture, and what the
/// clinician should know of it (text burned into a scan's pixels).
pub fn caption(
    label: &Redacted<String>,
    frame: u32,
    frames: u32,
    caution: Option<&str>,
) -> Redacted<String> {
    let mut text = label.expose().clone();
    if frames > 1 {
        text.push_str(&format!(
            "  (frame {} of {frames}: PageUp/PageDown)",
            frame + 1
        ));
    }
    if let Some(caution) = caution {
        text.push_str(&format!(" - {caution}"));
    }
    Redacted::new(text)
}

/// Puts a decoded picture on the wall display (if its share is still held).
#[expect(
    clippy::too_many_arguments,
    reason = "a system drawing into several places"
)]
fn place_picture(
    mut commands: Commands<'_, '_>,
    mut decoding: Query<'_, '_, (Entity, &mut Decoding)>,
    mut quads: Query<'_, '_, (Entity, &mut DisplayQuad, &MeshMaterial3d<DisplayMaterial>)>,
    mut sharing: ResMut<'_, Sharing>,
    mut texts: ResMut<'_, ShareTexts>,
    mut images: ResMut<'_, Assets<Image>>,
    mut meshes: ResMut<'_, Assets<Mesh>>,
    mut materials: ResMut<'_, Assets<DisplayMaterial>>,
    figures: Res<'_, crate::session::SessionFigures>,
    mut out: Outbox<'_>,
) {
    for (entity, mut pending) in &mut decoding {
        let Some(decoded) = check_ready(&mut pending.task) else {
            continue;
        };
        commands.entity(entity).despawn();
        let key = pending.key;
        if !sharing.ledger.holds(key) {
            continue;
        }
        let Some(Picture {
            image,
            window,
            frames,
            caution,
        }) = decoded
        else {
            // Said on the wall, not only in the log: the clinician is waiting for it.
            texts.notice = Some("A shared picture could not be shown".to_owned());
            continue;
        };
        // Another frame of what is shown: only the texture changes, the clinician's window,
        // zoom and pan stay.
        if let Some((_, mut quad, handle)) = quads.iter_mut().find(|(_, q, _)| q.key == key)
            && let Some(mut material) = materials.get_mut(&handle.0)
        {
            material.values = images.add(image);
            quad.frame = pending.frame;
            texts.display = Some(caption(&pending.label, pending.frame, quad.frames, caution));
            continue;
        }
        if pending.paging {
            // A newer picture took the display while this frame was decoding.
            continue;
        }
        let aspect = image.width() as f32 / image.height().max(1) as f32;
        let size = if aspect > PICTURE_SIZE.x / PICTURE_SIZE.y {
            Vec2::new(PICTURE_SIZE.x, PICTURE_SIZE.x / aspect)
        } else {
            Vec2::new(PICTURE_SIZE.y * aspect, PICTURE_SIZE.y)
        };
        for (quad, ..) in &quads {
            commands.entity(quad).despawn();
        }
        let material = materials.add(DisplayMaterial {
            window,
            view: Vec4::new(0.5, 0.5, 1.0, 0.0),
            values: images.add(image),
        });
        commands.spawn((
            DisplayQuad {
                default_window: window,
                key,
                frame: pending.frame,
                frames,
                label: pending.label.clone(),
            },
            Mesh3d(meshes.add(Rectangle::from_size(size))),
            MeshMaterial3d(material),
            Transform::from_translation(PICTURE_CENTRE),
        ));
        texts.display = Some(caption(&pending.label, pending.frame, frames, caution));
        texts.notice = None;
        // Its texture is up: now it is viewed (said to the patient, audited).
        sharing.ledger.shown(key);
        sharing.apply(figures.me.map(|m| m.role), &mut out);
    }
}

/// Writes on the display and the board: the caption and progress, the records' summary, or
/// "Nothing shared yet".
fn label_anchors(
    mut gizmos: Gizmos<'_, '_>,
    texts: Res<'_, ShareTexts>,
    panels: Query<'_, '_, (&Anchor, &GlobalTransform)>,
    cameras: Query<'_, '_, (&Camera, &GlobalTransform)>,
) {
    // Stroke text is thousands of line segments a frame: a panel that no camera faces is not
    // written at all (the records board sits to the side of the seated view).
    let seen = |at: Vec3| {
        cameras.iter().any(|(camera, eye)| {
            camera.is_active
                && eye
                    .forward()
                    .as_vec3()
                    .dot((at - eye.translation()).normalize_or_zero())
                    > 0.55
        })
    };
    for (panel, at) in &panels {
        let (_, rotation, translation) = at.to_scale_rotation_translation();
        if !cameras.is_empty() && !seen(translation) {
            continue;
        }
        // Face into the room: the display faces +z, the board faces −x.
        let facing = if translation.x > 2.0 {
            Quat::from_rotation_y(-std::f32::consts::FRAC_PI_2)
        } else {
            Quat::IDENTITY
        };
        let front = translation + facing * Vec3::Z * 0.03;
        let on_board = *panel == Anchor::RecordsBoard;
        let title = if on_board { "Records" } else { "Images" };
        let colour = if on_board {
            Color::from(css::DIM_GRAY)
        } else {
            Color::from(css::WHITE_SMOKE)
        };
        let iso = |at: Vec3| Isometry3d::new(at, facing * rotation);
        if !on_board && let Some(progress) = texts.progress.as_ref().or(texts.notice.as_ref()) {
            gizmos.text(
                iso(front - Vec3::Y * 0.52),
                progress,
                0.045,
                Vec2::ZERO,
                Color::from(css::DIM_GRAY),
            );
        }
        match (on_board, &texts.display, &texts.board) {
            // Written on their own pages (`write_pages`).
            (false, Some(_), _) | (true, _, Some(_)) => {}
            _ => {
                gizmos.text(iso(front + Vec3::Y * 0.25), title, 0.09, Vec2::ZERO, colour);
                gizmos.text(iso(front), "Nothing shared yet", 0.07, Vec2::ZERO, colour);
            }
        }
    }
}

/// The records board's page: 1.32 × 0.94 m of the board's 1.4 × 1.0 m, about 850 px a metre,
/// so a line is 3.3 cm tall, 27 lines (readable from the seats).
const BOARD_PAGE: Page = Page {
    size: UVec2::new(1120, 800),
    px: 22.0,
    line_px: 28.0,
    margin: 14.0,
    ink: [31, 36, 46, 255],
    paper: [0, 0, 0, 0],
    centred: false,
};
const BOARD_PAGE_SIZE: Vec2 = Vec2::new(1.32, 0.94);

/// The display's caption, on the wall above the picture.
const CAPTION_PAGE: Page = Page {
    size: UVec2::new(1280, 72),
    px: 44.0,
    line_px: 52.0,
    margin: 10.0,
    ink: [105, 105, 105, 255],
    paper: [0, 0, 0, 0],
    centred: true,
};
const CAPTION_SIZE: Vec2 = Vec2::new(1.6, 0.09);

/// A page of shared text on an anchor (a child of it, so it goes with the room's parts).
#[derive(Component)]
struct Written {
    /// A digest of what it says, to draw it again only when that changes.
    digest: u64,
}

fn digest<S: std::hash::Hash + ?Sized>(what: &S) -> u64 {
    use std::hash::{BuildHasher as _, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(what)
}

/// Draws the records' summary on the board and the caption above the display, in the room's
/// font, when what they say changes; takes a page down when its share is no longer shown.
fn write_pages(
    mut commands: Commands<'_, '_>,
    texts: Res<'_, ShareTexts>,
    anchors: Query<'_, '_, (Entity, &Anchor, Option<&Children>)>,
    pages: Query<'_, '_, &Written>,
    mut images: ResMut<'_, Assets<Image>>,
    mut meshes: ResMut<'_, Assets<Mesh>>,
    mut materials: ResMut<'_, Assets<StandardMaterial>>,
) {
    for (anchor, kind, children) in &anchors {
        // Borrowed: a frame compares digests and copies nothing; only a change draws.
        let lines: Option<&[String]> = match kind {
            Anchor::RecordsBoard => texts.board.as_ref().map(|b| b.expose().as_slice()),
            Anchor::Display => texts
                .display
                .as_ref()
                .map(|c| std::slice::from_ref(c.expose())),
        };
        let want = lines.map(digest);
        let page = children
            .into_iter()
            .flatten()
            .find_map(|c| pages.get(*c).ok().map(|w| (*c, w.digest)));
        if page.map(|(_, d)| d) == want {
            continue;
        }
        if let Some((old, _)) = page {
            commands.entity(old).despawn();
        }
        let Some(lines) = lines else {
            continue;
        };
        let (layout, size, at) = match kind {
            // The board faces −x, into the room.
            Anchor::RecordsBoard => (
                BOARD_PAGE,
                BOARD_PAGE_SIZE,
                Transform::from_xyz(-0.016, 0.0, 0.0)
                    .with_rotation(Quat::from_rotation_y(-std::f32::consts::FRAC_PI_2)),
            ),
            Anchor::Display => (
                CAPTION_PAGE,
                CAPTION_SIZE,
                Transform::from_xyz(0.0, 0.52, 0.016),
            ),
        };
        let material = materials.add(StandardMaterial {
            base_color_texture: Some(images.add(layout.image(lines))),
            unlit: true,
            alpha_mode: AlphaMode::Blend,
            ..default()
        });
        commands.entity(anchor).with_child((
            Written {
                digest: want.unwrap_or_default(),
            },
            Mesh3d(meshes.add(Rectangle::from_size(size))),
            MeshMaterial3d(material),
            at,
        ));
    }
}
