//! Saving the output notebook while a run goes on, off the run's path.
//!
//! Every save point of a run offers a snapshot; a writer thread replaces the file atomically with the
//! newest snapshot it has (temporary file + rename, unsynced). When cells finish faster than the disk
//! takes writes, intermediate snapshots are superseded by newer ones (the newest wins); the file on disk
//! is always a complete notebook, at most one save point behind. The final save is synchronous and
//! synced, after every earlier write has finished.
//!
//! A snapshot is cheap (cells are shared copy-on-write) and a write renders only the cells that changed
//! since the previous one: saving after each of n cells costs O(n) in all, not O(n²).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use nbgate_kernel::sync::{lock, wait};

use crate::error::NotebookError;
use crate::notebook::{Durability, Notebook, RenderCache};

/// What the run and the writer thread share.
#[derive(Default)]
struct Slot {
    /// The newest snapshot not yet written.
    pending: Option<Notebook>,
    /// The writer is writing (so `pending` may be about to be superseded, not lost).
    writing: bool,
    /// No more snapshots: the writer ends once `pending` is empty.
    closed: bool,
    /// The first write that failed; the run reports it.
    failed: Option<NotebookError>,
}

/// A background writer for one output path.
pub struct Saver {
    path: PathBuf,
    // A std mutex: held only to swap a snapshot in or out, never across I/O or `.await`.
    shared: Arc<(Mutex<Slot>, Condvar)>,
    writer: Option<JoinHandle<RenderCache>>,
    /// The writer's cache once it has ended, for the final write.
    cache: RenderCache,
}

impl Saver {
    pub fn new(path: &Path) -> Self {
        let shared = Arc::new((Mutex::new(Slot::default()), Condvar::new()));
        let writer = {
            let shared = Arc::clone(&shared);
            let path = path.to_owned();
            std::thread::Builder::new()
                .name("nbgate-save".into())
                .spawn(move || write_loop(&path, &shared))
                .ok()
        };
        Self {
            path: path.to_owned(),
            shared,
            writer,
            cache: RenderCache::default(),
        }
    }

    /// Offers a snapshot; fails with the error of an earlier write, if one failed.
    pub fn offer(&self, notebook: &Notebook) -> Result<(), NotebookError> {
        if self.writer.is_none() {
            // No thread could be started: write inline.
            return notebook.write_replacing(&self.path, Durability::Cached);
        }
        let (slot, wake) = &*self.shared;
        let mut slot = lock(slot);
        if let Some(error) = slot.failed.take() {
            return Err(error);
        }
        slot.pending = Some(notebook.clone());
        wake.notify_all();
        Ok(())
    }

    /// Waits for the writer, then writes `notebook` synced. Consumes the saver.
    pub fn finish(mut self, notebook: &Notebook) -> Result<(), NotebookError> {
        let earlier = self.stop();
        notebook.write_rendered(&self.path, Durability::Synced, &mut self.cache)?;
        earlier
    }

    /// Closes the slot and joins the writer; returns the first failure it saw.
    fn stop(&mut self) -> Result<(), NotebookError> {
        let (slot, wake) = &*self.shared;
        {
            let mut slot = lock(slot);
            // A snapshot still waiting is superseded by the final write.
            slot.pending = None;
            slot.closed = true;
            wake.notify_all();
        }
        if let Some(writer) = self.writer.take()
            && let Ok(cache) = writer.join()
        {
            self.cache = cache;
        }
        match lock(slot).failed.take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

impl Drop for Saver {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn write_loop(path: &Path, shared: &(Mutex<Slot>, Condvar)) -> RenderCache {
    let (slot, wake) = shared;
    let mut cache = RenderCache::default();
    loop {
        let snapshot = {
            let mut guard = lock(slot);
            guard.writing = false;
            loop {
                if let Some(snapshot) = guard.pending.take() {
                    guard.writing = true;
                    break snapshot;
                }
                if guard.closed {
                    return cache;
                }
                guard = wait(wake, guard);
            }
        };
        if let Err(error) = snapshot.write_rendered(path, Durability::Cached, &mut cache) {
            let mut guard = lock(slot);
            guard.failed.get_or_insert(error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notebook(marker: &str) -> Notebook {
        Notebook::parse(&format!(
            r#"{{"nbformat": 4, "nbformat_minor": 5, "metadata": {{"marker": "{marker}"}}, "cells": []}}"#
        ))
        .expect("valid notebook")
    }

    #[test]
    fn the_final_write_wins_and_is_complete() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("out.ipynb");
        let saver = Saver::new(&path);
        for i in 0..50 {
            saver.offer(&notebook(&format!("step {i}"))).expect("offer");
        }
        saver.finish(&notebook("final")).expect("finish");
        let written = Notebook::read(&path).expect("a complete notebook");
        assert_eq!(written.metadata()["marker"], "final");
    }

    #[test]
    fn a_failed_write_is_reported() {
        let dir = tempfile::tempdir().expect("temp dir");
        // A directory where the file should be: every write fails.
        let path = dir.path().join("out.ipynb");
        std::fs::create_dir(&path).expect("mkdir");
        let saver = Saver::new(&path);
        saver
            .offer(&notebook("a"))
            .expect("the first offer is accepted");
        let result = saver.finish(&notebook("b"));
        assert!(result.is_err(), "writing over a directory must fail");
    }
}
