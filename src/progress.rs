//! How far a run got: stages and cases, for a progress bar or plain lines.

use std::sync::Arc;

/// Where a run reports how far it got (the CLI draws a progress bar).
pub trait Progress: Send + Sync {
    /// A new stage began: provisioning, schema, probing, shrinking.
    fn stage(&self, message: &str);
    /// `done` of `total` generated cases are probed.
    fn cases(&self, done: u32, total: u32);
}

/// A shared progress sink.
#[derive(Clone)]
pub struct ProgressSink(pub Arc<dyn Progress>);

impl std::fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressSink")
    }
}

/// Stages as `rowfence: <stage>` lines on stderr; cases are not reported.
pub struct StderrLines;

impl Progress for StderrLines {
    fn stage(&self, message: &str) {
        crate::note!("rowfence: {message}");
    }

    fn cases(&self, _done: u32, _total: u32) {}
}

/// Reports nothing (`--quiet`, the `cargo test` gate).
pub struct Silent;

impl Progress for Silent {
    fn stage(&self, _message: &str) {}

    fn cases(&self, _done: u32, _total: u32) {}
}
