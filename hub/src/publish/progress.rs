//! What a long publish shows on a terminal: a spinner per step of unknown length (listing files,
//! fetching the source map), a bar per step of known length (scanning files, uploading). Hidden
//! unless the caller asks for it (standard error is a terminal and the output is not JSON);
//! indicatif draws nothing when standard error is not a terminal either.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `total` items drawn with `template`, or a hidden one (also when there are fewer than
/// `from` items: a short step needs none).
pub fn bar(enabled: bool, total: usize, from: usize, template: &str) -> ProgressBar {
    if !enabled || total < from {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    match ProgressStyle::with_template(template) {
        Ok(style) => bar.with_style(style),
        // A template that does not parse is a bug; the default style still shows progress.
        Err(error) => {
            tracing::debug!(%error, template, "progress template");
            bar
        }
    }
}

/// A spinner saying `message`, or a hidden one.
pub fn spinner(enabled: bool, message: &'static str) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let spinner = ProgressBar::new_spinner().with_message(message);
    spinner.enable_steady_tick(Duration::from_millis(120));
    spinner
}
