//! `haven report`: a therapy session's report again from its `timeline.json` (the patient's,
//! written at the end of the consult): the timeline (checked, its figures worked out again),
//! the FHIR Bundle, the SUDS chart and the gaze heat map.

use std::path::PathBuf;

use anyhow::Context as _;

/// Flags of `haven report`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The session's `timeline.json`.
    timeline: PathBuf,
    /// The folder the report is written into (made if need be).
    #[arg(long)]
    out: PathBuf,
}

#[expect(
    clippy::print_stdout,
    reason = "the files written are the command's output"
)]
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let report = haven_report::read(&args.timeline).context("reading the timeline")?;
    let written = haven_report::write(&args.out, &report).context("writing the report")?;
    for path in written {
        println!("{}", path.display());
    }
    Ok(())
}
