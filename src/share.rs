//! `haven records`, `haven image`, `haven audit`, and what `haven join --share FILE` sends:
//! thin commands over `haven_share`. Nothing here prints patient data to a log; `records show`
//! prints the summary (or the FHIR that would be sent) to stdout because that is what it was
//! asked for.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use haven_app::sharing::picker::{Candidate, SharePicker};
use haven_proto::Redacted;
use haven_share::audit;
use haven_share::dicom::{self, DeidKey, DicomLimits};
use haven_share::images::{self, ImageKind, ImageLimits};
use haven_share::offer::{self, Offer, Prepared, ShareTerms, records_offer};
use haven_share::records::{self, Limits, Selector, ShareMode};

/// `haven records`.
#[derive(Debug, clap::Args)]
pub(crate) struct RecordsArgs {
    #[command(subcommand)]
    command: RecordsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum RecordsCommand {
    /// Print a clinician-readable summary of a FHIR R4 file (Bundle, IPS document or a single
    /// resource), or with --json the FHIR that a share would send.
    Show {
        /// The FHIR JSON file.
        file: PathBuf,
        /// What to share: a section (problems, medications, allergies, immunizations, results,
        /// procedures, patient, other) or a resource id (`Type/id`, `id`). Repeatable; all
        /// when absent.
        #[arg(long = "select")]
        select: Vec<String>,
        /// Remove the HIPAA Safe Harbor identifiers, as an anonymous patient's share does.
        #[arg(long)]
        anonymous: bool,
        /// Print the FHIR Bundle that would be sent instead of the summary.
        #[arg(long)]
        json: bool,
        /// With --json: print the share's Consent resource instead.
        #[arg(long, requires = "json")]
        consent: bool,
    },
}

/// `haven image`.
#[derive(Debug, clap::Args)]
pub(crate) struct ImageArgs {
    #[command(subcommand)]
    command: ImageCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ImageCommand {
    /// Decode an image under limits, apply its orientation and re-encode the pixels only:
    /// prints what metadata was removed.
    Strip {
        /// PNG, JPEG, WebP, TIFF or BMP.
        input: PathBuf,
        /// Where the stripped image goes (JPEG stays JPEG, the rest become PNG).
        output: PathBuf,
    },
    /// Apply the DICOM PS3.15 Basic Application Level Confidentiality Profile.
    Deid {
        /// The DICOM file.
        input: PathBuf,
        /// Where the de-identified file goes.
        output: PathBuf,
    },
    /// Describe a DICOM file (no patient data is printed).
    Info {
        /// The DICOM file.
        file: PathBuf,
    },
}

/// `haven audit`.
#[derive(Debug, clap::Args)]
pub(crate) struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AuditCommand {
    /// Check an audit log's hash chain and signatures; says where it breaks (exit 1 if it does).
    Verify {
        /// The log (JSON lines).
        log: PathBuf,
    },
    /// Compare this side's log with the other side's of the same consult: each recorded the
    /// other's key and the views of what was shared, so a log rewritten afterwards is caught
    /// (exit 1 if they disagree).
    Compare {
        /// This side's log.
        mine: PathBuf,
        /// The other side's log.
        theirs: PathBuf,
    },
    /// Print the log as a FHIR Bundle of AuditEvent resources.
    Export {
        /// The log (JSON lines).
        log: PathBuf,
    },
}

fn read(path: &Path, limit: u64) -> anyhow::Result<Vec<u8>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("{}", path.display()))?
        .len();
    if size > limit {
        bail!(
            "{}: {size} bytes, over the {limit}-byte limit",
            path.display()
        );
    }
    std::fs::read(path).with_context(|| format!("{}", path.display()))
}

fn selectors(select: &[String]) -> anyhow::Result<Vec<Selector>> {
    select
        .iter()
        .map(|s| {
            s.parse()
                .map_err(|_| anyhow::anyhow!("--select: an empty selector"))
        })
        .collect()
}

/// Every section: what a share holds when the patient selected nothing.
fn every_section() -> Vec<Selector> {
    records::SectionKind::ALL.map(Selector::Section).to_vec()
}

#[expect(
    clippy::print_stdout,
    reason = "the summary, JSON or report is the command's output"
)]
pub(crate) fn records(args: RecordsArgs) -> anyhow::Result<()> {
    let RecordsCommand::Show {
        file,
        select,
        anonymous,
        json,
        consent,
    } = args.command;
    let limits = Limits::default();
    let bytes = read(&file, limits.max_bytes as u64)?;
    let parsed = records::parse(&bytes, &limits).context("reading the records")?;
    let chosen = selectors(&select)?;
    if !json && !anonymous {
        let shown = if chosen.is_empty() {
            parsed
        } else {
            parsed.select(&chosen)?
        };
        println!(
            "{}",
            records::render_text(&records::summarise(&shown)).expose()
        );
        return Ok(());
    }
    let chosen = if chosen.is_empty() {
        every_section()
    } else {
        chosen
    };
    let mode = if anonymous {
        ShareMode::Anonymous
    } else {
        ShareMode::Named
    };
    let prepared = records::prepare_share(
        &parsed,
        &chosen,
        mode,
        &ShareTerms {
            anonymous: false,
            may_keep: false,
            share_for: Duration::from_secs(3600),
        }
        .consent_request(),
    )?;
    if consent {
        println!(
            "{}",
            serde_json::to_string_pretty(prepared.consent.expose())?
        );
    } else if json {
        println!("{}", String::from_utf8_lossy(prepared.bundle_json.expose()));
    } else {
        println!(
            "{}",
            records::render_text(&records::summarise(&prepared.records)).expose()
        );
    }
    Ok(())
}

#[expect(clippy::print_stdout, reason = "the report is the command's output")]
pub(crate) fn image(args: ImageArgs) -> anyhow::Result<()> {
    match args.command {
        ImageCommand::Strip { input, output } => {
            let limits = ImageLimits::default();
            let bytes = read(&input, limits.max_input_bytes as u64)?;
            let stripped = images::strip(&bytes, ImageKind::from_path(&input), &limits)?;
            std::fs::write(&output, &stripped.bytes)
                .with_context(|| format!("{}", output.display()))?;
            println!(
                "{}: {:?} {}x{} -> {:?}, {} bytes",
                output.display(),
                stripped.input_format,
                stripped.width,
                stripped.height,
                stripped.format,
                stripped.bytes.len()
            );
            if stripped.removed.is_empty() {
                println!("removed: nothing (no metadata found)");
            }
            for removed in &stripped.removed {
                println!("removed: {removed}");
            }
        }
        ImageCommand::Deid { input, output } => {
            let limits = DicomLimits::default();
            let bytes = read(&input, limits.max_bytes as u64)?;
            let done = dicom::deidentify(&bytes, &DeidKey::generate()?, &limits)?;
            std::fs::write(&output, &done.bytes)
                .with_context(|| format!("{}", output.display()))?;
            let report = &done.report;
            println!("{}: {} bytes", output.display(), done.bytes.len());
            for action in &report.actions {
                println!("{action}");
            }
            println!(
                "private elements removed: {}, overlay: {}, curve: {}",
                report.private_removed, report.overlay_removed, report.curve_removed
            );
            if report.pixels_may_carry_text() {
                println!(
                    "warning: the file says its pixels may carry burned-in text; \
                     check the image before sharing it"
                );
            }
        }
        ImageCommand::Info { file } => {
            let limits = DicomLimits::default();
            let bytes = read(&file, limits.max_bytes as u64)?;
            let info = dicom::info(&bytes, &limits)?;
            println!("modality: {}", info.modality.as_deref().unwrap_or("?"));
            println!(
                "size: {} x {}, {} frame(s), {} sample(s)/pixel, {}/{} bits{}",
                info.cols,
                info.rows,
                info.frames,
                info.samples_per_pixel,
                info.bits_stored,
                info.bits_allocated,
                if info.signed { " signed" } else { "" }
            );
            println!("photometric: {}", info.photometric);
            println!(
                "transfer syntax: {} ({}){}",
                info.transfer_syntax_name,
                info.transfer_syntax_uid,
                if info.can_render {
                    ""
                } else {
                    " - cannot be shown here"
                }
            );
            for w in &info.windows {
                println!("window: centre {} width {}", w.center, w.width);
            }
            println!(
                "patient identity removed: {}",
                info.patient_identity_removed
            );
            println!(
                "identifying attributes present: {}",
                if info.identifying_attributes.is_empty() {
                    "none".to_owned()
                } else {
                    info.identifying_attributes.join(", ")
                }
            );
            println!(
                "private elements: {}, overlay/curve elements: {}",
                info.private_elements, info.overlay_or_curve_elements
            );
        }
    }
    Ok(())
}

#[expect(clippy::print_stdout, reason = "the verdict is the command's output")]
pub(crate) fn audit(args: AuditArgs) -> anyhow::Result<()> {
    match args.command {
        AuditCommand::Verify { log } => {
            let bytes = read(&log, 256 << 20)?;
            // A file used for several consults (or reopened after a crash) holds one session
            // after another, each with its own header and key.
            let sessions = audit::verify_sessions(&bytes)?;
            let mut broken = 0;
            for s in &sessions {
                let r = &s.report;
                let name = r.session.as_deref().unwrap_or("?");
                let last = s.first_line + s.lines - 1;
                if let Some(b) = &r.broken {
                    broken += 1;
                    println!(
                        "session {name} (lines {}-{last}): BROKEN at line {} (seq {}): {:?}; \
                         {} entries before it are intact",
                        s.first_line, b.line, b.seq, b.reason, r.entries
                    );
                } else if s.whole() {
                    println!(
                        "session {name} (lines {}-{last}): whole, {} entries, closed",
                        s.first_line, r.entries
                    );
                } else {
                    println!(
                        "session {name} (lines {}-{last}): cut short: {} entries intact, no close \
                         entry (a crash, a killed process, or its tail removed)",
                        s.first_line, r.entries
                    );
                }
            }
            if broken > 0 {
                bail!(
                    "{broken} of {} session(s) in the audit log do not verify",
                    sessions.len()
                );
            }
        }
        AuditCommand::Compare { mine, theirs } => {
            let compared = audit::compare(&read(&mine, 256 << 20)?, &read(&theirs, 256 << 20)?)?;
            for (m, t) in &compared.matched {
                let name = |s: &audit::SessionReport| {
                    s.report.session.clone().unwrap_or_else(|| "?".to_owned())
                };
                println!(
                    "consult: my session {} and their session {} recorded each other's keys",
                    name(&compared.mine[*m]),
                    name(&compared.theirs[*t])
                );
            }
            for (side, sessions) in [("my", &compared.mine), ("their", &compared.theirs)] {
                for s in sessions.iter().filter(|s| !s.whole()) {
                    println!(
                        "{side} session {} is not whole (run `haven audit verify`)",
                        s.report.session.as_deref().unwrap_or("?")
                    );
                }
            }
            for mismatch in &compared.mismatches {
                println!("MISMATCH: {mismatch}");
            }
            if compared.matched.is_empty() {
                println!("no session of one log recorded the other's key: not the same consult");
            }
            if !compared.agree() {
                bail!("the two audit logs do not agree");
            }
            println!("the two logs agree");
        }
        AuditCommand::Export { log } => {
            let bytes = read(&log, 256 << 20)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&audit::export_fhir(&bytes)?)?
            );
        }
    }
    Ok(())
}

/// How `--share` files are prepared.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ShareArgs {
    /// Share a file with the clinician: an image (stripped of metadata), a DICOM file
    /// (de-identified) or FHIR records (anonymised with --anonymous). Repeatable.
    #[arg(long = "share")]
    pub(crate) share: Vec<PathBuf>,
    /// For FHIR files: what to share (section or resource id; repeatable; all when absent).
    #[arg(long = "select")]
    pub(crate) select: Vec<String>,
    /// The clinic may keep what is shared (with its Consent and a Provenance).
    #[arg(long)]
    pub(crate) may_keep: bool,
    /// How long shares hold, e.g. 1h.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub(crate) share_for: Duration,
}

impl ShareArgs {
    fn terms(&self, anonymous: bool) -> ShareTerms {
        ShareTerms {
            anonymous,
            may_keep: self.may_keep,
            share_for: self.share_for,
        }
    }
}

/// Prepares every `--share` file on the patient's machine, before anything is sent: the
/// scripted (headless) patient shares all of them at once. A file that cannot be prepared is
/// left out with a typed error in the log (its position, never its name) and nothing of it is
/// sent; the others go.
pub(crate) fn offers(args: &ShareArgs, anonymous: bool) -> anyhow::Result<Vec<Offer>> {
    let mut chosen = selectors(&args.select)?;
    if chosen.is_empty() {
        chosen = every_section();
    }
    let mut offers = Vec::new();
    for (i, path) in args.share.iter().enumerate() {
        let offer = load(path, args, anonymous).and_then(|candidate| match candidate {
            Candidate::Prepared { offer, .. } => Ok(offer),
            Candidate::Records { label, source, .. } => Ok(records_offer(
                source.select(&chosen)?,
                label.expose(),
                &args.terms(anonymous),
            )?),
        });
        match offer {
            Ok(offer) => {
                // What de-identification cannot clean, said before it goes (no name in it).
                if let Some(caution) = offer.caution {
                    tracing::warn!("--share item {}: {caution}", i + 1);
                }
                offers.push(offer);
            }
            Err(e) => tracing::error!("--share item {} is not shared: {e:#}", i + 1),
        }
    }
    Ok(offers)
}

/// Prepares every `--share` file for the window's picker: pictures and scans stripped or
/// de-identified now, records kept whole on this machine until the patient ticks what to
/// share (`--select` ticks those; without it everything starts ticked). Nothing is sent until
/// the patient presses "Share ticked". A file that cannot be prepared is listed in the picker
/// with why (on the patient's own screen; the log gets its position only).
pub(crate) fn picker(args: &ShareArgs, anonymous: bool) -> anyhow::Result<SharePicker> {
    let mut candidates = Vec::new();
    let mut refused = Vec::new();
    for (i, path) in args.share.iter().enumerate() {
        match load(path, args, anonymous) {
            Ok(candidate) => candidates.push(candidate),
            Err(e) => {
                tracing::error!("--share item {} is not offered: {e:#}", i + 1);
                let name = path.file_name().map_or_else(
                    || format!("item {}", i + 1),
                    |n| n.to_string_lossy().into_owned(),
                );
                refused.push(Redacted::new(format!("{name}: {e:#}")));
            }
        }
    }
    let mut picker = SharePicker::new(candidates, args.terms(anonymous));
    picker.refused = refused;
    Ok(picker)
}

/// Reads and prepares one `--share` file (`haven_share::offer::prepare_file`): records kept
/// whole to pick from (their rows ticked as `--select` says), anything else prepared into an
/// offer. Its errors never carry the file's name or contents (they may be logged).
fn load(path: &Path, args: &ShareArgs, anonymous: bool) -> anyhow::Result<Candidate> {
    let bytes = offer::read_file(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(
        match offer::prepare_file(bytes, &name, &args.terms(anonymous), &DeidKey::generate()?)? {
            // Its Consent says now; the picker makes a new one when the patient shares it.
            Prepared::Object(offer) => Candidate::Prepared {
                offer,
                ticked: true,
                shared_in: None,
            },
            Prepared::Records { label, records } => {
                Candidate::records(label.expose(), records, &selectors(&args.select)?)
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(path: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(path)
    }

    /// A file that cannot be prepared (here a JPEG cut short) is refused with why, and the
    /// others are still offered: the picker lists it as not offered, the headless patient
    /// shares the rest.
    #[test]
    fn a_bad_file_is_refused_and_the_others_still_go() {
        let dir = std::env::temp_dir().join(format!("haven-share-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let cut = dir.join("cut short.jpg");
        let whole = std::fs::read(data("images/camera_gps_serial.jpg")).expect("test data");
        std::fs::write(&cut, &whole[..whole.len() / 3]).expect("written");
        let args = ShareArgs {
            share: vec![
                cut,
                data("fhir/ips-minimal.json"),
                data("dicom/CT_small.dcm"),
            ],
            select: vec!["allergies".to_owned()],
            may_keep: false,
            share_for: Duration::from_secs(60),
        };
        let picker = picker(&args, true).expect("a picker");
        assert_eq!(picker.candidates.len(), 2);
        assert_eq!(picker.refused.len(), 1);
        assert!(
            picker.refused[0].expose().starts_with("cut short.jpg: "),
            "{:?}",
            picker.refused
        );
        let offers = offers(&args, true).expect("offers");
        let kinds: Vec<haven_proto::bulk::ObjectKind> = offers.iter().map(|o| o.kind).collect();
        assert_eq!(
            kinds,
            [
                haven_proto::bulk::ObjectKind::Fhir,
                haven_proto::bulk::ObjectKind::Dicom
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
