//! The log's writer: request threads never write to stderr themselves.
//!
//! `tracing_subscriber`'s formatter renders each event once, into its own thread-local buffer,
//! and hands the finished line to [`LogWriter`] in one `write`: the line is appended to a
//! shared in-memory buffer under a short lock (a copy, no allocation once the buffer has grown),
//! and one thread moves the buffer to stderr every [`TICK`], in one `write` for all the lines
//! gathered meanwhile. Under load that is one system call per tick instead of one per request
//! (the per-request log line was ~15 % of verify's throughput when each line was its own
//! `write` to stderr), and nothing on a request's path waits for stderr: when stderr is slower
//! than the log (a blocked pipe), lines past [`CAP`] buffered bytes are dropped and counted
//! (`varco_log_dropped_total`, and one line saying how many when the writer catches up).
//!
//! [`LogGuard`] writes out what is buffered when it is dropped (at the end of `main`), so the
//! last lines before an orderly exit are never lost.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How often the buffered lines are written out.
pub const TICK: Duration = Duration::from_millis(20);
/// Most bytes held between two writes; lines beyond are dropped (and counted).
pub const CAP: usize = 8 * 1024 * 1024;

struct Shared {
    buffer: Mutex<Vec<u8>>,
    cap: usize,
    dropped: AtomicU64,
    closing: AtomicBool,
    /// Wakes the writer early (at close).
    wake: Condvar,
}

impl Shared {
    /// Takes what is buffered (swapping in `spare`, which keeps its capacity).
    fn take(&self, spare: &mut Vec<u8>) {
        spare.clear();
        let mut buffer = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::swap(&mut *buffer, spare);
    }
}

/// The `MakeWriter` handed to the formatter: cheap to clone, never blocks on I/O.
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

impl Write for LogWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut buffer = self.shared.buffer.lock().unwrap_or_else(|p| p.into_inner());
        if buffer.len() + line.len() > self.shared.cap {
            drop(buffer);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("varco_log_dropped_total").increment(1);
        } else {
            buffer.extend_from_slice(line);
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Stops the writer thread and writes out what is buffered, when dropped.
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::Release);
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A buffered writer onto `sink` (stderr in the binary), holding at most `cap` bytes, and the
/// guard that ends it. Without a thread (the system refuses one) lines go to `sink` directly
/// through the same buffer, written by whoever closes it: nothing is lost but the timeliness.
pub fn buffered(sink: Box<dyn Write + Send>, cap: usize) -> (LogWriter, LogGuard) {
    let shared = Arc::new(Shared {
        buffer: Mutex::new(Vec::with_capacity(64 * 1024)),
        cap,
        dropped: AtomicU64::new(0),
        closing: AtomicBool::new(false),
        wake: Condvar::new(),
    });
    let for_thread = shared.clone();
    let thread = std::thread::Builder::new()
        .name("varco-log".into())
        .spawn(move || run(&for_thread, sink))
        .ok();
    (
        LogWriter {
            shared: shared.clone(),
        },
        LogGuard { shared, thread },
    )
}

/// The writer thread: every [`TICK`] (or at close), what is buffered goes to `sink` in one
/// write, then a line for the lines dropped since the last one.
fn run(shared: &Shared, mut sink: Box<dyn Write + Send>) {
    let mut out = Vec::with_capacity(64 * 1024);
    let mut reported = 0u64;
    loop {
        let closing = {
            let idle = shared.buffer.lock().unwrap_or_else(|p| p.into_inner());
            let (idle, _) = shared
                .wake
                .wait_timeout(idle, TICK)
                .unwrap_or_else(|p| p.into_inner());
            drop(idle);
            shared.closing.load(Ordering::Acquire)
        };
        shared.take(&mut out);
        let dropped = shared.dropped.load(Ordering::Relaxed);
        if dropped > reported {
            let _ = writeln!(
                out,
                "varco: {} log lines dropped (stderr slower than the log)",
                dropped - reported
            );
            reported = dropped;
        }
        if !out.is_empty() {
            // stderr failing (closed) is not a reason to stop serving: the lines are lost.
            let _ = sink.write_all(&out).and_then(|()| sink.flush());
        }
        if closing {
            return;
        }
        // A burst left a huge buffer behind: give the memory back.
        if out.capacity() > 4 * 1024 * 1024 {
            out = Vec::with_capacity(64 * 1024);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink the test can read.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_reach_the_sink_whole_and_in_order_and_the_guard_writes_the_rest() {
        let sink = Sink::default();
        let (writer, guard) = buffered(Box::new(sink.clone()), CAP);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut w = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        w.write_all(format!("t{t} line {i}\n").as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        for t in 0..4 {
            let mine: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with(&format!("t{t} ")))
                .collect();
            let want: Vec<String> = (0..1000).map(|i| format!("t{t} line {i}")).collect();
            assert_eq!(mine, want);
        }
        assert_eq!(text.lines().count(), 4000);
    }

    #[test]
    fn lines_are_written_without_waiting_for_the_guard() {
        let sink = Sink::default();
        let (mut writer, _guard) = buffered(Box::new(sink.clone()), CAP);
        writer.write_all(b"hello\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while sink.0.lock().unwrap().as_slice() != b"hello\n" {
            assert!(std::time::Instant::now() < deadline, "never written");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A sink that blocks until released, like a pipe nobody reads.
    struct Stuck(Arc<(Mutex<bool>, Condvar)>, Sink);

    impl Write for Stuck {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let (lock, cv) = &*self.0;
            let mut open = lock.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
            self.1.write(b)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_blocked_stderr_drops_lines_past_the_cap_and_says_how_many() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let sink = Sink::default();
        let (mut writer, guard) = buffered(Box::new(Stuck(gate.clone(), sink.clone())), 100);
        // The first tick takes the first line and blocks in the sink; then the buffer fills.
        writer.write_all(b"first line\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !guard.shared.buffer.lock().unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(5));
        }
        // The writer thread is now stuck in the sink; writing must not wait for it (this
        // test would hang here if it did).
        for i in 0..50 {
            writer
                .write_all(format!("line {i:02}\n").as_bytes())
                .unwrap();
        }
        // 100 bytes hold 12 lines of 8 bytes; the other 38 are dropped.
        assert_eq!(guard.shared.dropped.load(Ordering::Relaxed), 38);
        {
            let (lock, cv) = &*gate;
            *lock.lock().unwrap() = true;
            cv.notify_all();
        }
        drop(guard);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let kept: Vec<&str> = text.lines().filter(|l| l.starts_with("line ")).collect();
        assert_eq!(
            kept,
            (0..12).map(|i| format!("line {i:02}")).collect::<Vec<_>>()
        );
        assert!(text.starts_with("first line\n"), "{text}");
        assert!(text.contains("varco: 38 log lines dropped"), "{text}");
    }
}
