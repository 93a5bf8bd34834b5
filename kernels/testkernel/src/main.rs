//! `nbgate-testkernel`: a small deterministic Jupyter kernel for fast, exact fault tests.
//!
//! # Map
//! - `main.rs`: the command line and start-up (read the connection file, bind, rewrite it, serve).
//! - [`sockets`]: binding the five sockets (port 0 → ephemeral ports, TCP or IPC), rewriting the connection
//!   file, and the socket tasks (iopub publisher with JEP 65 welcomes, heartbeat echo, request readers).
//! - [`kernel`]: shared state (session, signer, interrupts) and the dispatch of shell and control requests,
//!   each wrapped in iopub `busy`/`idle`.
//! - [`cell`]: `execute_request` and the tiny command language its code is written in
//!   (`kernels/README.md` documents it).
//!
//! # Invariants
//! - Framing and signing come from `nbgate-protocol`; nothing here builds frames by hand.
//! - Shell requests run one at a time, in order; control requests are served concurrently, so interrupt and
//!   shutdown work while a cell runs.
//! - Every way the process ends is deliberate: `shutdown_request`, `crash`, `--exit-during-shutdown`, or a
//!   signal other than SIGINT.

mod cell;
mod kernel;
mod sockets;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use nbgate_protocol::Signer;

use crate::kernel::Kernel;

/// A deterministic Jupyter kernel whose code is a tiny command language (see kernels/README.md).
#[derive(Debug, Parser)]
#[command(name = "nbgate-testkernel", version)]
struct Cli {
    /// The connection file. Ports given as 0 are bound to free ports and written back.
    #[arg(short = 'f', long = "connection-file")]
    connection_file: PathBuf,
    /// Sleep this long before binding any socket (a slow start).
    #[arg(long, default_value_t = 0)]
    start_delay_ms: u64,
    /// Sign every message with a wrong key, so that clients reject them.
    #[arg(long)]
    bad_signature: bool,
    /// On `shutdown_request`, exit with code 3 without replying.
    #[arg(long)]
    exit_during_shutdown: bool,
    /// Do not send `iopub_welcome` on subscription (behave like a pre-5.5 PUB kernel).
    #[arg(long)]
    no_welcome: bool,
}

/// Start-up failures are reported on stderr with exit code 2; no caller inspects them further.
pub type Error = Box<dyn std::error::Error>;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = Cli::parse();
    if let Err(error) = run(cli).await {
        eprintln!("nbgate-testkernel: {error}");
        std::process::exit(2);
    }
}

async fn run(cli: Cli) -> Result<(), Error> {
    let path = &cli.connection_file;
    let original = nbgate_protocol::read_connection_file(path)?;
    let verifier = Signer::new(&original.signature_scheme, original.key.as_bytes())?;
    let signer = if cli.bad_signature {
        Signer::new("hmac-sha256", b"not the key from the connection file")?
    } else {
        verifier.clone()
    };
    // Installed before anyone can know we are ready, so an early SIGINT never kills the kernel.
    let sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;

    if cli.start_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(cli.start_delay_ms)).await;
    }
    let mut info = original.clone();
    let sockets = sockets::bind(&mut info).await?;

    let (iopub, publications) = tokio::sync::mpsc::unbounded_channel();
    let kernel = Arc::new(Kernel::new(signer.clone(), iopub, cli.exit_during_shutdown));
    kernel.publish_status("starting", None);
    tokio::spawn(sockets::serve_iopub(
        sockets.iopub,
        publications,
        kernel.session.clone(),
        signer,
        !cli.no_welcome,
    ));
    tokio::spawn(sockets::serve_heartbeat(sockets.heartbeat));
    tokio::spawn(kernel::serve_sigint(kernel.clone(), sigint));
    tokio::spawn(kernel::serve_control(
        kernel.clone(),
        sockets.control,
        verifier.clone(),
    ));
    sockets::rewrite_connection_file(path, &original, &info)?;
    kernel::serve_shell(kernel, sockets.shell, sockets.stdin, verifier).await;
    Ok(())
}
