//! The patient's picker: what they may share, ticked item by item (records resource by
//! resource), shared only when they press "Share ticked", and what they share now, each with
//! "Stop sharing".
//!
//! Nothing leaves the patient's machine from here until they press the button: each ticked
//! picture or scan becomes an [`OfferShare`] (already stripped or de-identified when it was
//! loaded), and the ticked records become one share holding exactly those resources (plus the
//! patient they are about), anonymised when the patient joined anonymously, with a Consent
//! that lists them. The share plugin then sends each offer to every clinician.
//!
//! The logic ([`PickerAction`] in, offers and revokes out) runs in any app; the panel is drawn
//! by the flat front end only (the headset has no picker yet).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bevy::input::mouse::{AccumulatedMouseScroll, MouseScrollUnit};
use bevy::prelude::*;
use bevy::tasks::futures::check_ready;
use bevy::tasks::{AsyncComputeTaskPool, Task};
use bevy::ui::RelativeCursorPosition;
use haven_proto::Redacted;
use haven_proto::bulk::ObjectKind;
use haven_proto::control::{MAX_SHARE_CONSENT, MAX_SHARE_LABEL};
use haven_share::records::{
    self, ConsentRequest, Records, SectionKind, Selector, ShareMode, summarise,
};

use crate::flat::FlatView;
use crate::share::{MyShares, OfferShare, RevokeShare};

/// The terms the patient set for what they share (on the command line, for now).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShareTerms {
    /// Records are anonymised (HIPAA Safe Harbor) and labels are generic.
    pub anonymous: bool,
    /// The clinic may keep what is shared.
    pub may_keep: bool,
    /// How long a share holds.
    pub share_for: Duration,
}

impl ShareTerms {
    /// The Consent's terms for a share made now.
    pub fn consent_request(&self) -> ConsentRequest {
        let now = unix_now();
        let mut nonce = [0u8; 4];
        let _ = getrandom::fill(&mut nonce);
        ConsentRequest {
            share_id: format!("share-{now:x}-{}", u32::from_le_bytes(nonce)),
            now_unix: now,
            duration_secs: i64::try_from(self.share_for.as_secs()).unwrap_or(i64::MAX),
            purpose: records::Purpose::Treatment,
            clinic_may_keep: self.may_keep,
        }
    }

    /// Until when a share made now holds, Unix seconds.
    pub fn until(&self) -> u64 {
        (unix_now() as u64).saturating_add(self.share_for.as_secs())
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Why something cannot be offered (no patient data in it).
#[derive(Debug, thiserror::Error)]
pub enum OfferError {
    /// The records could not be selected or anonymised.
    #[error(transparent)]
    Records(#[from] records::RecordsError),
    /// The Consent would not fit in one share.
    #[error("its Consent lists too much for one share ({0} bytes); share fewer records at once")]
    ConsentTooLong(usize),
    /// The Consent could not be written.
    #[error("the Consent could not be written: {0}")]
    Json(#[from] serde_json::Error),
}

/// An offer of prepared bytes, with the label cut to the wire's limit and, for an anonymous
/// patient, replaced by a generic one (a file name can carry a name).
pub fn make_offer(
    kind: ObjectKind,
    data: Arc<Vec<u8>>,
    consent: String,
    label: &str,
    terms: &ShareTerms,
) -> Result<OfferShare, OfferError> {
    if consent.len() > MAX_SHARE_CONSENT {
        return Err(OfferError::ConsentTooLong(consent.len()));
    }
    let mut label = if terms.anonymous {
        match kind {
            ObjectKind::Fhir => "Shared records".to_owned(),
            ObjectKind::Dicom => "Shared scan".to_owned(),
            _ => "Shared picture".to_owned(),
        }
    } else {
        label.to_owned()
    };
    while label.len() > MAX_SHARE_LABEL {
        label.pop();
    }
    Ok(OfferShare {
        kind,
        data: Redacted::new(data),
        label: Redacted::new(label),
        consent: Redacted::new(consent),
        may_keep: terms.may_keep,
        until: terms.until(),
    })
}

/// A FHIR Consent for an image or DICOM share made now: the object is named by its SHA-256.
pub fn object_consent(request: &ConsentRequest, what: &str, data: &[u8]) -> String {
    let digest: String = haven_share::audit::object_digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let start = records::format_instant(request.now_unix);
    let end = records::format_instant(request.now_unix + request.duration_secs);
    serde_json::json!({
        "resourceType": "Consent",
        "id": request.share_id,
        "status": "active",
        "scope": { "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/consentscope",
            "code": "patient-privacy", "display": "Privacy Consent" }] },
        "category": [{ "coding": [{ "system": "http://loinc.org", "code": "59284-0",
            "display": "Patient Consent" }] }],
        "dateTime": start,
        "policyRule": { "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN" }] },
        "extension": [{ "url": records::CLINIC_MAY_KEEP_EXTENSION,
            "valueBoolean": request.clinic_may_keep }],
        "provision": {
            "type": "permit",
            "period": { "start": start, "end": end },
            "actor": [{ "role": { "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                "code": "IRCP", "display": "information recipient" }] },
                "reference": { "display": "the clinician in this consult" } }],
            "purpose": [{ "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                "code": "TREAT", "display": "treatment" }],
            "data": [{ "meaning": "instance", "reference": {
                "identifier": { "system": "urn:haven:object-sha256", "value": digest },
                "display": what } }]
        }
    })
    .to_string()
}

/// What a prepared object is called in its Consent.
fn consent_noun(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Dicom => "DICOM image",
        ObjectKind::Fhir => "records",
        _ => "image",
    }
}

/// An offer of a prepared picture or scan, with its Consent made now.
pub fn object_offer(
    kind: ObjectKind,
    data: Arc<Vec<u8>>,
    label: &str,
    terms: &ShareTerms,
) -> Result<OfferShare, OfferError> {
    let consent = object_consent(&terms.consent_request(), consent_noun(kind), &data);
    make_offer(kind, data, consent, label, terms)
}

/// An offer of records already selected: anonymised when the terms say so, with a Consent for
/// exactly what is sent.
pub fn records_offer(
    selected: Records,
    label: &str,
    terms: &ShareTerms,
) -> Result<OfferShare, OfferError> {
    let mode = if terms.anonymous {
        ShareMode::Anonymous
    } else {
        ShareMode::Named
    };
    let prepared = records::prepare_selected(selected, mode, &terms.consent_request())?;
    let consent = serde_json::to_string(prepared.consent.expose())?;
    make_offer(
        ObjectKind::Fhir,
        Arc::new(prepared.bundle_json.into_inner()),
        consent,
        label,
        terms,
    )
}

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
    /// The share (its position in [`MyShares`]) it last went out in.
    pub shared_in: Option<usize>,
}

/// Something the patient may share.
#[derive(Debug)]
pub enum Candidate {
    /// A picture or a scan, prepared when it was loaded (stripped or de-identified).
    Prepared {
        /// The offer it becomes.
        offer: OfferShare,
        /// Ticked.
        ticked: bool,
        /// The share (its position in [`MyShares`]) it last went out in.
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
    /// Take back the share at this position of [`MyShares`].
    Revoke(usize),
    /// Open or close the panel.
    OpenClose,
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
                (
                    (apply, finish_prepared.before(crate::share::take_offers))
                        .chain()
                        .run_if(resource_exists::<SharePicker>),
                    (spawn_panel, rebuild_panel, press, scroll).chain().run_if(
                        resource_exists::<SharePicker>.and_then(resource_exists::<FlatView>),
                    ),
                )
                    .chain(),
            );
    }
}

/// A press of "Share ticked" being prepared on the compute pool: anonymising records and
/// hashing a scan for its Consent take longer than a frame.
#[derive(Resource, Default)]
struct Preparing(Option<Task<Vec<Prepared>>>);

/// One offer a press prepared, or why it could not be, with where it came from.
type Prepared = (Source, Result<OfferShare, OfferError>);

/// Where a prepared offer came from in the picker.
enum Source {
    /// A picture or scan (its candidate).
    Picture(usize),
    /// Records: the candidate and the rows that went into the share.
    Rows(usize, Vec<usize>),
}

/// What one press asks the compute pool to make.
enum Job {
    Picture(usize, ObjectKind, Arc<Vec<u8>>, String),
    Rows(usize, Vec<usize>, Arc<Records>, Vec<usize>, String),
}

fn apply(
    mut actions: MessageReader<'_, '_, PickerAction>,
    mut picker: ResMut<'_, SharePicker>,
    mut preparing: ResMut<'_, Preparing>,
    mine: Res<'_, MyShares>,
    mut revokes: MessageWriter<'_, RevokeShare>,
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
                if mine.0.get(i).is_some_and(|s| !s.revoked) {
                    revokes.write(RevokeShare(i));
                    picker.notice = Some("Stopped sharing it.".into());
                }
            }
            PickerAction::OpenClose => picker.open = !picker.open,
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
            Job::Picture(c, kind, data, label) => {
                (Source::Picture(c), object_offer(kind, data, &label, terms))
            }
            Job::Rows(c, rows, source, positions, label) => (
                Source::Rows(c, rows),
                records_offer(source.select_positions(&positions), &label, terms),
            ),
        })
        .collect()
}

/// Sends what a press prepared, in order, and marks where each went in [`MyShares`] (the
/// share plugin appends offers in the order they are written, and runs after this). What
/// failed is ticked again, with why.
fn finish_prepared(
    mut preparing: ResMut<'_, Preparing>,
    mut picker: ResMut<'_, SharePicker>,
    mine: Res<'_, MyShares>,
    mut offers: MessageWriter<'_, OfferShare>,
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
                offers.write(offer);
                shared += 1;
                mine.0.len() + shared - 1
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

// The panel (flat window).

const TEXT: Color = Color::srgb(0.13, 0.16, 0.20);
const MUTED_TEXT: Color = Color::srgb(0.38, 0.42, 0.46);
const PANEL_BG: Color = Color::srgba(0.97, 0.97, 0.95, 0.90);
const BOX_EMPTY: Color = Color::srgb(1.0, 1.0, 1.0);
const BOX_TICKED: Color = Color::srgb(0.16, 0.50, 0.52);
const BUTTON_BG: Color = Color::srgb(0.90, 0.92, 0.93);
const SHARE_BG: Color = Color::srgb(0.16, 0.50, 0.52);
const STOP_BG: Color = Color::srgb(0.80, 0.33, 0.30);

/// The panel's root (top right).
#[derive(Component)]
struct PickerPanel;

/// The scrolling list inside it.
#[derive(Component)]
struct PickerList;

/// A control in the panel.
#[derive(Component, Clone, Copy, Debug)]
struct PickerButton(PickerAction);

fn spawn_panel(mut commands: Commands<'_, '_>, panels: Query<'_, '_, (), With<PickerPanel>>) {
    if !panels.is_empty() {
        return;
    }
    commands.spawn((
        PickerPanel,
        Node {
            position_type: PositionType::Absolute,
            top: px(12),
            right: px(12),
            width: px(430),
            max_height: percent(78),
            flex_direction: FlexDirection::Column,
            row_gap: px(6),
            padding: UiRect::all(px(10)),
            border_radius: BorderRadius::all(px(8)),
            ..default()
        },
        BackgroundColor(PANEL_BG),
    ));
}

fn label(text: impl Into<String>, size: f32, colour: Color) -> impl Bundle {
    (
        Text::new(text),
        TextFont::from_font_size(size),
        TextColor(colour),
    )
}

fn button(action: PickerAction, text: &str, bg: Color, fg: Color) -> impl Bundle {
    (
        PickerButton(action),
        Button,
        Node {
            padding: UiRect::axes(px(12), px(6)),
            border_radius: BorderRadius::all(px(6)),
            align_self: AlignSelf::FlexStart,
            ..default()
        },
        BackgroundColor(bg),
        children![label(text, 15.0, fg)],
    )
}

/// A row with a tick box.
fn tick_row(action: PickerAction, ticked: bool, text: &str, indent: f32) -> impl Bundle {
    (
        PickerButton(action),
        Button,
        Node {
            column_gap: px(8),
            align_items: AlignItems::Center,
            padding: UiRect {
                left: px(indent),
                top: px(2),
                bottom: px(2),
                right: px(4),
            },
            ..default()
        },
        children![
            (
                Node {
                    width: px(14),
                    height: px(14),
                    flex_shrink: 0.0,
                    border: UiRect::all(px(2)),
                    border_radius: BorderRadius::all(px(3)),
                    ..default()
                },
                BorderColor::all(BOX_TICKED),
                BackgroundColor(if ticked { BOX_TICKED } else { BOX_EMPTY }),
            ),
            label(text, 14.0, TEXT),
        ],
    )
}

/// Draws the panel again when the picker or the patient's shares change (a press, a share
/// delivered, viewed or revoked): a few dozen nodes, only then.
fn rebuild_panel(
    mut commands: Commands<'_, '_>,
    picker: Res<'_, SharePicker>,
    mine: Res<'_, MyShares>,
    panels: Query<'_, '_, Entity, With<PickerPanel>>,
    lists: Query<'_, '_, &ScrollPosition, With<PickerList>>,
    mut drawn: Local<'_, Option<Vec<[bool; 4]>>>,
) {
    let Ok(panel) = panels.single() else {
        return;
    };
    // Delivery, views and purges are recorded without change detection (the display does not
    // need them): compare what the panel shows of each share instead.
    let states: Vec<[bool; 4]> = mine
        .0
        .iter()
        .map(|s| [s.revoked, !s.delivered.is_empty(), s.viewed, s.purged])
        .collect();
    if drawn.as_ref() == Some(&states) && !picker.is_changed() {
        return;
    }
    *drawn = Some(states);
    // The list keeps where it was scrolled to (the layout clamps it to the new content).
    let scrolled = lists.iter().next().cloned().unwrap_or_default();
    let live = |shared_in: Option<usize>| {
        shared_in.is_some_and(|i| mine.0.get(i).is_some_and(|s| !s.revoked))
    };
    let mut root = commands.entity(panel);
    root.despawn_related::<Children>();
    let active = mine.0.iter().filter(|s| !s.revoked).count();
    let title = if picker.open {
        "What you share  (hide)".to_owned()
    } else {
        format!("What you share: {active} shared  (show)")
    };
    root.with_children(|p| {
        p.spawn(button(PickerAction::OpenClose, &title, BUTTON_BG, TEXT));
        if !picker.open {
            return;
        }
        for refused in &picker.refused {
            p.spawn(label(
                format!("Not offered (nothing of it is sent): {}", refused.expose()),
                14.0,
                STOP_BG,
            ));
        }
        p.spawn(label(
            "Nothing is sent until you press Share. Tick what the clinician may see:",
            14.0,
            MUTED_TEXT,
        ));
        p.spawn((
            PickerList,
            Node {
                flex_direction: FlexDirection::Column,
                overflow: Overflow::scroll_y(),
                max_height: px(330),
                row_gap: px(2),
                ..default()
            },
            scrolled,
            RelativeCursorPosition::default(),
        ))
        .with_children(|list| {
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
                        list.spawn(tick_row(
                            PickerAction::Toggle {
                                candidate: c,
                                row: None,
                            },
                            *ticked,
                            &format!(
                                "{what}: {}{}",
                                offer.label.expose(),
                                if live(*shared_in) { "  - shared" } else { "" }
                            ),
                            0.0,
                        ));
                    }
                    Candidate::Records {
                        label: name, rows, ..
                    } => {
                        let all = rows.iter().all(|r| r.ticked);
                        list.spawn(tick_row(
                            PickerAction::ToggleAll {
                                candidate: c,
                                ticked: !all,
                            },
                            all,
                            &format!("Records: {} (all {} items)", name.expose(), rows.len()),
                            0.0,
                        ));
                        let mut section = None;
                        for (r, row) in rows.iter().enumerate() {
                            if section != Some(row.section) {
                                section = Some(row.section);
                                list.spawn((
                                    label(row.section.title(), 13.0, MUTED_TEXT),
                                    Node {
                                        margin: UiRect {
                                            left: px(22),
                                            top: px(4),
                                            ..default()
                                        },
                                        ..default()
                                    },
                                ));
                            }
                            list.spawn(tick_row(
                                PickerAction::Toggle {
                                    candidate: c,
                                    row: Some(r),
                                },
                                row.ticked,
                                &if live(row.shared_in) {
                                    format!("{}  - shared", row.text.expose())
                                } else {
                                    row.text.expose().clone()
                                },
                                22.0,
                            ));
                        }
                    }
                }
            }
        });
        let ticked = picker.ticked();
        p.spawn(button(
            PickerAction::ShareTicked,
            &format!("Share ticked ({ticked})"),
            if ticked > 0 { SHARE_BG } else { BUTTON_BG },
            if ticked > 0 { Color::WHITE } else { MUTED_TEXT },
        ));
        if let Some(notice) = &picker.notice {
            p.spawn(label(notice.clone(), 14.0, TEXT));
        }
        if !mine.0.is_empty() {
            p.spawn(label("Shared now:", 14.0, MUTED_TEXT));
        }
        for (i, share) in mine.0.iter().enumerate() {
            let state = if share.revoked && share.purged {
                "stopped; the clinician's copy is gone"
            } else if share.revoked {
                "stopped"
            } else if share.viewed {
                "seen by the clinician"
            } else if !share.delivered.is_empty() {
                "delivered"
            } else {
                "not delivered yet"
            };
            p.spawn(Node {
                column_gap: px(8),
                align_items: AlignItems::Center,
                ..default()
            })
            .with_children(|line| {
                line.spawn(label(
                    format!("{} - {state}", share.offer.label.expose()),
                    14.0,
                    TEXT,
                ));
                if !share.revoked {
                    line.spawn(button(
                        PickerAction::Revoke(i),
                        "Stop sharing",
                        STOP_BG,
                        Color::WHITE,
                    ));
                }
            });
        }
    });
}

fn press(
    buttons: Query<'_, '_, (&PickerButton, &Interaction), Changed<Interaction>>,
    mut actions: MessageWriter<'_, PickerAction>,
) {
    for (button, interaction) in &buttons {
        if *interaction == Interaction::Pressed {
            actions.write(button.0);
        }
    }
}

/// The mouse wheel scrolls the list while the pointer is over it.
fn scroll(
    wheel: Res<'_, AccumulatedMouseScroll>,
    mut lists: Query<'_, '_, (&RelativeCursorPosition, &mut ScrollPosition), With<PickerList>>,
) {
    if wheel.delta.y == 0.0 {
        return;
    }
    let step = match wheel.unit {
        MouseScrollUnit::Line => 24.0,
        MouseScrollUnit::Pixel => 1.0,
    };
    for (cursor, mut position) in &mut lists {
        if cursor.cursor_over() {
            // Clamped to the content by the layout.
            position.y = (position.y - wheel.delta.y * step).max(0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bevy::time::TimeUpdateStrategy;
    use haven_proto::signal::{PeerId, PeerInfo, Role};
    use haven_share::records::{Limits, parse};

    use super::*;
    use crate::avatar::PeerGone;
    use crate::link::{LeaveRequested, SendControlTo, SessionFigures};
    use crate::share::SharePlugin;

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
            .init_resource::<SessionFigures>()
            .add_message::<SendControlTo>()
            .add_message::<LeaveRequested>()
            .add_message::<PeerGone>()
            .add_plugins((SharePlugin, PickerPlugin))
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

        let mine = app.world().resource::<MyShares>();
        assert_eq!(mine.0.len(), 1, "one share for the ticked records");
        let offer = &mine.0[0].offer;
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
        assert_eq!(app.world().resource::<MyShares>().0.len(), 1);
        assert_eq!(
            app.world().resource::<SharePicker>().notice.as_deref(),
            Some("Tick what you want to share first.")
        );

        act(&mut app, PickerAction::Revoke(0));
        assert!(app.world().resource::<MyShares>().0[0].revoked);
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
        let mine = app.world().resource::<MyShares>();
        let labels: Vec<&str> = mine
            .0
            .iter()
            .map(|s| s.offer.label.expose().as_str())
            .collect();
        assert_eq!(labels, ["my summary", "knee photo"]);
        assert_eq!(mine.0[1].offer.data.expose().as_slice(), [1, 2, 3]);
        let sent = parse(mine.0[0].offer.data.expose(), &Limits::default()).expect("a Bundle");
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
