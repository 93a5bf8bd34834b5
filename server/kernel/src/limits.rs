//! Limits of a local kernel process (from a machine type's `cpus` and `memory`): CPU affinity plus the
//! thread-count variables of the usual math libraries, and a cgroup v2 memory limit. Both are applied
//! in the child between fork and exec, so the kernel never runs unconfined; a limit that cannot be
//! applied fails the start ([`KernelError::Limits`](crate::KernelError)): it is never ignored.
//!
//! Cgroups: each kernel gets its own child cgroup (`nbgate-kernel-<pid>-<n>`, `memory.max`,
//! `memory.swap.max = 0`) under `NBGATE_KERNEL_CGROUP` if set, else under nbgate's own cgroup; that
//! parent must offer the `memory` controller to its children (a delegated subtree). The cgroup is
//! killed and removed when the kernel's process is dropped.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The variables set to the CPU count of a kernel with `cpus` (unless its environment sets them).
pub const THREAD_VARS: [&str; 3] = ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"];
/// The variable naming the cgroup under which kernels' cgroups are made.
pub const KERNEL_CGROUP_VAR: &str = "NBGATE_KERNEL_CGROUP";

/// How much of the machine a local kernel may use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelLimits {
    /// CPUs the kernel is pinned to (and its thread pools sized for).
    pub cpus: Option<u32>,
    /// Bytes of memory (cgroup v2 `memory.max`).
    pub memory: Option<u64>,
}

impl KernelLimits {
    pub fn is_none(&self) -> bool {
        self.cpus.is_none() && self.memory.is_none()
    }
}

/// The CPUs this process may run on (`sched_getaffinity`).
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == -1 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|cpu| libc::CPU_ISSET(*cpu, &set))
            .collect()
    }
}

/// A memory size: an integer of bytes, or a string with a unit (`"512Mi"`, `"15Gi"`, `"2G"`, `"1.5GiB"`).
pub fn parse_memory(value: &toml::Value) -> Result<u64, String> {
    let bad = |shown: String| {
        format!(
            "memory {shown}: give bytes or a number with a unit: K, M, G, T (powers of 1000) or \
             Ki, Mi, Gi, Ti (powers of 1024), e.g. \"15Gi\""
        )
    };
    let bytes = match value {
        toml::Value::Integer(bytes) => u64::try_from(*bytes).ok(),
        toml::Value::String(text) => parse_size(text),
        other => return Err(bad(other.to_string())),
    };
    match bytes {
        Some(bytes) if bytes > 0 => Ok(bytes),
        _ => Err(bad(value.to_string())),
    }
}

fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let unit = unit.trim();
    let unit = unit
        .strip_suffix('B')
        .filter(|u| !u.is_empty())
        .unwrap_or(unit);
    let factor: f64 = match unit {
        "" | "B" => 1.0,
        "K" | "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = (number * factor).round();
    (bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// `16106127360` → `"15 GiB"`, for messages.
pub fn format_memory(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// What the child applies to itself before exec, prepared in the parent.
pub(crate) struct Confinement {
    cpu_set: Option<libc::cpu_set_t>,
    cgroup: Option<KernelCgroup>,
}

impl std::fmt::Debug for Confinement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Confinement")
            .field("cpu_set", &self.cpu_set.is_some())
            .field("cgroup", &self.cgroup.as_ref().map(|cgroup| &cgroup.dir))
            .finish()
    }
}

impl Confinement {
    /// Picks the CPUs and makes the cgroup. Kernels of the same size take turns over the allowed CPUs.
    pub(crate) fn prepare(limits: &KernelLimits) -> Result<Self, String> {
        let cpu_set = match limits.cpus {
            Some(count) => Some(pick_cpus(count as usize)?),
            None => None,
        };
        let cgroup = match limits.memory {
            Some(bytes) => Some(KernelCgroup::create(bytes)?),
            None => None,
        };
        Ok(Self { cpu_set, cgroup })
    }

    /// Runs in the child between fork and exec: only async-signal-safe calls (sched_setaffinity, open,
    /// write, close); allocates only for the error path.
    pub(crate) fn apply_in_child(&self) -> io::Result<()> {
        if let Some(set) = &self.cpu_set {
            // SAFETY: `set` is a valid cpu_set_t of the size passed.
            if unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) }
                == -1
            {
                return Err(io::Error::last_os_error());
            }
        }
        if let Some(cgroup) = &self.cgroup {
            // Writing 0 to cgroup.procs moves the writing process.
            write_c(&cgroup.procs, b"0")?;
        }
        Ok(())
    }
}

/// `count` CPUs out of the allowed ones, starting where the previous kernel's choice ended.
fn pick_cpus(count: usize) -> Result<libc::cpu_set_t, String> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let allowed = allowed_cpus();
    if count > allowed.len() {
        return Err(format!(
            "{count} CPUs asked, nbgate may use {} here",
            allowed.len()
        ));
    }
    let start = NEXT.fetch_add(count, Ordering::Relaxed);
    // SAFETY: cpu_set_t is plain data; CPU_SET writes inside it for indexes below CPU_SETSIZE.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for offset in 0..count {
            libc::CPU_SET(allowed[(start + offset) % allowed.len()], &mut set);
        }
        Ok(set)
    }
}

/// One kernel's cgroup; killed and removed on drop.
struct KernelCgroup {
    dir: PathBuf,
    /// `<dir>/cgroup.procs`, ready for the child.
    procs: CString,
}

impl KernelCgroup {
    fn create(bytes: u64) -> Result<Self, String> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let parent = kernels_parent()?;
        let dir = parent.join(format!(
            "nbgate-kernel-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&dir)
            .map_err(|error| format!("cannot create the cgroup {}: {error}", dir.display()))?;
        let cgroup = Self {
            procs: CString::new(dir.join("cgroup.procs").as_os_str().as_bytes())
                .map_err(|_| format!("the cgroup path {} holds a NUL", dir.display()))?,
            dir,
        };
        std::fs::write(cgroup.dir.join("memory.max"), bytes.to_string()).map_err(|error| {
            format!("cannot set memory.max in {}: {error}", cgroup.dir.display())
        })?;
        // Without this the kernel would swap past its limit instead of being stopped at it.
        let swap = cgroup.dir.join("memory.swap.max");
        if swap.exists() {
            std::fs::write(&swap, "0")
                .map_err(|error| format!("cannot set {}: {error}", swap.display()))?;
        }
        Ok(cgroup)
    }
}

impl Drop for KernelCgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(self.dir.join("cgroup.kill"), "1");
        let dir = self.dir.clone();
        // The killed processes leave the cgroup as they are reaped: remove it once empty, off the
        // caller's thread.
        let _ = std::thread::Builder::new()
            .name("nbgate-cgroup-rm".into())
            .spawn(move || {
                for _ in 0..100 {
                    if std::fs::remove_dir(&dir).is_ok() || !dir.exists() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                tracing::warn!(cgroup = %dir.display(), "a kernel's cgroup could not be removed");
            });
    }
}

/// The cgroup under which kernels' cgroups go, with the memory controller enabled for its children.
fn kernels_parent() -> Result<PathBuf, String> {
    let parent = match std::env::var_os(KERNEL_CGROUP_VAR).filter(|dir| !dir.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => own_cgroup()?,
    };
    let read = |file: &str| std::fs::read_to_string(parent.join(file)).unwrap_or_default();
    let has_memory = |text: String| text.split_whitespace().any(|name| name == "memory");
    if has_memory(read("cgroup.subtree_control")) {
        return Ok(parent);
    }
    let offered = read("cgroup.controllers");
    if !has_memory(offered.clone()) {
        return Err(format!(
            "the cgroup v2 memory controller is not available in {} (it offers: {}); run nbgate \
             in a cgroup v2 subtree delegated to it with the memory controller, or set {} to such a \
             cgroup",
            parent.display(),
            match offered.trim() {
                "" => "nothing",
                list => list,
            },
            KERNEL_CGROUP_VAR
        ));
    }
    std::fs::write(parent.join("cgroup.subtree_control"), "+memory").map_err(|error| {
        format!(
            "cannot enable the memory controller for the children of {}: {error} (a cgroup holding \
             processes cannot; set {} to an empty delegated cgroup)",
            parent.display(),
            KERNEL_CGROUP_VAR
        )
    })?;
    Ok(parent)
}

/// nbgate's own cgroup v2 directory: the `0::` line of /proc/self/cgroup under the cgroup2 mount.
fn own_cgroup() -> Result<PathBuf, String> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mount = mounts
        .lines()
        .find_map(|line| {
            let (fields, rest) = line.split_once(" - ")?;
            (rest.split_whitespace().next()? == "cgroup2")
                .then(|| fields.split_whitespace().nth(4).map(PathBuf::from))
                .flatten()
        })
        .ok_or("no cgroup v2 hierarchy is mounted here (memory limits need cgroup v2)")?;
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let path = own
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .ok_or("this process is in no cgroup v2 group")?;
    Ok(join_cgroup(&mount, path))
}

fn join_cgroup(mount: &Path, path: &str) -> PathBuf {
    mount.join(path.trim().trim_start_matches('/'))
}

fn write_c(path: &CString, bytes: &[u8]) -> io::Result<()> {
    // SAFETY: `path` is NUL-terminated; the buffer is valid for its length; the fd is closed.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd == -1 {
            return Err(io::Error::last_os_error());
        }
        let written = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        let error = io::Error::last_os_error();
        libc::close(fd);
        if written != bytes.len() as isize {
            return Err(error);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        let parse = |text: &str| parse_memory(&toml::Value::String(text.into()));
        assert_eq!(parse("15Gi"), Ok(15 * 1024 * 1024 * 1024));
        assert_eq!(parse("512Mi"), Ok(512 * 1024 * 1024));
        assert_eq!(parse("2G"), Ok(2_000_000_000));
        assert_eq!(parse("1.5GiB"), Ok(1_610_612_736));
        assert_eq!(parse("100"), Ok(100));
        assert_eq!(parse_memory(&toml::Value::Integer(4096)), Ok(4096));
        for bad in ["15 Gigs", "", "Gi", "-1Gi", "0", "1.2.3G"] {
            let error = parse(bad).expect_err(bad);
            assert!(error.contains("Ki, Mi, Gi"), "{error}");
        }
        assert!(parse_memory(&toml::Value::Integer(-5)).is_err());
        assert!(parse_memory(&toml::Value::Boolean(true)).is_err());
        assert_eq!(format_memory(15 * 1024 * 1024 * 1024), "15 GiB");
        assert_eq!(format_memory(1_610_612_736), "1.5 GiB");
    }

    #[test]
    fn cpus_rotate_over_the_allowed_ones() {
        let allowed = allowed_cpus();
        assert!(!allowed.is_empty());
        let first = pick_cpus(1).expect("one CPU");
        // SAFETY: reading a valid set.
        let count = |set: &libc::cpu_set_t| unsafe { libc::CPU_COUNT(set) };
        assert_eq!(count(&first), 1);
        let all = pick_cpus(allowed.len()).expect("all CPUs");
        assert_eq!(count(&all) as usize, allowed.len());
        let error = pick_cpus(allowed.len() + 1).expect_err("too many");
        assert!(error.contains("nbgate may use"), "{error}");
    }

    #[test]
    fn cgroup_paths_join_under_the_mount() {
        assert_eq!(
            join_cgroup(Path::new("/sys/fs/cgroup"), "/user.slice/x.scope\n"),
            PathBuf::from("/sys/fs/cgroup/user.slice/x.scope")
        );
        assert_eq!(
            join_cgroup(Path::new("/sys/fs/cgroup/unified"), "/"),
            PathBuf::from("/sys/fs/cgroup/unified")
        );
    }
}
