//! Progress bars of long phases, on stderr and only when it is a terminal.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting to `total` messages; hidden when stderr is not a terminal.
pub fn bar(total: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    // The template is a constant; a mistake in it would show at the first run.
    if let Ok(style) = ProgressStyle::with_template(
        "  {msg:<32} [{bar:30}] {human_pos}/{human_len} {per_sec} (eta {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}
