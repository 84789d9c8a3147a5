//! The room window, as `haven join` and `haven demo` open it: Bevy's default plugins (wrapped
//! in OpenXR's when `--xr` asks), the room, the front end, the session and the voice thread.

use anyhow::Context as _;
use bevy::prelude::*;
use bevy::window::{PresentMode, WindowResolution};
use haven_app::avatar::LocalAvatar;
use haven_app::layout::Seat;
use haven_app::sharing::ShareSettings;
use haven_app::{FlatPlugin, RoomPlugins, SessionLink, VoiceThread};
use haven_proto::control::AvatarChoice;
use haven_proto::signal::Role;
use haven_session::{Session, SessionConfig};
use haven_voice::device::{Microphone, Speakers};
use haven_voice::engine::EngineOptions;
use haven_voice::sink::{NullSink, Sink};
use haven_voice::source::{Silent, Source};
use haven_voice::thread::VoiceThreadError;
use haven_xr::{XrFrontEndPlugin, with_xr};

/// The front-end flags both commands take.
#[derive(Debug, Clone, Copy, clap::Args)]
pub(crate) struct FrontEndArgs {
    /// Use the VR headset (OpenXR). Without a runtime or headset the app says so and runs flat.
    #[arg(long, conflicts_with = "flat")]
    pub(crate) xr: bool,
    /// Use the desktop window even if a headset is there (the default).
    #[arg(long)]
    pub(crate) flat: bool,
}

/// How the window's participant takes part.
pub(crate) struct RoomOptions {
    pub(crate) config: SessionConfig,
    pub(crate) role: Role,
    pub(crate) avatar: AvatarChoice,
    /// A named participant's look (none when anonymous).
    pub(crate) look: Option<haven_proto::control::Look>,
    pub(crate) front: FrontEndArgs,
    pub(crate) voice: EngineOptions,
    /// `None`: the microphone if there is one, else silence.
    pub(crate) source: Option<Box<dyn Source>>,
    /// `None`: the speakers if there are some, else nothing.
    pub(crate) sink: Option<Box<dyn Sink>>,
    pub(crate) title: String,
    /// What the local patient may share, to tick in the window (none: no picker).
    pub(crate) picker: Option<haven_app::sharing::picker::SharePicker>,
    /// Where this side's audit log is appended (none: kept in memory only).
    pub(crate) audit: Option<std::path::PathBuf>,
    /// Where shares the clinic may keep are saved (none: nothing is ever saved).
    pub(crate) keep_dir: Option<std::path::PathBuf>,
}

/// Builds the room app, joined to the session. Run it with `App::run`.
pub(crate) fn build(options: RoomOptions) -> anyhow::Result<App> {
    // An invite that names the clinic: only its verified clinicians get what is shared.
    let verify_clinicians = options.config.clinic.is_some();
    let group = options.config.group;
    let (session, voice_link) =
        Session::start_with_voice(options.config).context("starting the session")?;
    let source = options.source.unwrap_or_else(|| match Microphone::open() {
        Ok(mic) => Box::new(mic),
        Err(e) => {
            tracing::warn!("no microphone ({e}): the others will not hear you");
            Box::new(Silent)
        }
    });
    let sink = options.sink.unwrap_or_else(|| match Speakers::open() {
        Ok(speakers) => Box::new(speakers),
        Err(e) => {
            tracing::warn!("no speakers ({e}): you will not hear the others");
            Box::new(NullSink)
        }
    });
    // Voice that cannot start (Opus or the echo canceller refused) is said once; the consult
    // goes on without it, as a consult without a microphone does.
    let voice = match VoiceThread::start(voice_link, options.voice, source, sink) {
        Ok(voice) => Some(voice),
        Err(VoiceThreadError::Engine(e)) => {
            tracing::error!(error = %e, "voice could not start; the consult goes on without it");
            None
        }
        Err(e) => return Err(e).context("starting the voice thread"),
    };

    let mut app = App::new();
    // `haven` set up tracing already; Bevy's log plugin would try again.
    let defaults = DefaultPlugins
        .build()
        .disable::<bevy::log::LogPlugin>()
        .set(WindowPlugin {
            primary_window: Some(Window {
                title: options.title,
                resolution: WindowResolution::new(1280, 720),
                present_mode: PresentMode::AutoVsync,
                ..default()
            }),
            ..default()
        });
    // The share settings first: the share plugin reads them when it is added.
    app.insert_resource(ShareSettings {
        audit: options.audit,
        keep_dir: options.keep_dir,
        role: Some(options.role),
        verify_clinicians,
    });
    app.add_plugins(with_xr(defaults, options.front.xr && !options.front.flat))
        .add_plugins((RoomPlugins, FlatPlugin, XrFrontEndPlugin))
        .insert_resource(Seat::for_role(options.role))
        .insert_resource(SessionLink::new(session));
    if let Some(size) = group {
        app.insert_resource(haven_app::layout::GroupInvite { size });
    }
    // A look (and the window's panel to choose it) only for a named participant: an anonymous
    // one has none that could stand for them.
    if matches!(options.avatar, AvatarChoice::Named { .. }) {
        app.insert_resource(haven_app::avatar::LocalLook(
            options
                .look
                .unwrap_or(haven_app::avatar::look::DEFAULT_LOOK),
        ));
    }
    app.insert_resource(LocalAvatar(options.avatar));
    if let Some(voice) = voice {
        app.insert_resource(voice);
    }
    if let Some(picker) = options.picker {
        app.insert_resource(picker);
    }
    Ok(app)
}
