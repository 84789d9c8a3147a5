//! Chromium as a reference peer for `haven bench session`, when Debian's `chromium` is
//! installed (`cargo xtask deps` installs it): a browser peer page (`chromium_peer.html`) in
//! headless Chromium joins the bench's room over the same signaling server, with the fake
//! microphone's audio and Haven's three channels in band. Measured: a Chromium ↔ Chromium
//! pair's join (the second page, from its hello to its three channels open and the first
//! audio packet in), and Haven joining a Chromium page (from the invite to `PeerConnected`,
//! which is all three channels open, and the first audio packet).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use haven_proto::signal::Role;
use haven_session::SessionEvent;

use super::session::Room;

const PAGE: &str = include_str!("chromium_peer.html");
const CHROMIUM: &str = "/usr/bin/chromium";
const JOINS: usize = 5;
const LIMIT: Duration = Duration::from_secs(20);

/// What the browser runs measured, medians of [`JOINS`] joins each.
pub(super) struct ChromiumReference {
    pub(super) pair_join_ms: f64,
    pub(super) haven_joins_chromium_ms: f64,
}

/// One headless Chromium showing the peer page; its console lines arrive on `lines`.
struct Browser {
    child: Child,
    lines: mpsc::Receiver<String>,
    profile: PathBuf,
}

impl Browser {
    fn open(page: &Path, url: &str, invite: &str) -> anyhow::Result<Self> {
        static OPENED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = OPENED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let profile =
            std::env::temp_dir().join(format!("haven-bench-chromium-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&profile)?;
        let params = serde_json::json!({ "url": url, "invite": invite }).to_string();
        let target = format!("file://{}#{}", page.display(), utf8_percent(&params));
        let mut child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                // The bench's server has a self-signed certificate; the page reaches it on
                // loopback, where Chromium gathers no candidates unless told to.
                "--ignore-certificate-errors",
                "--allow-loopback-in-peer-connection",
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                "--autoplay-policy=no-user-gesture-required",
                "--enable-logging=stderr",
                "--v=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(target)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting chromium")?;
        let stderr = child.stderr.take().context("chromium's stderr")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("\"HAVEN_") {
                    let said = &line[at + 7..];
                    let said = said.split("\", source:").next().unwrap_or(said);
                    if tx.send(said.replace("\\\"", "\"")).is_err() {
                        break;
                    }
                }
            }
        });
        Ok(Self {
            child,
            lines,
            profile,
        })
    }

    /// The first console line saying `what` (its rest), within [`LIMIT`].
    async fn said(&self, what: &str) -> anyhow::Result<String> {
        let deadline = Instant::now() + LIMIT;
        while Instant::now() < deadline {
            match self.lines.try_recv() {
                Ok(line) if line.starts_with(what) => {
                    return Ok(line[what.len()..].trim().to_owned());
                }
                Ok(line) if line.starts_with("ERROR") => bail!("the browser peer: {line}"),
                Ok(_) => {}
                Err(mpsc::TryRecvError::Empty) => {
                    tokio::time::sleep(Duration::from_millis(2)).await
                }
                Err(mpsc::TryRecvError::Disconnected) => bail!("chromium exited"),
            }
        }
        bail!("chromium did not say {what} within {LIMIT:?}")
    }
}

impl Drop for Browser {
    /// Asks Chromium to quit (it then ends its helper processes, which would otherwise still
    /// write into the profile as it is removed), kills it if it has not within 2 s, and
    /// removes the profile.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Percent-encodes everything but unreserved characters (for the page's fragment).
fn utf8_percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs the reference, or says why not (no Chromium: `None`, quietly noted).
pub(super) async fn reference(room: &Room) -> Option<ChromiumReference> {
    if !Path::new(CHROMIUM).exists() {
        tracing::warn!("no Chromium reference: {CHROMIUM} is not installed (cargo xtask deps)");
        return None;
    }
    match measure(room).await {
        Ok(figures) => Some(figures),
        Err(e) => {
            tracing::warn!(error = %e, "no Chromium reference figures");
            None
        }
    }
}

async fn measure(room: &Room) -> anyhow::Result<ChromiumReference> {
    let dir = std::env::temp_dir().join(format!("haven-bench-page-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let page = dir.join("peer.html");
    std::fs::write(&page, PAGE)?;
    let url = room.url();
    let mut pair = Vec::new();
    let mut haven = Vec::new();
    for i in 0..JOINS {
        // A Chromium pair, in a room of its own.
        let name = format!("chromium-pair-{i}");
        let host = Browser::open(&page, &url, &room.invite(Role::Clinician, &name)?)?;
        host.said("READY").await?;
        let guest = Browser::open(&page, &url, &room.invite(Role::Patient, &name)?)?;
        let result: serde_json::Value = serde_json::from_str(&guest.said("RESULT").await?)?;
        pair.push(result["join_ms"].as_f64().context("join_ms")?);
        drop((guest, host));

        // Haven joining a Chromium page.
        let name = format!("chromium-haven-{i}");
        let host = Browser::open(&page, &url, &room.invite(Role::Clinician, &name)?)?;
        host.said("READY").await?;
        let t0 = Instant::now();
        let mut session = room.join_room(Role::Patient, &name)?;
        let (mut open, mut audio) = (None, None);
        while open.is_none() || audio.is_none() {
            match session.next_event(LIMIT).await {
                Some(SessionEvent::PeerConnected(_)) => open = open.or(Some(t0.elapsed())),
                Some(SessionEvent::Audio { .. }) => audio = audio.or(Some(t0.elapsed())),
                Some(SessionEvent::Failed(why)) => bail!("Haven's session failed: {why}"),
                Some(_) => {}
                None => bail!("Haven did not connect to the browser within {LIMIT:?}"),
            }
        }
        let both = open.max(audio).context("measured")?;
        haven.push(both.as_secs_f64() * 1000.0);
        session.leave();
        drop(host);
    }
    let _ = std::fs::remove_dir_all(&dir);
    pair.sort_by(f64::total_cmp);
    haven.sort_by(f64::total_cmp);
    Ok(ChromiumReference {
        pair_join_ms: super::round3(super::percentile(&pair, 0.5)),
        haven_joins_chromium_ms: super::round3(super::percentile(&haven, 0.5)),
    })
}
