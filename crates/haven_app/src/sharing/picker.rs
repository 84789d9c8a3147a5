//! The patient's picker: what they may share, ticked item by item (records resource by
//! resource), shared only when they press "Share ticked", and what they share now, each with
//! "Stop sharing".
//!
//! Nothing leaves the patient's machine from here until they press the button: each ticked
//! picture or scan becomes an offer (already stripped or de-identified when it was loaded),
//! and the ticked records become one share holding exactly those resources (plus the patient
//! they are about), anonymised when the patient joined anonymously, with a Consent that lists
//! them (`haven_share::offer` makes both). The offers go to the share ledger.
//!
//! The logic ([`PickerAction`] in, offers and revokes out) runs in any app. The flat window
//! draws it as a panel (`crate::flat::picker_panel`); the headset as lines of the board
//! beside the seat (`crate::world_picker`, from [`picker_lines`]).

use std::sync::Arc;

use bevy::prelude::*;
use bevy::tasks::futures::check_ready;
use bevy::tasks::{AsyncComputeTaskPool, Task};
use haven_proto::Redacted;
use haven_proto::bulk::ObjectKind;
use haven_proto::signal::{PeerId, Role};
use haven_share::offer::{Offer, OfferError, ShareTerms, object_offer, records_offer};
use haven_share::records::{Records, SectionKind, Selector, summarise};

use super::protocol::{ShareSystems, Sharing};
use crate::avatar::{Appearance, RemoteAvatar};
use crate::session::SessionFigures;

/// One resource the patient may tick, as the summary shows it.
#[derive(Debug)]
pub struct PickRow {
    /// Its section.
    pub section: SectionKind,
    /// What it is, with its date.
    pub text: Redacted<String>,
    /// Its selection key (`Type/id`), to match `--select`.
    pub key: Redacted<String>,
    /// Its position in the records (what is shared: keys need not be unique).
    pub position: usize,
    /// Ticked.
    pub ticked: bool,
    /// The share (its position among the ledger's outgoing shares) it last went out in.
    pub shared_in: Option<usize>,
}

/// Something the patient may share.
#[derive(Debug)]
pub enum Candidate {
    /// A picture or a scan, prepared when it was loaded (stripped or de-identified).
    Prepared {
        /// The offer it becomes.
        offer: Offer,
        /// Ticked.
        ticked: bool,
        /// The share (its position among the ledger's outgoing shares) it last went out in.
        shared_in: Option<usize>,
    },
    /// Records, ticked resource by resource.
    Records {
        /// What the patient calls them.
        label: Redacted<String>,
        /// All of them (they never leave the machine whole).
        source: Arc<Records>,
        /// One row per resource the summary shows.
        rows: Vec<PickRow>,
    },
}

impl Candidate {
    /// Records to pick from, with the rows `selectors` name ticked (all when none are given).
    pub fn records(label: &str, source: Records, selectors: &[Selector]) -> Self {
        let summary = summarise(&source);
        let rows = summary
            .sections
            .iter()
            .flat_map(|section| {
                section.rows.iter().map(move |row| {
                    let key = row.key.expose();
                    let ticked = selectors.is_empty()
                        || selectors.iter().any(|s| match s {
                            Selector::Section(kind) => *kind == section.kind,
                            Selector::Resource(id) => {
                                let id = id.expose();
                                key == id || key.rsplit('/').next() == Some(id.as_str())
                            }
                        });
                    let date = row.date.expose();
                    let text = if date.is_empty() {
                        row.text.expose().clone()
                    } else {
                        format!("{} ({date})", row.text.expose())
                    };
                    PickRow {
                        section: section.kind,
                        text: Redacted::new(text),
                        key: row.key.clone(),
                        position: row.position,
                        ticked,
                        shared_in: None,
                    }
                })
            })
            .collect();
        Self::Records {
            label: Redacted::new(label.to_owned()),
            source: Arc::new(source),
            rows,
        }
    }

    fn ticked(&self) -> usize {
        match self {
            Self::Prepared { ticked, .. } => usize::from(*ticked),
            Self::Records { rows, .. } => rows.iter().filter(|r| r.ticked).count(),
        }
    }
}

/// What the local patient may share, and whether the panel is open.
#[derive(Resource, Debug)]
pub struct SharePicker {
    /// The candidates, in the order they were loaded.
    pub candidates: Vec<Candidate>,
    /// The terms every share from here gets.
    pub terms: ShareTerms,
    /// The panel shows the lists (else only its title button).
    pub open: bool,
    /// What the last press did, for the patient ("2 shared", "tick something first").
    pub notice: Option<String>,
    /// Files that could not be prepared (their names), and why; nothing of them is sent.
    pub refused: Vec<Redacted<String>>,
}

impl SharePicker {
    /// A picker over `candidates`, open.
    pub fn new(candidates: Vec<Candidate>, terms: ShareTerms) -> Self {
        Self {
            candidates,
            terms,
            open: true,
            notice: None,
            refused: Vec::new(),
        }
    }

    /// How many items are ticked.
    pub fn ticked(&self) -> usize {
        self.candidates.iter().map(Candidate::ticked).sum()
    }
}

/// What the patient did in the picker.
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PickerAction {
    /// Tick or untick a picture or scan (`row: None`) or one resource of a records candidate.
    Toggle {
        /// Which candidate.
        candidate: usize,
        /// Which row of it.
        row: Option<usize>,
    },
    /// Tick (`true`) or untick every row of a records candidate.
    ToggleAll {
        /// Which candidate.
        candidate: usize,
        /// Ticked or not.
        ticked: bool,
    },
    /// Share what is ticked.
    ShareTicked,
    /// Take back the share at this position of the ledger's outgoing shares.
    Revoke(usize),
    /// Open or close the panel.
    OpenClose,
    /// The patient's answer about a clinician or therapist who joined while they share
    /// something: share with them too (`true`) or not.
    AnswerNewcomer {
        /// Who joined.
        peer: PeerId,
        /// Share with them.
        share: bool,
    },
    /// Share with a clinician or therapist whose clinic credential did not check out.
    TrustAnyway(PeerId),
}

/// A line of the picker as the headset's board shows it (see [`picker_lines`]).
#[derive(Clone, Debug, PartialEq)]
pub struct PickerLine {
    /// What it says (it may name what the patient shares).
    pub text: Redacted<String>,
    /// What it is.
    pub kind: PickerLineKind,
    /// Indented this many steps (a record under its heading).
    pub indent: u8,
    /// One of the list of what may be shared (which scrolls when long).
    pub in_list: bool,
}

/// What a line of the picker is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PickerLineKind {
    /// Words.
    Note,
    /// Words of warning.
    Warning,
    /// A tick box and what pressing it does.
    Tick(bool, PickerAction),
    /// A button that goes ahead (share), a plain one, or one that stops something.
    Button(PickerAction, Weight),
}

/// How a picker button looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weight {
    /// Goes ahead (share).
    Go,
    /// Neither.
    Plain,
    /// Stops something.
    Stop,
}

/// The picker as lines, top down: the title (which opens and closes it), newcomers and
/// unverified clinicians waiting for an answer, then (open) what may be shared with tick
/// boxes, "Share ticked", a notice, and what is shared now with "Stop sharing". `who` names a
/// peer as the patient knows them.
pub fn picker_lines(
    picker: &SharePicker,
    sharing: &Sharing,
    who: impl Fn(PeerId) -> String,
) -> Vec<PickerLine> {
    let mut out = Vec::new();
    let mut line = |text: String, kind: PickerLineKind, indent: u8, in_list: bool| {
        out.push(PickerLine {
            text: Redacted::new(text),
            kind,
            indent,
            in_list,
        });
    };
    let mine = sharing.ledger.outgoing();
    let active = mine.iter().filter(|s| !s.revoked).count();
    let live = |shared_in: Option<usize>| {
        shared_in.is_some_and(|i| mine.get(i).is_some_and(|s| !s.revoked))
    };
    let title = if picker.open {
        "What you share  (hide)".to_owned()
    } else {
        format!("What you share: {active} shared  (show)")
    };
    line(
        title,
        PickerLineKind::Button(PickerAction::OpenClose, Weight::Plain),
        0,
        false,
    );
    for peer in sharing.ledger.newcomers() {
        let name = who(peer);
        line(
            format!("{name} joined. Share what you share now with them too?"),
            PickerLineKind::Note,
            0,
            false,
        );
        line(
            "Share with them".to_owned(),
            PickerLineKind::Button(
                PickerAction::AnswerNewcomer { peer, share: true },
                Weight::Go,
            ),
            1,
            false,
        );
        line(
            "Not now".to_owned(),
            PickerLineKind::Button(
                PickerAction::AnswerNewcomer { peer, share: false },
                Weight::Plain,
            ),
            1,
            false,
        );
    }
    for peer in sharing.ledger.unverified() {
        let name = who(peer);
        line(
            format!("{name} is NOT verified by your clinic. Nothing is shared with them."),
            PickerLineKind::Warning,
            0,
            false,
        );
        line(
            "Share with them anyway".to_owned(),
            PickerLineKind::Button(PickerAction::TrustAnyway(peer), Weight::Plain),
            1,
            false,
        );
    }
    if !picker.open {
        return out;
    }
    for refused in &picker.refused {
        line(
            format!("Not offered (nothing of it is sent): {}", refused.expose()),
            PickerLineKind::Warning,
            0,
            false,
        );
    }
    line(
        "Nothing is sent until you press Share. Tick what the clinician may see:".to_owned(),
        PickerLineKind::Note,
        0,
        false,
    );
    let shared = |yes: bool| if yes { "  - shared" } else { "" };
    for (c, candidate) in picker.candidates.iter().enumerate() {
        match candidate {
            Candidate::Prepared {
                offer,
                ticked,
                shared_in,
            } => {
                let what = match offer.kind {
                    ObjectKind::Dicom => "Scan",
                    ObjectKind::Fhir => "Records",
                    _ => "Picture",
                };
                line(
                    format!(
                        "{what}: {}{}",
                        offer.label.expose(),
                        shared(live(*shared_in))
                    ),
                    PickerLineKind::Tick(
                        *ticked,
                        PickerAction::Toggle {
                            candidate: c,
                            row: None,
                        },
                    ),
                    0,
                    true,
                );
                if let Some(caution) = offer.caution {
                    line(caution.to_owned(), PickerLineKind::Warning, 1, true);
                }
            }
            Candidate::Records {
                label: name, rows, ..
            } => {
                let all = rows.iter().all(|r| r.ticked);
                line(
                    format!("Records: {} (all {} items)", name.expose(), rows.len()),
                    PickerLineKind::Tick(
                        all,
                        PickerAction::ToggleAll {
                            candidate: c,
                            ticked: !all,
                        },
                    ),
                    0,
                    true,
                );
                let mut section = None;
                for (r, row) in rows.iter().enumerate() {
                    if section != Some(row.section) {
                        section = Some(row.section);
                        line(
                            row.section.title().to_owned(),
                            PickerLineKind::Note,
                            1,
                            true,
                        );
                    }
                    line(
                        format!("{}{}", row.text.expose(), shared(live(row.shared_in))),
                        PickerLineKind::Tick(
                            row.ticked,
                            PickerAction::Toggle {
                                candidate: c,
                                row: Some(r),
                            },
                        ),
                        1,
                        true,
                    );
                }
            }
        }
    }
    let ticked = picker.ticked();
    line(
        format!("Share ticked ({ticked})"),
        PickerLineKind::Button(
            PickerAction::ShareTicked,
            if ticked > 0 {
                Weight::Go
            } else {
                Weight::Plain
            },
        ),
        0,
        false,
    );
    if let Some(notice) = &picker.notice {
        line(notice.clone(), PickerLineKind::Note, 0, false);
    }
    if !mine.is_empty() {
        line("Shared now:".to_owned(), PickerLineKind::Note, 0, false);
    }
    for (i, share) in mine.iter().enumerate() {
        line(
            format!("{} - {}", share.offer.label.expose(), share_state(share)),
            PickerLineKind::Note,
            0,
            false,
        );
        if !share.revoked {
            line(
                "Stop sharing".to_owned(),
                PickerLineKind::Button(PickerAction::Revoke(i), Weight::Stop),
                1,
                false,
            );
        }
    }
    out
}

/// A peer as the patient knows them: the name they show, else their role.
pub fn known_as<'a>(
    peer: PeerId,
    avatars: impl IntoIterator<Item = (&'a RemoteAvatar, &'a Appearance)>,
    figures: &SessionFigures,
) -> String {
    avatars
        .into_iter()
        .find_map(|(a, look)| match look {
            Appearance::Named { name, .. } if a.peer == peer => Some(name.expose().clone()),
            _ => None,
        })
        .unwrap_or_else(|| match figures.role_of(peer) {
            Some(Role::Therapist) => "A therapist".to_owned(),
            _ => "A clinician".to_owned(),
        })
}

/// Where one of the patient's shares stands, in their words.
pub fn share_state(share: &haven_share::ledger::Outgoing) -> &'static str {
    if share.revoked && share.purged {
        "stopped; the clinician's copy is gone"
    } else if share.revoked {
        "stopped"
    } else if share.viewed {
        "seen by the clinician"
    } else if !share.delivered.is_empty() {
        "delivered"
    } else {
        "not delivered yet"
    }
}

/// The patient's picker: its logic everywhere, its panel in the flat window.
#[derive(Debug, Default)]
pub struct PickerPlugin;

impl Plugin for PickerPlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<PickerAction>()
            .init_resource::<Preparing>()
            .add_systems(
                Update,
                (apply, finish_prepared)
                    .chain()
                    .run_if(resource_exists::<SharePicker>)
                    .in_set(ShareSystems::Picker),
            );
    }
}

/// A press of "Share ticked" being prepared on the compute pool: anonymising records and
/// hashing a scan for its Consent take longer than a frame.
#[derive(Resource, Default)]
struct Preparing(Option<Task<Vec<Prepared>>>);

/// One offer a press prepared, or why it could not be, with where it came from.
type Prepared = (Source, Result<Offer, OfferError>);

/// Where a prepared offer came from in the picker.
enum Source {
    /// A picture or scan (its candidate).
    Picture(usize),
    /// Records: the candidate and the rows that went into the share.
    Rows(usize, Vec<usize>),
}

/// What one press asks the compute pool to make.
enum Job {
    Picture(
        usize,
        ObjectKind,
        Arc<Vec<u8>>,
        String,
        Option<&'static str>,
    ),
    Rows(usize, Vec<usize>, Arc<Records>, Vec<usize>, String),
}

fn apply(
    mut actions: MessageReader<'_, '_, PickerAction>,
    mut picker: ResMut<'_, SharePicker>,
    mut preparing: ResMut<'_, Preparing>,
    mut sharing: ResMut<'_, Sharing>,
    mut trust: MessageWriter<'_, super::TrustAnyway>,
) {
    for action in actions.read() {
        let picker = &mut *picker;
        match *action {
            PickerAction::Toggle { candidate, row } => {
                match (picker.candidates.get_mut(candidate), row) {
                    (Some(Candidate::Prepared { ticked, .. }), None) => *ticked = !*ticked,
                    (Some(Candidate::Records { rows, .. }), Some(row)) => {
                        if let Some(row) = rows.get_mut(row) {
                            row.ticked = !row.ticked;
                        }
                    }
                    _ => {}
                }
                picker.notice = None;
            }
            PickerAction::ToggleAll { candidate, ticked } => {
                if let Some(Candidate::Records { rows, .. }) = picker.candidates.get_mut(candidate)
                {
                    for row in rows {
                        row.ticked = ticked;
                    }
                }
                picker.notice = None;
            }
            // One press at a time: a second while the first is prepared waits for it.
            PickerAction::ShareTicked if preparing.0.is_none() => {
                let jobs = take_ticked(picker);
                if jobs.is_empty() {
                    picker.notice = Some("Tick what you want to share first.".to_owned());
                    continue;
                }
                picker.notice = Some("Preparing what you ticked...".to_owned());
                let terms = picker.terms;
                preparing.0 =
                    Some(AsyncComputeTaskPool::get().spawn(async move { prepare(jobs, &terms) }));
            }
            PickerAction::ShareTicked => {}
            PickerAction::Revoke(i) => {
                if sharing.ledger.outgoing().get(i).is_some_and(|s| !s.revoked) {
                    sharing.ledger.revoke(i);
                    picker.notice = Some("Stopped sharing it.".into());
                }
            }
            PickerAction::OpenClose => picker.open = !picker.open,
            PickerAction::AnswerNewcomer { peer, share: true } => {
                sharing.ledger.share_with(peer);
                picker.notice = Some("Shared with them too.".into());
            }
            PickerAction::AnswerNewcomer { peer, share: false } => {
                sharing.ledger.decline(peer);
                picker.notice = Some("Not shared with them.".into());
            }
            PickerAction::TrustAnyway(peer) => {
                // The protocol tells the ledger and the session (which holds back what waits
                // for an unchecked connection).
                trust.write(super::TrustAnyway(peer));
                picker.notice = Some("Shared with them, unverified.".into());
            }
        }
    }
}

/// Unticks what is ticked and says what to prepare from it.
fn take_ticked(picker: &mut SharePicker) -> Vec<Job> {
    let mut jobs = Vec::new();
    for (c, candidate) in picker.candidates.iter_mut().enumerate() {
        match candidate {
            Candidate::Prepared { offer, ticked, .. } if *ticked => {
                *ticked = false;
                jobs.push(Job::Picture(
                    c,
                    offer.kind,
                    Arc::clone(offer.data.expose()),
                    offer.label.expose().clone(),
                    offer.caution,
                ));
            }
            Candidate::Records {
                label,
                source,
                rows,
            } if rows.iter().any(|r| r.ticked) => {
                let (picked, positions) = rows
                    .iter_mut()
                    .enumerate()
                    .filter(|(_, r)| r.ticked)
                    .map(|(i, r)| {
                        r.ticked = false;
                        (i, r.position)
                    })
                    .unzip();
                jobs.push(Job::Rows(
                    c,
                    picked,
                    Arc::clone(source),
                    positions,
                    label.expose().clone(),
                ));
            }
            _ => {}
        }
    }
    jobs
}

/// Makes the offers (on the compute pool): a new Consent for each picture or scan, and the
/// ticked records selected, anonymised when the terms say so, with theirs.
fn prepare(jobs: Vec<Job>, terms: &ShareTerms) -> Vec<Prepared> {
    jobs.into_iter()
        .map(|job| match job {
            Job::Picture(c, kind, data, label, caution) => (
                Source::Picture(c),
                object_offer(kind, data, &label, terms).map(|mut offer| {
                    offer.caution = caution;
                    offer
                }),
            ),
            Job::Rows(c, rows, source, positions, label) => (
                Source::Rows(c, rows),
                records_offer(source.select_positions(&positions), &label, terms),
            ),
        })
        .collect()
}

/// Offers what a press prepared, in order, and marks where each went among the ledger's
/// outgoing shares. What failed is ticked again, with why.
fn finish_prepared(
    mut preparing: ResMut<'_, Preparing>,
    mut picker: ResMut<'_, SharePicker>,
    mut sharing: ResMut<'_, Sharing>,
) {
    let Some(done) = preparing.0.as_mut().and_then(check_ready) else {
        return;
    };
    preparing.0 = None;
    let (mut shared, mut failed) = (0, None);
    for (source, result) in done {
        let sent = result
            .inspect_err(|e| {
                warn!("something ticked could not be shared: {e}");
                failed = Some(e.to_string());
            })
            .ok()
            .map(|offer| {
                shared += 1;
                sharing.ledger.offer(offer)
            });
        let candidates = &mut picker.candidates;
        match source {
            Source::Picture(c) => {
                if let Some(Candidate::Prepared {
                    ticked, shared_in, ..
                }) = candidates.get_mut(c)
                {
                    *ticked = sent.is_none();
                    *shared_in = sent.or(*shared_in);
                }
            }
            Source::Rows(c, picked) => {
                if let Some(Candidate::Records { rows, .. }) = candidates.get_mut(c) {
                    for r in picked {
                        if let Some(row) = rows.get_mut(r) {
                            row.ticked = sent.is_none();
                            row.shared_in = sent.or(row.shared_in);
                        }
                    }
                }
            }
        }
    }
    picker.notice = Some(match failed {
        None => format!("Shared {shared} item(s). You can stop sharing any time."),
        Some(why) => format!("Not shared: {why}"),
    });
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bevy::time::TimeUpdateStrategy;
    use haven_proto::signal::{PeerId, PeerInfo, Role};
    use haven_share::records::{Limits, parse};

    use super::*;
    use haven_proto::control::MAX_SHARE_CONSENT;
    use haven_share::offer::make_offer;

    use crate::session::{SessionFigures, SessionPlugin};
    use crate::sharing::SharePlugin;

    fn ips() -> Records {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/data/fhir/ips-nz-pj.json"
        ))
        .expect("test data");
        parse(&bytes, &Limits::default()).expect("parses")
    }

    fn terms(anonymous: bool) -> ShareTerms {
        ShareTerms {
            anonymous,
            may_keep: false,
            share_for: Duration::from_secs(600),
        }
    }

    fn app(candidates: Vec<Candidate>, anonymous: bool) -> App {
        let mut app = App::new();
        app.add_plugins((TaskPoolPlugin::default(), bevy::time::TimePlugin))
            .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(
                10,
            )))
            .add_plugins((SessionPlugin, SharePlugin))
            .insert_resource(SharePicker::new(candidates, terms(anonymous)));
        app.world_mut().resource_mut::<SessionFigures>().me = Some(PeerInfo {
            id: PeerId(1),
            role: Role::Patient,
        });
        app.update();
        app
    }

    /// Presses, then runs frames until what a share press prepares on the compute pool is
    /// sent (bounded).
    fn act(app: &mut App, action: PickerAction) {
        app.world_mut().write_message(action);
        app.update();
        for _ in 0..1000 {
            if app.world().resource::<Preparing>().0.is_none() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
            app.update();
        }
        assert!(
            app.world().resource::<Preparing>().0.is_none(),
            "the share was prepared in time"
        );
        app.update();
    }

    fn rows(app: &App) -> Vec<(SectionKind, bool)> {
        match &app.world().resource::<SharePicker>().candidates[0] {
            Candidate::Records { rows, .. } => rows.iter().map(|r| (r.section, r.ticked)).collect(),
            Candidate::Prepared { .. } => unreachable!("records first"),
        }
    }

    #[test]
    fn select_ticks_rows_by_section_or_id_and_nothing_ticks_everything() {
        let all = Candidate::records("summary", ips(), &[]);
        let Candidate::Records { rows, .. } = &all else {
            unreachable!("records")
        };
        assert!(rows.len() > 10, "{} rows", rows.len());
        assert!(rows.iter().all(|r| r.ticked));

        let some = Candidate::records(
            "summary",
            ips(),
            &[Selector::Section(SectionKind::Allergies)],
        );
        let Candidate::Records { rows, .. } = &some else {
            unreachable!("records")
        };
        assert!(rows.iter().any(|r| r.ticked));
        assert!(
            rows.iter()
                .all(|r| r.ticked == (r.section == SectionKind::Allergies))
        );
        // By id: the bare id of one row's `Type/id` key ticks that row only.
        let key = rows[0].key.expose().clone();
        let id = key.rsplit('/').next().expect("an id").to_owned();
        let one = Candidate::records("summary", ips(), &[Selector::Resource(Redacted::new(id))]);
        let Candidate::Records { rows, .. } = &one else {
            unreachable!("records")
        };
        assert_eq!(rows.iter().filter(|r| r.ticked).count(), 1);
        assert!(rows[0].ticked);
    }

    /// The patient unticks everything, ticks two allergy rows, shares: one share goes out
    /// holding exactly those two allergies (and the patient they are about), anonymised; the
    /// rows are marked shared and unticked; pressing again with nothing ticked shares nothing;
    /// "Stop sharing" revokes it.
    #[test]
    fn share_ticked_sends_exactly_the_ticked_records_and_stop_revokes() {
        let mut app = app(vec![Candidate::records("summary", ips(), &[])], true);
        act(
            &mut app,
            PickerAction::ToggleAll {
                candidate: 0,
                ticked: false,
            },
        );
        assert!(rows(&app).iter().all(|(_, t)| !t));
        let allergies: Vec<usize> = rows(&app)
            .iter()
            .enumerate()
            .filter(|(_, (s, _))| *s == SectionKind::Allergies)
            .map(|(i, _)| i)
            .collect();
        assert!(!allergies.is_empty(), "the IPS example lists allergies");
        let picked = &allergies[..allergies.len().min(2)];
        for &row in picked {
            act(
                &mut app,
                PickerAction::Toggle {
                    candidate: 0,
                    row: Some(row),
                },
            );
        }
        assert_eq!(app.world().resource::<SharePicker>().ticked(), picked.len());
        act(&mut app, PickerAction::ShareTicked);

        let mine = app.world().resource::<Sharing>().ledger.outgoing();
        assert_eq!(mine.len(), 1, "one share for the ticked records");
        let offer = &mine[0].offer;
        assert_eq!(offer.kind, ObjectKind::Fhir);
        assert_eq!(
            offer.label.expose(),
            "Shared records",
            "an anonymous patient's label"
        );
        let sent = parse(offer.data.expose(), &Limits::default()).expect("a Bundle");
        let types: Vec<String> = sent
            .resources()
            .map(|r| r.resource_type().to_owned())
            .collect();
        assert_eq!(
            types.iter().filter(|t| *t == "AllergyIntolerance").count(),
            picked.len(),
            "{types:?}"
        );
        assert!(
            types
                .iter()
                .all(|t| t == "AllergyIntolerance" || t == "Patient"),
            "only the ticked records and their patient: {types:?}"
        );
        let picker = app.world().resource::<SharePicker>();
        assert_eq!(picker.ticked(), 0);
        let Candidate::Records { rows, .. } = &picker.candidates[0] else {
            unreachable!("records")
        };
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row.shared_in.is_some(), picked.contains(&i), "row {i}");
        }

        act(&mut app, PickerAction::ShareTicked);
        assert_eq!(app.world().resource::<Sharing>().ledger.outgoing().len(), 1);
        assert_eq!(
            app.world().resource::<SharePicker>().notice.as_deref(),
            Some("Tick what you want to share first.")
        );

        act(&mut app, PickerAction::Revoke(0));
        assert!(app.world().resource::<Sharing>().ledger.outgoing()[0].revoked);
    }

    #[test]
    fn a_named_patient_keeps_the_label_and_a_picture_goes_as_prepared() {
        let picture = make_offer(
            ObjectKind::Image,
            Arc::new(vec![1, 2, 3]),
            "{}".to_owned(),
            "knee photo",
            &terms(false),
        )
        .expect("an offer");
        let mut app = app(
            vec![
                Candidate::records(
                    "my summary",
                    ips(),
                    &[Selector::Section(SectionKind::Problems)],
                ),
                Candidate::Prepared {
                    offer: picture,
                    ticked: false,
                    shared_in: None,
                },
            ],
            false,
        );
        act(
            &mut app,
            PickerAction::Toggle {
                candidate: 1,
                row: None,
            },
        );
        act(&mut app, PickerAction::ShareTicked);
        let mine = app.world().resource::<Sharing>().ledger.outgoing();
        let labels: Vec<&str> = mine
            .iter()
            .map(|s| s.offer.label.expose().as_str())
            .collect();
        assert_eq!(labels, ["my summary", "knee photo"]);
        assert_eq!(mine[1].offer.data.expose().as_slice(), [1, 2, 3]);
        let sent = parse(mine[0].offer.data.expose(), &Limits::default()).expect("a Bundle");
        assert!(
            sent.resources()
                .all(|r| matches!(r.resource_type(), "Condition" | "Patient")),
            "problems only"
        );
        // An oversized Consent is refused with a typed error, not sent.
        let too_long = make_offer(
            ObjectKind::Image,
            Arc::new(vec![0]),
            "x".repeat(MAX_SHARE_CONSENT + 1),
            "x",
            &terms(false),
        );
        assert!(matches!(too_long, Err(OfferError::ConsentTooLong(_))));
    }
}
