//! The scenes, their parameters and events, and the table from intensity 0–10 to parameters.
//!
//! Each scene's table is checked in here, one row per parameter, eleven values (intensity 0 to
//! 10). Every threat parameter is non-decreasing in intensity (a test checks it, and the whole
//! table is kept as a snapshot in `catalog.txt` beside this crate's manifest, so a change to it
//! shows in review). Discrete parameters hold their level's index (railing full = 0, half = 1,
//! glass = 2, none = 3); continuous ones their value in the unit named.

use serde::{Deserialize, Serialize};

/// The highest intensity.
pub const MAX_INTENSITY: u8 = 10;

/// A scene.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SceneId {
    /// Calm, quiet, a place to breathe; where the patient goes whenever they want.
    SafeRoom,
    /// From a ground-level terrace to a glass-floored balcony high on a tower.
    Heights,
    /// From one small spider in a closed jar across the room to several near the hands.
    Spiders,
    /// An aircraft cabin, seated; only the outside moves.
    Flying,
    /// A lectern before an audience.
    Speaking,
}

impl SceneId {
    /// Every scene, in the order the console lists them.
    pub const ALL: [Self; 5] = [
        Self::Heights,
        Self::Spiders,
        Self::Flying,
        Self::Speaking,
        Self::SafeRoom,
    ];

    /// Its name, as the console and the patient's consent panel show it.
    pub fn name(self) -> &'static str {
        match self {
            Self::SafeRoom => "Safe room",
            Self::Heights => "Heights",
            Self::Spiders => "Spiders",
            Self::Flying => "Flying",
            Self::Speaking => "Public speaking",
        }
    }

    /// Its parameters, with their table.
    pub fn params(self) -> &'static [ParamSpec] {
        match self {
            Self::SafeRoom => &[],
            Self::Heights => HEIGHTS,
            Self::Spiders => SPIDERS,
            Self::Flying => FLYING,
            Self::Speaking => SPEAKING,
        }
    }

    /// The events the therapist can fire in it.
    pub fn events(self) -> &'static [Event] {
        match self {
            Self::SafeRoom => &[],
            Self::Heights => &[Event::Gust, Event::LookDown, Event::RailingWobble],
            Self::Spiders => &[
                Event::SpiderDrops,
                Event::SpiderCrawlsCloser,
                Event::SpiderOntoTable,
            ],
            Self::Flying => &[
                Event::DoorsClose,
                Event::Taxi,
                Event::TakeOff,
                Event::TurbulenceLight,
                Event::TurbulenceStrong,
                Event::Chime,
                Event::Landing,
            ],
            Self::Speaking => &[
                Event::Cough,
                Event::PhoneRings,
                Event::Murmurs,
                Event::HardQuestion,
                Event::Applause,
            ],
        }
    }

    /// The specification of `param` in this scene, if it has it.
    pub fn spec(self, param: Param) -> Option<&'static ParamSpec> {
        self.params().iter().find(|s| s.param == param)
    }

    /// Its parameters at `intensity` (clamped to 0–10), in table order.
    pub fn parameters(self, intensity: u8) -> Vec<(Param, f32)> {
        let row = usize::from(intensity.min(MAX_INTENSITY));
        self.params()
            .iter()
            .map(|s| (s.param, s.by_intensity[row]))
            .collect()
    }
}

/// A parameter of a scene.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Param {
    /// Heights: the floor's height above the ground, metres.
    HeightM,
    /// Heights: the railing (full, half, glass, none).
    Railing,
    /// Heights: the floor (solid, grating, glass).
    Floor,
    /// Heights: wind, 0 still to 1 strong gusts.
    Wind,
    /// Spiders: how many.
    SpiderCount,
    /// Spiders: their size, centimetres across.
    SpiderSizeCm,
    /// Spiders: how near, 0 across the room (3 m) to 1 at the patient's hands.
    Nearness,
    /// Spiders: how much they move, 0 still to 1 scuttling.
    Movement,
    /// Spiders: the jar (closed, open, none).
    Jar,
    /// Flying: how full the cabin is, 0 empty to 1 full.
    Fullness,
    /// Flying: the weather outside (clear, cloudy, rain, storm).
    Weather,
    /// Flying: engine sound, 0 quiet to 1 loud.
    EngineNoise,
    /// Speaking: people in the audience.
    AudienceSize,
    /// Speaking: how critical the audience is, 0 attentive and approving to 1 hostile (the
    /// fraction of its members who show it).
    Criticism,
}

/// How a parameter varies.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// Any value between the two, ramped smoothly.
    Continuous {
        /// The lowest.
        min: f32,
        /// The highest.
        max: f32,
        /// Its unit, for the console.
        unit: &'static str,
    },
    /// One of these levels (the value is the index); a change happens under a fade.
    Discrete {
        /// The levels' names.
        levels: &'static [&'static str],
    },
}

/// A parameter: what it is, how it varies, whether it drives the threat, and its value at
/// each intensity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamSpec {
    /// Which.
    pub param: Param,
    /// Its name on the console.
    pub name: &'static str,
    /// How it varies.
    pub kind: Kind,
    /// It makes the scene harder as it rises (non-decreasing in intensity).
    pub threat: bool,
    /// Its value at intensity 0 to 10.
    pub by_intensity: [f32; 11],
}

impl ParamSpec {
    /// Whether `value` is one this parameter can take.
    pub fn accepts(&self, value: f32) -> bool {
        value.is_finite()
            && match self.kind {
                Kind::Continuous { min, max, .. } => (min..=max).contains(&value),
                Kind::Discrete { levels } => {
                    value >= 0.0 && value.fract() == 0.0 && (value as usize) < levels.len()
                }
            }
    }

    /// Whether it changes under a fade rather than by a ramp.
    pub fn discrete(&self) -> bool {
        matches!(self.kind, Kind::Discrete { .. })
    }
}

const fn continuous(min: f32, max: f32, unit: &'static str) -> Kind {
    Kind::Continuous { min, max, unit }
}

const HEIGHTS: &[ParamSpec] = &[
    ParamSpec {
        param: Param::HeightM,
        name: "height",
        kind: continuous(0.5, 150.0, "m"),
        threat: true,
        by_intensity: [
            0.5, 2.0, 4.0, 8.0, 12.0, 20.0, 30.0, 45.0, 70.0, 100.0, 150.0,
        ],
    },
    ParamSpec {
        param: Param::Railing,
        name: "railing",
        kind: Kind::Discrete {
            levels: &["full", "half", "glass", "none"],
        },
        threat: true,
        by_intensity: [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0],
    },
    ParamSpec {
        param: Param::Floor,
        name: "floor",
        kind: Kind::Discrete {
            levels: &["solid", "grating", "glass"],
        },
        threat: true,
        by_intensity: [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0],
    },
    ParamSpec {
        param: Param::Wind,
        name: "wind",
        kind: continuous(0.0, 1.0, ""),
        threat: true,
        by_intensity: [0.0, 0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.65, 0.8],
    },
];

const SPIDERS: &[ParamSpec] = &[
    ParamSpec {
        param: Param::SpiderCount,
        name: "spiders",
        kind: continuous(1.0, 8.0, ""),
        threat: true,
        by_intensity: [1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0],
    },
    ParamSpec {
        param: Param::SpiderSizeCm,
        name: "size",
        kind: continuous(1.0, 10.0, "cm"),
        threat: true,
        by_intensity: [1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.5, 10.0],
    },
    ParamSpec {
        param: Param::Nearness,
        name: "nearness",
        kind: continuous(0.0, 1.0, ""),
        threat: true,
        by_intensity: [0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0],
    },
    ParamSpec {
        param: Param::Movement,
        name: "movement",
        kind: continuous(0.0, 1.0, ""),
        threat: true,
        by_intensity: [0.0, 0.0, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0],
    },
    ParamSpec {
        param: Param::Jar,
        name: "jar",
        kind: Kind::Discrete {
            levels: &["closed", "open", "none"],
        },
        threat: true,
        by_intensity: [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0],
    },
];

const FLYING: &[ParamSpec] = &[
    ParamSpec {
        param: Param::Fullness,
        name: "cabin",
        kind: continuous(0.0, 1.0, ""),
        threat: true,
        by_intensity: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
    },
    ParamSpec {
        param: Param::Weather,
        name: "weather",
        kind: Kind::Discrete {
            levels: &["clear", "cloudy", "rain", "storm"],
        },
        threat: true,
        by_intensity: [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0],
    },
    ParamSpec {
        param: Param::EngineNoise,
        name: "engines",
        kind: continuous(0.0, 1.0, ""),
        threat: true,
        by_intensity: [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9, 1.0],
    },
];

const SPEAKING: &[ParamSpec] = &[
    ParamSpec {
        param: Param::AudienceSize,
        name: "audience",
        kind: continuous(0.0, 48.0, "people"),
        threat: true,
        by_intensity: [0.0, 1.0, 2.0, 4.0, 6.0, 10.0, 15.0, 20.0, 28.0, 36.0, 48.0],
    },
    ParamSpec {
        param: Param::Criticism,
        name: "criticism",
        kind: continuous(0.0, 1.0, ""),
        threat: true,
        by_intensity: [0.0, 0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.65, 0.8],
    },
];

/// Something the therapist makes happen in a scene.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Event {
    /// Heights: a gust of wind.
    Gust,
    /// Heights: an invitation to look down.
    LookDown,
    /// Heights: the railing wobbles.
    RailingWobble,
    /// Spiders: one drops from above (on a thread, in front of the patient).
    SpiderDrops,
    /// Spiders: one crawls closer.
    SpiderCrawlsCloser,
    /// Spiders: one walks onto the table.
    SpiderOntoTable,
    /// Flying: the doors close.
    DoorsClose,
    /// Flying: the aircraft taxis.
    Taxi,
    /// Flying: take-off.
    TakeOff,
    /// Flying: light turbulence.
    TurbulenceLight,
    /// Flying: strong turbulence.
    TurbulenceStrong,
    /// Flying: the cabin chime.
    Chime,
    /// Flying: landing.
    Landing,
    /// Speaking: someone coughs.
    Cough,
    /// Speaking: a phone rings.
    PhoneRings,
    /// Speaking: the audience murmurs.
    Murmurs,
    /// Speaking: a hard question from the audience.
    HardQuestion,
    /// Speaking: applause.
    Applause,
}

impl Event {
    /// The scene it belongs to.
    pub fn scene(self) -> SceneId {
        SceneId::ALL
            .into_iter()
            .find(|s| s.events().contains(&self))
            .unwrap_or(SceneId::SafeRoom)
    }

    /// How long it lasts once it happens, ms.
    pub fn duration_ms(self) -> u64 {
        match self {
            Self::Chime | Self::Cough => 1_500,
            Self::RailingWobble => 2_000,
            Self::SpiderDrops => 3_000,
            Self::Gust | Self::DoorsClose => 4_000,
            Self::LookDown | Self::SpiderOntoTable | Self::Murmurs => 5_000,
            Self::SpiderCrawlsCloser | Self::PhoneRings | Self::Applause => 6_000,
            Self::HardQuestion => 8_000,
            Self::TurbulenceLight | Self::TurbulenceStrong => 10_000,
            Self::Taxi => 30_000,
            Self::TakeOff | Self::Landing => 40_000,
        }
    }

    /// Its name on the console and in the timeline.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gust => "gust of wind",
            Self::LookDown => "look down",
            Self::RailingWobble => "railing wobbles",
            Self::SpiderDrops => "spider drops from above",
            Self::SpiderCrawlsCloser => "spider crawls closer",
            Self::SpiderOntoTable => "spider walks onto the table",
            Self::DoorsClose => "doors close",
            Self::Taxi => "taxi",
            Self::TakeOff => "take-off",
            Self::TurbulenceLight => "light turbulence",
            Self::TurbulenceStrong => "strong turbulence",
            Self::Chime => "chime",
            Self::Landing => "landing",
            Self::Cough => "cough",
            Self::PhoneRings => "phone rings",
            Self::Murmurs => "murmurs",
            Self::HardQuestion => "hard question",
            Self::Applause => "applause",
        }
    }
}

/// The whole catalog as text, one line per parameter: what the snapshot test compares with
/// `catalog.txt`.
pub fn table_text() -> String {
    let mut out = String::new();
    for scene in SceneId::ALL {
        out.push_str(&format!("{}\n", scene.name()));
        for spec in scene.params() {
            let values: Vec<String> = spec.by_intensity.iter().map(|v| format!("{v}")).collect();
            let kind = match spec.kind {
                Kind::Continuous { min, max, unit } => format!("{min}..{max} {unit}"),
                Kind::Discrete { levels } => levels.join("/"),
            };
            out.push_str(&format!(
                "  {:<10} {:<24} {}\n",
                spec.name,
                kind.trim(),
                values.join(" ")
            ));
        }
        let events: Vec<&str> = scene.events().iter().map(|e| e.name()).collect();
        out.push_str(&format!("  events: {}\n", events.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Every threat parameter of every scene is non-decreasing in intensity, and every
        /// value in the table is one the parameter accepts.
        #[test]
        fn threat_never_falls_as_intensity_rises(a in 0u8..=10, b in 0u8..=10) {
            let (lo, hi) = (a.min(b), a.max(b));
            for scene in SceneId::ALL {
                for spec in scene.params() {
                    let (l, h) = (spec.by_intensity[usize::from(lo)], spec.by_intensity[usize::from(hi)]);
                    prop_assert!(spec.accepts(l) && spec.accepts(h), "{:?} {l} {h}", spec.param);
                    if spec.threat {
                        prop_assert!(l <= h, "{:?}: {l} at {lo} > {h} at {hi}", spec.param);
                    }
                }
            }
        }
    }

    /// The table as checked in: a change to it must change `catalog.txt` too (run with
    /// `HAVEN_BLESS=1` to write it), so it shows in review.
    #[test]
    fn the_table_is_the_checked_in_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/catalog.txt");
        let now = table_text();
        if std::env::var_os("HAVEN_BLESS").is_some() {
            std::fs::write(path, &now).expect("writes the snapshot");
        }
        let kept = std::fs::read_to_string(path).expect("catalog.txt is checked in");
        assert_eq!(
            now, kept,
            "the catalog changed: review it, then HAVEN_BLESS=1"
        );
    }

    #[test]
    fn every_event_belongs_to_exactly_one_scene_and_each_scene_has_its_table() {
        for scene in SceneId::ALL {
            for event in scene.events() {
                assert_eq!(event.scene(), scene);
            }
            assert_eq!(scene.parameters(10).len(), scene.params().len());
            assert_eq!(scene.parameters(200), scene.parameters(10), "clamped");
        }
        assert_eq!(
            SceneId::Heights.parameters(10)[0],
            (Param::HeightM, 150.0),
            "the top of the tower"
        );
        assert!(
            SceneId::Heights
                .spec(Param::Railing)
                .is_some_and(|s| s.accepts(3.0) && !s.accepts(4.0) && !s.accepts(1.5))
        );
        assert!(SceneId::Flying.spec(Param::HeightM).is_none());
    }
}
