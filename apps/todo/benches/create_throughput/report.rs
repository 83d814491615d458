//! The figures of one run, the table they are printed in, and the median of several rounds.

use std::time::Duration;

use crate::cores::Cores;

/// What one run measured.
pub(crate) struct Figures {
    pub(crate) label: &'static str,
    /// How the cores were shared during the run.
    pub(crate) cores: Cores,
    pub(crate) transactions: usize,
    pub(crate) elapsed: Duration,
    pub(crate) tps: f64,
    pub(crate) mean_ms: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p90_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
    /// CPU ms per transaction: PostgreSQL backends, and this process (app + load client).
    pub(crate) server_cpu_ms: Option<f64>,
    pub(crate) process_cpu_ms: Option<f64>,
}

impl Figures {
    /// From per-transaction latencies in microseconds.
    pub(crate) fn from_micros(label: &'static str, mut micros: Vec<u64>, elapsed: Duration, tps: f64) -> Self {
        micros.sort_unstable();
        let pick = |q: f64| -> f64 {
            if micros.is_empty() {
                return f64::NAN;
            }
            // Nearest rank.
            let rank = ((q * micros.len() as f64).ceil() as usize).clamp(1, micros.len());
            micros[rank - 1] as f64 / 1000.0
        };
        let mean_ms = micros.iter().sum::<u64>() as f64 / micros.len().max(1) as f64 / 1000.0;
        Self {
            label,
            cores: Cores::Shared,
            transactions: micros.len(),
            elapsed,
            tps,
            mean_ms,
            p50_ms: pick(0.50),
            p90_ms: pick(0.90),
            p99_ms: pick(0.99),
            max_ms: pick(1.0),
            server_cpu_ms: None,
            process_cpu_ms: None,
        }
    }

    /// These figures, marked as measured with `cores`.
    pub(crate) fn on(mut self, cores: Cores) -> Self {
        self.cores = cores;
        self
    }

    pub(crate) fn row(&self) -> String {
        let cpu = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
        format!(
            "{:<28} {:<6} {:>6} {:>6.2} {:>7.0} {:>7.2} {:>6.2} {:>6.2} {:>6.2} {:>7.2} {:>8} {:>8}",
            self.label,
            self.cores.column(),
            self.transactions,
            self.elapsed.as_secs_f64(),
            self.tps,
            self.mean_ms,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.max_ms,
            cpu(self.server_cpu_ms),
            cpu(self.process_cpu_ms),
        )
    }
}

pub(crate) const HEADER: &str =
    "run                          cores    txns   secs     tps    mean    p50    p90    p99     max  postgres  process";

/// The middle value (the mean of the two middle ones for an even count); `None` when empty.
pub(crate) fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}
