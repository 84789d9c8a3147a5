//! The clinician's keys for the wall display: window and level, zoom and pan, and paging
//! through the frames of a multi-frame scan (the display itself is the sharing feature's).

use std::sync::Arc;

use bevy::prelude::*;
use haven_proto::bulk::ObjectKind;

use crate::sharing::Sharing;
use crate::sharing::display::{Decoding, DisplayMaterial, DisplayQuad};

/// The display's keys (with a keyboard and the renderer's display material).
#[derive(Debug, Default)]
pub struct DisplayKeysPlugin;

impl Plugin for DisplayKeysPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(
            Update,
            (adjust_display, page_frames).run_if(
                resource_exists::<ButtonInput<KeyCode>>
                    .and_then(resource_exists::<Assets<DisplayMaterial>>),
            ),
        );
    }
}

/// PageDown / PageUp show the next / previous frame of a multi-frame picture (decoded off the
/// frame loop like the first; one at a time).
fn page_frames(
    mut commands: Commands<'_, '_>,
    keys: Res<'_, ButtonInput<KeyCode>>,
    quads: Query<'_, '_, &DisplayQuad>,
    decoding: Query<'_, '_, &Decoding>,
    sharing: Res<'_, Sharing>,
) {
    let step = i64::from(keys.just_pressed(KeyCode::PageDown))
        - i64::from(keys.just_pressed(KeyCode::PageUp));
    let Ok(quad) = quads.single() else {
        return;
    };
    if step == 0 || quad.frames < 2 || decoding.iter().any(|d| d.key == quad.key) {
        return;
    }
    let next = (i64::from(quad.frame) + step).clamp(0, i64::from(quad.frames) - 1) as u32;
    if next == quad.frame {
        return;
    }
    let Some((ObjectKind::Dicom, data)) = sharing.ledger.data(quad.key) else {
        return;
    };
    commands.spawn(Decoding::start(
        quad.key,
        ObjectKind::Dicom,
        Arc::clone(data.expose()),
        quad.label.clone(),
        next,
        true,
    ));
}
/// The clinician's controls for the display: `[` `]` window width, `;` `'` level, `=` `-`
/// zoom, I/J/K/L pan, Backspace back to the file's window and the whole picture.
fn adjust_display(
    keys: Res<'_, ButtonInput<KeyCode>>,
    time: Res<'_, Time>,
    quads: Query<'_, '_, (&DisplayQuad, &MeshMaterial3d<DisplayMaterial>)>,
    mut materials: ResMut<'_, Assets<DisplayMaterial>>,
) {
    let Ok((quad, handle)) = quads.single() else {
        return;
    };
    let pressed = |k| keys.pressed(k);
    let any = [
        KeyCode::BracketLeft,
        KeyCode::BracketRight,
        KeyCode::Semicolon,
        KeyCode::Quote,
        KeyCode::Equal,
        KeyCode::Minus,
        KeyCode::KeyI,
        KeyCode::KeyJ,
        KeyCode::KeyK,
        KeyCode::KeyL,
    ]
    .into_iter()
    .any(pressed);
    if !any && !keys.just_pressed(KeyCode::Backspace) {
        return;
    }
    let Some(mut m) = materials.get_mut(&handle.0) else {
        return;
    };
    if keys.just_pressed(KeyCode::Backspace) {
        m.window = quad.default_window;
        m.view = Vec4::new(0.5, 0.5, 1.0, 0.0);
        return;
    }
    let dt = time.delta_secs();
    let step =
        |minus, plus| f32::from(u8::from(pressed(plus))) - f32::from(u8::from(pressed(minus)));
    // Window and level move in proportion to the width, so they feel the same on CT (HU) and
    // on 8-bit data.
    let width = m.window.y.max(1.0);
    m.window.y = (width * (1.0 + step(KeyCode::BracketLeft, KeyCode::BracketRight) * dt)).max(1.0);
    m.window.x += step(KeyCode::Semicolon, KeyCode::Quote) * width * 0.5 * dt;
    m.view.z = (m.view.z * (1.0 + step(KeyCode::Minus, KeyCode::Equal) * dt)).clamp(1.0, 16.0);
    let pan = 0.5 / m.view.z * dt;
    m.view.x = (m.view.x + step(KeyCode::KeyJ, KeyCode::KeyL) * pan).clamp(0.0, 1.0);
    m.view.y = (m.view.y + step(KeyCode::KeyI, KeyCode::KeyK) * pan).clamp(0.0, 1.0);
}
