//! A named participant's look, chosen in the window: three buttons above the bottom bar
//! ("Skin: medium", "Hair: brown", "Clothing: navy"), each press the next choice. The choice is
//! the [`LocalLook`], which the avatar feature sends to everyone when it changes. An anonymous
//! participant has no look to choose (it could stand for them), so no panel.

use bevy::prelude::*;
use haven_proto::control::Look;

use super::{BUTTON_BG, PANEL_BG, TEXT, label, panel_button};
use crate::avatar::LocalLook;
use crate::avatar::look::{CLOTHING, HAIRS, SKINS, next_of};

/// Draws the look panel while there is a look to choose.
#[derive(Debug, Default)]
pub struct LookPanelPlugin;

impl Plugin for LookPanelPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(
            Update,
            (spawn_panel, press, relabel)
                .chain()
                .run_if(resource_exists::<LocalLook>.and_then(resource_exists::<super::FlatView>)),
        );
    }
}

/// One part of a look.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookPart {
    /// Skin tone.
    Skin,
    /// Hair colour (or none).
    Hair,
    /// Clothing colour.
    Clothing,
}

impl LookPart {
    /// This part's button text for `look`.
    pub fn label(self, look: &Look) -> String {
        fn name<T: PartialEq>(choices: &[(&'static str, T)], value: &T) -> &'static str {
            choices
                .iter()
                .find(|(_, v)| v == value)
                .map_or("your own", |(n, _)| n)
        }
        match self {
            Self::Skin => format!("Skin: {}", name(&SKINS, &look.skin)),
            Self::Hair => format!("Hair: {}", name(&HAIRS, &look.hair)),
            Self::Clothing => format!("Clothing: {}", name(&CLOTHING, &look.clothing)),
        }
    }

    /// `look` with this part's next choice.
    pub fn next(self, look: Look) -> Look {
        match self {
            Self::Skin => Look {
                skin: next_of(&SKINS, look.skin).1,
                ..look
            },
            Self::Hair => Look {
                hair: next_of(&HAIRS, look.hair).1,
                ..look
            },
            Self::Clothing => Look {
                clothing: next_of(&CLOTHING, look.clothing).1,
                ..look
            },
        }
    }
}

#[derive(Component)]
struct LookPanel;

const PARTS: [LookPart; 3] = [LookPart::Skin, LookPart::Hair, LookPart::Clothing];

fn spawn_panel(
    mut commands: Commands<'_, '_>,
    look: Res<'_, LocalLook>,
    panels: Query<'_, '_, (), With<LookPanel>>,
) {
    if !panels.is_empty() {
        return;
    }
    commands
        .spawn((
            LookPanel,
            Node {
                position_type: PositionType::Absolute,
                bottom: px(64),
                left: px(12),
                column_gap: px(8),
                align_items: AlignItems::Center,
                padding: UiRect::axes(px(10), px(6)),
                border_radius: BorderRadius::all(px(8)),
                ..default()
            },
            BackgroundColor(PANEL_BG),
        ))
        .with_children(|p| {
            p.spawn(label("Your look:", 15.0, TEXT));
            for part in PARTS {
                p.spawn(panel_button(part, &part.label(&look.0), BUTTON_BG, TEXT));
            }
        });
}

fn press(
    buttons: Query<'_, '_, (&LookPart, &Interaction), Changed<Interaction>>,
    mut look: ResMut<'_, LocalLook>,
) {
    for (part, interaction) in &buttons {
        if *interaction == Interaction::Pressed {
            look.0 = part.next(look.0);
        }
    }
}

fn relabel(
    look: Res<'_, LocalLook>,
    buttons: Query<'_, '_, (&LookPart, &Children)>,
    mut texts: Query<'_, '_, &mut Text>,
) {
    if !look.is_changed() {
        return;
    }
    for (part, children) in &buttons {
        for child in children {
            if let Ok(mut text) = texts.get_mut(*child) {
                let next = part.label(&look.0);
                if text.0 != next {
                    text.0 = next;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avatar::look::DEFAULT_LOOK;

    /// Each button steps through its part's choices and comes round again, leaving the other
    /// parts as they were; its label names the choice.
    #[test]
    fn each_press_is_the_next_choice_of_that_part_only() {
        let mut look = DEFAULT_LOOK;
        assert_eq!(LookPart::Skin.label(&look), "Skin: medium");
        let mut seen = Vec::new();
        for _ in 0..SKINS.len() {
            look = LookPart::Skin.next(look);
            seen.push(LookPart::Skin.label(&look));
            assert_eq!(
                (look.hair, look.clothing),
                (DEFAULT_LOOK.hair, DEFAULT_LOOK.clothing)
            );
        }
        assert_eq!(look, DEFAULT_LOOK, "round again");
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), SKINS.len(), "every tone once: {seen:?}");
        let bald = (0..HAIRS.len())
            .map(|i| (0..=i).fold(DEFAULT_LOOK, |l, _| LookPart::Hair.next(l)))
            .find(|l| l.hair.is_none())
            .expect("no hair is a choice");
        assert_eq!(LookPart::Hair.label(&bald), "Hair: none");
        assert_eq!(
            LookPart::Clothing.label(&LookPart::Clothing.next(DEFAULT_LOOK)),
            "Clothing: teal"
        );
    }
}
