//! What the patient shows, in the room.
//!
//! - The patient's side offers prepared objects ([`OfferShare`]: stripped images, de-identified
//!   DICOM, selected FHIR records, each with its Consent); the link sends each to every
//!   clinician as it connects, announcing it with `Control::Shared`. [`RevokeShare`] takes one
//!   back (`Control::Revoked`).
//! - The clinician's side keeps what arrives in memory only ([`Shared`]), shows the newest image
//!   or DICOM on the wall display (window/level in `shaders/dicom_window.wgsl`; keys adjust it)
//!   and the newest records' summary on the board, tells the patient it viewed it
//!   (`Control::Viewed`), and drops it on revoke, when the patient leaves or disconnects, or
//!   when the consult ends (`Control::Purged`) — unless the patient allowed the clinic to keep
//!   it, in which case it is written to the keep folder with its Consent and a Provenance.
//! - Both sides write every share, view, revoke, purge and keep to a hash-chained, signed audit
//!   log (`haven_share::audit`); it carries object ids and hashes, never contents.
//!
//! Both sides see what is shared: the patient's own offers are shown the same way.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use bevy::asset::{RenderAssetUsages, uuid_handle};
use bevy::pbr::{Material, MaterialPlugin};
use bevy::prelude::*;
use bevy::render::render_resource::{AsBindGroup, Extent3d, TextureDimension, TextureFormat};
use bevy::shader::{Shader, ShaderRef};
use bevy::tasks::futures::check_ready;
use bevy::tasks::{AsyncComputeTaskPool, Task};
use haven_proto::Redacted;
use haven_proto::bulk::{ObjectId, ObjectKind};
use haven_proto::control::Share;
use haven_proto::signal::{PeerId, Role};
use haven_share::audit::{self, Action, AuditLog};
use haven_share::dicom::{DicomLimits, FramePixels};
use haven_share::records;

use crate::avatar::PeerGone;
use crate::link::{LeaveRequested, SendControlTo, SessionFigures};

/// The wall display's shader (window/level, zoom and pan).
const DISPLAY_SHADER: Handle<Shader> = uuid_handle!("6b2f6f0e-3c1d-4b8e-9a51-5d0c7a2e9f13");

/// Where the wall display's picture goes (in front of its panel), and how big it may be.
const DISPLAY_CENTRE: Vec3 = Vec3::new(0.0, 1.75, -2.912);
const DISPLAY_SIZE: Vec2 = Vec2::new(1.5, 0.8);

/// A prepared object the local patient shares with every clinician.
#[derive(Message, Clone, Debug)]
pub struct OfferShare {
    /// What it is.
    pub kind: ObjectKind,
    /// Its bytes, ready to send (already stripped, de-identified or anonymised).
    pub data: Redacted<Arc<Vec<u8>>>,
    /// What the patient calls it.
    pub label: Redacted<String>,
    /// The Consent resource (JSON) that goes with it.
    pub consent: Redacted<String>,
    /// Whether the clinic may keep it.
    pub may_keep: bool,
    /// Until when the share holds, Unix seconds.
    pub until: u64,
}

/// The patient takes back the share it offered with this label's position in [`MyShares`].
#[derive(Message, Clone, Copy, Debug)]
pub struct RevokeShare(pub usize);

/// Something about a share arrived from a peer (the link writes these).
#[derive(Message, Clone, Debug)]
pub enum ShareNews {
    /// The patient announced a share.
    Announced {
        /// From whom.
        from: PeerId,
        /// Its terms.
        share: Share,
    },
    /// An object's bytes arrived whole, their SHA-256 checked.
    Arrived {
        /// From whom.
        from: PeerId,
        /// The object.
        object: ObjectId,
        /// What it is.
        kind: ObjectKind,
        /// Its bytes (memory only).
        data: Redacted<Arc<Vec<u8>>>,
    },
    /// Part of an object arrived.
    Progress {
        /// From whom.
        from: PeerId,
        /// The object.
        object: ObjectId,
        /// Bytes so far.
        received: u64,
        /// Its size.
        size: u64,
    },
    /// The patient took a share back.
    Revoked {
        /// From whom.
        from: PeerId,
        /// The object.
        object: ObjectId,
    },
    /// A transfer was cancelled or refused (by either side).
    Cancelled {
        /// The other peer.
        peer: PeerId,
        /// The object.
        object: ObjectId,
    },
    /// One of ours arrived whole (the clinician acknowledged every byte).
    Delivered {
        /// To whom.
        to: PeerId,
        /// The object.
        object: ObjectId,
    },
    /// A peer's connection was rebuilt: room events sent just before may have been lost with
    /// the old one, so the patient's side says again what it shares and what it took back.
    Reconnected {
        /// The peer.
        peer: PeerId,
    },
    /// The clinician viewed (`viewed`) or dropped one of ours.
    Acknowledged {
        /// Who.
        from: PeerId,
        /// The object.
        object: ObjectId,
        /// Viewed (`true`) or purged.
        viewed: bool,
    },
}

/// One of the local patient's shares.
#[derive(Debug)]
pub struct MyShare {
    /// The offer.
    pub offer: OfferShare,
    /// Where it went: the clinician and the object id it got there.
    pub sent_to: Vec<(PeerId, ObjectId)>,
    /// Taken back.
    pub revoked: bool,
    /// Objects that arrived whole at the clinician.
    pub delivered: Vec<ObjectId>,
    /// A clinician said it viewed it.
    pub viewed: bool,
    /// A clinician said it dropped it (after a revoke, or when the consult ended for it).
    pub purged: bool,
}

/// The local patient's shares.
#[derive(Resource, Debug, Default)]
pub struct MyShares(pub Vec<MyShare>);

/// A share held on the clinician's side (memory only).
#[derive(Debug)]
pub struct Received {
    /// Its terms, once announced.
    pub share: Option<Share>,
    /// What it is and its bytes, once arrived.
    pub object: Option<(ObjectKind, Redacted<Arc<Vec<u8>>>)>,
    /// Bytes so far, and the size.
    pub progress: (u64, u64),
    /// Shown (and the view sent).
    pub shown: bool,
}

/// Shares the local clinician holds, by patient and object.
#[derive(Resource, Debug, Default)]
pub struct Shared(pub HashMap<(PeerId, ObjectId), Received>);

/// Shares taken back while their bytes may still be on the way: what arrives for them later is
/// dropped at once.
#[derive(Resource, Debug, Default)]
struct Revoked(std::collections::HashSet<(PeerId, ObjectId)>);

/// The side's audit log, written line by line to a file when one is given.
#[derive(Resource)]
pub struct Audit {
    log: Option<AuditLog>,
    owner: audit::Role,
    /// The local role when known before the session says it (the invite's).
    role: Option<Role>,
    lines: Vec<String>,
    file: Option<std::fs::File>,
    keep_dir: Option<PathBuf>,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit")
            .field("entries", &self.lines.len())
            .finish_non_exhaustive()
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Audit {
    /// A log for this session, kept in memory and appended to `path` if given; kept shares go
    /// to `keep_dir` if given (without one, nothing is ever written, kept or not).
    pub fn new(path: Option<PathBuf>, keep_dir: Option<PathBuf>) -> Self {
        let file = path.and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p)
                .inspect_err(|e| warn!("the audit log cannot be written ({e}); kept in memory"))
                .ok()
        });
        Self {
            log: None,
            owner: audit::Role::Clinician,
            role: None,
            lines: Vec::new(),
            file,
            keep_dir,
        }
    }

    /// Records entries as `role` (the invite's), even before the session has said it.
    pub fn with_role(mut self, role: Role) -> Self {
        self.role = Some(role);
        self
    }

    /// The log's lines so far.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    fn push(&mut self, line: String) {
        let line = line.trim_end().to_owned();
        if let Some(file) = self.file.as_mut() {
            let _ = writeln!(file, "{line}");
        }
        self.lines.push(line);
    }

    fn record(&mut self, me: Option<Role>, action: Action, object: &str, data: &[u8]) {
        let actor = match self.role.or(me) {
            Some(Role::Patient) => audit::Role::Patient,
            _ => audit::Role::Clinician,
        };
        let now = unix_now();
        if self.log.is_none() {
            let session = format!("session-{:016x}", rand_u64());
            match audit::ObjectId::new(session).and_then(|s| AuditLog::start(s, actor, now)) {
                Ok((log, header)) => {
                    self.log = Some(log);
                    self.owner = actor;
                    self.push(header);
                }
                Err(e) => {
                    warn!("the audit log could not start: {e}");
                    return;
                }
            }
        }
        let Some(log) = self.log.as_mut() else {
            return;
        };
        let appended = audit::ObjectId::new(object)
            .and_then(|id| log.append(now, action, actor, &id, &audit::object_digest(data)));
        match appended {
            Ok(line) => self.push(line),
            Err(e) => warn!("an audit entry could not be written: {e}"),
        }
    }
}

impl Drop for Audit {
    fn drop(&mut self) {
        if let Some(log) = self.log.as_mut()
            && let Ok(line) = log.close(unix_now(), self.owner)
        {
            self.push(line);
        }
    }
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b)
}

fn object_name(peer: PeerId, object: ObjectId) -> String {
    format!("peer{}-object{}", peer.0, object.0)
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
struct DisplayQuad {
    /// The file's window (to go back to).
    default_window: Vec4,
    key: (PeerId, ObjectId),
    /// The frame shown, and how many the picture has (DICOM multi-frame; 1 otherwise).
    frame: u32,
    frames: u32,
    /// The share's label (the caption).
    label: Redacted<String>,
}

/// What the boards say: the display's and the board's captions, and the records' summary.
#[derive(Resource, Debug, Default)]
pub struct PanelTexts {
    /// The wall display's caption (the share's label), if it shows something.
    pub display: Option<Redacted<String>>,
    /// The records board's summary lines, if it shows something.
    pub board: Option<Redacted<Vec<String>>>,
    /// Shares on their way, as "Receiving a share: 45 %" (both sides see transfers).
    pub progress: Option<String>,
    /// Whose share the board shows.
    pub board_from: Option<(PeerId, ObjectId)>,
    /// Something the viewer should know about the last share ("could not be shown").
    pub notice: Option<String>,
}

/// Sharing in the room.
#[derive(Debug, Default)]
pub struct SharePlugin;

impl Plugin for SharePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<MyShares>()
            .init_resource::<Shared>()
            .init_resource::<PanelTexts>()
            .init_resource::<Revoked>()
            .add_message::<OfferShare>()
            .add_message::<RevokeShare>()
            .add_message::<ShareNews>()
            .add_systems(
                Update,
                (
                    take_offers,
                    revoke,
                    receive,
                    purge_gone,
                    show,
                    end_of_consult,
                )
                    .chain(),
            );
        if !app.world().contains_resource::<Audit>() {
            app.insert_resource(Audit::new(None, None));
        }
        // The display needs the renderer; headless tests and benches run without one.
        if let Some(mut shaders) = app.world_mut().get_resource_mut::<Assets<Shader>>() {
            let _ = shaders.insert(
                DISPLAY_SHADER.id(),
                Shader::from_wgsl(
                    include_str!("../../../shaders/dicom_window.wgsl"),
                    "shaders/dicom_window.wgsl",
                ),
            );
            app.add_plugins(MaterialPlugin::<DisplayMaterial>::default())
                .add_systems(Update, place_picture.after(show))
                .add_systems(
                    Update,
                    (adjust_display, page_frames.before(place_picture))
                        .run_if(resource_exists::<ButtonInput<KeyCode>>),
                );
        }
    }
}

pub(crate) fn take_offers(
    mut offers: MessageReader<'_, '_, OfferShare>,
    mut mine: ResMut<'_, MyShares>,
    mut audit: ResMut<'_, Audit>,
    figures: Res<'_, SessionFigures>,
) {
    for offer in offers.read() {
        audit.record(
            figures.me.map(|m| m.role),
            Action::Share,
            &format!("share{}", mine.0.len()),
            offer.data.expose(),
        );
        mine.0.push(MyShare {
            offer: offer.clone(),
            sent_to: Vec::new(),
            revoked: false,
            delivered: Vec::new(),
            viewed: false,
            purged: false,
        });
    }
}

fn revoke(
    mut requests: MessageReader<'_, '_, RevokeShare>,
    mut mine: ResMut<'_, MyShares>,
    mut audit: ResMut<'_, Audit>,
    figures: Res<'_, SessionFigures>,
    mut out: MessageWriter<'_, SendControlTo>,
) {
    for &RevokeShare(i) in requests.read() {
        let Some(share) = mine.0.get_mut(i).filter(|s| !s.revoked) else {
            continue;
        };
        share.revoked = true;
        for &(to, object) in &share.sent_to {
            out.write(SendControlTo {
                to,
                message: haven_proto::control::Control::Revoked { object },
            });
        }
        let data = Arc::clone(share.offer.data.expose());
        audit.record(
            figures.me.map(|m| m.role),
            Action::Revoke,
            &format!("share{i}"),
            &data,
        );
    }
}

fn receive(
    mut news: MessageReader<'_, '_, ShareNews>,
    mut shared: ResMut<'_, Shared>,
    mut revoked: ResMut<'_, Revoked>,
    mut mine: ResMut<'_, MyShares>,
    mut audit: ResMut<'_, Audit>,
    figures: Res<'_, SessionFigures>,
    mut out: MessageWriter<'_, SendControlTo>,
) {
    let me = figures.me.map(|m| m.role);
    let fresh = || Received {
        share: None,
        object: None,
        progress: (0, 0),
        shown: false,
    };
    for n in news.read() {
        match n {
            ShareNews::Announced { from, share } => {
                if !revoked.0.contains(&(*from, share.object)) {
                    shared
                        .0
                        .entry((*from, share.object))
                        .or_insert_with(fresh)
                        .share = Some(share.clone());
                }
            }
            ShareNews::Arrived {
                from,
                object,
                kind,
                data,
            } => {
                // Taken back while on its way: dropped as it lands.
                if revoked.0.contains(&(*from, *object)) {
                    audit.record(
                        me,
                        Action::Purge,
                        &object_name(*from, *object),
                        data.expose(),
                    );
                    continue;
                }
                // Only a patient's objects are taken (the link checked the role).
                let entry = shared.0.entry((*from, *object)).or_insert_with(fresh);
                entry.object = Some((*kind, data.clone()));
                entry.progress = (data.expose().len() as u64, data.expose().len() as u64);
            }
            ShareNews::Progress {
                from,
                object,
                received,
                size,
            } => {
                if let Some(entry) = shared.0.get_mut(&(*from, *object)) {
                    entry.progress = (*received, *size);
                }
            }
            ShareNews::Revoked { from, object } => {
                // Said again after a reconnect: done already.
                if !revoked.0.insert((*from, *object)) {
                    continue;
                }
                let data = shared
                    .0
                    .remove(&(*from, *object))
                    .and_then(|e| e.object)
                    .map(|(_, d)| Arc::clone(d.expose()))
                    .unwrap_or_default();
                let name = object_name(*from, *object);
                audit.record(me, Action::Revoke, &name, &data);
                audit.record(me, Action::Purge, &name, &data);
                out.write(SendControlTo {
                    to: *from,
                    message: haven_proto::control::Control::Purged { object: *object },
                });
            }
            ShareNews::Cancelled { peer, object } => {
                // A refused or broken transfer: nothing of it is kept on the clinician's side.
                // The patient's side keeps it as sent (not delivered): sending it again would
                // only be refused again.
                if let Some(entry) = shared.0.remove(&(*peer, *object)) {
                    let data = entry
                        .object
                        .map(|(_, d)| Arc::clone(d.expose()))
                        .unwrap_or_default();
                    audit.record(me, Action::Purge, &object_name(*peer, *object), &data);
                }
            }
            ShareNews::Reconnected { peer } => {
                for share in &mine.0 {
                    for &(to, object) in share.sent_to.iter().filter(|(to, _)| to == peer) {
                        let message = if share.revoked {
                            haven_proto::control::Control::Revoked { object }
                        } else {
                            haven_proto::control::Control::Shared(Share {
                                object,
                                label: share.offer.label.clone(),
                                consent: share.offer.consent.clone(),
                                may_keep: share.offer.may_keep,
                                until: share.offer.until,
                            })
                        };
                        out.write(SendControlTo { to, message });
                    }
                }
            }
            ShareNews::Delivered { to, object } => {
                // Not a change worth showing again: only the progress line reads it.
                for share in &mut mine.bypass_change_detection().0 {
                    if share.sent_to.contains(&(*to, *object)) {
                        share.delivered.push(*object);
                    }
                }
            }
            ShareNews::Acknowledged {
                from,
                object,
                viewed,
            } => {
                let action = if *viewed { Action::View } else { Action::Purge };
                audit.record(me, action, &object_name(*from, *object), &[]);
                // The picker shows it; the display does not need to know.
                for share in &mut mine.bypass_change_detection().0 {
                    if share.sent_to.contains(&(*from, *object)) {
                        if *viewed {
                            share.viewed = true;
                        } else {
                            share.purged = true;
                        }
                    }
                }
            }
        }
    }
}

/// The consult ends for this side (it leaves, or the app closes): every share held is kept or
/// purged now, with its audit entry, and the patient is told.
fn end_of_consult(
    mut leaving: MessageReader<'_, '_, LeaveRequested>,
    mut exits: MessageReader<'_, '_, AppExit>,
    mut shared: ResMut<'_, Shared>,
    mut audit: ResMut<'_, Audit>,
    figures: Res<'_, SessionFigures>,
    mut out: MessageWriter<'_, SendControlTo>,
) {
    let ending = leaving.read().count() + exits.read().count() > 0;
    if !ending || shared.0.is_empty() {
        return;
    }
    let me = figures.me.map(|m| m.role);
    for (key, entry) in std::mem::take(&mut shared.0) {
        settle(&mut audit, me, key, entry);
        out.write(SendControlTo {
            to: key.0,
            message: haven_proto::control::Control::Purged { object: key.1 },
        });
    }
}

/// A patient who leaves takes what they shared with them, except what the clinic may keep.
fn purge_gone(
    mut gone: MessageReader<'_, '_, PeerGone>,
    mut shared: ResMut<'_, Shared>,
    mut audit: ResMut<'_, Audit>,
    figures: Res<'_, SessionFigures>,
) {
    let me = figures.me.map(|m| m.role);
    for PeerGone(peer) in gone.read() {
        let keys: Vec<_> = shared
            .0
            .keys()
            .filter(|(p, _)| p == peer)
            .copied()
            .collect();
        for key in keys {
            if let Some(entry) = shared.0.remove(&key) {
                settle(&mut audit, me, key, entry);
            }
        }
    }
}

/// Keeps (if allowed and a keep folder is set) or purges one share, with its audit entry.
fn settle(audit: &mut Audit, me: Option<Role>, key: (PeerId, ObjectId), entry: Received) {
    let name = object_name(key.0, key.1);
    let data = entry
        .object
        .as_ref()
        .map(|(_, d)| Arc::clone(d.expose()))
        .unwrap_or_default();
    let keep = entry.share.as_ref().is_some_and(|s| s.may_keep) && !data.is_empty();
    if keep
        && let Some(dir) = audit.keep_dir.clone()
        && let Some((kind, _)) = &entry.object
        && let Some(share) = &entry.share
    {
        match keep_object(&dir, *kind, &data, share) {
            Ok(()) => {
                audit.record(me, Action::Keep, &name, &data);
                return;
            }
            Err(e) => warn!("a share the clinic may keep could not be saved ({e}); purged"),
        }
    }
    audit.record(me, Action::Purge, &name, &data);
}

/// Writes a kept object with its Consent and a Provenance; file names are the object's hash.
fn keep_object(
    dir: &std::path::Path,
    kind: ObjectKind,
    data: &[u8],
    share: &Share,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let digest = hex_prefix(&audit::object_digest(data));
    let ext = match kind {
        ObjectKind::Image => "img",
        ObjectKind::Dicom => "dcm",
        _ => "json",
    };
    std::fs::write(dir.join(format!("{digest}.{ext}")), data)?;
    std::fs::write(
        dir.join(format!("{digest}.consent.json")),
        share.consent.expose(),
    )?;
    let now = unix_now();
    let provenance = serde_json::json!({
        "resourceType": "Provenance",
        "target": [{ "identifier": { "system": "urn:haven:object-sha256", "value": digest } }],
        "recorded": records::format_instant(now),
        "activity": { "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
            "code": "CREATE", "display": "create" }] },
        "agent": [{ "type": { "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
            "code": "custodian", "display": "Custodian" }] },
            "who": { "display": "the clinic" } }],
        "entity": [{ "role": "source",
            "what": { "identifier": { "system": "urn:haven:consent", "value": "consent" } } }]
    });
    std::fs::write(
        dir.join(format!("{digest}.provenance.json")),
        serde_json::to_vec_pretty(&provenance).unwrap_or_default(),
    )
}

fn hex_prefix(bytes: &[u8; 32]) -> String {
    bytes[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Something to show: whose, what kind, its bytes, its label.
type Showable = (
    (PeerId, ObjectId),
    ObjectKind,
    Arc<Vec<u8>>,
    Redacted<String>,
);

/// Shows the newest image on the wall and the newest records on the board; says it viewed them.
#[expect(
    clippy::too_many_arguments,
    reason = "a system drawing into several places"
)]
fn show(
    mut commands: Commands<'_, '_>,
    mut shared: ResMut<'_, Shared>,
    mine: Res<'_, MyShares>,
    mut texts: ResMut<'_, PanelTexts>,
    mut audit: ResMut<'_, Audit>,
    figures: Res<'_, SessionFigures>,
    mut out: MessageWriter<'_, SendControlTo>,
    quads: Query<'_, '_, (Entity, &DisplayQuad)>,
) {
    let me = figures.me.map(|m| m.role);
    // Transfers under way, in one line (no labels: it may show before the terms arrive).
    let (got, total) = shared
        .0
        .values()
        .filter(|e| e.object.is_none() && e.progress.1 > 0)
        .fold((0u64, 0u64), |(g, t), e| {
            (g + e.progress.0, t + e.progress.1)
        });
    let sending = mine
        .0
        .iter()
        .filter(|s| !s.revoked && s.sent_to.iter().any(|(_, id)| !s.delivered.contains(id)))
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
    // What is on show: for the clinician what arrived, for the patient what it offers.
    let mut ready: Vec<Showable> = Vec::new();
    for (key, entry) in &mut shared.0 {
        if let (Some(share), Some((kind, data)), false) = (&entry.share, &entry.object, entry.shown)
        {
            entry.shown = true;
            ready.push((*key, *kind, Arc::clone(data.expose()), share.label.clone()));
            out.write(SendControlTo {
                to: key.0,
                message: haven_proto::control::Control::Viewed { object: key.1 },
            });
            audit.record(me, Action::View, &object_name(key.0, key.1), data.expose());
        }
    }
    if mine.is_changed() {
        for (i, s) in mine.0.iter().enumerate().filter(|(_, s)| !s.revoked) {
            ready.push((
                (PeerId(0), ObjectId(i as u32)),
                s.offer.kind,
                Arc::clone(s.offer.data.expose()),
                s.offer.label.clone(),
            ));
        }
    }
    // Whatever the display or board shows that is no longer held goes.
    for (entity, quad) in &quads {
        if !is_held(&shared, &mine, quad.key) {
            commands.entity(entity).despawn();
            texts.display = None;
        }
    }
    if texts
        .board_from
        .is_some_and(|key| !is_held(&shared, &mine, key))
    {
        texts.board = None;
        texts.board_from = None;
    }
    // The newest picture wins the display (one quad, so window/level has one target).
    let last_picture = ready
        .iter()
        .rposition(|(_, kind, ..)| matches!(kind, ObjectKind::Image | ObjectKind::Dicom));
    for (i, (key, kind, data, label)) in ready.into_iter().enumerate() {
        match kind {
            ObjectKind::Fhir => match records::parse(&data, &records::Limits::default()) {
                Ok(parsed) => {
                    let text = records::render_text(&records::summarise(&parsed));
                    texts.board = Some(Redacted::new(
                        text.expose().lines().map(str::to_owned).collect(),
                    ));
                    texts.board_from = Some(key);
                }
                Err(e) => {
                    warn!("shared records could not be read: {e}");
                    texts.notice = Some("Shared records could not be read".to_owned());
                }
            },
            // Decoding a big picture takes longer than a frame: it goes to the compute pool and
            // the quad appears when it is done.
            ObjectKind::Image | ObjectKind::Dicom if Some(i) == last_picture => {
                let task =
                    AsyncComputeTaskPool::get().spawn(async move { picture(kind, &data, 0) });
                commands.spawn(Decoding {
                    task,
                    key,
                    label,
                    frame: 0,
                    paging: false,
                });
            }
            _ => {}
        }
    }
}

/// A shared picture being decoded off the frame loop.
#[derive(Component)]
struct Decoding {
    task: Task<Option<Picture>>,
    key: (PeerId, ObjectId),
    label: Redacted<String>,
    /// Which frame.
    frame: u32,
    /// Another frame of the picture on the display (dropped if that picture has gone).
    paging: bool,
}

/// A decoded picture: its texture, its window (x centre, y width, z invert, w colour) and how
/// many frames the file has.
struct Picture {
    image: Image,
    window: Vec4,
    frames: u32,
}

/// The wall display's caption: the label, and the frame for a multi-frame picture.
fn caption(label: &Redacted<String>, frame: u32, frames: u32) -> Redacted<String> {
    if frames > 1 {
        Redacted::new(format!(
            "{}  (frame {} of {frames}: PageUp/PageDown)",
            label.expose(),
            frame + 1
        ))
    } else {
        label.clone()
    }
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
    shared: Res<'_, Shared>,
    mine: Res<'_, MyShares>,
    mut texts: ResMut<'_, PanelTexts>,
    mut images: ResMut<'_, Assets<Image>>,
    mut meshes: ResMut<'_, Assets<Mesh>>,
    mut materials: ResMut<'_, Assets<DisplayMaterial>>,
) {
    for (entity, mut pending) in &mut decoding {
        let Some(decoded) = check_ready(&mut pending.task) else {
            continue;
        };
        commands.entity(entity).despawn();
        let key = pending.key;
        if !is_held(&shared, &mine, key) {
            continue;
        }
        let Some(Picture {
            image,
            window,
            frames,
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
            texts.display = Some(caption(&pending.label, pending.frame, quad.frames));
            continue;
        }
        if pending.paging {
            // A newer picture took the display while this frame was decoding.
            continue;
        }
        let aspect = image.width() as f32 / image.height().max(1) as f32;
        let size = if aspect > DISPLAY_SIZE.x / DISPLAY_SIZE.y {
            Vec2::new(DISPLAY_SIZE.x, DISPLAY_SIZE.x / aspect)
        } else {
            Vec2::new(DISPLAY_SIZE.y * aspect, DISPLAY_SIZE.y)
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
            Transform::from_translation(DISPLAY_CENTRE),
        ));
        texts.display = Some(caption(&pending.label, pending.frame, frames));
        texts.notice = None;
    }
}

/// Whether a share is still held: the clinician's from a patient, or one of the local
/// patient's own offers (keyed by `PeerId(0)` and its position in [`MyShares`]).
fn is_held(shared: &Shared, mine: &MyShares, key: (PeerId, ObjectId)) -> bool {
    shared.0.contains_key(&key)
        || (key.0 == PeerId(0) && mine.0.get(key.1.0 as usize).is_some_and(|s| !s.revoked))
}

/// The largest texture side every GPU takes (wgpu's default limit); a bigger picture from a
/// peer is refused rather than handed to the renderer.
const MAX_TEXTURE_SIDE: u32 = 8_192;

/// Frame `frame` of a shared picture, for the display.
fn picture(kind: ObjectKind, data: &[u8], frame: u32) -> Option<Picture> {
    let (image, window, frames) = picture_any_size(kind, data, frame)?;
    if image.width() > MAX_TEXTURE_SIDE || image.height() > MAX_TEXTURE_SIDE {
        warn!(
            "a shared picture of {}x{} is too large to show (at most {MAX_TEXTURE_SIDE} a side)",
            image.width(),
            image.height()
        );
        return None;
    }
    Some(Picture {
        image,
        window,
        frames,
    })
}

fn picture_any_size(kind: ObjectKind, data: &[u8], frame: u32) -> Option<(Image, Vec4, u32)> {
    let usage = RenderAssetUsages::RENDER_WORLD;
    match kind {
        ObjectKind::Image => {
            let decoded = decode_rgba(data)
                .inspect_err(|e| warn!("a shared image could not be shown: {e}"))
                .ok()?;
            let (w, h) = decoded.dimensions();
            let image = Image::new(
                Extent3d {
                    width: w,
                    height: h,
                    depth_or_array_layers: 1,
                },
                TextureDimension::D2,
                decoded.into_raw(),
                TextureFormat::Rgba8UnormSrgb,
                usage,
            );
            Some((image, Vec4::new(0.0, 0.0, 0.0, 1.0), 1))
        }
        ObjectKind::Dicom => {
            let file = haven_share::dicom::DicomFile::open(data, &DicomLimits::default())
                .inspect_err(|e| warn!("a shared DICOM could not be read: {e}"))
                .ok()?;
            let frames = file.frames().max(1);
            let frame = file
                .frame(frame.min(frames - 1))
                .inspect_err(|e| warn!("a shared DICOM frame could not be shown: {e}"))
                .ok()?;
            let size = Extent3d {
                width: frame.width,
                height: frame.height,
                depth_or_array_layers: 1,
            };
            let window = frame.default_window();
            match frame.pixels {
                FramePixels::Gray(values) => {
                    let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                    let w = window.map_or(Vec4::new(0.0, 1.0, 0.0, 0.0), |w| {
                        Vec4::new(w.center as f32, w.width as f32, 0.0, 0.0)
                    });
                    let w = Vec4::new(w.x, w.y, if frame.invert { 1.0 } else { 0.0 }, 0.0);
                    Some((
                        Image::new(
                            size,
                            TextureDimension::D2,
                            bytes,
                            TextureFormat::R32Float,
                            usage,
                        ),
                        w,
                        frames,
                    ))
                }
                FramePixels::Rgb8(rgb) => {
                    let rgba = rgb
                        .chunks_exact(3)
                        .flat_map(|p| [p[0], p[1], p[2], 255])
                        .collect();
                    Some((
                        Image::new(
                            size,
                            TextureDimension::D2,
                            rgba,
                            TextureFormat::Rgba8UnormSrgb,
                            usage,
                        ),
                        Vec4::new(0.0, 0.0, 0.0, 1.0),
                        frames,
                    ))
                }
            }
        }
        _ => None,
    }
}

/// Decodes a shared picture (PNG or JPEG, stripped on the patient's side) under limits.
fn decode_rgba(data: &[u8]) -> Result<image::RgbaImage, image::ImageError> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(data)).with_guessed_format()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(16_384);
    limits.max_image_height = Some(16_384);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    Ok(reader.decode()?.to_rgba8())
}

/// PageDown / PageUp show the next / previous frame of a multi-frame picture (decoded off the
/// frame loop like the first; one at a time).
fn page_frames(
    mut commands: Commands<'_, '_>,
    keys: Res<'_, ButtonInput<KeyCode>>,
    quads: Query<'_, '_, &DisplayQuad>,
    decoding: Query<'_, '_, &Decoding>,
    shared: Res<'_, Shared>,
    mine: Res<'_, MyShares>,
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
    let data = match shared.0.get(&quad.key) {
        Some(Received {
            object: Some((ObjectKind::Dicom, data)),
            ..
        }) => Arc::clone(data.expose()),
        Some(_) => return,
        None if quad.key.0 == PeerId(0) => match mine.0.get(quad.key.1.0 as usize) {
            Some(share) if !share.revoked => Arc::clone(share.offer.data.expose()),
            _ => return,
        },
        None => return,
    };
    let label = quad.label.clone();
    let task =
        AsyncComputeTaskPool::get().spawn(async move { picture(ObjectKind::Dicom, &data, next) });
    commands.spawn(Decoding {
        task,
        key: quad.key,
        label,
        frame: next,
        paging: true,
    });
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bevy::time::TimeUpdateStrategy;
    use haven_proto::control::Control;
    use haven_proto::signal::PeerInfo;

    use super::*;

    const PATIENT: PeerId = PeerId(5);

    fn app(audit_path: Option<PathBuf>, keep: Option<PathBuf>) -> App {
        let mut app = App::new();
        app.add_plugins((TaskPoolPlugin::default(), bevy::time::TimePlugin))
            .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(
                10,
            )))
            .insert_resource(Audit::new(audit_path, keep))
            .init_resource::<SessionFigures>()
            .add_message::<SendControlTo>()
            .add_message::<LeaveRequested>()
            .add_message::<PeerGone>()
            .add_plugins(SharePlugin);
        app.world_mut().resource_mut::<SessionFigures>().me = Some(PeerInfo {
            id: PeerId(1),
            role: Role::Clinician,
        });
        app
    }

    fn records() -> Vec<u8> {
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../assets/demo/patient-summary.json"
        ))
        .expect("the demo's records")
    }

    fn share(object: u32, may_keep: bool) -> Share {
        Share {
            object: ObjectId(object),
            label: Redacted::new("Summary".into()),
            consent: Redacted::new(r#"{"resourceType":"Consent","status":"active"}"#.into()),
            may_keep,
            until: 0,
        }
    }

    fn arrive(app: &mut App, object: u32, may_keep: bool) {
        app.world_mut().write_message(ShareNews::Announced {
            from: PATIENT,
            share: share(object, may_keep),
        });
        app.world_mut().write_message(ShareNews::Arrived {
            from: PATIENT,
            object: ObjectId(object),
            kind: ObjectKind::Fhir,
            data: Redacted::new(Arc::new(records())),
        });
        app.update();
    }

    fn sent(app: &mut App) -> Vec<Control> {
        app.world_mut()
            .resource_mut::<Messages<SendControlTo>>()
            .drain()
            .map(|m| {
                assert_eq!(m.to, PATIENT, "said to the patient only");
                m.message
            })
            .collect()
    }

    #[test]
    fn a_share_is_shown_viewed_then_revoked_purged_and_audited() {
        let dir = std::env::temp_dir().join(format!("haven-share-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let log = dir.join("audit.jsonl");
        let mut app = app(Some(log.clone()), None);
        arrive(&mut app, 3, false);
        let board = app
            .world()
            .resource::<PanelTexts>()
            .board
            .clone()
            .expect("on the board");
        assert!(
            board.expose().iter().any(|l| l.starts_with("Problems")),
            "a summary"
        );
        assert_eq!(
            sent(&mut app),
            vec![Control::Viewed {
                object: ObjectId(3)
            }]
        );
        // The patient takes it back: gone from memory and from the board, and said so.
        app.world_mut().write_message(ShareNews::Revoked {
            from: PATIENT,
            object: ObjectId(3),
        });
        app.update();
        app.update();
        assert!(app.world().resource::<Shared>().0.is_empty());
        assert!(app.world().resource::<PanelTexts>().board.is_none());
        assert_eq!(
            sent(&mut app),
            vec![Control::Purged {
                object: ObjectId(3)
            }]
        );
        drop(app);
        // The log: start, view, revoke, purge, close — intact, and no contents in it.
        let bytes = std::fs::read(&log).expect("the log was written");
        let report = audit::verify(&bytes).expect("reads");
        assert!(report.intact() && report.closed, "{report:?}");
        assert_eq!(report.entries, 5);
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("Problems") && !text.contains("Summary"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_patient_who_leaves_takes_everything_except_what_the_clinic_may_keep() {
        let dir = std::env::temp_dir().join(format!("haven-keep-test-{}", std::process::id()));
        let keep = dir.join("kept");
        let mut app = app(None, Some(keep.clone()));
        arrive(&mut app, 1, false);
        arrive(&mut app, 2, true);
        assert_eq!(app.world().resource::<Shared>().0.len(), 2);
        app.world_mut().write_message(PeerGone(PATIENT));
        app.update();
        assert!(
            app.world().resource::<Shared>().0.is_empty(),
            "purged from memory"
        );
        // Only the one the patient allowed was written: the object, its Consent and a
        // Provenance, named by the object's hash (nothing from the patient in a file name).
        let mut names: Vec<String> = std::fs::read_dir(&keep)
            .expect("the keep folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 3, "{names:?}");
        let digest = hex_prefix(&audit::object_digest(&records()));
        assert!(names.iter().all(|n| n.starts_with(&digest)), "{names:?}");
        assert_eq!(
            std::fs::read(keep.join(format!("{digest}.json"))).ok(),
            Some(records())
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_transfer_under_way_shows_its_progress_until_it_arrives() {
        let mut app = app(None, None);
        app.world_mut().write_message(ShareNews::Announced {
            from: PATIENT,
            share: share(4, false),
        });
        app.world_mut().write_message(ShareNews::Progress {
            from: PATIENT,
            object: ObjectId(4),
            received: 512,
            size: 1024,
        });
        app.update();
        assert_eq!(
            app.world().resource::<PanelTexts>().progress.as_deref(),
            Some("Receiving a share: 50 %")
        );
        arrive(&mut app, 4, false);
        assert_eq!(app.world().resource::<PanelTexts>().progress, None);
        assert!(app.world().resource::<PanelTexts>().board.is_some());
    }

    #[test]
    fn a_revoke_said_again_after_a_reconnect_changes_nothing() {
        let mut app = app(None, None);
        app.world_mut().write_message(ShareNews::Announced {
            from: PATIENT,
            share: share(8, false),
        });
        for _ in 0..2 {
            app.world_mut().write_message(ShareNews::Revoked {
                from: PATIENT,
                object: ObjectId(8),
            });
        }
        app.update();
        assert_eq!(
            sent(&mut app),
            vec![Control::Purged {
                object: ObjectId(8)
            }],
            "one purge, not two"
        );
        let audit = app.world().resource::<Audit>();
        let revokes = audit
            .lines()
            .iter()
            .filter(|l| l.contains("\"revoke\""))
            .count();
        assert_eq!(revokes, 1, "{:?}", audit.lines());
    }

    /// After a rebuilt connection the patient's side says again, to that clinician only,
    /// what it shares (terms) and what it took back.
    #[test]
    fn a_reconnect_repeats_the_share_terms_and_revokes_to_that_peer() {
        let mut app = app(None, None);
        let other = PeerId(9);
        {
            let mut mine = app.world_mut().resource_mut::<MyShares>();
            for (i, revoked) in [(0u32, false), (1, true)] {
                mine.0.push(MyShare {
                    offer: OfferShare {
                        kind: ObjectKind::Fhir,
                        data: Redacted::new(Arc::new(records())),
                        label: Redacted::new(format!("share {i}")),
                        consent: Redacted::new("{}".to_owned()),
                        may_keep: false,
                        until: 0,
                    },
                    sent_to: vec![(PATIENT, ObjectId(10 + i)), (other, ObjectId(20 + i))],
                    revoked,
                    delivered: Vec::new(),
                    viewed: false,
                    purged: false,
                });
            }
        }
        app.world_mut()
            .write_message(ShareNews::Reconnected { peer: PATIENT });
        app.update();
        let said = sent(&mut app);
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(
            matches!(&said[0], Control::Shared(s) if s.object == ObjectId(10)),
            "{said:?}"
        );
        assert_eq!(
            said[1],
            Control::Revoked {
                object: ObjectId(11)
            }
        );
    }

    #[test]
    fn a_share_revoked_while_on_its_way_is_dropped_when_it_lands() {
        let mut app = app(None, None);
        app.world_mut().write_message(ShareNews::Announced {
            from: PATIENT,
            share: share(6, false),
        });
        app.world_mut().write_message(ShareNews::Revoked {
            from: PATIENT,
            object: ObjectId(6),
        });
        app.update();
        assert_eq!(
            sent(&mut app),
            vec![Control::Purged {
                object: ObjectId(6)
            }]
        );
        // The bytes land after the revoke: not kept, not shown.
        app.world_mut().write_message(ShareNews::Arrived {
            from: PATIENT,
            object: ObjectId(6),
            kind: ObjectKind::Fhir,
            data: Redacted::new(Arc::new(records())),
        });
        app.update();
        assert!(app.world().resource::<Shared>().0.is_empty());
        assert!(app.world().resource::<PanelTexts>().board.is_none());
    }

    #[test]
    fn leaving_the_consult_purges_what_is_held_and_tells_the_patient() {
        let mut app = app(None, None);
        arrive(&mut app, 8, false);
        let _ = sent(&mut app);
        app.world_mut().write_message(LeaveRequested);
        app.update();
        assert!(app.world().resource::<Shared>().0.is_empty());
        assert_eq!(
            sent(&mut app),
            vec![Control::Purged {
                object: ObjectId(8)
            }]
        );
    }

    #[test]
    fn nothing_is_written_without_a_keep_folder() {
        let mut app = app(None, None);
        arrive(&mut app, 1, true);
        app.world_mut().write_message(PeerGone(PATIENT));
        app.update();
        assert!(app.world().resource::<Shared>().0.is_empty());
        let audit = app.world().resource::<Audit>();
        assert!(
            audit.lines().iter().any(|l| l.contains("\"purge\"")),
            "{:?}",
            audit.lines()
        );
    }

    #[test]
    fn every_frame_of_a_multi_frame_scan_can_be_shown() {
        let data = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/data/dicom/emri_small.dcm"
        ))
        .expect("test data");
        let first = picture(ObjectKind::Dicom, &data, 0).expect("frame 0");
        assert!(first.frames > 1, "a multi-frame file: {}", first.frames);
        let last = picture(ObjectKind::Dicom, &data, first.frames - 1).expect("the last frame");
        assert_eq!(last.frames, first.frames);
        assert_eq!(
            (last.image.width(), last.image.height()),
            (first.image.width(), first.image.height())
        );
        assert_ne!(
            last.image.data, first.image.data,
            "another frame, other values"
        );
        // Past the end: the last frame, not an error.
        let past = picture(ObjectKind::Dicom, &data, first.frames + 5).expect("clamped");
        assert_eq!(past.image.data, last.image.data);
        // A single picture has one frame.
        let single = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/data/dicom/CT_small.dcm"
        ))
        .expect("test data");
        assert_eq!(
            picture(ObjectKind::Dicom, &single, 0).expect("CT").frames,
            1
        );
        assert_eq!(
            caption(&Redacted::new("Shared scan".to_owned()), 2, 10).expose(),
            "Shared scan  (frame 3 of 10: PageUp/PageDown)"
        );
    }
}
