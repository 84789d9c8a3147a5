//! The live-session workload: two Haven peers through an in-process signaling server on
//! loopback, measured the way a person would feel it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::bail;
use haven_proto::bulk::{ObjectId, ObjectKind};
use haven_proto::pose::{self, PoseUpdate};
use haven_proto::signal::Role;
use haven_session::{NetworkPolicy, Session, SessionConfig, SessionEvent};
use haven_signal::{
    ClientTls, InviteRequest, Limits, ServerConfig, ServerSecret, SignalServer, TlsIdentity, issue,
};
use haven_voice::FrameDuration;
use haven_voice::codec::VoiceEncoder;
use haven_voice::remote::RemoteVoice;
use haven_voice::source::{Source as _, Synthetic};
use serde::Serialize;

use super::{percentile, round3};

const FRAME: FrameDuration = FrameDuration::Ms10;
const BULK_BYTES: usize = 20_000_000;

#[derive(Debug, Serialize)]
pub(super) struct SessionFigures {
    pose_bytes_per_update: usize,
    pose_rtt_ms_p50: f64,
    pose_rtt_ms_p99: f64,
    pose_loss_pct: f64,
    join_ms: f64,
    join_ms_max: f64,
    voice_pipeline_ms: f64,
    voice_pipeline_ms_p99: f64,
    opus_encode_us_per_frame: f64,
    bulk_mb_per_s: f64,
    poses_during_bulk_pct: f64,
    /// aiortc's figures from the same run, when it could be run (null otherwise).
    reference_aiortc_join_ms: Option<f64>,
    reference_aiortc_bulk_mb_per_s: Option<f64>,
    join_vs_aiortc: Option<f64>,
    bulk_vs_aiortc: Option<f64>,
    /// Chromium's figures from the same run, when it is installed (null otherwise): a
    /// Chromium pair's join (hello to three channels open and the first audio packet), and
    /// Haven joining a Chromium page (invite to the same).
    reference_chromium_pair_join_ms: Option<f64>,
    haven_joins_chromium_ms: Option<f64>,
}

/// An in-process signaling server on loopback, and invites to its one room.
pub(super) struct Room {
    pub(super) server: haven_signal::server::ServerHandle,
    secret: ServerSecret,
    /// Between the peers and the server, when the run cuts signaling too.
    pub(super) relay: Option<haven_signal::relay::Relay>,
}

impl Room {
    pub(super) async fn start() -> anyhow::Result<Self> {
        Self::start_with_media(None).await
    }

    /// The same, handing group rooms this media server.
    pub(super) async fn start_with_media(media_server: Option<String>) -> anyhow::Result<Self> {
        let secret = ServerSecret::generate()?;
        let server = SignalServer::bind(ServerConfig {
            listen: "127.0.0.1:0".parse()?,
            identity: TlsIdentity::self_signed(vec!["localhost".into()])?,
            secret: secret.clone(),
            limits: Limits::default(),
            ice_servers: Vec::new(),
            turn: None,
            cluster: None,
            media_server,
            invite_files: None,
        })
        .await?
        .spawn()?;
        Ok(Self {
            server,
            secret,
            relay: None,
        })
    }

    /// The same, with peers reaching the server through a relay the run can cut.
    pub(super) async fn start_relayed() -> anyhow::Result<Self> {
        let mut room = Self::start().await?;
        room.relay = Some(haven_signal::relay::Relay::start(room.server.addr).await?);
        Ok(room)
    }

    fn join(&self, role: Role) -> anyhow::Result<Session> {
        self.join_with(role, None)
    }

    /// Joins as `role`, on the simulated network `nic` when given (loopback otherwise).
    pub(super) fn join_with(
        &self,
        role: Role,
        nic: Option<haven_session::simnet::SimulatedNic>,
    ) -> anyhow::Result<Session> {
        let token = self.invite(role, "bench")?;
        let mut config = SessionConfig::from_invite(&token, NetworkPolicy::LoopbackOnly)?;
        config.tls = ClientTls::Pinned(self.server.fingerprint);
        config.simulated = nic;
        Ok(Session::start(config)?)
    }

    /// Joins room `name` as `role`, on loopback.
    pub(super) fn join_room(&self, role: Role, name: &str) -> anyhow::Result<Session> {
        let token = self.invite(role, name)?;
        let mut config = SessionConfig::from_invite(&token, NetworkPolicy::LoopbackOnly)?;
        config.tls = ClientTls::Pinned(self.server.fingerprint);
        Ok(Session::start(config)?)
    }

    /// The server's `wss://` URL (a browser peer reaches it directly).
    pub(super) fn url(&self) -> String {
        self.server.url()
    }

    /// An invite to room `name` as `role` (through the relay when there is one).
    pub(super) fn invite(&self, role: Role, name: &str) -> anyhow::Result<String> {
        self.invite_to(role, name, None)
    }

    /// An invite to room `name` as `role`, a group room of `group` people when given.
    pub(super) fn invite_to(
        &self,
        role: Role,
        name: &str,
        group: Option<u8>,
    ) -> anyhow::Result<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        Ok(issue(
            &self.secret,
            InviteRequest {
                host: "127.0.0.1".into(),
                port: self
                    .relay
                    .as_ref()
                    .map_or(self.server.addr.port(), |relay| relay.port),
                room: name.parse()?,
                role,
                ttl_secs: 600,
                uses: 1,
                pin: Some(self.server.fingerprint.to_hex()),
                clinic: None,
                group,
            },
            now,
        )?)
    }
}

async fn wait_connected(session: &mut Session, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        match session
            .next_event(deadline.saturating_duration_since(Instant::now()))
            .await
        {
            Some(SessionEvent::PeerConnected(_)) => return Ok(()),
            Some(SessionEvent::Failed(why)) => bail!("session failed: {why}"),
            Some(_) => {}
            None => bail!("no connection within {limit:?}"),
        }
    }
}

/// A peer that streams poses at 100 Hz and voice every 10 ms to whoever is connected, and
/// echoes back every pose it receives (so the other side can time round trips).
struct Streamer {
    stop: Arc<std::sync::atomic::AtomicBool>,
    /// When the streamer received a whole object (hash checked).
    received: Arc<Mutex<Option<Instant>>>,
    task: tokio::task::JoinHandle<Session>,
}

impl Streamer {
    fn start(mut session: Session) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let received = Arc::new(Mutex::new(None));
        let received_at = Arc::clone(&received);
        let task = tokio::spawn(async move {
            let mut encoder = VoiceEncoder::new(FRAME).expect("an Opus encoder");
            let mut source = Synthetic::voice_like(9);
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let mut seq = 0u16;
            let mut connected = 0usize;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::select! {
                    _ = tick.tick() => {
                        if connected > 0 {
                            let t = seq as f32 * 0.01;
                            session.send_pose(&crate::sim::seated_pose(t, seq, seq.wrapping_mul(10)));
                            seq = seq.wrapping_add(1);
                            let pcm = source.next_frame(FRAME.samples());
                            if let Ok(packet) = encoder.encode(&pcm) {
                                session.send_audio(packet, Duration::from_millis(10), 0);
                            }
                        }
                    }
                    event = session.next_event(Duration::from_millis(50)) => match event {
                        Some(SessionEvent::PeerConnected(_)) => connected += 1,
                        Some(SessionEvent::PeerLeft(_)) => connected = connected.saturating_sub(1),
                        Some(SessionEvent::ObjectReceived { .. }) => {
                            *received_at.lock().expect("not poisoned") = Some(Instant::now());
                        }
                        // Echo with a marker in the sequence's top bit so it is told apart.
                        Some(SessionEvent::Pose { update, .. }) if update.seq & 0x8000 == 0 => {
                            session.send_pose(&PoseUpdate { seq: update.seq | 0x8000, ..update });
                        }
                        _ => {}
                    },
                }
            }
            session
        });
        Self {
            stop,
            received,
            task,
        }
    }

    async fn finish(self) -> Session {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.await.expect("the streamer does not panic")
    }
}

pub(super) fn run(poses: usize) -> anyhow::Result<SessionFigures> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let reference = super::aiortc_reference();
    runtime.block_on(measure(poses, reference))
}

async fn measure(
    poses: usize,
    reference: Option<super::AiortcReference>,
) -> anyhow::Result<SessionFigures> {
    let room = Room::start().await?;

    let opus_encode_us_per_frame = opus_encode_cost()?;

    // Join: invite accepted → first remote pose and first audio frame, five times.
    let mut host = room.join(Role::Clinician)?;
    match host.next_event(Duration::from_secs(10)).await {
        Some(SessionEvent::Joined { .. }) => {}
        other => bail!("the first peer did not join: {other:?}"),
    }
    let streamer = Streamer::start(host);
    let mut joins = Vec::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        let mut guest = room.join(Role::Patient)?;
        let (mut pose_at, mut audio_at) = (None, None);
        while pose_at.is_none() || audio_at.is_none() {
            match guest.next_event(Duration::from_secs(10)).await {
                Some(SessionEvent::Pose { .. }) => pose_at = pose_at.or(Some(t0.elapsed())),
                Some(SessionEvent::Audio { .. }) => audio_at = audio_at.or(Some(t0.elapsed())),
                Some(SessionEvent::Failed(why)) => bail!("guest failed: {why}"),
                Some(_) => {}
                None => bail!("no pose and audio within 10 s of joining"),
            }
        }
        joins.push(pose_at.max(audio_at).expect("both set").as_secs_f64() * 1000.0);
        guest.leave();
    }
    joins.sort_by(f64::total_cmp);

    // Pose round trips and loss, voice delay, then bulk with poses flowing.
    let mut guest = room.join(Role::Patient)?;
    wait_connected(&mut guest, Duration::from_secs(10)).await?;
    let (rtts, lost) = pose_round_trips(&mut guest, poses).await?;
    let voice = voice_delay(&room, &mut guest).await?;
    let (bulk_mb_per_s, poses_during_bulk_pct) = bulk(&mut guest, &streamer).await?;
    guest.leave();
    let host = streamer.finish().await;
    host.leave();
    let chromium = super::chromium::reference(&room).await;
    room.server.shutdown().await;

    let join_ms = round3(percentile(&joins, 0.5));
    let typical = crate::sim::seated_pose(0.0, 0, 0);
    Ok(SessionFigures {
        pose_bytes_per_update: pose::encode(&typical).len(),
        pose_rtt_ms_p50: round3(percentile(&rtts, 0.5)),
        pose_rtt_ms_p99: round3(percentile(&rtts, 0.99)),
        pose_loss_pct: round3(100.0 * lost as f64 / poses as f64),
        join_ms,
        join_ms_max: round3(joins.last().copied().unwrap_or(f64::NAN)),
        voice_pipeline_ms: round3(percentile(&voice, 0.5)),
        voice_pipeline_ms_p99: round3(percentile(&voice, 0.99)),
        opus_encode_us_per_frame,
        bulk_mb_per_s,
        poses_during_bulk_pct,
        reference_aiortc_join_ms: reference.as_ref().map(|r| r.join_ms),
        reference_aiortc_bulk_mb_per_s: reference.as_ref().map(|r| r.bulk_mb_per_s),
        join_vs_aiortc: reference.as_ref().map(|r| round3(r.join_ms / join_ms)),
        bulk_vs_aiortc: reference
            .as_ref()
            .map(|r| round3(bulk_mb_per_s / r.bulk_mb_per_s)),
        reference_chromium_pair_join_ms: chromium.as_ref().map(|c| c.pair_join_ms),
        haven_joins_chromium_ms: chromium.as_ref().map(|c| c.haven_joins_chromium_ms),
    })
}

fn opus_encode_cost() -> anyhow::Result<f64> {
    let mut encoder = VoiceEncoder::new(FRAME)?;
    let mut source = Synthetic::voice_like(1);
    let frames: Vec<Vec<i16>> = (0..2000)
        .map(|_| source.next_frame(FRAME.samples()))
        .collect();
    let start = Instant::now();
    for f in &frames {
        std::hint::black_box(encoder.encode(f)?);
    }
    Ok(round3(
        start.elapsed().as_secs_f64() * 1e6 / frames.len() as f64,
    ))
}

/// The guest sends poses at 100 Hz; the streamer echoes them; round trips are timed here.
async fn pose_round_trips(guest: &mut Session, count: usize) -> anyhow::Result<(Vec<f64>, usize)> {
    let mut sent_at = vec![None; count];
    let mut rtts = Vec::with_capacity(count);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut next = 0usize;
    let deadline = Instant::now() + Duration::from_millis(10 * count as u64 + 2000);
    while Instant::now() < deadline && (next < count || rtts.len() < count) {
        tokio::select! {
            _ = tick.tick(), if next < count => {
                let update = PoseUpdate { seq: next as u16, ..crate::sim::seated_pose(0.5, 0, 0) };
                sent_at[next] = Some(Instant::now());
                guest.send_pose(&update);
                next += 1;
            }
            event = guest.next_event(Duration::from_millis(100)) => {
                if let Some(SessionEvent::Pose { update, .. }) = event
                    && update.seq & 0x8000 != 0
                    && let Some(Some(at)) = sent_at.get(usize::from(update.seq & 0x7fff))
                {
                    rtts.push(at.elapsed().as_secs_f64() * 1000.0);
                }
            }
        }
    }
    rtts.sort_by(f64::total_cmp);
    let lost = count - rtts.len();
    Ok((rtts, lost))
}

/// Capture → decoded on the listener's 10 ms playout clock, per frame, for 3 s of speech from
/// a third peer that starts talking once connected (so its first packet is its first frame).
/// Device buffers are not included; encode, transport, jitter buffer and decode are.
async fn voice_delay(room: &Room, listener: &mut Session) -> anyhow::Result<Vec<f64>> {
    let mut talker = room.join(Role::Therapist)?;
    let mut connected = 0;
    while connected < 2 {
        match talker.next_event(Duration::from_secs(10)).await {
            Some(SessionEvent::PeerConnected(_)) => connected += 1,
            Some(SessionEvent::Failed(why)) => bail!("talker failed: {why}"),
            Some(_) => {}
            None => bail!("the talker did not connect"),
        }
    }
    let talker_id = loop {
        match listener.next_event(Duration::from_secs(10)).await {
            Some(SessionEvent::PeerConnected(id)) => break id,
            Some(_) => {}
            None => bail!("the listener did not connect to the talker"),
        }
    };
    let mut encoder = VoiceEncoder::new(FRAME)?;
    let mut source = Synthetic::voice_like(4);
    let mut voice = RemoteVoice::new(FRAME)?;
    let mut captured: Vec<Instant> = Vec::new();
    let mut first_ts = None;
    let mut delays = Vec::new();
    let mut send = tokio::time::interval(Duration::from_millis(10));
    let mut play = tokio::time::interval(Duration::from_millis(10));
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        tokio::select! {
            _ = send.tick() => {
                let pcm = source.next_frame(FRAME.samples());
                captured.push(Instant::now());
                talker.send_audio(encoder.encode(&pcm)?, Duration::from_millis(10), 0);
            }
            _ = play.tick() => {
                if let (Some((pcm, ts)), Some(ts0)) = (voice.next_frame(), first_ts) {
                    std::hint::black_box(pcm);
                    let frame = usize::try_from((ts - ts0) / FRAME.samples() as u64)?;
                    if let Some(at) = captured.get(frame) {
                        delays.push(at.elapsed().as_secs_f64() * 1000.0);
                    }
                }
            }
            event = listener.next_event(Duration::from_millis(20)) => {
                if let Some(SessionEvent::Audio { from, packet }) = event && from == talker_id {
                    // The jitter buffer extends the first timestamp it sees by 2^32.
                    first_ts.get_or_insert((1u64 << 32) + u64::from(packet.timestamp));
                    let arrived = packet.arrived.saturating_duration_since(start).as_secs_f64() * 1000.0;
                    voice.push(packet.timestamp, packet.payload, arrived);
                }
            }
            _ = talker.next_event(Duration::from_millis(20)) => {}
        }
    }
    talker.leave();
    if delays.is_empty() {
        bail!("no voice was played");
    }
    delays.sort_by(f64::total_cmp);
    Ok(delays)
}

/// A 20 MB object from the guest to the streamer, timed until the streamer holds all of it
/// with its hash checked, while the streamer's poses keep coming.
async fn bulk(guest: &mut Session, streamer: &Streamer) -> anyhow::Result<(f64, f64)> {
    let data = Arc::new(
        (0..BULK_BYTES)
            .map(|i| (i * 7 % 251) as u8)
            .collect::<Vec<u8>>(),
    );
    let peer = loop {
        // The streamer is the peer whose poses are not echoes.
        match guest.next_event(Duration::from_secs(5)).await {
            Some(SessionEvent::Pose { from, update }) if update.seq & 0x8000 == 0 => break from,
            Some(_) => {}
            None => bail!("no poses from the streamer"),
        }
    };
    let start = Instant::now();
    // Object ids are the sender's to choose, unique per session: this is the guest's only one.
    guest.send_object(peer, ObjectId(1), ObjectKind::Image, data);
    let mut poses = 0u64;
    let done = loop {
        if let Some(at) = *streamer.received.lock().expect("not poisoned") {
            break at;
        }
        if start.elapsed() > Duration::from_secs(60) {
            bail!("the 20 MB object did not arrive within 60 s");
        }
        match guest.next_event(Duration::from_millis(5)).await {
            Some(SessionEvent::Pose { update, .. }) if update.seq & 0x8000 == 0 => poses += 1,
            Some(SessionEvent::ObjectCancelled { why, .. }) => bail!("bulk cancelled: {why}"),
            _ => {}
        }
    };
    let secs = done.duration_since(start).as_secs_f64();
    // The streamer sends 100 poses a second; how many arrived while the object went.
    Ok((
        round3(BULK_BYTES as f64 / 1e6 / secs),
        round3((100.0 * poses as f64 / (secs * 100.0)).min(100.0)),
    ))
}
