//! The sharing protocol in the app: what the patient does (offers, revokes) and what the
//! session bridge delivers (terms, objects, progress, deliveries, cancels, peers coming and
//! going) go into `haven_share`'s ledger; its effects are applied here (network requests,
//! audit entries, kept shares) or handed to the display (show, purge).

use std::path::PathBuf;

use bevy::prelude::*;
use haven_proto::control::Control;
use haven_proto::signal::Role;
use haven_share::audit::{Action, AuditWriter};
use haven_share::ledger::{Effect, ShareLedger};
use haven_share::offer::Offer;

use crate::session::{
    CancelObject, ControlReceived, LeaveRequested, ObjectArrived, ObjectCancelled, ObjectDelivered,
    ObjectProgress, PeerConnected, PeerLeft, PeerReconnected, PeerVerified, SendControlTo,
    SendObject, SessionFigures, SessionSystems, TrustPeer,
};

/// How this side shares: where its audit log is appended and where kept shares go. Insert it
/// before adding [`SharePlugin`] (without it: in memory only, nothing ever written).
#[derive(Resource, Clone, Debug, Default)]
pub struct ShareSettings {
    /// Append the audit log to this file.
    pub audit: Option<PathBuf>,
    /// Where shares the clinic may keep are written; without it nothing is ever written.
    pub keep_dir: Option<PathBuf>,
    /// The local role, when known before the session says it (the invite's).
    pub role: Option<Role>,
    /// Share only with clinicians and therapists verified against the clinic the patient's
    /// invite names (or whom the patient trusts anyway): set when it names one.
    pub verify_clinicians: bool,
}

/// The local patient offers a prepared object to every clinician.
#[derive(Message, Clone, Debug)]
pub struct OfferShare(pub Offer);

/// The patient takes back the share it offered at this position of the ledger's outgoing
/// shares.
#[derive(Message, Clone, Copy, Debug)]
pub struct RevokeShare(pub usize);

/// The patient's answer about a clinician or therapist who joined while they share something
/// (`Effect::AskAboutNewcomer`; the ledger keeps who waits for an answer).
#[derive(Message, Clone, Copy, Debug)]
pub struct AnswerNewcomer {
    /// Who joined.
    pub peer: haven_proto::signal::PeerId,
    /// Share what is shared now (and later) with them too.
    pub share: bool,
}

/// The patient says to share with a clinician or therapist whose credential did not check
/// out (`Effect::AskAboutUnverified`; the ledger keeps who is unverified).
#[derive(Message, Clone, Copy, Debug)]
pub struct TrustAnyway(pub haven_proto::signal::PeerId);

/// This side's shares: the protocol's state, the audit log, where kept shares go.
#[derive(Resource, Debug)]
pub struct Sharing {
    /// The share protocol's state (what this side offers and what it holds).
    pub ledger: ShareLedger,
    audit: AuditWriter,
    /// The role was set from the invite (else it follows the session's word).
    role_known: bool,
    keep_dir: Option<PathBuf>,
    /// Show and purge effects for the display, in order.
    pub(super) view: Vec<Effect>,
}

impl Sharing {
    /// A side's shares with these settings.
    pub fn new(settings: ShareSettings) -> Self {
        let mut ledger = ShareLedger::new(settings.keep_dir.is_some());
        if settings.verify_clinicians {
            ledger.require_verified();
        }
        Self {
            ledger,
            audit: AuditWriter::new(settings.audit, settings.role.unwrap_or(Role::Clinician)),
            role_known: settings.role.is_some(),
            keep_dir: settings.keep_dir,
            view: Vec::new(),
        }
    }

    /// The audit log's lines so far.
    pub fn audit_lines(&self) -> &[String] {
        self.audit.lines()
    }

    /// Audits a refused command from `peer`: `what` names it (`scene:fire`), `encoded` is its
    /// wire encoding (only its digest is written).
    pub fn audit_refused(&mut self, peer: haven_proto::signal::PeerId, what: &str, encoded: &[u8]) {
        self.audit.refused(peer, what, encoded);
    }

    /// Applies the ledger's effects: network ones become requests, audit and keep ones are
    /// written, show and purge ones wait for the display.
    pub(super) fn apply(&mut self, me: Option<Role>, out: &mut Outbox<'_>) {
        if !self.role_known
            && let Some(role) = me
        {
            self.audit.set_role(role);
            self.role_known = true;
        }
        let effects: Vec<Effect> = self.ledger.drain_effects().collect();
        for effect in effects {
            match effect {
                Effect::SendObject {
                    to,
                    object,
                    kind,
                    data,
                } => {
                    out.objects.write(SendObject {
                        to,
                        object,
                        kind,
                        data,
                    });
                }
                Effect::CancelObject { to, object } => {
                    out.cancels.write(CancelObject { to, object });
                }
                Effect::Send { to, message } => {
                    out.controls.write(SendControlTo { to, message });
                }
                Effect::Audit {
                    action,
                    object,
                    digest,
                } => self.audit.record(action, &object, &digest),
                Effect::Keep {
                    object,
                    kind,
                    data,
                    consent,
                } => {
                    let digest = haven_share::audit::object_digest(data.expose());
                    let kept = self.keep_dir.as_deref().map(|dir| {
                        haven_share::keep::keep(
                            dir,
                            kind,
                            data.expose(),
                            consent.expose(),
                            unix_now(),
                        )
                    });
                    match kept {
                        Some(Ok(_)) => self.audit.record(Action::Keep, &object, &digest),
                        Some(Err(e)) => {
                            warn!("a share the clinic may keep could not be saved ({e}); purged");
                            self.audit.record(Action::Purge, &object, &digest);
                        }
                        None => self.audit.record(Action::Purge, &object, &digest),
                    }
                }
                Effect::Show { .. } | Effect::Purge(_) | Effect::Expired(_) => {
                    self.view.push(effect);
                }
                Effect::AnnounceAuditKey(to) => {
                    if let Some(key) = self.audit.public_key() {
                        out.controls.write(SendControlTo {
                            to,
                            message: Control::AuditKey { key: key.to_vec() },
                        });
                    }
                }
                // The questions wait in the ledger (`newcomers`, `unverified`) for the picker
                // to ask them.
                Effect::AskAboutNewcomer(_) | Effect::AskAboutUnverified(_) => {}
            }
        }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The requests the ledger's network effects become.
#[derive(bevy::ecs::system::SystemParam)]
pub(super) struct Outbox<'w> {
    objects: MessageWriter<'w, SendObject>,
    cancels: MessageWriter<'w, CancelObject>,
    controls: MessageWriter<'w, SendControlTo>,
    trusted: MessageWriter<'w, TrustPeer>,
}

/// The protocol's part of sharing: requests and news into the ledger, effects applied.
#[derive(Debug, Default)]
pub struct ProtocolPlugin;

/// The sharing feature's systems, in order.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShareSystems {
    /// The patient's picker: ticks and presses into offers and revokes.
    Picker,
    /// What the patient does and what arrived, into the ledger; its effects applied.
    Protocol,
    /// Shows and purges on the display and the board.
    Present,
}

impl Plugin for ProtocolPlugin {
    fn build(&self, app: &mut App) {
        let settings = app
            .world()
            .get_resource::<ShareSettings>()
            .cloned()
            .unwrap_or_default();
        app.insert_resource(Sharing::new(settings))
            .add_message::<OfferShare>()
            .add_message::<RevokeShare>()
            .add_message::<AnswerNewcomer>()
            .add_message::<TrustAnyway>()
            .configure_sets(
                Update,
                (
                    ShareSystems::Picker,
                    ShareSystems::Protocol,
                    ShareSystems::Present,
                )
                    .chain(),
            )
            .add_systems(
                Update,
                (take_requests, take_news)
                    .chain()
                    .in_set(ShareSystems::Protocol),
            )
            .add_systems(PostUpdate, end_of_consult.before(SessionSystems::Send));
    }
}

fn take_requests(
    mut offers: MessageReader<'_, '_, OfferShare>,
    mut revokes: MessageReader<'_, '_, RevokeShare>,
    mut answers: MessageReader<'_, '_, AnswerNewcomer>,
    mut trusts: MessageReader<'_, '_, TrustAnyway>,
    mut sharing: ResMut<'_, Sharing>,
    figures: Res<'_, SessionFigures>,
    mut out: Outbox<'_>,
) {
    let (mut offered, mut revoked) = (offers.read().peekable(), revokes.read().peekable());
    let mut answered = answers.read().peekable();
    let mut trusted = trusts.read().peekable();
    if offered.peek().is_none()
        && revoked.peek().is_none()
        && answered.peek().is_none()
        && trusted.peek().is_none()
    {
        return;
    }
    for &TrustAnyway(peer) in trusted {
        sharing.ledger.trust_anyway(peer);
        out.trusted.write(TrustPeer(peer));
    }
    for answer in answered {
        if answer.share {
            sharing.ledger.share_with(answer.peer);
        } else {
            sharing.ledger.decline(answer.peer);
        }
    }
    for OfferShare(offer) in offered {
        sharing.ledger.offer(offer.clone());
    }
    for &RevokeShare(index) in revoked {
        sharing.ledger.revoke(index);
    }
    sharing.apply(figures.me.map(|m| m.role), &mut out);
}

/// Everything the bridge delivered that the protocol cares about.
#[derive(bevy::ecs::system::SystemParam)]
struct News<'w, 's> {
    controls: MessageReader<'w, 's, ControlReceived>,
    arrived: MessageReader<'w, 's, ObjectArrived>,
    progress: MessageReader<'w, 's, ObjectProgress>,
    delivered: MessageReader<'w, 's, ObjectDelivered>,
    cancelled: MessageReader<'w, 's, ObjectCancelled>,
    connected: MessageReader<'w, 's, PeerConnected>,
    verified: MessageReader<'w, 's, PeerVerified>,
    reconnected: MessageReader<'w, 's, PeerReconnected>,
    left: MessageReader<'w, 's, PeerLeft>,
}

fn take_news(
    mut news: News<'_, '_>,
    sharing: ResMut<'_, Sharing>,
    figures: Res<'_, SessionFigures>,
    mut out: Outbox<'_>,
) {
    let sharing = sharing.into_inner();
    let ledger = &mut sharing.ledger;
    // The bridge writes each kind of news as its own message, so their order within a frame
    // is chosen here: peers that connected first; then bytes (arrived, progress, cancelled,
    // delivered) before room events, so a revoke that comes in the frame its object lands
    // drops what arrived (audited with its digest) and a transfer cancelled before its revoke
    // is purged as cancelled; peers that left last, after everything they sent.
    for m in news.connected.read() {
        if let Some(role) = m.role {
            ledger.peer_connected(m.peer, role);
        }
    }
    for m in news.verified.read() {
        ledger.peer_verified(m.peer, m.verdict.is_ok());
    }
    for m in news.arrived.read() {
        ledger.arrived(m.from, m.object, m.kind, m.data.clone());
    }
    for m in news.progress.read() {
        ledger.progress(m.from, m.object, m.received, m.size);
    }
    for m in news.cancelled.read() {
        ledger.cancelled(m.peer, m.object);
    }
    for m in news.delivered.read() {
        ledger.delivered(m.to, m.object);
    }
    for m in news.controls.read() {
        match &m.message {
            Control::Shared(terms) => ledger.announced(m.from, terms.clone()),
            Control::Revoked { object } => ledger.revoked(m.from, *object),
            Control::Viewed { object } => ledger.acknowledged(m.from, *object, true),
            Control::Purged { object } => ledger.acknowledged(m.from, *object, false),
            Control::AuditKey { key } => ledger.peer_audit_key(m.from, key),
            _ => {}
        }
    }
    for m in news.reconnected.read() {
        ledger.peer_reconnected(m.0);
    }
    for m in news.left.read() {
        ledger.peer_left(m.0);
    }
    // Shares whose time is up go now.
    ledger.tick(u64::try_from(unix_now()).unwrap_or(0));
    sharing.apply(figures.me.map(|m| m.role), &mut out);
}

/// The consult ends for this side (it leaves, or the app closes): every share held is kept or
/// purged now, and each patient is told, before the bridge sends this frame's requests and
/// closes the session.
fn end_of_consult(
    mut leaving: MessageReader<'_, '_, LeaveRequested>,
    mut exits: MessageReader<'_, '_, AppExit>,
    mut sharing: ResMut<'_, Sharing>,
    figures: Res<'_, SessionFigures>,
    mut out: Outbox<'_>,
) {
    let ending = leaving.read().count() + exits.read().count() > 0;
    if !ending || sharing.ledger.incoming().next().is_none() {
        return;
    }
    sharing.ledger.end_of_consult();
    sharing.apply(figures.me.map(|m| m.role), &mut out);
}
