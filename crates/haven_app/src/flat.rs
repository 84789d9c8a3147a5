//! The flat front end: a desktop window with a seated view across the table, and a panel that
//! says who is here.

use bevy::prelude::*;

use crate::link::SessionFigures;
use crate::room::{CLINICIAN_EYES, PATIENT_SEAT};

/// The flat camera and the session panel.
#[derive(Debug, Default)]
pub struct FlatPlugin;

impl Plugin for FlatPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Startup, setup)
            .add_systems(Update, update_panel);
    }
}

#[derive(Component)]
struct SessionPanel;

fn setup(mut commands: Commands<'_, '_>) {
    commands.spawn((
        Camera3d::default(),
        Transform::from_translation(CLINICIAN_EYES)
            .looking_at(PATIENT_SEAT + Vec3::Y * 1.05, Vec3::Y),
    ));
    commands.spawn((
        SessionPanel,
        Text::new("Waiting for the patient…"),
        TextFont::from_font_size(18.0),
        TextColor(Color::srgb(0.15, 0.18, 0.22)),
        Node {
            position_type: PositionType::Absolute,
            top: px(12),
            left: px(12),
            ..default()
        },
    ));
}

fn update_panel(
    figures: Res<'_, SessionFigures>,
    mut panel: Query<'_, '_, &mut Text, With<SessionPanel>>,
) {
    if !figures.is_changed() {
        return;
    }
    for mut text in &mut panel {
        text.0 = match (&figures.failed, figures.connected.len()) {
            (Some(why), _) => format!("Disconnected: {why}"),
            (None, 0) => "Waiting for the patient…".to_owned(),
            (None, 1) => "1 person here - connected".to_owned(),
            (None, n) => format!("{n} people here - connected"),
        };
    }
}
