//! `nbgate-kernel-holder NAME [--fork-server]`: starts kernel NAME (kernelspecs from the environment;
//! from the fork server with the flag), prints its pid on one line, then holds it until killed. Test
//! support for "no kernel outlives a `kill -9`d nbgate".

use std::io::Write as _;

#[tokio::main]
async fn main() {
    let name = std::env::args().nth(1).unwrap_or_else(|| "python3".into());
    let spec = match nbgate_kernel::KernelSpecs::from_env().find(&name) {
        Ok(spec) => spec,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    let options = nbgate_kernel::LaunchOptions {
        fork_server: std::env::args().any(|arg| arg == "--fork-server"),
        ..Default::default()
    };
    let kernel = match nbgate_kernel::start(spec, options).await {
        Ok(kernel) => kernel,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1);
        }
    };
    let pid = kernel.pid().unwrap_or(0);
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "{pid}");
    let _ = stdout.flush();
    // Holding the handle keeps the kernel; only a signal ends this process.
    std::future::pending::<()>().await;
}
