//! Captures what the library logs, to count lines where a promise is "logged
//! once". The capture is the current thread's subscriber: a test on a
//! current-thread runtime sees every line its nodes' tasks write, and none
//! of the tests running beside it on other threads.
#![allow(dead_code)]

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use tracing::subscriber::DefaultGuard;
use tracing_subscriber::fmt::MakeWriter;

/// The lines logged on this thread since [`Logs::capture`], at debug level
/// and above, as the `fmt` subscriber writes them (without timestamps): the
/// level, the spans with their fields (`tcp_transport{node=1}:`), the
/// target, the message and the event's fields.
#[derive(Clone, Default)]
pub struct Logs {
    text: Arc<Mutex<Vec<u8>>>,
}

impl Logs {
    /// Starts capturing; the capture ends when the guard is dropped.
    #[must_use]
    pub fn capture() -> (Logs, DefaultGuard) {
        let logs = Logs::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .without_time()
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> MutexGuard<'_, Vec<u8>> {
        self.text
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.text())
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The lines at `level` (`"WARN"`, `"INFO"`, ...) that contain every one
    /// of `parts`.
    pub fn matching(&self, level: &str, parts: &[&str]) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|line| line.split_whitespace().next() == Some(level))
            .filter(|line| parts.iter().all(|part| line.contains(part)))
            .collect()
    }

    /// How many lines [`matching`](Self::matching) finds.
    pub fn count(&self, level: &str, parts: &[&str]) -> usize {
        self.matching(level, parts).len()
    }
}

/// Appends one event's text at a time: `fmt` writes each event whole.
pub struct LogWriter(Logs);

impl io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.text().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Logs {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LogWriter(self.clone())
    }
}
