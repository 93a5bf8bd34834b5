//! `nbgate-kernel-holder NAME`: starts kernel NAME (kernelspecs from the environment), prints its pid on
//! one line, then holds it until killed. Test support for "no kernel outlives a `kill -9`d nbgate".

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
    let kernel = match nbgate_kernel::start(spec, Default::default()).await {
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
