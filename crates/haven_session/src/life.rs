//! A peer's connection life, sans I/O, the way str0m and quinn-proto keep theirs: it is told
//! what happened (the connection's state, its channels opening, the signaling server lost and
//! back, the server's word on the peer, the user asking to try again) and what time it is, and
//! answers with what to do (restart ICE, build a new connection, tell the application, count
//! the peer as left). Its timers are deadlines it reports ([`Life::poll_timeout`]) and is told
//! have passed ([`Life::handle_timeout`]); nothing in it sleeps, spawns or sends. The WebRTC
//! backend drives one per remote peer (it outlives each connection to that peer), and the tests
//! drive it on a fake clock.
//!
//! The rules it keeps:
//! - the side that offered a connection restarts ICE when it fails and builds a new connection
//!   if it is not back within `rebuild_after`; a connection whose channels do not open within
//!   `channels_within` of connecting is rebuilt by whichever side misses them, the answerer one
//!   period after the offerer would have (so the two do not offer at once);
//! - after `max_rebuilds` new connections in a row that did not open, the peer is lost (said
//!   once) until the user asks again; the answerer, which never builds, judges the last try
//!   when it has had its time;
//! - without signaling nothing is rebuilt (no offer could go) and no try is counted;
//! - a peer counts as left only when its media has been down for `grace` while its signaling
//!   is gone too (ours is down, or the server lost it).

use std::time::{Duration, Instant};

/// The times a life keeps.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LifeTiming {
    /// An ICE restart (or a rebuilt connection) not connected by then is replaced.
    pub(crate) rebuild_after: Duration,
    /// A connected connection's channels open within this, or it is replaced.
    pub(crate) channels_within: Duration,
    /// Media and signaling both gone this long: the peer has left.
    pub(crate) grace: Duration,
    /// New connections in a row that did not open before the peer is lost.
    pub(crate) max_rebuilds: u32,
}

/// A connection's state, as the peer connection reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Media {
    /// Being set up (new, or connecting).
    Connecting,
    /// ICE and DTLS are up.
    Connected,
    /// ICE lost its pair for a moment.
    Disconnected,
    /// ICE gave up.
    Failed,
    /// Closed.
    Closed,
}

/// What to tell the application about the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Said {
    /// Its channels opened the first time.
    Connected,
    /// Its connection broke; restarting or rebuilding.
    Reconnecting,
    /// It works again.
    Reconnected,
    /// Rebuilding has ended without a connection.
    Lost,
}

/// What to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Restart ICE on the current connection (this side offered it) and send the offer.
    RestartIce,
    /// Build a new connection, offered by this side, and send the offer; then report it with
    /// [`Life::built`].
    Rebuild,
    /// Tell the application.
    Say(Said),
    /// The peer has left: close its connection and forget what it had on its way.
    Left,
}

/// One remote peer's connection life (across every connection to it).
#[derive(Debug)]
pub(crate) struct Life {
    timing: LifeTiming,
    /// This side offered the current connection.
    offerer: bool,
    media: Media,
    /// Since when the media has been down (anything but connected).
    down_since: Option<Instant>,
    /// The current connection's channels are open.
    open: bool,
    /// The current connection has been connected (its channel watch started).
    watched: bool,
    /// A break was said: say it works again when it does.
    announce_reconnect: bool,
    /// Its channels opened once (`Connected` was said).
    connected_once: bool,
    /// New connections in a row since the channels last opened.
    rebuilds: u32,
    /// Given up (`Lost` said) until asked again.
    lost: bool,
    /// Our signaling is up.
    signaling: bool,
    /// The server knows the peer.
    registered: bool,
    /// Since when the peer's signaling has been gone (ours down, or the server lost it).
    no_signaling_since: Option<Instant>,
    /// Deadlines: a restarted or rebuilt connection to be connected by (the offerer's).
    recheck: Option<Instant>,
    /// The channels to be open by; `true`: the answerer's second look.
    channels_due: Option<(Instant, bool)>,
    /// The answerer's judgement of the offerer's last try.
    last_try: Option<Instant>,
    /// When to judge whether the peer has left.
    gone_check: Option<Instant>,
    /// The answerer of a broken connection waits this long for the offerer's new one after
    /// signaling returns, then builds it itself (the offerer may have dropped us meanwhile).
    answer_wait: Option<Instant>,
}

impl Life {
    /// A peer whose first connection is being set up (`offerer`: by this side); `signaling`:
    /// whether ours is up.
    pub(crate) fn new(timing: LifeTiming, now: Instant, offerer: bool, signaling: bool) -> Self {
        Self {
            timing,
            offerer,
            media: Media::Connecting,
            down_since: Some(now),
            open: false,
            watched: false,
            announce_reconnect: false,
            connected_once: false,
            rebuilds: 0,
            lost: false,
            signaling,
            registered: true,
            no_signaling_since: (!signaling).then_some(now),
            recheck: None,
            channels_due: None,
            last_try: None,
            gone_check: None,
            answer_wait: None,
        }
    }

    /// The grace period (it follows the server's).
    pub(crate) fn set_grace(&mut self, grace: Duration) {
        self.timing.grace = grace;
    }

    /// A new connection replaced the last one (`offerer`: this side offers it): counted as a
    /// try; the offerer checks it comes up in time, the answerer judges the last try.
    pub(crate) fn built(&mut self, now: Instant, offerer: bool) {
        self.offerer = offerer;
        self.media = Media::Connecting;
        self.down_since = self.down_since.or(Some(now));
        self.open = false;
        self.watched = false;
        self.announce_reconnect = true;
        self.channels_due = None;
        self.last_try = None;
        self.answer_wait = None;
        self.rebuilds = self.rebuilds.saturating_add(1);
        self.recheck = offerer.then(|| now + self.timing.rebuild_after);
        if !offerer && self.rebuilds >= self.timing.max_rebuilds {
            self.last_try = Some(now + self.timing.rebuild_after);
        }
    }

    /// The current connection's state changed.
    pub(crate) fn media(&mut self, now: Instant, media: Media) -> Vec<Action> {
        self.media = media;
        let mut out = Vec::new();
        if media == Media::Connected {
            self.down_since = None;
            self.answer_wait = None;
            if !self.watched {
                // Its channels open within moments; if one never does, it is rebuilt rather
                // than left silent.
                self.watched = true;
                self.channels_due = Some((now + self.timing.channels_within, false));
            } else if self.open && self.announce_reconnect {
                // An ICE restart worked: the same connection goes on.
                self.announce_reconnect = false;
                if self.connected_once {
                    out.push(Action::Say(Said::Reconnected));
                }
            }
            return out;
        }
        if matches!(media, Media::Disconnected | Media::Failed | Media::Closed)
            && self.down_since.is_none()
        {
            self.down_since = Some(now);
            self.arm_gone_check();
        }
        if media == Media::Failed {
            if !self.announce_reconnect {
                self.announce_reconnect = true;
                out.push(Action::Say(Said::Reconnecting));
            }
            if self.offerer && self.signaling {
                self.recheck = Some(now + self.timing.rebuild_after);
                out.push(Action::RestartIce);
            }
        }
        out
    }

    /// All the current connection's channels are open on this side.
    pub(crate) fn channels_open(&mut self) -> Vec<Action> {
        if self.open {
            return Vec::new();
        }
        self.open = true;
        self.rebuilds = 0;
        self.channels_due = None;
        self.last_try = None;
        self.recheck = None;
        self.lost = false;
        let reconnected = std::mem::take(&mut self.announce_reconnect);
        if !std::mem::replace(&mut self.connected_once, true) {
            vec![Action::Say(Said::Connected)]
        } else if reconnected {
            vec![Action::Say(Said::Reconnected)]
        } else {
            Vec::new()
        }
    }

    /// The user asks to try again (a fresh count of tries): this side builds, whichever
    /// offered before.
    pub(crate) fn reconnect(&mut self) -> Vec<Action> {
        self.rebuilds = 0;
        self.lost = false;
        self.rebuild(true)
    }

    /// Our signaling server is out of reach.
    pub(crate) fn signaling_lost(&mut self, now: Instant) {
        self.signaling = false;
        self.no_signaling_since.get_or_insert(now);
        self.arm_gone_check();
    }

    /// Our signaling server is back; `listed`: the welcome names this peer. A connection that broke meanwhile is rebuilt
    /// by the side that offered it, never by the other (two offers at once would cross); one
    /// still being set up gets its time first.
    pub(crate) fn signaling_back(&mut self, now: Instant, listed: bool) -> Vec<Action> {
        self.signaling = true;
        if !listed {
            // Not known to the server (yet: after a restart peers come back one by one): its
            // signaling is still gone, counted from when ours went.
            self.registered = false;
            self.arm_gone_check();
            return self.judge(now);
        }
        self.registered = true;
        self.no_signaling_since = None;
        self.rebuild_if_broken(now)
    }

    /// The server says the peer is gone (it did not come back within the grace): it stays while
    /// its media works, and leaves once that has been down for the grace.
    pub(crate) fn server_lost(&mut self, now: Instant) -> Vec<Action> {
        self.registered = false;
        self.no_signaling_since.get_or_insert(now);
        self.arm_gone_check();
        self.judge(now)
    }

    /// The server knows the peer again (it came back, or joined our restarted server): if this
    /// side offered a connection that broke meanwhile, it builds a new one now.
    pub(crate) fn server_found(&mut self, now: Instant) -> Vec<Action> {
        self.registered = true;
        if self.signaling {
            self.no_signaling_since = None;
        }
        self.rebuild_if_broken(now)
    }

    fn rebuild_if_broken(&mut self, now: Instant) -> Vec<Action> {
        if !self.offerer {
            // The offerer builds; if it has not within a period, we do.
            if self.media != Media::Connected && self.answer_wait.is_none() {
                self.answer_wait = Some(now + self.timing.rebuild_after);
            }
            return Vec::new();
        }
        match self.media {
            Media::Connected => Vec::new(),
            Media::Connecting => {
                if self.recheck.is_none() {
                    self.recheck = Some(now + self.timing.rebuild_after);
                }
                Vec::new()
            }
            Media::Disconnected | Media::Failed | Media::Closed => self.rebuild(false),
        }
    }

    /// The earliest deadline, if any.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        [
            self.recheck,
            self.channels_due.map(|(at, _)| at),
            self.last_try,
            self.gone_check,
            self.answer_wait,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Acts on the deadlines that have passed by `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.gone_check.is_some_and(|at| at <= now) {
            self.gone_check = None;
            out.extend(self.judge(now));
            if out.contains(&Action::Left) {
                return out;
            }
        }
        if self.last_try.is_some_and(|at| at <= now) {
            self.last_try = None;
            if !self.open {
                out.extend(self.give_up());
            }
        }
        if self.recheck.is_some_and(|at| at <= now) {
            self.recheck = None;
            if self.media != Media::Connected {
                out.extend(self.rebuild(false));
            }
        }
        if self.answer_wait.is_some_and(|at| at <= now) {
            self.answer_wait = None;
            if self.media != Media::Connected {
                out.extend(self.rebuild(true));
            }
        }
        if let Some((at, second)) = self.channels_due
            && at <= now
        {
            self.channels_due = None;
            if !self.open {
                if !self.offerer && !second {
                    // The side that offered goes first: when the association itself never came
                    // up both sides miss channels, and two rebuilds at once would cross. The
                    // answerer looks again one period later.
                    self.channels_due = Some((now + self.timing.channels_within, true));
                } else {
                    out.extend(self.rebuild(true));
                }
            }
        }
        out
    }

    /// Since when both the peer's media and its signaling have been gone, if they are.
    fn both_gone_since(&self) -> Option<Instant> {
        let no_signaling = !self.signaling || !self.registered;
        match (self.down_since, self.no_signaling_since) {
            (Some(media), Some(signaling)) if no_signaling => Some(media.max(signaling)),
            _ => None,
        }
    }

    /// Whether the peer has left: media and signaling both gone for the grace.
    fn judge(&mut self, now: Instant) -> Vec<Action> {
        match self.both_gone_since() {
            Some(since) if now.saturating_duration_since(since) >= self.timing.grace => {
                vec![Action::Left]
            }
            Some(since) => {
                self.gone_check = Some(since + self.timing.grace);
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    fn arm_gone_check(&mut self) {
        if let Some(since) = self.both_gone_since() {
            let at = since + self.timing.grace;
            self.gone_check = Some(self.gone_check.map_or(at, |g| g.min(at)));
        }
    }

    fn give_up(&mut self) -> Vec<Action> {
        if std::mem::replace(&mut self.lost, true) {
            Vec::new()
        } else {
            vec![Action::Say(Said::Lost)]
        }
    }

    /// A new connection offered by this side, if it is this side's to build (it offered the
    /// last one, or `either`: only the side missing a channel can tell), tries are left, and
    /// an offer can be sent.
    fn rebuild(&mut self, either: bool) -> Vec<Action> {
        if (!self.offerer && !either) || self.lost || !self.signaling {
            // Not ours; given up; or waiting for signaling (not counted).
            return Vec::new();
        }
        if self.rebuilds >= self.timing.max_rebuilds {
            return self.give_up();
        }
        let mut out = Vec::new();
        // A peer never connected is still connecting, not reconnecting.
        if !self.announce_reconnect && self.connected_once {
            out.push(Action::Say(Said::Reconnecting));
        }
        out.push(Action::Rebuild);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMING: LifeTiming = LifeTiming {
        rebuild_after: Duration::from_secs(10),
        channels_within: Duration::from_secs(5),
        grace: Duration::from_secs(30),
        max_rebuilds: 3,
    };

    /// A fake clock and one life.
    struct Clock {
        now: Instant,
        life: Life,
    }

    impl Clock {
        fn new(offerer: bool) -> Self {
            let now = Instant::now();
            Self {
                now,
                life: Life::new(TIMING, now, offerer, true),
            }
        }

        /// Time passes by `d`, deadline by deadline; what was done, in order.
        fn pass(&mut self, d: Duration) -> Vec<Action> {
            let end = self.now + d;
            let mut out = Vec::new();
            for _ in 0..100 {
                match self.life.poll_timeout() {
                    Some(at) if at <= end => {
                        self.now = self.now.max(at);
                        out.extend(self.life.handle_timeout(self.now));
                    }
                    _ => break,
                }
            }
            self.now = end;
            out
        }

        fn media(&mut self, media: Media) -> Vec<Action> {
            self.life.media(self.now, media)
        }

        /// Carries out a rebuild as the backend would.
        fn rebuilt(&mut self) {
            self.life.built(self.now, true);
        }

        fn up(&mut self) -> Vec<Action> {
            let mut out = self.media(Media::Connected);
            out.extend(self.life.channels_open());
            out
        }
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn the_first_opening_is_said_once_and_a_restart_that_works_is_a_reconnection() {
        let mut c = Clock::new(true);
        assert_eq!(c.up(), vec![Action::Say(Said::Connected)]);
        assert!(
            c.pass(SECOND * 60).is_empty(),
            "nothing to do while it works"
        );
        assert_eq!(
            c.media(Media::Failed),
            vec![Action::Say(Said::Reconnecting), Action::RestartIce]
        );
        c.pass(SECOND * 3);
        assert_eq!(
            c.media(Media::Connected),
            vec![Action::Say(Said::Reconnected)]
        );
        assert!(
            c.pass(SECOND * 20).is_empty(),
            "the restart's check finds it up"
        );
    }

    #[test]
    fn a_restart_that_does_not_work_is_followed_by_new_connections_until_one_opens() {
        let mut c = Clock::new(true);
        c.up();
        c.media(Media::Failed);
        assert_eq!(c.pass(TIMING.rebuild_after), vec![Action::Rebuild]);
        c.rebuilt();
        // The rebuilt one is watched too: not up in time, another.
        assert_eq!(c.pass(TIMING.rebuild_after), vec![Action::Rebuild]);
        c.rebuilt();
        assert_eq!(c.up(), vec![Action::Say(Said::Reconnected)]);
        assert!(c.pass(SECOND * 60).is_empty());
    }

    #[test]
    fn rebuilding_ends_with_the_peer_lost_once_and_trying_again_starts_a_fresh_count() {
        let mut c = Clock::new(true);
        c.up();
        c.media(Media::Failed);
        let (mut said_lost, mut built) = (0, 0);
        for _ in 0..10 {
            for action in c.pass(TIMING.rebuild_after) {
                match action {
                    Action::Rebuild => {
                        built += 1;
                        c.rebuilt();
                    }
                    Action::Say(Said::Lost) => said_lost += 1,
                    _ => {}
                }
            }
        }
        assert_eq!(
            built, TIMING.max_rebuilds,
            "as many new connections as allowed"
        );
        assert_eq!(said_lost, 1, "lost is said once");
        assert!(c.pass(SECOND * 60).is_empty(), "no more tries");
        assert_eq!(c.life.reconnect(), vec![Action::Rebuild]);
        c.rebuilt();
        assert_eq!(c.up(), vec![Action::Say(Said::Reconnected)]);
    }

    #[test]
    fn the_answerer_judges_the_offerers_last_try() {
        let mut c = Clock::new(false);
        c.up();
        assert_eq!(
            c.media(Media::Failed),
            vec![Action::Say(Said::Reconnecting)]
        );
        // The offerer's new connections arrive as offers; none opens.
        let mut out = Vec::new();
        for _ in 0..TIMING.max_rebuilds {
            c.life.built(c.now, false);
            out.extend(c.pass(SECOND * 2));
        }
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(c.pass(TIMING.rebuild_after), vec![Action::Say(Said::Lost)]);
        // A last try that opens in time is not lost.
        let mut d = Clock::new(false);
        d.up();
        d.media(Media::Failed);
        for _ in 0..TIMING.max_rebuilds {
            d.life.built(d.now, false);
        }
        d.pass(SECOND * 2);
        assert_eq!(d.up(), vec![Action::Say(Said::Reconnected)]);
        assert!(d.pass(TIMING.rebuild_after * 2).is_empty());
    }

    #[test]
    fn channels_that_do_not_open_are_rebuilt_by_the_offerer_first_then_the_answerer() {
        let mut offerer = Clock::new(true);
        assert!(offerer.media(Media::Connected).is_empty());
        assert_eq!(offerer.pass(TIMING.channels_within), vec![Action::Rebuild]);

        let mut answerer = Clock::new(false);
        assert!(answerer.media(Media::Connected).is_empty());
        assert!(
            answerer.pass(TIMING.channels_within).is_empty(),
            "the answerer waits one period"
        );
        assert_eq!(answerer.pass(TIMING.channels_within), vec![Action::Rebuild]);

        // Open in time: nothing.
        let mut fine = Clock::new(false);
        fine.media(Media::Connected);
        fine.pass(SECOND);
        assert_eq!(
            fine.life.channels_open(),
            vec![Action::Say(Said::Connected)]
        );
        assert!(fine.pass(SECOND * 30).is_empty());
    }

    #[test]
    fn without_signaling_nothing_is_rebuilt_or_counted_and_a_dead_peer_leaves_after_the_grace() {
        let mut c = Clock::new(true);
        c.up();
        // Broken with signaling up: restarted, and a rebuild due; then signaling goes.
        assert_eq!(
            c.media(Media::Failed),
            vec![Action::Say(Said::Reconnecting), Action::RestartIce]
        );
        c.life.signaling_lost(c.now);
        assert!(
            c.pass(TIMING.rebuild_after).is_empty(),
            "no rebuild: its offer could not go"
        );
        assert_eq!(c.life.rebuilds, 0, "and no try counted");
        // Both gone for the grace, counted from when signaling went.
        assert!(
            c.pass(TIMING.grace - TIMING.rebuild_after - SECOND)
                .is_empty()
        );
        assert_eq!(c.pass(SECOND), vec![Action::Left]);
        // Media working: it stays however long signaling is gone.
        let mut w = Clock::new(true);
        w.up();
        w.life.signaling_lost(w.now);
        assert!(w.pass(SECOND * 120).is_empty());
    }

    /// A peer whose media went long ago (lost, waiting for the user) is not dropped the moment
    /// signaling goes: both must be gone for the grace.
    #[test]
    fn the_grace_counts_from_when_both_were_gone() {
        let mut c = Clock::new(true);
        c.up();
        c.media(Media::Failed);
        for action in c.pass(SECOND * 120) {
            if action == Action::Rebuild {
                c.rebuilt();
            }
        }
        c.life.signaling_lost(c.now);
        assert!(c.pass(TIMING.grace - SECOND).is_empty());
        assert_eq!(c.pass(SECOND), vec![Action::Left]);
    }

    /// Signaling back: a connection that broke meanwhile is rebuilt by the side that offered
    /// it; the other waits a period for that offer, then builds it itself (the offerer may
    /// have dropped it meanwhile), so the two never both offer at once and never both wait.
    #[test]
    fn signaling_back_rebuilds_what_broke_by_the_side_that_offered_it() {
        let mut c = Clock::new(true);
        c.up();
        c.life.signaling_lost(c.now);
        c.media(Media::Failed);
        c.pass(SECOND * 5);
        assert_eq!(c.life.signaling_back(c.now, true), vec![Action::Rebuild]);
        c.rebuilt();
        assert_eq!(c.up(), vec![Action::Say(Said::Reconnected)]);
        assert!(c.pass(SECOND * 60).is_empty(), "no judgement pending");
        // The answerer waits for the offerer's new connection...
        let mut a = Clock::new(false);
        a.up();
        a.life.signaling_lost(a.now);
        a.media(Media::Failed);
        assert!(a.life.signaling_back(a.now, true).is_empty());
        assert!(a.pass(TIMING.rebuild_after - SECOND).is_empty());
        // ...which comes and opens: nothing more.
        a.life.built(a.now, false);
        assert_eq!(a.up(), vec![Action::Say(Said::Reconnected)]);
        assert!(a.pass(SECOND * 60).is_empty());
        // One that never comes: the answerer builds it.
        let mut b = Clock::new(false);
        b.up();
        b.life.signaling_lost(b.now);
        b.media(Media::Failed);
        assert!(b.life.signaling_back(b.now, true).is_empty());
        assert_eq!(b.pass(TIMING.rebuild_after), vec![Action::Rebuild]);
        // One still being set up gets its time before the offerer builds again.
        let mut s = Clock::new(true);
        s.life.signaling_lost(s.now);
        assert!(s.life.signaling_back(s.now, true).is_empty());
        assert_eq!(s.pass(TIMING.rebuild_after), vec![Action::Rebuild]);
    }

    /// After a server restart peers come back one by one: one not listed yet stays while its
    /// media works; the side that offered a broken connection builds a new one when it hears
    /// the other is back.
    #[test]
    fn peers_not_back_yet_stay_and_are_reconnected_when_they_are() {
        let mut c = Clock::new(false);
        c.up();
        c.life.signaling_lost(c.now);
        assert!(c.life.signaling_back(c.now, false).is_empty());
        assert!(c.pass(SECOND * 120).is_empty(), "working: it stays");
        assert!(c.life.server_found(c.now).is_empty());
        let mut o = Clock::new(true);
        o.up();
        o.life.signaling_lost(o.now);
        o.media(Media::Failed);
        assert!(
            o.life.signaling_back(o.now, false).is_empty(),
            "not back yet"
        );
        assert_eq!(o.life.server_found(o.now), vec![Action::Rebuild]);
        // Not listed and its media goes: it leaves after the grace.
        let mut u = Clock::new(true);
        u.up();
        u.life.signaling_lost(u.now);
        assert!(u.life.signaling_back(u.now, false).is_empty());
        assert!(u.pass(SECOND * 60).is_empty());
        u.media(Media::Disconnected);
        assert!(u.pass(TIMING.grace - SECOND).is_empty());
        assert_eq!(u.pass(SECOND), vec![Action::Left]);
    }

    #[test]
    fn a_peer_the_server_lost_stays_while_its_media_works() {
        let mut c = Clock::new(false);
        c.up();
        assert!(c.life.server_lost(c.now).is_empty());
        assert!(c.pass(SECOND * 120).is_empty());
        // Back with the server before its media went: it stays for good.
        assert!(c.life.server_found(c.now).is_empty());
        c.media(Media::Failed);
        assert!(c.pass(SECOND * 120).is_empty());
        // Lost by the server in a blip of its media: it leaves only if the media stays down for
        // the grace, counted from when it went.
        let mut d = Clock::new(false);
        d.up();
        d.media(Media::Disconnected);
        d.pass(SECOND * 10);
        assert!(d.life.server_lost(d.now).is_empty());
        d.media(Media::Connected);
        assert!(
            d.pass(SECOND * 60).is_empty(),
            "back within the grace: it stays"
        );
        d.media(Media::Failed);
        assert!(d.pass(TIMING.grace - SECOND).is_empty());
        assert_eq!(d.pass(SECOND), vec![Action::Left]);
    }
}
