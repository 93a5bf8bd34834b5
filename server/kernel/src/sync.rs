//! Poison-tolerant locking, the one way nbgate takes its std mutexes (each held only to read or update
//! a value, never across an `.await`). A panic while a lock was held is a bug that has already been
//! reported where it happened; the next holder takes the data as it is rather than panicking too, so
//! one failed request or kernel does not take the server down with it.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, poisoned or not.
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// [`Condvar::wait`], poisoned or not.
pub fn wait<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    condvar.wait(guard).unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_mutex_still_locks_with_its_data() {
        let mutex = Mutex::new(vec![1]);
        let panicked = std::panic::catch_unwind(|| {
            let mut guard = lock(&mutex);
            guard.push(2);
            panic!("a bug while holding the lock");
        });
        assert!(panicked.is_err());
        assert!(mutex.is_poisoned());
        lock(&mutex).push(3);
        assert_eq!(*lock(&mutex), [1, 2, 3]);
    }
}
