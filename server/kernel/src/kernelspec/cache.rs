//! Kernelspecs read once and kept while nothing they were read from changed: [`KernelSpecs::current`]
//! compares the modification times of the `kernels` directories, each spec's directory and its
//! `kernel.json` (a few `stat`s, on the blocking pool) with those of the last read, so a newly
//! installed, removed or edited kernel is seen on the next call, without a restart, as Jupyter's
//! per-request scan sees it, but without reading and parsing every `kernel.json` each time. Every
//! clone of one [`KernelSpecs`] shares the read (the gateway's registry, the scheduler's checks and
//! the executor's runs).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::{KernelSpec, KernelSpecs};
use crate::error::Result;
use crate::sync::lock;

/// The last read, shared by the clones of one [`KernelSpecs`].
#[derive(Debug, Clone, Default)]
pub(super) struct SpecCache(Arc<Mutex<Option<Arc<SpecsRead>>>>);

/// A modification time observed: `None` for a path that did not exist.
type Stamp = (PathBuf, Option<SystemTime>);

/// One read of every kernelspec.
#[derive(Debug)]
pub struct SpecsRead {
    /// The directories read.
    dirs: Vec<PathBuf>,
    stamps: Vec<Stamp>,
    /// A stamp was too recent to trust: a change within the filesystem's time resolution would not
    /// move it, so the next call reads again.
    unsure: bool,
    /// The valid specs, by name.
    specs: Vec<KernelSpec>,
}

/// How close to the read a modification time must be to be distrusted (coarse timestamps).
const RECENT: Duration = Duration::from_secs(2);

impl KernelSpecs {
    /// The specs as they are on disk now: the last read if nothing changed since, else a new one,
    /// on the blocking pool either way.
    pub async fn current(&self) -> Arc<SpecsRead> {
        let cached = lock(&self.cache.0).clone();
        let specs = self.clone();
        let read = blocking(move || match cached {
            Some(read) if read.still_valid(&specs) => read,
            _ => Arc::new(SpecsRead::read(&specs)),
        })
        .await;
        *lock(&self.cache.0) = Some(Arc::clone(&read));
        read
    }

    /// [`KernelSpecs::find`] from the current read; what is not in it (an unknown name, a broken
    /// `kernel.json`) is looked up on the blocking pool for its precise error.
    pub async fn find_current(&self, name: &str) -> Result<KernelSpec> {
        if let Some(spec) = self.current().await.spec(name) {
            return Ok(spec.clone());
        }
        let specs = self.clone();
        let name = name.to_owned();
        blocking(move || specs.find(&name)).await
    }

    /// The names of the valid specs, sorted, from the current read.
    pub async fn names_current(&self) -> Vec<String> {
        let read = self.current().await;
        read.specs.iter().map(|spec| spec.name.clone()).collect()
    }
}

impl SpecsRead {
    fn read(specs: &KernelSpecs) -> Self {
        let now = SystemTime::now();
        // Stamps first: a change during the read moves a stamp, and the next call reads again.
        let stamps = stamps(specs);
        let unsure = stamps.iter().any(|(_, time)| {
            time.is_some_and(|time| now.duration_since(time).map_or(true, |age| age < RECENT))
        });
        Self {
            dirs: specs.dirs().to_vec(),
            stamps,
            unsure,
            specs: specs.list(),
        }
    }

    fn still_valid(&self, specs: &KernelSpecs) -> bool {
        !self.unsure && self.dirs == specs.dirs() && self.stamps == stamps(specs)
    }

    /// The directories read.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The valid specs, by name.
    pub fn specs(&self) -> &[KernelSpec] {
        &self.specs
    }

    /// The spec named `name` (case-insensitive).
    pub fn spec(&self, name: &str) -> Option<&KernelSpec> {
        let name = name.to_ascii_lowercase();
        self.specs.iter().find(|spec| spec.name == name)
    }
}

/// The modification times a change of any spec moves: each `kernels` directory (a spec added or
/// removed), each entry's directory (a resource file added or removed, a file replaced) and its
/// `kernel.json` (edited in place).
fn stamps(specs: &KernelSpecs) -> Vec<Stamp> {
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let mut stamps = Vec::new();
    for dir in specs.dirs() {
        stamps.push((dir.clone(), modified(dir)));
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut entries: Vec<PathBuf> = entries.flatten().map(|entry| entry.path()).collect();
        entries.sort();
        for entry in entries {
            let spec = entry.join("kernel.json");
            stamps.push((spec.clone(), modified(&spec)));
            stamps.push((entry.clone(), modified(&entry)));
        }
    }
    stamps
}

/// `work` on the blocking pool; a panic in it goes on here.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}

#[cfg(test)]
mod tests {
    use std::fs::{self, File};

    use serde_json::json;

    use super::*;
    use crate::error::KernelError;

    fn install(kernels: &Path, name: &str, display: &str) {
        let dir = kernels.join(name);
        fs::create_dir_all(&dir).expect("mkdir");
        let spec = json!({"argv": ["k", "-f", "{connection_file}"], "display_name": display,
            "language": "x"});
        fs::write(dir.join("kernel.json"), spec.to_string()).expect("write");
    }

    /// Sets every modification time under `kernels` to one moment long ago, as for old specs.
    fn age(kernels: &Path) {
        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let set = |path: &Path| {
            File::open(path)
                .and_then(|file| file.set_modified(old))
                .expect("set mtime");
        };
        for entry in fs::read_dir(kernels).expect("read").flatten() {
            set(&entry.path().join("kernel.json"));
            set(&entry.path());
        }
        set(kernels);
    }

    fn names(read: &SpecsRead) -> Vec<(String, String)> {
        (read.specs().iter())
            .map(|spec| (spec.name.clone(), spec.display_name.clone()))
            .collect()
    }

    #[tokio::test]
    async fn a_newly_installed_kernelspec_is_found_by_every_clone_and_an_unchanged_one_is_not_read_again()
     {
        let dir = tempfile::tempdir().expect("tempdir");
        let kernels = dir.path().join("kernels");
        install(&kernels, "one", "One");
        age(&kernels);
        let specs = KernelSpecs::with_dirs(vec![kernels.clone()]);
        let clone = specs.clone();
        let first = specs.current().await;
        assert_eq!(names(&first), [("one".into(), "One".into())]);

        // Rewritten with its old times kept: nothing a change moves, so the read is reused, by
        // the clone too.
        install(&kernels, "one", "Renamed");
        age(&kernels);
        let second = clone.current().await;
        assert!(
            Arc::ptr_eq(&first, &second),
            "read again with nothing changed"
        );

        // A new kernel moves the directory's time: found without a restart, both listed.
        assert!(matches!(
            specs.find_current("two").await,
            Err(KernelError::KernelNotFound { .. })
        ));
        install(&kernels, "two", "Two");
        let found = clone.find_current("TWO").await.expect("found");
        assert_eq!(found.name, "two");
        let third = specs.current().await;
        assert_eq!(
            names(&third),
            [
                ("one".into(), "Renamed".into()),
                ("two".into(), "Two".into())
            ]
        );

        // A broken kernel.json is not listed, and finding it says why.
        fs::create_dir_all(kernels.join("broken")).expect("mkdir");
        fs::write(kernels.join("broken/kernel.json"), "{").expect("write");
        assert_eq!(specs.names_current().await, ["one", "two"]);
        let error = specs.find_current("broken").await.expect_err("broken");
        assert!(
            !matches!(error, KernelError::KernelNotFound { .. }),
            "{error}"
        );

        // Removed: gone on the next call.
        fs::remove_dir_all(kernels.join("one")).expect("remove");
        assert_eq!(specs.names_current().await, ["two"]);
    }
}
