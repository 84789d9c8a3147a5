//! The fear ladder: steps (a scene, its intensity, pinned parameters, how bad the patient
//! expects it to be), built by therapist and patient together and kept sorted by the
//! predicted SUDS. It is the patient's: kept on their machine as JSON and brought to the next
//! consult, as they bring their records. "Next step" and "step back" move along it.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::catalog::{MAX_INTENSITY, Param, SceneId};

/// The most steps a ladder holds.
pub const MAX_STEPS: usize = 32;
/// The largest ladder file read, bytes.
pub const MAX_FILE: usize = 64 * 1024;

/// One rung.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The scene.
    pub scene: SceneId,
    /// Its intensity, 0–10.
    pub intensity: u8,
    /// Parameters held whatever the intensity.
    #[serde(default)]
    pub pins: Vec<(Param, f32)>,
    /// How bad the patient expects it to be, SUDS 0–100.
    pub predicted: u8,
}

/// The ladder (see the [module](self)).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ladder {
    /// The steps, lowest predicted SUDS first.
    pub steps: Vec<Step>,
    /// The step reached (last done), if any.
    pub at: Option<usize>,
}

/// A therapist's change to the patient's ladder (on `control`; the patient's app applies it
/// to its own copy and says the ladder again).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Edit {
    /// Add a step where its prediction puts it.
    Add(Step),
    /// Remove the step at this index.
    Remove(u8),
    /// This step is reached (the console's "next step" or "step back" took it).
    Reach(u8),
}

/// Why a ladder was not taken.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum LadderError {
    /// Over [`MAX_FILE`] bytes.
    #[error("the ladder file is over {MAX_FILE} bytes")]
    TooLarge,
    /// Not a ladder.
    #[error("not a fear ladder: {0}")]
    Malformed(String),
    /// A step out of range (intensity over 10, SUDS over 100 or off its steps of 5, a pin the
    /// scene does not take, the safe room as a step), or too many steps.
    #[error("a step is out of range, or there are more than {MAX_STEPS}")]
    OutOfRange,
}

impl Step {
    fn sane(&self) -> bool {
        self.scene != SceneId::SafeRoom
            && self.intensity <= MAX_INTENSITY
            && crate::ratings::Scale::Suds.accepts(self.predicted)
            && self.pins.len() <= 16
            && self
                .pins
                .iter()
                .all(|(p, v)| self.scene.spec(*p).is_some_and(|s| s.accepts(*v)))
    }
}

impl Ladder {
    /// Reads a ladder (the patient's file), checked.
    pub fn parse(bytes: &[u8]) -> Result<Self, LadderError> {
        if bytes.len() > MAX_FILE {
            return Err(LadderError::TooLarge);
        }
        let mut ladder: Self = serde_json::from_slice(bytes)
            .map_err(|e| LadderError::Malformed(e.classify_name().to_owned()))?;
        ladder.check()?;
        ladder.sort();
        Ok(ladder)
    }

    /// Checks every step and the position.
    pub fn check(&self) -> Result<(), LadderError> {
        if self.steps.len() > MAX_STEPS
            || !self.steps.iter().all(Step::sane)
            || self.at.is_some_and(|at| at >= self.steps.len())
        {
            return Err(LadderError::OutOfRange);
        }
        Ok(())
    }

    /// As JSON, for the patient's file.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    fn sort(&mut self) {
        let current = self.at.and_then(|i| self.steps.get(i).cloned());
        self.steps.sort_by_key(|s| s.predicted);
        self.at = current.and_then(|c| self.steps.iter().position(|s| *s == c));
    }

    /// Adds a step where its predicted SUDS puts it.
    pub fn add(&mut self, step: Step) -> Result<(), LadderError> {
        if !step.sane() || self.steps.len() >= MAX_STEPS {
            return Err(LadderError::OutOfRange);
        }
        self.steps.push(step);
        self.sort();
        Ok(())
    }

    /// Removes a step.
    pub fn remove(&mut self, index: usize) {
        if index < self.steps.len() {
            let current = self.at.and_then(|i| self.steps.get(i).cloned());
            self.steps.remove(index);
            self.at = current.and_then(|c| self.steps.iter().position(|s| *s == c));
        }
    }

    /// The step after the one reached (the first, when none is).
    pub fn next(&self) -> Option<(usize, &Step)> {
        let i = self.at.map_or(0, |a| a + 1);
        self.steps.get(i).map(|s| (i, s))
    }

    /// The step before the one reached.
    pub fn back(&self) -> Option<(usize, &Step)> {
        let i = self.at?.checked_sub(1)?;
        self.steps.get(i).map(|s| (i, s))
    }

    /// Applies a therapist's edit.
    pub fn apply(&mut self, edit: Edit) -> Result<(), LadderError> {
        match edit {
            Edit::Add(step) => self.add(step),
            Edit::Remove(i) if usize::from(i) < self.steps.len() => {
                self.remove(usize::from(i));
                Ok(())
            }
            Edit::Reach(i) if usize::from(i) < self.steps.len() => {
                self.reach(usize::from(i));
                Ok(())
            }
            Edit::Remove(_) | Edit::Reach(_) => Err(LadderError::OutOfRange),
        }
    }

    /// Marks a step reached.
    pub fn reach(&mut self, index: usize) {
        if index < self.steps.len() {
            self.at = Some(index);
        }
    }
}

trait Classify {
    fn classify_name(&self) -> &'static str;
}

impl Classify for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "JSON, but not a ladder",
            serde_json::error::Category::Eof => "cut short",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(scene: SceneId, intensity: u8, predicted: u8) -> Step {
        Step {
            scene,
            intensity,
            pins: Vec::new(),
            predicted,
        }
    }

    #[test]
    fn steps_sort_by_prediction_and_next_and_back_move_along() {
        let mut ladder = Ladder::default();
        ladder.add(step(SceneId::Heights, 6, 70)).expect("ok");
        ladder.add(step(SceneId::Heights, 1, 20)).expect("ok");
        ladder.add(step(SceneId::Heights, 3, 45)).expect("ok");
        assert_eq!(
            ladder.steps.iter().map(|s| s.predicted).collect::<Vec<_>>(),
            vec![20, 45, 70]
        );
        assert_eq!(ladder.next().map(|(i, _)| i), Some(0));
        assert_eq!(ladder.back(), None);
        ladder.reach(1);
        assert_eq!(ladder.next().map(|(_, s)| s.intensity), Some(6));
        assert_eq!(ladder.back().map(|(_, s)| s.intensity), Some(1));
        // A step added below keeps the position on the same step.
        ladder.add(step(SceneId::Heights, 0, 10)).expect("ok");
        assert_eq!(ladder.at, Some(2));
        let back = Ladder::parse(ladder.to_json().as_bytes()).expect("reads back");
        assert_eq!(back, ladder);
    }

    #[test]
    fn a_hostile_ladder_file_is_refused_with_a_reason() {
        assert_eq!(
            Ladder::parse(&vec![b' '; MAX_FILE + 1]),
            Err(LadderError::TooLarge)
        );
        assert!(matches!(
            Ladder::parse(b"{\"steps\": ["),
            Err(LadderError::Malformed(_))
        ));
        let over = r#"{"steps":[{"scene":"Heights","intensity":11,"predicted":20}],"at":null}"#;
        assert_eq!(Ladder::parse(over.as_bytes()), Err(LadderError::OutOfRange));
        let off = r#"{"steps":[{"scene":"Heights","intensity":1,"predicted":22}],"at":null}"#;
        assert_eq!(Ladder::parse(off.as_bytes()), Err(LadderError::OutOfRange));
        let at = r#"{"steps":[{"scene":"Heights","intensity":1,"predicted":20}],"at":3}"#;
        assert_eq!(Ladder::parse(at.as_bytes()), Err(LadderError::OutOfRange));
        let pin = r#"{"steps":[{"scene":"Heights","intensity":1,"predicted":20,"pins":[["SpiderCount",2.0]]}],"at":null}"#;
        assert_eq!(Ladder::parse(pin.as_bytes()), Err(LadderError::OutOfRange));
    }
}
