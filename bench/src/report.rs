//! The results of a run: sections of named figures, printed as a table, written as
//! JSON, and two runs set side by side with their ratio.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::stats::Samples;

/// Which direction of a figure is the good one; decides how a ratio is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Lower,
    Higher,
    /// A size or count that describes the run rather than rating the server.
    Neither,
}

/// One measured number.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figure {
    pub key: String,
    pub value: f64,
    pub unit: String,
    pub better: Better,
}

/// The figures of one scenario (or one size of it).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Section {
    pub name: String,
    pub figures: Vec<Figure>,
    /// How many requests failed; the first few messages are kept in `errors`.
    pub error_count: u64,
    pub errors: Vec<String>,
    pub notes: Vec<String>,
    pub elapsed_secs: f64,
}

const KEPT_ERRORS: usize = 5;

impl Section {
    pub fn new(name: impl Into<String>) -> Section {
        Section { name: name.into(), ..Section::default() }
    }

    pub fn figure(&mut self, key: &str, value: f64, unit: &str, better: Better) {
        self.figures.push(Figure { key: key.to_owned(), value, unit: unit.to_owned(), better });
    }

    /// count, p50, p95, p99 and max of `samples` as `<prefix>_…` figures in ms.
    pub fn latency(&mut self, prefix: &str, samples: &Samples) {
        match samples.summary() {
            Some(s) => {
                self.figure(&format!("{prefix}_count"), s.count as f64, "", Better::Neither);
                self.figure(&format!("{prefix}_p50"), s.p50, "ms", Better::Lower);
                self.figure(&format!("{prefix}_p95"), s.p95, "ms", Better::Lower);
                self.figure(&format!("{prefix}_p99"), s.p99, "ms", Better::Lower);
                self.figure(&format!("{prefix}_max"), s.max, "ms", Better::Lower);
            }
            None => self.note(format!("{prefix}: no samples")),
        }
    }

    pub fn error(&mut self, message: impl std::fmt::Display) {
        self.error_count += 1;
        if self.errors.len() < KEPT_ERRORS {
            self.errors.push(message.to_string());
        }
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    fn get(&self, key: &str) -> Option<&Figure> {
        self.figures.iter().find(|f| f.key == key)
    }
}

/// A whole run against one server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    pub server_url: String,
    pub label: String,
    pub quick: bool,
    pub started_unix_secs: u64,
    pub elapsed_secs: f64,
    pub sections: Vec<Section>,
}

impl Report {
    /// A plain-text table of every figure, with errors and notes under each section.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "stoa-bench: {} ({}), {:.0} s", self.label, self.server_url, self.elapsed_secs);
        for section in &self.sections {
            let _ = writeln!(
                out,
                "\n[{}]  {:.1} s, {} errors",
                section.name, section.elapsed_secs, section.error_count
            );
            for f in &section.figures {
                let _ = writeln!(out, "  {:<28} {:>14} {}", f.key, format_value(f.value), f.unit);
            }
            for e in &section.errors {
                let _ = writeln!(out, "  error: {e}");
            }
            for n in &section.notes {
                let _ = writeln!(out, "  note: {n}");
            }
        }
        out
    }
}

/// A markdown table of two runs side by side. The last column says how many times
/// better `a` is than `b` (above 1: `a` is better), for figures that have a direction.
pub fn compare_markdown(a: &Report, b: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| scenario | figure | {} | {} | {} advantage |", a.label, b.label, a.label);
    let _ = writeln!(out, "|---|---|---:|---:|---:|");
    for section in &a.sections {
        let other = b.sections.iter().find(|s| s.name == section.name);
        for f in &section.figures {
            let theirs = other.and_then(|s| s.get(&f.key));
            let ratio = theirs.map_or_else(|| "–".to_owned(), |t| advantage(f, t.value));
            let unit = if f.unit.is_empty() { String::new() } else { format!(" {}", f.unit) };
            let _ = writeln!(
                out,
                "| {} | {} | {}{unit} | {} | {ratio} |",
                section.name,
                f.key,
                format_value(f.value),
                theirs.map_or_else(|| "–".to_owned(), |t| format!("{}{unit}", format_value(t.value))),
            );
        }
        let theirs_errors = other.map_or_else(|| "–".to_owned(), |s| s.error_count.to_string());
        let _ = writeln!(out, "| {} | errors | {} | {theirs_errors} | |", section.name, section.error_count);
    }
    // Sections only the second run has (e.g. it got further) are listed too.
    for section in b.sections.iter().filter(|s| !a.sections.iter().any(|m| m.name == s.name)) {
        for f in &section.figures {
            let _ = writeln!(
                out,
                "| {} | {} | – | {} {} | – |",
                section.name,
                f.key,
                format_value(f.value),
                f.unit
            );
        }
    }
    out
}

/// Notes and errors of both runs, as a markdown list.
pub fn notes_markdown(reports: &[&Report]) -> String {
    let mut out = String::new();
    for report in reports {
        for section in &report.sections {
            for n in &section.notes {
                let _ = writeln!(out, "- {} / {}: {n}", report.label, section.name);
            }
            for e in &section.errors {
                let _ = writeln!(out, "- {} / {}: error: {e}", report.label, section.name);
            }
        }
    }
    out
}

fn advantage(mine: &Figure, theirs: f64) -> String {
    let ratio = match mine.better {
        Better::Neither => return String::new(),
        Better::Lower => theirs / mine.value,
        Better::Higher => mine.value / theirs,
    };
    if ratio.is_finite() { format!("{ratio:.2}×") } else { "–".to_owned() }
}

fn format_value(value: f64) -> String {
    let whole = value == value.trunc() && value.abs() < 1e15;
    if whole || value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(label: &str, p99: f64, rate: f64) -> Report {
        let mut section = Section::new("fanout_g100");
        section.figure("delivery_p99", p99, "ms", Better::Lower);
        section.figure("messages_per_sec", rate, "/s", Better::Higher);
        section.figure("members", 100.0, "", Better::Neither);
        Report { label: label.to_owned(), sections: vec![section], ..Report::default() }
    }

    #[test]
    fn ratios_read_as_advantage_of_the_first() {
        let table = compare_markdown(&report("Stoa", 10.0, 400.0), &report("Synapse", 800.0, 40.0));
        assert!(table.contains("| fanout_g100 | delivery_p99 | 10 ms | 800 ms | 80.00× |"), "{table}");
        assert!(table.contains("| fanout_g100 | messages_per_sec | 400 /s | 40 /s | 10.00× |"), "{table}");
        assert!(table.contains("| fanout_g100 | members | 100 | 100 |  |"), "{table}");
    }

    #[test]
    fn json_round_trip() {
        let original = report("Stoa", 1.5, 2.0);
        let text = serde_json::to_string(&original).expect("serialize");
        let back: Report = serde_json::from_str(&text).expect("parse");
        assert_eq!(back.sections.first().map(|s| s.figures.len()), Some(3));
    }
}
