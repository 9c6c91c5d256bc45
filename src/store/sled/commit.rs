//! Group commit: many writers share one `flush`.
//!
//! sled acknowledges a write before it is on disk (ECOSYSTEM.md §3 measured 20k of 27k
//! acknowledged writes lost on kill -9). So every write that is acknowledged to a caller goes
//! through [`GroupCommit::sync`]: the caller's transaction is already applied in memory, and
//! `sync` returns once a flush that *started after* the call has completed.
//!
//! One thread does the flushing. It blocks for the first waiter, takes every waiter already
//! queued, flushes once and wakes them all; waiters arriving during a flush queue for the next
//! one. Under load one fsync covers many receipts.
//!
//! sled's own flush is not enough for a power loss: on Linux it ends its writes with
//! `sync_file_range`, which neither flushes the disk's cache nor records the file's new length
//! (its own comments and `strace` agree: thousands of `sync_file_range` calls and a real
//! `fsync` only from its background flusher, every 500 ms). So after each flush this thread
//! also calls `fdatasync` on sled's data file: an acknowledged receipt is on stable storage,
//! not only in the kernel's page cache, before the Nodo hears `OK`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use tokio::sync::oneshot;

type Waiter = oneshot::Sender<Result<(), String>>;

/// Counters of the group commit (flushes done, waiters served).
#[derive(Debug, Default)]
pub struct CommitStats {
    /// Flushes performed.
    pub flushes: AtomicU64,
    /// Waiters released.
    pub waiters: AtomicU64,
}

/// Handle to the flushing thread; the thread stops (and releases the database) when the last
/// clone is dropped, and the drop waits for it, so the directory can be reopened at once.
#[derive(Debug, Clone)]
pub struct GroupCommit {
    inner: Arc<Inner>,
    /// Counters.
    pub stats: Arc<CommitStats>,
}

#[derive(Debug)]
struct Inner {
    queue: Option<mpsc::Sender<Waiter>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl GroupCommit {
    /// Starts the flushing thread for `db`, whose log is `data_file` (synced after each flush;
    /// None for a store with no file of its own); it ends when the last handle is dropped.
    pub fn start(db: sled::Db, data_file: Option<std::fs::File>) -> std::io::Result<Self> {
        let (queue, rx) = mpsc::channel::<Waiter>();
        let stats = Arc::new(CommitStats::default());
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("varco-flush".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    batch.extend(rx.try_iter());
                    let result = db
                        .flush()
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                        .and_then(|()| match &data_file {
                            Some(f) => f.sync_data().map_err(|e| format!("fdatasync: {e}")),
                            None => Ok(()),
                        });
                    thread_stats.flushes.fetch_add(1, Ordering::Relaxed);
                    thread_stats
                        .waiters
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    for waiter in batch {
                        // A waiter that gave up (request cancelled) is no error.
                        let _ = waiter.send(result.clone());
                    }
                }
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                queue: Some(queue),
                thread: Some(thread),
            }),
            stats,
        })
    }

    /// Waits until everything written before this call is on disk.
    pub async fn sync(&self) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .queue
            .as_ref()
            .ok_or_else(|| "the flushing thread has stopped".to_string())?
            .send(tx)
            .map_err(|_| "the flushing thread has stopped".to_string())?;
        rx.await
            .map_err(|_| "the flushing thread has stopped".to_string())?
    }
}
