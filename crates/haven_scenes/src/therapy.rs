//! The therapy consult's record keeper, on the patient's side (sans-IO: every call takes
//! `now`, on the scene player's clock).
//!
//! It watches the [`ScenePlayer`] ([`Therapy::observe`]) and writes what changed into the
//! [`Record`] (scene started, intensity, pins, events, the safe room, the end), asks ratings
//! by itself (a prediction when a scene is proposed, SUDS every N minutes and a minute after
//! each intensity change while a scene runs, at the end, FMS every 2 minutes when the plan
//! says so), takes a therapist's [`Request`]s (ask now, predict a step, the plan, an entry
//! typed for the patient) and the patient's answers, and records *no answer* when 20 s pass
//! without one. Each new entry is handed out once ([`Therapy::unsent`]) for the therapists.

use crate::catalog::{Param, SceneId};
use crate::player::{Phase, Refused, ScenePlayer, Sender};
use crate::ratings::{
    AFTER_CHANGE_MS, ANSWER_WITHIN_MS, FMS_BREAK, Plan, Prompt, Request, Scale, Source, Why,
};
use crate::record::{Entry, Record};

/// What the record keeper saw of the player last time.
#[derive(Clone, Debug, Default, PartialEq)]
struct Seen {
    proposed: Option<(SceneId, u8)>,
    running: Option<(SceneId, u8)>,
    safe: bool,
    pins: Vec<(Param, f32)>,
    events: usize,
}

/// The record keeper (see the [module](self)).
#[derive(Debug)]
pub struct Therapy {
    /// The player's time when the record began.
    zero: u64,
    plan: Plan,
    record: Record,
    next_id: u32,
    seen: Seen,
    /// When SUDS and FMS were last asked (for any reason: the period runs from there), or
    /// the scene began, record time.
    last_suds: u64,
    last_fms: u64,
    /// A SUDS due after an intensity change, record time.
    after_change: Option<u64>,
    /// A prediction waiting for the closing rating to be answered (it never takes its place).
    deferred: Option<Why>,
    /// Requests taken in the current second (second, count).
    window: (u64, u32),
    sent: usize,
}

/// Entries kept free at the end of the record for what closes things (ratings, the end, the
/// safe room): past `MAX_ENTRIES - RESERVE`, nothing new is asked or noted.
const RESERVE: usize = 256;

impl Therapy {
    /// A record that begins at `now` (the player's time) with the default plan.
    pub fn new(now: u64) -> Self {
        Self {
            zero: now,
            plan: Plan::default(),
            record: Record::default(),
            next_id: 1,
            seen: Seen::default(),
            last_suds: 0,
            last_fms: 0,
            after_change: None,
            deferred: None,
            window: (0, 0),
            sent: 0,
        }
    }

    /// The record so far.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// The plan.
    pub fn plan(&self) -> Plan {
        self.plan
    }

    /// The record's time for the player's time `now`.
    pub fn at(&self, now: u64) -> u64 {
        now.saturating_sub(self.zero)
    }

    /// The prompts waiting for the patient.
    pub fn open(&self) -> Vec<Prompt> {
        self.record.open()
    }

    /// Entries written since the last call, for the therapists (each handed out once).
    pub fn unsent(&mut self) -> &[crate::record::Stamped] {
        let from = self.sent;
        self.sent = self.record.entries.len();
        &self.record.entries[from..]
    }

    /// Appends an entry. Near the record's end only what closes things is kept (a prompt
    /// must always get its answer or its *no answer*).
    fn push(&mut self, at: u64, entry: Entry) {
        let len = self.record.entries.len();
        let closing = matches!(
            entry,
            Entry::Rated { .. }
                | Entry::Ended
                | Entry::SafeRoom { .. }
                | Entry::LeftSafeRoom
                | Entry::Started { .. }
        );
        if len < crate::record::MAX_ENTRIES - RESERVE
            || (closing && len < crate::record::MAX_ENTRIES)
        {
            self.record.push(at, entry);
        }
    }

    /// Asks a rating. One prompt of a scale is open at a time: the closing rating takes the
    /// place of one still open (recorded as not answered, as it was not); a prediction takes
    /// the place of any but the closing rating, and waits for that to be answered; any other
    /// ask waits for the open one (refused).
    fn ask(&mut self, at: u64, scale: Scale, why: Why) -> Result<(), Refused> {
        if self.record.entries.len() >= crate::record::MAX_ENTRIES - RESERVE {
            return Err(Refused::Flood);
        }
        let open = self.record.open().into_iter().find(|p| p.scale == scale);
        if let Some(open) = open {
            match why {
                Why::Prediction { .. } if open.why == Why::End => {
                    self.deferred = Some(why);
                    return Ok(());
                }
                Why::Prediction { .. } | Why::End => {
                    self.rated(at, Some(open), scale, None, Source::NoAnswer);
                }
                _ => return Err(Refused::NotNow("asking while that rating is already asked")),
            }
        }
        let prompt = Prompt {
            id: self.next_id,
            scale,
            why,
            asked: at,
        };
        self.next_id += 1;
        match scale {
            Scale::Suds => self.last_suds = at,
            Scale::Fms => self.last_fms = at,
        }
        self.push(at, Entry::Asked(prompt));
        Ok(())
    }

    fn rated(
        &mut self,
        at: u64,
        prompt: Option<Prompt>,
        scale: Scale,
        value: Option<u8>,
        source: Source,
    ) {
        self.push(
            at,
            Entry::Rated {
                prompt: prompt.map(|p| p.id),
                scale,
                why: prompt.map_or(Why::Demand, |p| p.why),
                value,
                source,
            },
        );
        if scale == Scale::Fms && value.is_some_and(|v| v >= FMS_BREAK) {
            self.push(at, Entry::SuggestBreak);
        }
    }

    /// A therapist's request. Only a therapist may ask (anyone else: refused, nothing
    /// changes).
    pub fn request(&mut self, sender: Sender, request: Request, now: u64) -> Result<(), Refused> {
        if sender != Sender::Therapist {
            return Err(Refused::NotAllowed {
                sender,
                command: "ask for a rating",
            });
        }
        // As many as the scene takes in a second, at most.
        let second = now / 1000;
        if self.window.0 != second {
            self.window = (second, 0);
        }
        self.window.1 += 1;
        if self.window.1 > crate::player::MAX_COMMANDS_PER_S {
            return Err(Refused::Flood);
        }
        let at = self.at(now);
        match request {
            Request::Ask { scale } => self.ask(at, scale, Why::Demand),
            Request::Predict { scene, intensity } => {
                if intensity > crate::catalog::MAX_INTENSITY || scene == SceneId::SafeRoom {
                    return Err(Refused::OutOfRange);
                }
                self.ask(at, Scale::Suds, Why::Prediction { scene, intensity })
            }
            Request::Plan(plan) => {
                if !plan.sane() {
                    return Err(Refused::OutOfRange);
                }
                self.plan = plan;
                self.push(at, Entry::Plan(plan));
                Ok(())
            }
            Request::Entry { scale, value } => {
                if !scale.accepts(value) {
                    return Err(Refused::OutOfRange);
                }
                // It answers the open prompt of its scale, unless that asks a prediction:
                // what the patient says aloud now is how they feel, not what they expect.
                let open = self
                    .record
                    .open()
                    .into_iter()
                    .find(|p| p.scale == scale && !matches!(p.why, Why::Prediction { .. }));
                self.rated(at, open, scale, Some(value), Source::Therapist);
                Ok(())
            }
        }
    }

    /// The patient answers an open prompt. Only the patient may answer; a value off the
    /// scale, or a prompt no longer open, changes nothing.
    pub fn answer(
        &mut self,
        sender: Sender,
        prompt: u32,
        value: u8,
        now: u64,
    ) -> Result<(), Refused> {
        if sender != Sender::Patient {
            return Err(Refused::NotAllowed {
                sender,
                command: "answer a rating",
            });
        }
        let Some(open) = self.record.open().into_iter().find(|p| p.id == prompt) else {
            return Err(Refused::NotNow("answering a rating no longer asked"));
        };
        if !open.scale.accepts(value) {
            return Err(Refused::OutOfRange);
        }
        self.rated(
            self.at(now),
            Some(open),
            open.scale,
            Some(value),
            Source::Patient,
        );
        Ok(())
    }

    /// Writes what changed in the player since the last look, and asks what that calls for
    /// (a prediction on a proposal, SUDS at the end).
    pub fn observe(&mut self, player: &ScenePlayer, now: u64) {
        let at = self.at(now);
        let state = player.state();
        let proposed = match state.phase {
            Phase::Proposed { scene, intensity } => Some((scene, intensity)),
            _ => None,
        };
        let newly_proposed = proposed.is_some() && proposed != self.seen.proposed;
        self.seen.proposed = proposed;
        // Events first: they belong to the scene as it was.
        let timeline = player.timeline();
        for h in timeline.iter().skip(self.seen.events) {
            self.push(
                at,
                Entry::Event {
                    event: h.event,
                    announced: h.announced,
                },
            );
        }
        self.seen.events = timeline.len();
        let safe = matches!(state.phase, Phase::SafeRoom { .. });
        if safe
            && !self.seen.safe
            && let Phase::SafeRoom { why, .. } = state.phase
        {
            self.push(at, Entry::SafeRoom { why });
        }
        if !safe && self.seen.safe {
            self.push(at, Entry::LeftSafeRoom);
        }
        self.seen.safe = safe;
        let running = match (state.phase, state.scene) {
            (Phase::Running, Some(scene)) => Some((scene, state.intensity)),
            // A scene waiting in the safe room is still the step it was.
            (Phase::SafeRoom { resume: true, .. }, Some(scene)) => Some((scene, state.intensity)),
            _ => None,
        };
        match (self.seen.running, running) {
            (None, Some((scene, intensity))) => {
                self.push(at, Entry::Started { scene, intensity });
                self.last_suds = at;
                self.last_fms = at;
                self.after_change = None;
            }
            (Some((was, _)), Some((scene, intensity))) if was != scene => {
                self.push(at, Entry::Ended);
                self.push(at, Entry::Started { scene, intensity });
            }
            (Some((_, was)), Some((_, intensity))) if was != intensity => {
                self.push(at, Entry::Intensity { intensity });
                if self.plan.after_change {
                    self.after_change = Some(at + AFTER_CHANGE_MS);
                }
            }
            (Some(_), None) => {
                self.push(at, Entry::Ended);
                self.after_change = None;
                let _ = self.ask(at, Scale::Suds, Why::End);
            }
            _ => {}
        }
        self.seen.running = running;
        let pins = if running.is_some() {
            state.pins.clone()
        } else {
            Vec::new()
        };
        for (param, value) in &pins {
            if !self.seen.pins.contains(&(*param, *value)) {
                self.push(
                    at,
                    Entry::Pinned {
                        param: *param,
                        value: Some(*value),
                    },
                );
            }
        }
        for (param, _) in &self.seen.pins.clone() {
            if running.is_some() && !pins.iter().any(|(p, _)| p == param) {
                self.push(
                    at,
                    Entry::Pinned {
                        param: *param,
                        value: None,
                    },
                );
            }
        }
        self.seen.pins = pins;
        // A proposal asks its prediction, after the end of the scene before it (whose closing
        // rating it never replaces: it waits for that one to be answered).
        if newly_proposed && let Some((scene, intensity)) = proposed {
            let _ = self.ask(at, Scale::Suds, Why::Prediction { scene, intensity });
        }
        if let Some(why) = self.deferred {
            let still = matches!(why, Why::Prediction { scene, intensity } if proposed == Some((scene, intensity)));
            let free = !self.record.open().iter().any(|p| p.scale == Scale::Suds);
            if !still {
                self.deferred = None;
            } else if free {
                self.deferred = None;
                let _ = self.ask(at, Scale::Suds, why);
            }
        }
    }

    /// Time passes: prompts unanswered for 20 s are recorded as no answer, and the plan's
    /// prompts come due while a scene runs (not in the safe room: nothing is asked there).
    pub fn tick(&mut self, now: u64) {
        let at = self.at(now);
        for prompt in self.record.open() {
            if at >= prompt.asked.saturating_add(ANSWER_WITHIN_MS) {
                self.rated(
                    prompt.asked.saturating_add(ANSWER_WITHIN_MS),
                    Some(prompt),
                    prompt.scale,
                    None,
                    Source::NoAnswer,
                );
            }
        }
        if self.seen.running.is_none() || self.seen.safe {
            return;
        }
        // Each comes again next tick while a prompt of its scale is still open.
        if self.after_change.is_some_and(|due| at >= due)
            && self.ask(at, Scale::Suds, Why::AfterChange).is_ok()
        {
            self.after_change = None;
        }
        if self
            .plan
            .every_ms
            .is_some_and(|every| at >= self.last_suds.saturating_add(every))
        {
            let _ = self.ask(at, Scale::Suds, Why::Periodic);
        }
        if self
            .plan
            .fms_every_ms
            .is_some_and(|every| at >= self.last_fms.saturating_add(every))
        {
            let _ = self.ask(at, Scale::Fms, Why::Periodic);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Command;
    use crate::player::SafeReason;
    use crate::ratings::DEFAULT_EVERY_MS;

    const T: Sender = Sender::Therapist;
    const P: Sender = Sender::Patient;

    /// A player and its record keeper on one fake clock.
    struct Clock {
        now: u64,
        player: ScenePlayer,
        therapy: Therapy,
    }

    impl Clock {
        fn new() -> Self {
            Self {
                now: 0,
                player: ScenePlayer::new(3, 0),
                therapy: Therapy::new(0),
            }
        }

        /// Advances to `t` in 500 ms ticks, with the therapist's heartbeat.
        fn to(&mut self, t: u64) {
            while self.now < t {
                self.now = (self.now + 500).min(t);
                let _ = self.player.apply(T, Command::Heartbeat, self.now);
                self.player.tick(self.now);
                self.therapy.observe(&self.player, self.now);
                self.therapy.tick(self.now);
            }
        }

        fn command(&mut self, sender: Sender, command: Command) {
            self.player
                .apply(sender, command, self.now)
                .expect("applies");
            self.therapy.observe(&self.player, self.now);
        }

        fn open(&self, scale: Scale) -> Prompt {
            *self
                .therapy
                .open()
                .iter()
                .find(|p| p.scale == scale)
                .expect("a prompt is open")
        }

        fn answer(&mut self, value: u8) {
            let id = self.open(Scale::Suds).id;
            self.therapy
                .answer(P, id, value, self.now)
                .expect("answered");
        }
    }

    fn heights(clock: &mut Clock, intensity: u8) {
        clock.command(
            T,
            Command::Propose {
                scene: SceneId::Heights,
                intensity,
            },
        );
    }

    #[test]
    fn a_proposal_asks_for_a_prediction_and_the_plan_asks_every_five_minutes() {
        let mut c = Clock::new();
        heights(&mut c, 3);
        let p = c.open(Scale::Suds);
        assert_eq!(
            p.why,
            Why::Prediction {
                scene: SceneId::Heights,
                intensity: 3
            }
        );
        c.answer(35);
        c.command(P, Command::Accept);
        c.to(DEFAULT_EVERY_MS - 500);
        assert!(c.therapy.open().is_empty(), "nothing before five minutes");
        c.to(DEFAULT_EVERY_MS);
        assert_eq!(c.open(Scale::Suds).why, Why::Periodic);
        assert_eq!(c.open(Scale::Suds).asked, DEFAULT_EVERY_MS);
        c.answer(50);
        c.to(2 * DEFAULT_EVERY_MS);
        assert_eq!(c.open(Scale::Suds).asked, 2 * DEFAULT_EVERY_MS);
        let figures = c.therapy.record().steps(c.now);
        assert_eq!(figures[0].predicted, Some(35));
        assert_eq!(figures[0].peak, Some(50));
    }

    #[test]
    fn no_answer_within_twenty_seconds_is_recorded_as_no_answer_never_zero() {
        let mut c = Clock::new();
        heights(&mut c, 2);
        c.answer(25);
        c.command(P, Command::Accept);
        c.therapy
            .request(T, Request::Ask { scale: Scale::Suds }, c.now)
            .expect("asked");
        let asked = c.now;
        c.to(asked + ANSWER_WITHIN_MS - 500);
        assert_eq!(c.therapy.open().len(), 1, "still waiting at 19.5 s");
        c.to(asked + ANSWER_WITHIN_MS);
        assert!(c.therapy.open().is_empty());
        let ratings = c.therapy.record().ratings();
        let last = ratings.last().expect("recorded");
        assert_eq!(last.value, None);
        assert_eq!(last.source, Source::NoAnswer);
        assert_eq!(last.at, asked + ANSWER_WITHIN_MS);
        // A late answer changes nothing.
        assert!(c.therapy.answer(P, 2, 40, c.now).is_err());
        assert_eq!(c.therapy.record().ratings().len(), ratings.len());
    }

    #[test]
    fn a_therapists_entry_is_flagged_and_only_the_patient_answers_only_a_therapist_asks() {
        let mut c = Clock::new();
        heights(&mut c, 2);
        c.command(P, Command::Accept);
        assert!(matches!(
            c.therapy
                .request(P, Request::Ask { scale: Scale::Suds }, c.now),
            Err(Refused::NotAllowed { .. })
        ));
        assert!(matches!(
            c.therapy
                .request(Sender::Other, Request::Ask { scale: Scale::Suds }, c.now),
            Err(Refused::NotAllowed { .. })
        ));
        // The prediction asked at the proposal ran out; ask again.
        c.to(ANSWER_WITHIN_MS);
        c.therapy
            .request(T, Request::Ask { scale: Scale::Suds }, c.now)
            .expect("asked");
        let id = c.open(Scale::Suds).id;
        assert!(matches!(
            c.therapy.answer(T, id, 40, c.now),
            Err(Refused::NotAllowed { .. })
        ));
        assert!(matches!(
            c.therapy.answer(Sender::Other, id, 40, c.now),
            Err(Refused::NotAllowed { .. })
        ));
        assert_eq!(c.therapy.answer(P, id, 42, c.now), Err(Refused::OutOfRange));
        c.therapy
            .request(
                T,
                Request::Entry {
                    scale: Scale::Suds,
                    value: 55,
                },
                c.now,
            )
            .expect("entered");
        let last = *c.therapy.record().ratings().last().expect("one");
        assert_eq!(last.source, Source::Therapist);
        assert_eq!(last.value, Some(55));
        assert_eq!(last.why, Why::Demand, "it answered the open prompt");
        assert!(c.therapy.open().is_empty());
    }

    #[test]
    fn a_change_asks_a_minute_later_the_end_asks_and_sickness_suggests_a_break() {
        let mut c = Clock::new();
        c.therapy
            .request(
                T,
                Request::Plan(Plan {
                    every_ms: None,
                    after_change: true,
                    fms_every_ms: Some(crate::ratings::FMS_EVERY_MS),
                }),
                0,
            )
            .expect("plan");
        heights(&mut c, 2);
        c.answer(20);
        c.command(P, Command::Accept);
        c.to(10_000);
        c.command(
            T,
            Command::SetIntensity {
                intensity: 4,
                ramp_ms: 3_000,
            },
        );
        c.to(10_000 + AFTER_CHANGE_MS - 500);
        assert!(c.therapy.open().is_empty());
        c.to(10_000 + AFTER_CHANGE_MS);
        assert_eq!(c.open(Scale::Suds).why, Why::AfterChange);
        c.answer(45);
        c.to(crate::ratings::FMS_EVERY_MS);
        let fms = c.open(Scale::Fms);
        c.therapy.answer(P, fms.id, 16, c.now).expect("fms");
        assert!(
            c.therapy
                .record()
                .entries
                .iter()
                .any(|s| s.entry == Entry::SuggestBreak)
        );
        // FMS never shows in the SUDS figures.
        let steps = c.therapy.record().steps(c.now);
        assert_eq!(steps[1].peak, Some(45));
        c.command(T, Command::End);
        assert_eq!(c.open(Scale::Suds).why, Why::End);
    }

    /// The demo's script, on a fake clock: the end asks its rating after a safe-room visit,
    /// an unanswered ask and an FMS ask.
    #[test]
    fn the_demos_script_ends_with_its_closing_rating() {
        let mut c = Clock::new();
        c.therapy
            .request(
                T,
                Request::Plan(Plan {
                    every_ms: Some(DEFAULT_EVERY_MS),
                    after_change: false,
                    fms_every_ms: Some(30_000),
                }),
                0,
            )
            .expect("plan");
        heights(&mut c, 3);
        c.answer(40);
        c.command(P, Command::Accept);
        for value in [55, 45] {
            c.therapy
                .request(T, Request::Ask { scale: Scale::Suds }, c.now)
                .expect("asked");
            c.to(c.now + 1_500);
            c.answer(value);
        }
        c.therapy
            .request(T, Request::Ask { scale: Scale::Suds }, c.now)
            .expect("asked");
        c.therapy
            .request(T, Request::Ask { scale: Scale::Fms }, c.now)
            .expect("asked");
        let fms = c.open(Scale::Fms).id;
        c.therapy.answer(P, fms, 2, c.now).expect("fms");
        c.command(
            T,
            Command::SetIntensity {
                intensity: 5,
                ramp_ms: 3_000,
            },
        );
        c.command(
            T,
            Command::Fire {
                event: crate::Event::Gust,
                announce: true,
            },
        );
        c.to(c.now + 3_000);
        c.command(P, Command::EnterSafeRoom);
        c.to(c.now + 5_000);
        c.command(P, Command::LeaveSafeRoom);
        c.to(c.now + 20_000);
        c.command(T, Command::End);
        assert_eq!(c.open(Scale::Suds).why, Why::End);
    }

    /// The therapist ends one scene and proposes the next at once (the ladder's next step to
    /// another scene): the closing rating is asked first and kept; the prediction waits for
    /// it, then is asked; neither is lost.
    #[test]
    fn ending_and_proposing_at_once_loses_neither_rating() {
        let mut c = Clock::new();
        heights(&mut c, 3);
        c.answer(40);
        c.command(P, Command::Accept);
        c.to(5_000);
        c.player.apply(T, Command::End, c.now).expect("ended");
        c.player
            .apply(
                T,
                Command::Propose {
                    scene: SceneId::Spiders,
                    intensity: 2,
                },
                c.now,
            )
            .expect("proposed");
        c.therapy.observe(&c.player, c.now);
        assert_eq!(c.open(Scale::Suds).why, Why::End);
        c.answer(25);
        c.therapy.observe(&c.player, c.now);
        assert_eq!(
            c.open(Scale::Suds).why,
            Why::Prediction {
                scene: SceneId::Spiders,
                intensity: 2
            }
        );
        c.answer(30);
        let got: Vec<(Why, Option<u8>)> = c
            .therapy
            .record()
            .ratings()
            .iter()
            .map(|r| (r.why, r.value))
            .collect();
        assert_eq!(got[1..], [(Why::End, Some(25)), (got[2].0, Some(30))]);
        assert!(
            c.therapy
                .record()
                .ratings()
                .iter()
                .all(|r| r.value.is_some())
        );
    }

    /// A therapist's flood of requests is cut at 20 a second.
    #[test]
    fn requests_past_twenty_a_second_are_refused() {
        let mut c = Clock::new();
        let plan = Request::Plan(Plan::default());
        let taken = (0..30)
            .filter(|_| c.therapy.request(T, plan, 1_500).is_ok())
            .count();
        assert_eq!(taken, 20);
        c.to(2_000);
        assert!(c.therapy.request(T, plan, 2_000).is_ok(), "the next second");
    }

    /// The end comes while an ask is still open: the closing rating takes its place, and the
    /// open one is recorded as not answered (it was not).
    #[test]
    fn the_closing_rating_takes_the_place_of_one_still_open() {
        let mut c = Clock::new();
        heights(&mut c, 3);
        c.answer(40);
        c.command(P, Command::Accept);
        c.therapy
            .request(T, Request::Ask { scale: Scale::Suds }, c.now)
            .expect("asked");
        assert!(
            c.therapy
                .request(T, Request::Ask { scale: Scale::Suds }, c.now)
                .is_err(),
            "one ask at a time"
        );
        c.to(c.now + 5_000);
        c.command(T, Command::End);
        assert_eq!(c.open(Scale::Suds).why, Why::End);
        let ratings = c.therapy.record().ratings();
        let last = ratings.last().expect("the ask closed");
        assert_eq!(
            (last.why, last.value, last.source),
            (Why::Demand, None, Source::NoAnswer)
        );
    }

    #[test]
    fn the_safe_room_and_events_and_pins_are_recorded_and_handed_out_once() {
        let mut c = Clock::new();
        heights(&mut c, 5);
        c.command(P, Command::Accept);
        c.command(
            T,
            Command::Fire {
                event: crate::Event::Gust,
                announce: false,
            },
        );
        c.command(
            T,
            Command::Pin {
                param: Param::Wind,
                value: 0.0,
            },
        );
        c.to(5_000);
        c.command(P, Command::EnterSafeRoom);
        c.to(12_000);
        c.command(P, Command::LeaveSafeRoom);
        let first: Vec<_> = c.therapy.unsent().to_vec();
        assert!(c.therapy.unsent().is_empty(), "each entry handed out once");
        let kinds: Vec<Entry> = first
            .iter()
            .map(|s| s.entry)
            .filter(|e| !matches!(e, Entry::Asked(_) | Entry::Rated { .. }))
            .collect();
        assert_eq!(
            kinds,
            vec![
                Entry::Started {
                    scene: SceneId::Heights,
                    intensity: 5
                },
                Entry::Event {
                    event: crate::Event::Gust,
                    announced: false
                },
                Entry::Pinned {
                    param: Param::Wind,
                    value: Some(0.0)
                },
                Entry::SafeRoom {
                    why: SafeReason::Patient
                },
                Entry::LeftSafeRoom,
            ]
        );
        assert_eq!(c.therapy.record().safe_ms(c.now), 7_000);
        // Nothing is asked in the safe room.
        c.command(P, Command::EnterSafeRoom);
        c.to(c.now + DEFAULT_EVERY_MS);
        assert!(c.therapy.open().iter().all(|p| p.why != Why::Periodic));
    }
}
