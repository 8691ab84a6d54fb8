//! Wall time per pipeline stage, for the report's `stats.phases`.

use std::time::Instant;

use crate::report::{Phases, Report};

/// Measures consecutive stages of a run.
pub(super) struct Clock {
    started: Instant,
    lap: Instant,
    /// The stages measured so far.
    pub phases: Phases,
}

impl Clock {
    pub fn new() -> Clock {
        let now = Instant::now();
        Clock { started: now, lap: now, phases: Phases::default() }
    }

    /// Milliseconds since the last lap; starts a new one.
    pub fn lap(&mut self) -> f64 {
        let now = Instant::now();
        let ms = (now - self.lap).as_secs_f64() * 1000.0;
        self.lap = now;
        ms
    }

    /// Ends the report stage and stores the stages and total in `report`.
    pub fn finish(&mut self, report: &mut Report) {
        self.phases.report_ms = self.lap();
        report.stats.phases = self.phases;
        report.stats.duration_ms = self.started.elapsed().as_millis() as u64;
    }
}
