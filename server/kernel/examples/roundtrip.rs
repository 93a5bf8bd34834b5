//! Start a kernel, then run N sequential `x = 1` executes and print one JSON line of timings.
//!
//! `cargo run --release -p nbgate-kernel --example roundtrip -- --kernel python3 --count 1000`
//!
//! An execute is done when both its `execute_reply` and the iopub `status: idle` with it as parent have
//! arrived. Kernelspecs come from the environment (JUPYTER_PATH, …).

use std::time::Duration;

use nbgate_kernel::{Channel, KernelEvent, KernelSpecs, LaunchOptions};
use serde_json::json;
use tokio::time::Instant;

fn usage() -> ! {
    eprintln!("usage: roundtrip [--kernel NAME] [--count N] [--code CODE]");
    std::process::exit(2);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut kernel_name = "python3".to_string();
    let mut count: usize = 1000;
    let mut code = "x = 1".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--kernel" => kernel_name = value(),
            "--count" => count = value().parse().unwrap_or_else(|_| usage()),
            "--code" => code = value(),
            _ => usage(),
        }
    }
    if let Err(error) = run(&kernel_name, count, &code).await {
        eprintln!("roundtrip: {error}");
        std::process::exit(1);
    }
}

async fn run(
    kernel_name: &str,
    count: usize,
    code: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let spec = KernelSpecs::from_env().find(kernel_name)?;
    let started = Instant::now();
    let kernel = nbgate_kernel::start(spec, LaunchOptions::default()).await?;
    let start_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut events = kernel.subscribe();

    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let begin = Instant::now();
        let request = kernel
            .request(
                Channel::Shell,
                "execute_request",
                json!({"code": code, "silent": false, "store_history": true,
                       "user_expressions": {}, "allow_stdin": false, "stop_on_error": true}),
            )
            .await?;
        let msg_id = request.routing()?.msg_id;
        let (mut replied, mut idle) = (false, false);
        while !(replied && idle) {
            let event = tokio::time::timeout(Duration::from_secs(30), events.recv())
                .await
                .map_err(|_| "no answer within 30 s")?
                .ok_or("the kernel went away")?;
            match event {
                KernelEvent::Message { channel, message } => {
                    let routing = message.routing()?;
                    if routing.parent_msg_id.as_deref() != Some(msg_id.as_str()) {
                        continue;
                    }
                    match (channel, routing.msg_type.as_str()) {
                        (Channel::Shell, "execute_reply") => replied = true,
                        (Channel::IoPub, "status") => {
                            idle |= message.content_json()?["execution_state"] == "idle";
                        }
                        _ => {}
                    }
                }
                KernelEvent::Died { status } => return Err(format!("kernel died: {status}").into()),
                KernelEvent::Lagged(n) => return Err(format!("missed {n} events").into()),
                _ => {}
            }
        }
        samples.push(begin.elapsed().as_secs_f64() * 1e3);
    }
    kernel.shutdown().await?;

    let mean = samples.iter().sum::<f64>() / samples.len().max(1) as f64;
    samples.sort_by(f64::total_cmp);
    let percentile = |p: f64| -> f64 {
        if samples.is_empty() {
            return 0.0;
        }
        let index = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[index]
    };
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    println!(
        "{}",
        json!({
            "start_ms": round(start_ms),
            "median_ms": round(percentile(0.5)),
            "p99_ms": round(percentile(0.99)),
            "mean_ms": round(mean),
            "count": samples.len(),
        })
    );
    Ok(())
}
