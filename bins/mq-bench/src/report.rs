//! The figures of a run: medians over runs, ratios to the ceiling and to a scenario's own
//! baseline, the table and the JSON.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use crate::options::Options;

/// The ceiling figure each throughput figure is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Against {
    /// The append script with this many messages per call.
    Script(usize),
    /// Not a throughput: no ratio.
    Nothing,
}

/// One measured value.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// What it measures, e.g. "publish_batch 1000, 16 producers".
    pub name: String,
    /// The median over runs.
    pub value: f64,
    /// msg/s, ms, MB.
    pub unit: &'static str,
    /// `value` over the ceiling figure it is set against.
    pub ratio: Option<f64>,
    /// Which ceiling figure that is.
    pub against: Against,
    /// The name of a figure of the same scenario this one is also compared with: the baseline
    /// of a scenario that measures what a feature costs, in the same run.
    pub baseline: Option<String>,
    /// `value` over that figure's value.
    pub vs_baseline: Option<f64>,
    /// The value of each run.
    pub runs: Vec<f64>,
}

impl Figure {
    /// A throughput in messages per second, compared with the script at `batch`.
    pub fn rate(name: impl Into<String>, value: f64, batch: usize) -> Figure {
        Figure::new(name, value, "msg/s", Against::Script(batch))
    }

    /// A latency in milliseconds.
    pub fn ms(name: impl Into<String>, value: f64) -> Figure {
        Figure::new(name, value, "ms", Against::Nothing)
    }

    /// Any other value.
    pub fn new(
        name: impl Into<String>,
        value: f64,
        unit: &'static str,
        against: Against,
    ) -> Figure {
        Figure {
            name: name.into(),
            value,
            unit,
            ratio: None,
            against,
            baseline: None,
            vs_baseline: None,
            runs: vec![value],
        }
    }

    /// The same figure, also compared with the figure of its scenario named `baseline`.
    pub fn against_baseline(mut self, baseline: impl Into<String>) -> Figure {
        self.baseline = Some(baseline.into());
        self
    }
}

/// What one scenario measured.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub scenario: &'static str,
    pub figures: Vec<Figure>,
    /// Messages counted on the way: `<phase>.published`, `<phase>.delivered` and the like,
    /// summed over runs. The smoke tests check that they add up.
    pub counts: BTreeMap<String, u64>,
    /// Anything the reader should know (an incomplete phase, what was not measured).
    pub notes: Vec<String>,
}

impl Outcome {
    /// An empty outcome of `scenario`.
    pub fn new(scenario: &'static str) -> Outcome {
        Outcome { scenario, figures: Vec::new(), counts: BTreeMap::new(), notes: Vec::new() }
    }

    /// Adds to a count.
    pub fn count(&mut self, name: impl Into<String>, n: u64) {
        *self.counts.entry(name.into()).or_default() += n;
    }

    /// The runs of one scenario merged: each figure's median, counts summed, notes kept.
    pub fn median_of(outcomes: Vec<Outcome>) -> Outcome {
        let mut merged: Option<Outcome> = None;
        for outcome in outcomes {
            let Some(into) = merged.as_mut() else {
                merged = Some(outcome);
                continue;
            };
            for figure in outcome.figures {
                match into.figures.iter_mut().find(|f| f.name == figure.name) {
                    Some(existing) => existing.runs.extend(figure.runs),
                    None => into.figures.push(figure),
                }
            }
            for (name, n) in outcome.counts {
                into.count(name, n);
            }
            for note in outcome.notes {
                if !into.notes.contains(&note) {
                    into.notes.push(note);
                }
            }
        }
        let mut merged = merged.unwrap_or_else(|| Outcome::new("none"));
        for figure in &mut merged.figures {
            figure.value = median(&figure.runs);
        }
        merged
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Everything measured in one invocation.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Append-script throughput by messages per call, from the ceiling scenario of this run.
    ceiling: BTreeMap<usize, f64>,
    scenarios: Vec<Outcome>,
}

impl Report {
    /// Takes the script figures of the ceiling outcome as references.
    pub fn set_ceiling(&mut self, ceiling: &Outcome) {
        for figure in &ceiling.figures {
            if let (Against::Script(batch), true) = (figure.against, figure.name.contains("script"))
            {
                self.ceiling.insert(batch, figure.value);
            }
        }
    }

    /// Adds a scenario's outcome, its ratios filled in (of medians, as the values are).
    pub fn push(&mut self, mut outcome: Outcome) {
        for figure in &mut outcome.figures {
            if let Against::Script(batch) = figure.against {
                // The nearest script batch at or below, else the smallest measured.
                let reference = self
                    .ceiling
                    .range(..=batch)
                    .next_back()
                    .or_else(|| self.ceiling.iter().next())
                    .map(|(_, v)| *v);
                figure.ratio = reference.filter(|r| *r > 0.0).map(|r| figure.value / r);
            }
        }
        let values: BTreeMap<String, f64> =
            outcome.figures.iter().map(|f| (f.name.clone(), f.value)).collect();
        for figure in &mut outcome.figures {
            let reference = figure.baseline.as_ref().and_then(|name| values.get(name));
            figure.vs_baseline = reference.filter(|r| **r > 0.0).map(|r| figure.value / r);
        }
        self.scenarios.push(outcome);
    }

    /// The table on stdout, notes below it.
    pub fn print(&self) {
        println!(
            "\n{:<13} {:<52} {:>12} {:<6} {:>8} {:>8}",
            "scenario", "figure", "value", "unit", "ceiling", "baseline"
        );
        let percent = |r: Option<f64>| r.map(|r| format!("{:.0} %", r * 100.0)).unwrap_or_default();
        for outcome in &self.scenarios {
            for f in &outcome.figures {
                println!(
                    "{:<13} {:<52} {:>12} {:<6} {:>8} {:>8}",
                    outcome.scenario,
                    f.name,
                    format_value(f.value),
                    f.unit,
                    percent(f.ratio),
                    percent(f.vs_baseline)
                );
            }
        }
        for outcome in &self.scenarios {
            for note in &outcome.notes {
                println!("note ({}): {note}", outcome.scenario);
            }
        }
    }

    /// The report, the options and the machine, as JSON.
    pub fn write_json(&self, path: &Path, options: &Options) -> anyhow::Result<()> {
        let document = serde_json::json!({
            "machine": machine(),
            "options": options,
            "ceiling": self.ceiling,
            "scenarios": self.scenarios,
        });
        let text = serde_json::to_string_pretty(&document)?;
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
    }
}

fn format_value(value: f64) -> String {
    if value >= 1_000.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

/// Cores, CPU model and memory, from /proc (empty where unreadable).
fn machine() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo.lines().find_map(|l| {
        l.strip_prefix("model name")?.split_once(':').map(|(_, m)| m.trim().to_owned())
    });
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib = meminfo.lines().find_map(|l| {
        l.strip_prefix("MemTotal:")?.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
    });
    serde_json::json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": model,
        "memory_mib": mem_kib.map(|k| k / 1024),
    })
}
