//! `haven clinic`: a clinic's signing key, and credentials for its clinicians.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use haven_signal::clinic::ClinicKey;

/// `haven clinic`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Make the clinic's signing key (`clinic.key`, readable by its owner only) and its public
    /// key (`clinic.pub`, for `haven invite --clinic`).
    Init {
        /// The clinic's name, as patients will read it ("Verified by <name>").
        #[arg(long)]
        name: String,
        /// The folder to write them in.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Issue a credential to a clinician: a new key of theirs, and the clinic's signature over
    /// it with their name, qualification and licence. They join with `--identity FILE`.
    Credential {
        /// The clinic's key file.
        #[arg(long, default_value = "clinic.key")]
        clinic: PathBuf,
        /// The clinician's name.
        #[arg(long)]
        name: String,
        /// Their qualification ("Clinical psychologist").
        #[arg(long)]
        qualification: String,
        /// Their licence or registration number.
        #[arg(long)]
        licence: String,
        /// How long it is valid: 90d, 1y, ...
        #[arg(long, default_value = "1y", value_parser = humantime::parse_duration)]
        valid: Duration,
        /// The file to write (it must not exist; readable by its owner only).
        #[arg(long)]
        out: PathBuf,
    },
}

#[expect(clippy::print_stdout, reason = "the command reports what it wrote")]
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Init { name, out } => {
            std::fs::create_dir_all(&out).with_context(|| format!("making {}", out.display()))?;
            let key = ClinicKey::generate(&name)?;
            let key_path = out.join("clinic.key");
            key.save(&key_path)
                .with_context(|| format!("writing {}", key_path.display()))?;
            let pub_path = out.join("clinic.pub");
            std::fs::write(&pub_path, format!("{}\n", key.public_key()))
                .with_context(|| format!("writing {}", pub_path.display()))?;
            println!("clinic key: {}", key_path.display());
            println!("public key: {} ({})", key.public_key(), pub_path.display());
        }
        Command::Credential {
            clinic,
            name,
            qualification,
            licence,
            valid,
            out,
        } => {
            let key = ClinicKey::load(&clinic)
                .with_context(|| format!("reading the clinic key {}", clinic.display()))?;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .context("the clock is before 1970")?
                .as_secs();
            let identity = key.issue(
                &name,
                &qualification,
                &licence,
                now,
                now.saturating_add(valid.as_secs()),
            )?;
            identity
                .save(&out)
                .with_context(|| format!("writing {}", out.display()))?;
            println!(
                "credential for {} from {}, valid for {}: {}",
                identity.credential().name,
                key.name(),
                humantime::format_duration(valid),
                out.display()
            );
        }
    }
    Ok(())
}
