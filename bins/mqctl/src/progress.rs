//! Progress bars of long operations (bulk sends, retries of many dead letters), drawn on
//! stderr only when it is a terminal and the output is not `--json`.

use indicatif::{ProgressBar, ProgressStyle};

use crate::output::Output;

/// A bar counting to `total`, or a counter with a rate when the total is unknown (stdin);
/// hidden when `out` is not interactive.
pub fn bar(out: &Output, total: Option<u64>, what: &'static str) -> ProgressBar {
    if !out.interactive() {
        return ProgressBar::hidden();
    }
    match total {
        Some(total) => {
            let bar = ProgressBar::new(total);
            // The template is a constant; a mistake in it would show at the first run.
            if let Ok(style) =
                ProgressStyle::with_template("{msg} [{bar:40}] {human_pos}/{human_len} (eta {eta})")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(what);
            bar
        }
        None => {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) =
                ProgressStyle::with_template("{spinner} {msg} {human_pos} [{elapsed}]")
            {
                bar.set_style(style);
            }
            bar.set_message(what);
            bar
        }
    }
}

/// A spinner with `message` while one long request runs; hidden when not interactive.
pub fn spinner(out: &Output, message: String) -> ProgressBar {
    if !out.interactive() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}
