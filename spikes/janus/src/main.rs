//! Spike: webrtc-rs 0.17 peers through Janus VideoRoom (publish Opus + an in-band data
//! channel, subscribe, renegotiate when a publisher joins and leaves, data both ways).
//! Run inside a network namespace that has Janus on a non-loopback address.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use webrtc::api::APIBuilder;
use webrtc::api::interceptor_registry::register_default_interceptors;
use webrtc::api::media_engine::{MIME_TYPE_OPUS, MediaEngine};
use webrtc::data_channel::RTCDataChannel;
use webrtc::data_channel::data_channel_message::DataChannelMessage;
use webrtc::interceptor::registry::Registry;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::rtp_transceiver::rtp_codec::{
    RTCRtpCodecCapability, RTCRtpCodecParameters, RTPCodecType,
};
use webrtc::track::track_local::TrackLocalWriter as _;
use webrtc::track::track_local::track_local_static_rtp::TrackLocalStaticRTP;

static TX: AtomicU64 = AtomicU64::new(1);
static SEQ: AtomicU64 = AtomicU64::new(0);

struct Janus {
    out: mpsc::UnboundedSender<String>,
    inbox: mpsc::UnboundedReceiver<Value>,
    pending: Vec<Value>,
    session: u64,
}

impl Janus {
    async fn connect(url: &str) -> anyhow::Result<Self> {
        let mut req = url.into_client_request()?;
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", "janus-protocol".parse()?);
        let (ws, _) = tokio_tungstenite::connect_async(req).await?;
        let (mut sink, mut stream) = ws.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<String>();
        let (in_tx, inbox) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(text) = out_rx.recv().await {
                if sink.send(Message::text(text)).await.is_err() {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            while let Some(Ok(m)) = stream.next().await {
                if let Message::Text(t) = m {
                    if let Ok(v) = serde_json::from_str::<Value>(t.as_str()) {
                        let _ = in_tx.send(v);
                    }
                }
            }
        });
        let mut j = Self {
            out,
            inbox,
            pending: Vec::new(),
            session: 0,
        };
        let r = j.call(json!({"janus": "create"})).await?;
        j.session = r["data"]["id"].as_u64().context("session id")?;
        Ok(j)
    }

    /// Sends and waits for the reply with the same transaction (skipping acks).
    async fn call(&mut self, mut msg: Value) -> anyhow::Result<Value> {
        let tx = TX.fetch_add(1, Ordering::Relaxed).to_string();
        msg["transaction"] = json!(tx);
        if self.session != 0 {
            msg["session_id"] = json!(self.session);
        }
        self.out.send(msg.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .context("janus timeout")?;
            let v = tokio::time::timeout(left, self.inbox.recv())
                .await
                .context("janus timeout")?
                .context("janus closed")?;
            if v["transaction"] == json!(tx) && v["janus"] != "ack" {
                if v["janus"] == "error" {
                    bail!("janus error: {v}");
                }
                if let Some(e) = v["plugindata"]["data"].get("error") {
                    bail!("plugin error: {e}");
                }
                return Ok(v);
            }
            if v["transaction"] != json!(tx) {
                self.pending.push(v);
            }
        }
    }

    async fn attach(&mut self) -> anyhow::Result<u64> {
        let r = self
            .call(json!({"janus": "attach", "plugin": "janus.plugin.videoroom"}))
            .await?;
        r["data"]["id"].as_u64().context("handle id")
    }

    async fn message(
        &mut self,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut m = json!({"janus": "message", "handle_id": handle, "body": body});
        if let Some(j) = jsep {
            m["jsep"] = j;
        }
        self.call(m).await
    }

    /// The next asynchronous event for `handle` that has a jsep (an offer from Janus).
    async fn next_jsep(&mut self, handle: u64) -> anyhow::Result<Value> {
        if let Some(i) = self
            .pending
            .iter()
            .position(|v| v["sender"] == json!(handle) && v.get("jsep").is_some())
        {
            return Ok(self.pending.remove(i));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .context("no jsep")?;
            let v = tokio::time::timeout(left, self.inbox.recv())
                .await
                .context("no jsep")?
                .context("closed")?;
            if v["sender"] == json!(handle) && v.get("jsep").is_some() {
                return Ok(v);
            }
            self.pending.push(v);
        }
    }
}

async fn api() -> anyhow::Result<webrtc::api::API> {
    let mut media = MediaEngine::default();
    media.register_codec(
        RTCRtpCodecParameters {
            capability: RTCRtpCodecCapability {
                mime_type: MIME_TYPE_OPUS.to_owned(),
                clock_rate: 48_000,
                channels: 2,
                sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
                rtcp_feedback: vec![],
            },
            payload_type: 111,
            ..Default::default()
        },
        RTPCodecType::Audio,
    )?;
    let registry = register_default_interceptors(Registry::new(), &mut media)?;
    Ok(APIBuilder::new()
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .build())
}

async fn gathered(pc: &RTCPeerConnection) -> anyhow::Result<String> {
    let mut done = pc.gathering_complete_promise().await;
    let _ = done.recv().await;
    Ok(pc
        .local_description()
        .await
        .context("local description")?
        .sdp)
}

struct Publisher {
    pc: Arc<RTCPeerConnection>,
    dc: Arc<RTCDataChannel>,
    track: Arc<TrackLocalStaticRTP>,
    id: u64,
    handle: u64,
}

async fn publish(
    api: &webrtc::api::API,
    j: &mut Janus,
    room: u64,
    name: &str,
) -> anyhow::Result<Publisher> {
    let handle = j.attach().await?;
    let r = j
        .message(
            handle,
            json!({"request": "join", "ptype": "publisher", "room": room, "display": name}),
            None,
        )
        .await?;
    let data = &r["plugindata"]["data"];
    let id = data["id"].as_u64().context("publisher id")?;
    println!(
        "[{name}] joined as publisher {id}; publishers already: {}",
        data["publishers"]
    );
    let pc = Arc::new(api.new_peer_connection(RTCConfiguration::default()).await?);
    let track = Arc::new(TrackLocalStaticRTP::new(
        RTCRtpCodecCapability {
            mime_type: MIME_TYPE_OPUS.to_owned(),
            clock_rate: 48_000,
            channels: 2,
            ..Default::default()
        },
        "voice".into(),
        name.into(),
    ));
    pc.add_track(track.clone()).await?;
    // In band (DCEP), ordered and reliable, as Janus forwards.
    let dc = pc.create_data_channel("control", None).await?;
    let offer = pc.create_offer(None).await?;
    pc.set_local_description(offer).await?;
    let sdp = gathered(&pc).await?;
    let t0 = Instant::now();
    let r = j
        .message(
            handle,
            json!({"request": "configure", "audio": true, "data": true}),
            Some(json!({"type": "offer", "sdp": sdp})),
        )
        .await?;
    let answer = r["jsep"]["sdp"].as_str().context("answer")?.to_owned();
    pc.set_remote_description(RTCSessionDescription::answer(answer)?)
        .await?;
    println!("[{name}] publish negotiated in {:?}", t0.elapsed());
    Ok(Publisher {
        pc,
        dc,
        track,
        id,
        handle,
    })
}

struct Subscriber {
    pc: Arc<RTCPeerConnection>,
    handle: u64,
    got: Arc<tokio::sync::Mutex<Vec<String>>>,
    audio_packets: Arc<AtomicU64>,
    labels: Arc<tokio::sync::Mutex<Vec<String>>>,
}

async fn answer_offer(
    j: &mut Janus,
    pc: &RTCPeerConnection,
    handle: u64,
    offer: &Value,
) -> anyhow::Result<()> {
    let sdp = offer["jsep"]["sdp"]
        .as_str()
        .context("offer sdp")?
        .to_owned();
    if std::env::var("SHOW_SDP").is_ok_and(|v| !v.is_empty()) {
        let shown = [
            "m=",
            "a=mid",
            "a=ssrc",
            "a=msid",
            "a=send",
            "a=recv",
            "a=inactive",
        ];
        for line in sdp
            .lines()
            .filter(|l| shown.iter().any(|p| l.starts_with(p)))
        {
            println!("    offer> {line}");
        }
    }
    pc.set_remote_description(RTCSessionDescription::offer(sdp)?)
        .await?;
    let answer = pc.create_answer(None).await?;
    pc.set_local_description(answer).await?;
    let sdp = gathered(pc).await?;
    j.message(
        handle,
        json!({"request": "start"}),
        Some(json!({"type": "answer", "sdp": sdp})),
    )
    .await?;
    Ok(())
}

async fn subscribe(
    api: &webrtc::api::API,
    j: &mut Janus,
    room: u64,
    feeds: &[u64],
    name: &str,
) -> anyhow::Result<Subscriber> {
    let handle = j.attach().await?;
    let streams: Vec<Value> = feeds.iter().map(|f| json!({"feed": f})).collect();
    let t0 = Instant::now();
    let r = j
        .message(
            handle,
            json!({"request": "join", "ptype": "subscriber", "room": room, "streams": streams}),
            None,
        )
        .await?;
    let offer = if r.get("jsep").is_some() {
        r
    } else {
        j.next_jsep(handle).await?
    };
    println!(
        "[{name}] subscriber offer streams: {}",
        offer["plugindata"]["data"]["streams"]
    );
    let pc = Arc::new(api.new_peer_connection(RTCConfiguration::default()).await?);
    let got = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let labels = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let audio_packets = Arc::new(AtomicU64::new(0));
    {
        let (got, labels) = (got.clone(), labels.clone());
        pc.on_data_channel(Box::new(move |dc: Arc<RTCDataChannel>| {
            let (got, labels) = (got.clone(), labels.clone());
            Box::pin(async move {
                labels.lock().await.push(format!(
                    "{} (ordered={}, negotiated={})",
                    dc.label(),
                    dc.ordered(),
                    dc.negotiated()
                ));
                dc.on_message(Box::new(move |m: DataChannelMessage| {
                    let got = got.clone();
                    Box::pin(async move {
                        got.lock()
                            .await
                            .push(String::from_utf8_lossy(&m.data).into_owned());
                    })
                }));
            })
        }));
        let audio = audio_packets.clone();
        let who = name.to_owned();
        pc.on_track(Box::new(move |track, _, transceiver| {
            let audio = audio.clone();
            let who = who.clone();
            Box::pin(async move {
                println!(
                    "[{who}] on_track ssrc {} mid {:?}",
                    track.ssrc(),
                    transceiver.mid()
                );
                tokio::spawn(async move {
                    let mut n = 0u64;
                    loop {
                        match track.read_rtp().await {
                            Ok(_) => {
                                n += 1;
                                audio.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                println!(
                                    "[{who}] track ssrc {} ended after {n}: {e}",
                                    track.ssrc()
                                );
                                break;
                            }
                        }
                    }
                });
            })
        }));
    }
    // Janus forwards data to a subscriber only once its SCTP stack has sent something and
    // gone dry (`dataready`): janus.js opens a channel of its own; so does this.
    if std::env::var_os("NO_SUB_CHANNEL").is_none() {
        let own = pc.create_data_channel("subscriber", None).await?;
        let got = got.clone();
        own.on_message(Box::new(move |m: DataChannelMessage| {
            let got = got.clone();
            Box::pin(async move {
                got.lock()
                    .await
                    .push(format!("own:{}", String::from_utf8_lossy(&m.data)));
            })
        }));
    }
    answer_offer(j, &pc, handle, &offer).await?;
    println!("[{name}] subscribe negotiated in {:?}", t0.elapsed());
    Ok(Subscriber {
        pc,
        handle,
        got,
        audio_packets,
        labels,
    })
}

fn opus_silence(seq: u16, ts: u32) -> webrtc::rtp::packet::Packet {
    webrtc::rtp::packet::Packet {
        header: webrtc::rtp::header::Header {
            version: 2,
            sequence_number: seq,
            timestamp: ts,
            ..Default::default()
        },
        payload: bytes::Bytes::from_static(&[0xf8, 0xff, 0xfe]),
    }
}

/// Sends a message on every publisher's channel and audio on every track, for `d`.
async fn run_traffic(pubs: &[(&str, &Publisher)], d: Duration) {
    let start = Instant::now();
    // RTP sequence numbers go on across calls: SRTP drops a sequence number it has seen
    // (replay protection), so starting again at 0 silences every stream.
    let mut seq = SEQ.load(Ordering::Relaxed) as u16;
    while start.elapsed() < d {
        for (name, p) in pubs {
            let _ =
                p.dc.send_text(format!("{name}:{}", start.elapsed().as_millis()))
                    .await;
            let _ = p
                .track
                .write_rtp(&opus_silence(seq, seq as u32 * 960))
                .await;
        }
        seq = seq.wrapping_add(1);
        SEQ.store(u64::from(seq), Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn report(name: &str, s: &Subscriber) {
    let got = s.got.lock().await;
    let mut from: std::collections::BTreeMap<String, usize> = Default::default();
    for m in got.iter() {
        *from
            .entry(m.split(':').next().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    println!(
        "[{name}] pc {:?}, sctp {:?}; data channels: {:?}; messages by sender: {from:?}; audio packets: {}",
        s.pc.connection_state(),
        s.pc.sctp().state(),
        s.labels.lock().await,
        s.audio_packets.load(Ordering::Relaxed)
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or("ws://10.99.0.1:8188".into());
    let api = api().await?;
    let room = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        % 1_000_000;
    let mut admin = Janus::connect(&url).await?;
    let h = admin.attach().await?;
    let r = admin
        .message(h, json!({"request": "create", "room": room, "publishers": 12, "audiocodec": "opus", "videocodec": "vp8", "notify_joining": true}), None)
        .await?;
    println!("room: {}", r["plugindata"]["data"]);

    let mut ja = Janus::connect(&url).await?;
    let mut jb = Janus::connect(&url).await?;
    let a = publish(&api, &mut ja, room, "A").await?;
    let b = publish(&api, &mut jb, room, "B").await?;
    // Channels open?
    for _ in 0..100 {
        if a.dc.ready_state() == webrtc::data_channel::data_channel_state::RTCDataChannelState::Open
            && b.dc.ready_state()
                == webrtc::data_channel::data_channel_state::RTCDataChannelState::Open
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "publisher channels: A {:?}, B {:?}",
        a.dc.ready_state(),
        b.dc.ready_state()
    );
    let sa = subscribe(&api, &mut ja, room, &[b.id], "A").await?;
    let sb = subscribe(&api, &mut jb, room, &[a.id], "B").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    run_traffic(&[("A", &a), ("B", &b)], Duration::from_secs(2)).await;
    report("A sees", &sa).await;
    report("B sees", &sb).await;

    // C joins: A's subscription is renegotiated to add C.
    let mut jc = Janus::connect(&url).await?;
    let c = publish(&api, &mut jc, room, "C").await?;
    for _ in 0..100 {
        if c.dc.ready_state() == webrtc::data_channel::data_channel_state::RTCDataChannelState::Open
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let t0 = Instant::now();
    let r = ja
        .message(
            sa.handle,
            json!({"request": "subscribe", "streams": [{"feed": c.id}]}),
            None,
        )
        .await?;
    let offer = if r.get("jsep").is_some() {
        r
    } else {
        ja.next_jsep(sa.handle).await?
    };
    answer_offer(&mut ja, &sa.pc, sa.handle, &offer).await?;
    println!(
        "[A] renegotiated to add C in {:?}; streams {}",
        t0.elapsed(),
        offer["plugindata"]["data"]["streams"]
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    sa.got.lock().await.clear();
    run_traffic(&[("A", &a), ("B", &b), ("C", &c)], Duration::from_secs(2)).await;
    report("A sees (after C)", &sa).await;

    // C leaves: Janus renegotiates A's subscription to drop C.
    let t0 = Instant::now();
    jc.message(c.handle, json!({"request": "leave"}), None)
        .await?;
    let _ = c.pc.close().await;
    match tokio::time::timeout(Duration::from_secs(5), ja.next_jsep(sa.handle)).await {
        Ok(Ok(offer)) => {
            answer_offer(&mut ja, &sa.pc, sa.handle, &offer).await?;
            println!(
                "[A] renegotiated after C left in {:?}; streams {}",
                t0.elapsed(),
                offer["plugindata"]["data"]["streams"]
            );
        }
        other => println!(
            "[A] no renegotiation offer after C left: {:?}",
            other.map(|r| r.map(|_| ()))
        ),
    }
    sa.got.lock().await.clear();
    run_traffic(&[("A", &a), ("B", &b)], Duration::from_secs(1)).await;
    report("A sees (after C left)", &sa).await;
    let events: Vec<String> = ja
        .pending
        .iter()
        .map(|v| v["plugindata"]["data"].to_string())
        .take(8)
        .collect();
    println!("A's unsolicited events: {events:#?}");
    let _ = (
        a.pc.close().await,
        b.pc.close().await,
        sa.pc.close().await,
        sb.pc.close().await,
    );
    Ok(())
}
