//! The bad-network workload: a patient and a clinician on a simulated network
//! (`haven_session::simnet`) with 10 % loss and 50 ± 30 ms delay each way, measured the way the
//! clinician would hear and see it, then a 5 s cut of everything between them.
//!
//! The patient streams voice (10 ms Opus frames with in-band FEC, as the app sends them) and
//! poses at 100 Hz (its head goes round a 20 cm circle once every two seconds: 0.63 m/s, so a
//! freeze or a jump shows), sends a numbered room event every 100 ms, and one object. The
//! clinician plays the voice through the app's own jitter buffer and decoder on a 10 ms clock
//! and samples the avatar through the app's own interpolation buffer at 90 Hz. The same
//! workload runs first for a few seconds on a clean simulated link: that run's figures are the
//! reference beside the poor link's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bevy::math::Vec3;
use haven_app::avatar::interp::PoseBuffer;
use haven_proto::bulk::{ObjectId, ObjectKind};
use haven_proto::control::Control;
use haven_proto::pose::{Placement, PoseUpdate};
use haven_proto::signal::{PeerId, Role};
use haven_session::simnet::{Conditions, SimulatedNetwork};
use haven_session::{Session, SessionEvent};
use haven_voice::FrameDuration;
use haven_voice::codec::VoiceEncoder;
use haven_voice::remote::RemoteVoice;
use haven_voice::source::{Source as _, Synthetic};
use serde::Serialize;

use super::round3;
use super::session::Room;

/// How long the bench waits for the consult to come back after the cut: past the longest
/// SCTP retransmission back-off (60 s) with time to spare.
const RECOVERY_WAIT: Duration = Duration::from_secs(90);

const FRAME: FrameDuration = FrameDuration::Ms10;
/// How long everything between the two is cut.
const CUT: Duration = Duration::from_secs(5);

/// What to run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    /// Seconds of streaming on the poor link before the cut.
    pub(crate) seconds: u64,
    /// Seconds of the same on a clean link first (the reference).
    pub(crate) clean_seconds: u64,
    /// The object sent on the poor link, in bytes.
    pub(crate) object_bytes: usize,
}

#[derive(Debug, Serialize)]
pub(crate) struct FaultFigures {
    conditions: &'static str,
    connect_s: f64,
    /// The longest run of concealed audio the clinician heard while the patient spoke.
    voice_gap_ms_max: f64,
    voice_concealed_pct: f64,
    voice_recovered_by_fec: u64,
    voice_packets_received: u64,
    voice_packets_late: u64,
    voice_buffer_target_ms: f64,
    /// The jitter buffer's counters at the end of the poor stretch (before the cut).
    voice_poor_stretch: String,
    /// The same on the clean link.
    reference_voice_gap_ms_max: f64,
    reference_voice_concealed_pct: f64,
    /// The longest time the avatar's head stood still while the patient's moved.
    pose_freeze_ms_max: f64,
    /// The largest move of the avatar's head from one 90 Hz frame to the next.
    pose_jump_mm_max: f64,
    reference_pose_freeze_ms_max: f64,
    reference_pose_jump_mm_max: f64,
    /// The patient's own head moves this much per 90 Hz frame.
    sender_motion_mm_per_frame: f64,
    transfer_bytes: usize,
    transfer_intact: bool,
    /// Whether the object arrived at all within the time allowed (intact or not).
    transfer_arrived: bool,
    transfer_s: f64,
    control_sent: u64,
    control_received: u64,
    control_duplicates: u64,
    control_in_order: bool,
    /// From the link's return after the 5 s cut to the first pose heard.
    cut_recovered_s: f64,
    /// Signaling connections lost in the cut (both sides: 2), and the time from the cut's end
    /// until both had their places back (backoff included).
    signaling_lost: u32,
    signaling_back_s: f64,
    /// The patient left the clinician's room at some point (never, when all is well).
    peer_left: bool,
    packets_lost: u64,
}

/// The patient's head at `t` seconds: round a 20 cm circle every 2 s.
fn probe_pose(t: f64, seq: u16) -> PoseUpdate {
    let angle = t * std::f64::consts::PI;
    PoseUpdate {
        seq,
        sent_at_ms: (t * 1000.0) as u64 as u16,
        head: Placement {
            position: [
                (0.1 * angle.cos()) as f32,
                1.2,
                (-0.9 + 0.1 * angle.sin()) as f32,
            ],
            ..Placement::IDENTITY
        },
        left_hand: None,
        right_hand: None,
    }
}

/// What the clinician heard and saw over one stretch.
#[derive(Default)]
struct Heard {
    frames: u64,
    concealed_frames: u64,
    gap_run: u64,
    gap_max: u64,
    last_head: Option<Vec3>,
    still_since: Option<Instant>,
    freeze_max: Duration,
    jump_max_m: f32,
}

impl Heard {
    fn voice_frame(&mut self, concealed: bool) {
        self.frames += 1;
        if concealed {
            self.concealed_frames += 1;
            self.gap_run += 1;
            self.gap_max = self.gap_max.max(self.gap_run);
        } else {
            self.gap_run = 0;
        }
    }

    fn head(&mut self, at: Vec3, now: Instant) {
        if let Some(last) = self.last_head {
            let moved = at.distance(last);
            self.jump_max_m = self.jump_max_m.max(moved);
            if moved < 1e-5 {
                let since = *self.still_since.get_or_insert(now);
                self.freeze_max = self.freeze_max.max(now - since);
            } else {
                self.still_since = None;
            }
        }
        self.last_head = Some(at);
    }

    fn gap_ms(&self) -> f64 {
        (self.gap_max * FRAME.millis()) as f64
    }

    fn concealed_pct(&self) -> f64 {
        round3(100.0 * self.concealed_frames as f64 / self.frames.max(1) as f64)
    }
}

/// Both sides of the consult, and what the clinician keeps of the patient's stream.
struct Consult {
    patient: Session,
    clinician: Session,
    clinician_id: PeerId,
    encoder: VoiceEncoder,
    source: Synthetic,
    voice: RemoteVoice,
    avatar: PoseBuffer,
    start: Instant,
    seq: u16,
    next_control: u32,
    /// Whether a numbered room event goes every 100 ms.
    sending_controls: bool,
    controls: Vec<u32>,
    /// The object sent, and when it arrived and whether it arrived as sent.
    object: Arc<Vec<u8>>,
    received: Option<(Instant, bool)>,
    left: bool,
    last_pose_at: Option<Instant>,
    /// Each side's signaling: lost and back, counted, and when it last came back.
    signaling_lost: u32,
    signaling_back: u32,
    signaling_back_at: Option<Instant>,
}

impl Consult {
    fn secs(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Streams for `length`: voice and poses every 10 ms, a room event every 100 ms; the
    /// clinician plays and samples on its own clocks. `object` (if any) was sent before.
    async fn stream(&mut self, length: Duration, heard: &mut Heard) -> anyhow::Result<()> {
        let mut send = tokio::time::interval(Duration::from_millis(10));
        let mut play = tokio::time::interval(Duration::from_millis(10));
        let mut look = tokio::time::interval(Duration::from_micros(11_111));
        let until = Instant::now() + length;
        let mut playing = false;
        while Instant::now() < until {
            tokio::select! {
                _ = send.tick() => {
                    let t = self.secs();
                    self.patient.send_pose(&probe_pose(t, self.seq));
                    if self.sending_controls && self.seq.is_multiple_of(10) {
                        self.patient.send_control(&Control::Revoked { object: ObjectId(self.next_control) });
                        self.next_control += 1;
                    }
                    self.seq = self.seq.wrapping_add(1);
                    let pcm = self.source.next_frame(FRAME.samples());
                    self.patient.send_audio(self.encoder.encode(&pcm)?, Duration::from_millis(10), 0);
                }
                _ = play.tick() => {
                    let before = self.voice.stats().concealed;
                    if let Some((pcm, _)) = self.voice.next_frame() {
                        std::hint::black_box(pcm);
                        playing = true;
                        heard.voice_frame(self.voice.stats().concealed > before);
                    } else if playing {
                        // Refilling after running dry: silence heard.
                        heard.voice_frame(true);
                    }
                }
                _ = look.tick() => {
                    let now = Instant::now();
                    if let Some(pose) = self.avatar.sample(self.secs()) {
                        heard.head(pose.head.position, now);
                    }
                }
                event = self.clinician.next_event(Duration::from_millis(5)) => self.take(event)?,
            }
            // The patient's own events (acks, object sent) need no answer; keep the queue
            // short.
            while let Some(event) = self.patient.try_event() {
                self.signaling(&event);
            }
        }
        Ok(())
    }

    fn signaling(&mut self, event: &SessionEvent) {
        match event {
            SessionEvent::SignalingLost => self.signaling_lost += 1,
            SessionEvent::SignalingBack => {
                self.signaling_back += 1;
                self.signaling_back_at = Some(Instant::now());
            }
            _ => {}
        }
    }

    fn take(&mut self, event: Option<SessionEvent>) -> anyhow::Result<()> {
        let arrival_ms = self.secs() * 1000.0;
        if let Some(event) = &event {
            self.signaling(event);
        }
        match event {
            Some(SessionEvent::Audio { packet, .. }) => {
                self.voice
                    .push(packet.timestamp, packet.payload, arrival_ms);
            }
            Some(SessionEvent::Pose { update, .. }) => {
                self.avatar.push(&update, self.secs());
                self.last_pose_at = Some(Instant::now());
            }
            Some(SessionEvent::Control {
                message: Control::Revoked { object },
                ..
            }) => self.controls.push(object.0),
            Some(SessionEvent::ObjectReceived { data, .. }) => {
                self.received = Some((Instant::now(), *data.expose() == *self.object));
            }
            Some(SessionEvent::PeerLeft(_)) => self.left = true,
            Some(SessionEvent::Failed(why)) => bail!("the clinician's session failed: {why}"),
            _ => {}
        }
        Ok(())
    }
}

async fn connect(
    room: &Room,
    net: &SimulatedNetwork,
) -> anyhow::Result<(Session, Session, PeerId)> {
    let mut clinician = room.join_with(Role::Clinician, Some(net.attach().await?))?;
    let mut patient = room.join_with(Role::Patient, Some(net.attach().await?))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut clinician_id = None;
    let mut connected = [false, false];
    while !(connected[0] && connected[1]) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("the two did not connect within 60 s");
        }
        for (i, session) in [&mut clinician, &mut patient].into_iter().enumerate() {
            match session
                .next_event(Duration::from_millis(20).min(left))
                .await
            {
                Some(SessionEvent::PeerConnected(id)) => {
                    connected[i] = true;
                    if i == 1 {
                        clinician_id = Some(id);
                    }
                }
                Some(SessionEvent::Failed(why)) => bail!("a session failed: {why}"),
                _ => {}
            }
        }
    }
    Ok((
        clinician,
        patient,
        clinician_id.context("the patient saw the clinician connect")?,
    ))
}

pub(crate) fn run(plan: Plan) -> anyhow::Result<FaultFigures> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(measure(plan))
}

async fn consult(
    room: &Room,
    conditions: Conditions,
) -> anyhow::Result<(Consult, SimulatedNetwork, f64)> {
    let net = SimulatedNetwork::with(conditions).await?;
    let t0 = Instant::now();
    let (clinician, patient, clinician_id) = connect(room, &net).await?;
    let connect_s = t0.elapsed().as_secs_f64();
    Ok((
        Consult {
            patient,
            clinician,
            clinician_id,
            encoder: VoiceEncoder::new(FRAME)?,
            source: Synthetic::voice_like(7),
            voice: RemoteVoice::new(FRAME)?,
            avatar: PoseBuffer::new(),
            start: Instant::now(),
            seq: 0,
            next_control: 0,
            sending_controls: true,
            controls: Vec::new(),
            object: Arc::new(Vec::new()),
            received: None,
            left: false,
            last_pose_at: None,
            signaling_lost: 0,
            signaling_back: 0,
            signaling_back_at: None,
        },
        net,
        connect_s,
    ))
}

async fn measure(plan: Plan) -> anyhow::Result<FaultFigures> {
    // Signaling goes through a relay, cut with the network.
    let room = Room::start_relayed().await?;
    let relay = room.relay.as_ref().context("a relay")?;

    // The reference: the same workload on a clean simulated link.
    let (mut clean, _clean_net, _) = consult(&room, Conditions::default()).await?;
    let mut reference = Heard::default();
    clean
        .stream(Duration::from_secs(plan.clean_seconds), &mut reference)
        .await?;
    clean.patient.leave();
    clean.clinician.leave();

    let (mut c, net, connect_s) = consult(&room, Conditions::POOR).await?;
    let object: Arc<Vec<u8>> = Arc::new(
        (0..plan.object_bytes)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1])
            .collect(),
    );
    c.object = Arc::clone(&object);
    let sent_at = Instant::now();
    c.patient.send_object(
        c.clinician_id,
        ObjectId(1),
        ObjectKind::Dicom,
        Arc::clone(&object),
    );
    let mut poor = Heard::default();
    c.stream(Duration::from_secs(plan.seconds), &mut poor)
        .await?;
    let stretch = c.voice.stats();
    let stretch_target_ms = c.voice.target_ms();
    let voice_poor_stretch = format!("{stretch:?}");

    // Everything cut for 5 s (the media and both signaling connections) while the patient
    // goes on; then back.
    net.cut(true);
    relay.cut();
    let mut during = Heard::default();
    c.stream(CUT, &mut during).await?;
    net.cut(false);
    relay.heal(room.server.addr);
    let back = Instant::now();
    let mut after = Heard::default();
    let mut cut_recovered = None;
    let mut signaling_back_s = None;
    // Poses come back when the data channel's association sends again: at once, or when its
    // retransmission timer fires, which backs off while the link is cut, up to a minute
    // (webrtc-sctp's RTO_MAX). So the wait covers that minute and more.
    while back.elapsed() < RECOVERY_WAIT && (cut_recovered.is_none() || signaling_back_s.is_none())
    {
        c.stream(Duration::from_millis(100), &mut after).await?;
        if cut_recovered.is_none() && c.last_pose_at.is_some_and(|at| at > back) {
            cut_recovered = Some(back.elapsed().as_secs_f64());
        }
        if signaling_back_s.is_none() && c.signaling_back >= 2 {
            signaling_back_s = c.signaling_back_at.map(|at| (at - back).as_secs_f64());
        }
    }
    // Then until the object is whole and the room events sent have all arrived (no more are
    // sent meanwhile: the last one is then a fixed target).
    c.sending_controls = false;
    let settle = Instant::now();
    // SCTP moves 15-25 KB/s over this link: the object gets 10 KB/s worth of time, and 10
    // minutes at least, before it counts as not arrived.
    let settle_limit = Duration::from_secs(600.max(plan.object_bytes as u64 / 10_000));
    while settle.elapsed() < settle_limit
        && (c.received.is_none() || c.controls.last() != Some(&c.next_control.saturating_sub(1)))
    {
        c.stream(Duration::from_millis(200), &mut after).await?;
    }
    let (transfer_intact, transfer_s) = match c.received {
        Some((at, whole)) => (whole, (at - sent_at).as_secs_f64()),
        None => (false, f64::NAN),
    };
    let mut unique = c.controls.clone();
    unique.sort_unstable();
    unique.dedup();
    let figures = FaultFigures {
        conditions: "10 % loss, 50 ± 30 ms delay each way (simulated), then a 5 s cut",
        connect_s: round3(connect_s),
        voice_gap_ms_max: poor.gap_ms(),
        voice_concealed_pct: poor.concealed_pct(),
        voice_recovered_by_fec: stretch.recovered,
        voice_packets_received: stretch.received,
        voice_packets_late: stretch.late,
        voice_buffer_target_ms: round3(stretch_target_ms),
        voice_poor_stretch,
        reference_voice_gap_ms_max: reference.gap_ms(),
        reference_voice_concealed_pct: reference.concealed_pct(),
        pose_freeze_ms_max: round3(poor.freeze_max.as_secs_f64() * 1000.0),
        pose_jump_mm_max: round3(f64::from(poor.jump_max_m) * 1000.0),
        reference_pose_freeze_ms_max: round3(reference.freeze_max.as_secs_f64() * 1000.0),
        reference_pose_jump_mm_max: round3(f64::from(reference.jump_max_m) * 1000.0),
        sender_motion_mm_per_frame: round3(0.1 * std::f64::consts::PI / 90.0 * 1000.0),
        transfer_bytes: object.len(),
        transfer_intact,
        transfer_arrived: c.received.is_some(),
        transfer_s: round3(transfer_s),
        control_sent: u64::from(c.next_control),
        control_received: c.controls.len() as u64,
        control_duplicates: (c.controls.len() - unique.len()) as u64,
        control_in_order: c.controls.windows(2).all(|w| w[0] < w[1]),
        cut_recovered_s: round3(cut_recovered.unwrap_or(f64::NAN)),
        signaling_lost: c.signaling_lost,
        signaling_back_s: round3(signaling_back_s.unwrap_or(f64::NAN)),
        peer_left: c.left,
        packets_lost: net.lost(),
    };
    c.patient.leave();
    c.clinician.leave();
    room.server.shutdown().await;
    Ok(figures)
}
