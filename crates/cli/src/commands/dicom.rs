//! `cruciate dicom echo` and `cruciate dicom send`: check a DICOM peer from the command line
//! (what a hospital IT person does first when wiring Cruciate to a PACS).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use cruciate_dimse::scu::{self, Destination, Outgoing};
use dicom_transfer_syntax_registry::TransferSyntaxIndex as _;

/// Arguments of `cruciate dicom`.
#[derive(Debug, Args)]
pub struct DicomArgs {
    #[command(subcommand)]
    command: DicomCommand,
}

#[derive(Debug, Subcommand)]
enum DicomCommand {
    /// C-ECHO a peer: does it answer, does it accept our AE title?
    Echo(EchoArgs),
    /// C-STORE DICOM files to a peer.
    Send(SendArgs),
}

/// Arguments of `cruciate dicom echo`.
#[derive(Debug, Args)]
struct EchoArgs {
    /// The peer, AE@host:port.
    to: Destination,
    /// Our AE title.
    #[arg(long, default_value = "CRUCIATE")]
    ae_title: String,
    /// Seconds to wait for the peer.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

/// Arguments of `cruciate dicom send`.
#[derive(Debug, Args)]
struct SendArgs {
    /// DICOM Part 10 files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The peer, AE@host:port.
    #[arg(long)]
    to: Destination,
    /// Our AE title.
    #[arg(long, default_value = "CRUCIATE")]
    ae_title: String,
    /// Seconds to wait for the peer.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// A file to send: uncompressed data sets go in whichever little-endian syntax the peer takes,
/// others in their own transfer syntax.
fn outgoing_of(file: dicom_object::DefaultDicomObject) -> anyhow::Result<Outgoing> {
    use dicom_dictionary_std::uids;
    let ts = file
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_string();
    if ts == uids::EXPLICIT_VR_LITTLE_ENDIAN || ts == uids::IMPLICIT_VR_LITTLE_ENDIAN {
        return Ok(Outgoing::Object(Box::new(file.into_inner())));
    }
    let meta = file.meta().clone();
    let syntax = dicom_transfer_syntax_registry::TransferSyntaxRegistry
        .get(&ts)
        .with_context(|| format!("unknown transfer syntax {ts}"))?;
    let mut bytes = Vec::new();
    file.into_inner()
        .write_dataset_with_ts(&mut bytes, syntax)
        .context("encoding the data set")?;
    Ok(Outgoing::Raw {
        sop_class_uid: meta
            .media_storage_sop_class_uid()
            .trim_end_matches('\0')
            .to_string(),
        sop_instance_uid: meta
            .media_storage_sop_instance_uid()
            .trim_end_matches('\0')
            .to_string(),
        transfer_syntax: ts,
        bytes,
    })
}

/// Runs `cruciate dicom`.
pub fn run(args: &DicomArgs) -> anyhow::Result<()> {
    match &args.command {
        DicomCommand::Echo(a) => {
            runtime()?.block_on(scu::echo(
                &a.ae_title,
                &a.to,
                Duration::from_secs(a.timeout),
            ))?;
            println!("{} answered C-ECHO", a.to);
            Ok(())
        }
        DicomCommand::Send(a) => {
            let mut outgoing = Vec::with_capacity(a.files.len());
            for f in &a.files {
                let file = dicom_object::open_file(f)
                    .map_err(|e| anyhow::anyhow!("{}: not a DICOM file: {e}", f.display()))?;
                outgoing.push(outgoing_of(file).with_context(|| f.display().to_string())?);
            }
            let outcomes = runtime()?.block_on(scu::store(
                &a.ae_title,
                &a.to,
                &outgoing,
                Duration::from_secs(a.timeout),
            ))?;
            let refused: Vec<String> = outcomes
                .iter()
                .zip(&a.files)
                .filter(|(o, _)| !o.stored())
                .map(|(o, f)| {
                    format!(
                        "{}: status {:04X}H ({})",
                        f.display(),
                        o.status,
                        cruciate_dimse::command::status_meaning(o.status)
                    )
                })
                .collect();
            println!(
                "{} of {} stored by {}",
                outcomes.len() - refused.len(),
                outcomes.len(),
                a.to
            );
            anyhow::ensure!(refused.is_empty(), "refused: {}", refused.join("; "));
            Ok(())
        }
    }
}
