//! Exposure-therapy scenes, pure: no Bevy, no I/O, no clock (every call takes `now`).
//!
//! - [`catalog`]: the scenes (heights, spiders, flying, public speaking, the safe room), each
//!   with a checked-in table from intensity 0–10 to its parameters (every threat parameter
//!   non-decreasing in intensity) and the events it can fire.
//! - [`player`]: the scene state machine. Commands (choose a scene, the patient's consent, set
//!   the intensity with a ramp, pin or unpin a parameter, fire an event with or without a cue,
//!   stop, enter or leave the safe room, heartbeats) applied at a time give the scene's state
//!   and its effects. The patient's app runs the authoritative one; a therapist's app runs a
//!   mirror from the patient's snapshots.
//! - [`stimulus`]: where the spiders are, what the audience does, how the air moves the
//!   aircraft outside the window: pure functions of scene, parameters, seed and scene time, so
//!   the patient's app and the therapist's compute the same scene from the same state.
//! - [`sound`]: the scenes' sound, synthesized from the same state (wind, engines, the hall),
//!   for the voice playout to mix under the voices.
//! - [`ratings`]: SUDS (0–100, steps of 5) and FMS (0–20), why each was asked, who answered.
//! - [`record`]: the session record (the timeline), its steps and their figures (predicted vs
//!   peak, the drop, time at the step), the safe-room spans.
//! - [`therapy`]: the patient's side's record keeper: watches the player, asks ratings on its
//!   plan, takes answers and a therapist's requests, records *no answer* after 20 s.
//! - [`gaze`]: avoidance from the head pose (on the stimulus, look-aways, looking down, a
//!   heat map).
//! - [`ladder`]: the fear ladder, the patient's, sorted by predicted SUDS.

pub mod catalog;
pub mod gaze;
pub mod ladder;
pub mod player;
pub mod ratings;
pub mod record;
pub mod sound;
pub mod stimulus;
pub mod therapy;

pub use catalog::{Event, Param, SceneId};
pub use player::{Command, Effect, Refused, ScenePlayer, SceneState};
