//! Subscriptions: a registry of foreign listeners, the [`TaskHandle`] that ends one subscription, and
//! the count of live native objects that lets tests (and leak checks in the app) see memory freed.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// Native objects handed to the foreign side and not yet freed.
static LIVE_OBJECTS: AtomicU64 = AtomicU64::new(0);

/// Counts one live exported object from creation to drop; a field of every exported object.
#[derive(Debug)]
pub(crate) struct LiveObject(());

impl LiveObject {
    pub(crate) fn new() -> Self {
        LIVE_OBJECTS.fetch_add(1, Ordering::SeqCst);
        LiveObject(())
    }
}

impl Drop for LiveObject {
    fn drop(&mut self) {
        LIVE_OBJECTS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How many exported objects (monitors, updaters, task handles) are alive in native memory.
pub(crate) fn live_objects() -> u64 {
    LIVE_OBJECTS.load(Ordering::SeqCst)
}

/// Locks a mutex even if a panic poisoned it: every value kept behind these locks is whole after any
/// single assignment, so a panic elsewhere leaves nothing half-written.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The foreign listeners of one kind, by subscription id.
pub(crate) struct Listeners<L: ?Sized> {
    next_id: AtomicU64,
    map: Mutex<BTreeMap<u64, Arc<L>>>,
}

impl<L: ?Sized + Send + Sync + 'static> Listeners<L> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Listeners { next_id: AtomicU64::new(1), map: Mutex::new(BTreeMap::new()) })
    }

    /// Registers a listener; the returned handle removes it when cancelled or dropped.
    pub(crate) fn add(self: &Arc<Self>, listener: Arc<L>) -> Arc<TaskHandle> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        lock(&self.map).insert(id, listener);
        let weak: Weak<Self> = Arc::downgrade(self);
        TaskHandle::new(move || {
            if let Some(listeners) = weak.upgrade() {
                lock(&listeners.map).remove(&id);
            }
        })
    }

    /// Live subscriptions.
    pub(crate) fn len(&self) -> usize {
        lock(&self.map).len()
    }

    /// Calls `f` on every listener, outside the registry's lock. A listener that throws is removed: a
    /// foreign exception in a callback surfaces in Rust as a panic, and must not end the caller's task.
    pub(crate) fn notify(&self, f: impl Fn(&L)) {
        let all: Vec<(u64, Arc<L>)> = lock(&self.map).iter().map(|(id, l)| (*id, l.clone())).collect();
        for (id, listener) in all {
            if catch_unwind(AssertUnwindSafe(|| f(&listener))).is_err() {
                log::error!("a listener threw; it is unsubscribed");
                lock(&self.map).remove(&id);
            }
        }
    }

    /// Calls `f` on one listener with the same protection as [`notify`](Self::notify).
    pub(crate) fn call_one(listener: &L, f: impl FnOnce(&L)) -> bool {
        let ok = catch_unwind(AssertUnwindSafe(|| f(listener))).is_ok();
        if !ok {
            log::error!("a listener threw on its first value");
        }
        ok
    }
}

/// One running subscription. `cancel()` — or dropping the handle (Kotlin: `close()`) — stops it:
/// its listener is removed at once (a call already under way on another thread still completes).
#[derive(uniffi::Object)]
pub struct TaskHandle {
    stop: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    cancelled: AtomicBool,
    _live: LiveObject,
}

impl TaskHandle {
    pub(crate) fn new(stop: impl FnOnce() + Send + 'static) -> Arc<Self> {
        Arc::new(TaskHandle {
            stop: Mutex::new(Some(Box::new(stop))),
            cancelled: AtomicBool::new(false),
            _live: LiveObject::new(),
        })
    }
}

#[uniffi::export]
impl TaskHandle {
    /// Stops the subscription; idempotent. No I/O, returns at once; any thread.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        if let Some(stop) = lock(&self.stop).take() {
            stop();
        }
    }

    /// Whether [`cancel`](Self::cancel) was called. No I/O; any thread.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

impl Drop for TaskHandle {
    fn drop(&mut self) {
        self.cancel();
    }
}
