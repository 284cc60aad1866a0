//! What a test logs, captured: for checks that a line is (or is not) written.

use std::sync::{Arc, Mutex};

use tracing::subscriber::DefaultGuard;
use tracing_subscriber::util::SubscriberInitExt;

/// Everything logged on this thread while its guard lives (a test runtime with one thread:
/// every task of the test logs here).
#[derive(Debug, Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("not poisoned")
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Starts capturing every line at `level` or above, without colours, until the guard is
    /// dropped.
    pub fn start(level: tracing::Level) -> (Captured, DefaultGuard) {
        let logs = Captured::default();
        let writer = logs.clone();
        let guard = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish()
            .set_default();
        (logs, guard)
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("not poisoned")).into_owned()
    }

    /// The lines with `level` that contain `containing`.
    pub fn lines(&self, level: &str, containing: &str) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| l.contains(level) && l.contains(containing))
            .map(str::to_owned)
            .collect()
    }
}
