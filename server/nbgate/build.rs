//! Link options of the release binary that make an idle `nbgate serve` lighter (bench/README.md,
//! "Idle memory"). Debug builds (CI, `make test`) get none of them.
//!
//! - `--symbol-ordering-file=symbol-order.txt`: the functions an idle server runs (the file is
//!   written by `bench/order_symbols.py`) go together at the start of `.text`, so the kernel's
//!   64 KB fault-around maps code that runs rather than its neighbours. Names the binary no
//!   longer has are skipped silently (`--no-warn-symbol-ordering`): a stale file costs memory,
//!   never a build.
//! - `-z pack-relative-relocs` (DT_RELR): a relocation table of KBs instead of 1.5 MB for the
//!   loader to read. The binary then needs glibc ≥ 2.36 to start, so only when the building
//!   machine has it: nbgate runs where it is built (`make run` builds it).
//!
//! Both only with rust-lld, the default linker of rustc ≥ 1.90 on x86_64-unknown-linux-gnu, and
//! not when a linker is configured (`target.<triple>.linker`, `-C linker…` in RUSTFLAGS).

use std::env;
use std::path::Path;
use std::process::Command;

const ORDER_FILE: &str = "symbol-order.txt";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if env::var("PROFILE").as_deref() != Ok("release") || !default_rust_lld() {
        return;
    }
    println!("cargo:rerun-if-changed={ORDER_FILE}");
    let order = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join(ORDER_FILE);
    if order.is_file() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
    if env::var("HOST") == env::var("TARGET") && host_glibc().is_some_and(|v| v >= (2, 36)) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether rustc links this build with its own lld: the target's default since rustc 1.90,
/// unless the build names another linker.
fn default_rust_lld() -> bool {
    if env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu")
        || env::var_os("RUSTC_LINKER").is_some()
    {
        return false;
    }
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if ["linker", "link-self-contained", "fuse-ld"]
        .iter()
        .any(|word| flags.contains(word))
    {
        return false;
    }
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(output) = Command::new(rustc).arg("--version").output() else {
        return false;
    };
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let version = String::from_utf8_lossy(&output.stdout);
    let mut numbers = version
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .split(['.', '-'])
        .map(|part| part.parse::<u32>().unwrap_or(0));
    (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0)) >= (1, 90)
}

/// The version of the building machine's glibc, as (major, minor).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn host_glibc() -> Option<(u32, u32)> {
    unsafe extern "C" {
        fn gnu_get_libc_version() -> *const std::ffi::c_char;
    }
    // SAFETY: glibc returns a static NUL-terminated string such as "2.36".
    let version = unsafe { std::ffi::CStr::from_ptr(gnu_get_libc_version()) };
    let mut numbers = version.to_str().ok()?.split('.');
    Some((numbers.next()?.parse().ok()?, numbers.next()?.parse().ok()?))
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn host_glibc() -> Option<(u32, u32)> {
    None
}
