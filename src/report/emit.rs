//! One interface over what a run produces, so the command line writes a
//! single-version [`Report`] and a [`VersionMatrix`] through the same path.

use std::io::{self, Write};

use super::console::Style;
use super::versions::{self, VersionMatrix};
use super::{Report, Verdict, console, html, junit, sarif};

/// A rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The HTML template failed.
    #[error("cannot render HTML: {0}")]
    Html(#[from] minijinja::Error),
    /// JUnit serialisation failed.
    #[error("cannot render JUnit: {0}")]
    Junit(#[from] quick_junit::SerializeError),
    /// JSON serialisation failed.
    #[error("cannot render JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The result of a run, in every output format.
pub trait Outcome {
    /// The verdict, which decides the exit code.
    fn verdict(&self) -> Verdict;
    /// The JSON document (`--json`).
    fn write_json(&self, out: &mut dyn Write) -> serde_json::Result<()>;
    /// The HTML security review.
    fn html(&self) -> Result<String, RenderError>;
    /// JUnit XML.
    fn junit(&self) -> Result<String, RenderError>;
    /// SARIF 2.1.0.
    fn sarif(&self) -> Result<String, RenderError>;
    /// The console summary, naming the files written.
    fn summary(&self, style: Style, written: &[(&str, String)], out: &mut dyn Write) -> io::Result<()>;
    /// The one-line verdict (`--quiet`).
    fn verdict_line(&self, style: Style, out: &mut dyn Write) -> io::Result<()>;
}

impl Outcome for Report {
    fn verdict(&self) -> Verdict {
        self.verdict
    }

    fn write_json(&self, out: &mut dyn Write) -> serde_json::Result<()> {
        Report::write_json(self, out)
    }

    fn html(&self) -> Result<String, RenderError> {
        Ok(html::render(self)?)
    }

    fn junit(&self) -> Result<String, RenderError> {
        Ok(junit::render(self)?)
    }

    fn sarif(&self) -> Result<String, RenderError> {
        Ok(serde_json::to_string_pretty(&sarif::render(self))?)
    }

    fn summary(&self, style: Style, written: &[(&str, String)], mut out: &mut dyn Write) -> io::Result<()> {
        console::summary(self, style, written, &mut out)
    }

    fn verdict_line(&self, style: Style, mut out: &mut dyn Write) -> io::Result<()> {
        console::verdict_line(self, style, &mut out)
    }
}

impl Outcome for VersionMatrix {
    fn verdict(&self) -> Verdict {
        self.verdict
    }

    fn write_json(&self, out: &mut dyn Write) -> serde_json::Result<()> {
        VersionMatrix::write_json(self, out)
    }

    fn html(&self) -> Result<String, RenderError> {
        Ok(versions::html(self)?)
    }

    fn junit(&self) -> Result<String, RenderError> {
        Ok(versions::junit(self)?)
    }

    fn sarif(&self) -> Result<String, RenderError> {
        Ok(serde_json::to_string_pretty(&versions::sarif(self))?)
    }

    fn summary(&self, style: Style, written: &[(&str, String)], mut out: &mut dyn Write) -> io::Result<()> {
        versions::summary(self, style, written, &mut out)
    }

    fn verdict_line(&self, style: Style, mut out: &mut dyn Write) -> io::Result<()> {
        versions::verdict_line(self, style, &mut out)
    }
}
