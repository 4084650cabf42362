//! What the commands print: progress bars and stage lines, the live view, summaries.

use hapticmat_core::StateUpdate;
use hapticmat_core::features::BaselineEvent;
use hapticmat_core::monitor::{MonitorEvent, MonitorSummary};
use hapticmat_core::source::SourceStatus;
use indicatif::{ProgressBar, ProgressStyle};
use onnx_ptq::quantize::{Progress, QuantizeEvent};
use pipeline::run::Reporter;
use pipeline::train::TrainProgress;
use std::io::Write;

/// Draws calibration progress: one bar per pass over the calibration windows.
#[derive(Default)]
pub(super) struct QuantizeBars {
    bar: Option<ProgressBar>,
}

impl Progress for QuantizeBars {
    fn event(&mut self, e: QuantizeEvent<'_>) {
        match e {
            QuantizeEvent::Stage(name) => eprintln!("[quantize] {name}"),
            QuantizeEvent::PassStarted { pass, windows } => {
                let bar = ProgressBar::new(windows.unwrap_or(0) as u64);
                bar.set_style(
                    ProgressStyle::with_template("[quantize] {prefix} {bar:40} {pos}/{len} windows")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar.set_prefix(pass.to_string());
                self.bar = Some(bar);
            }
            QuantizeEvent::Batch { windows_done, .. } => {
                if let Some(b) = &self.bar {
                    b.set_position(windows_done as u64);
                }
            }
            QuantizeEvent::PassFinished { pass, windows } => {
                if let Some(b) = self.bar.take() {
                    b.finish_and_clear();
                }
                eprintln!("[quantize] {pass}: {windows} windows");
            }
        }
    }
}

/// Draws `pipeline run`'s progress: stage lines and a bar per training epoch (hidden when stderr
/// is not a terminal, where only the epoch summaries are printed).
pub(super) struct RunProgress {
    quiet: bool,
    bar: Option<ProgressBar>,
    quantize: QuantizeBars,
}

impl RunProgress {
    pub(super) fn new(quiet: bool) -> Self {
        RunProgress { quiet, bar: None, quantize: QuantizeBars::default() }
    }
}

impl Reporter for RunProgress {
    fn quantize(&mut self, e: QuantizeEvent<'_>) {
        if !self.quiet {
            self.quantize.event(e);
        }
    }
    fn stage(&mut self, name: &str) {
        if !self.quiet {
            eprintln!("[run] {name}");
        }
    }
    fn training(&mut self, p: TrainProgress<'_>) {
        if self.quiet {
            return;
        }
        match p {
            TrainProgress::Step { epoch, step, steps } => {
                let bar = self.bar.get_or_insert_with(|| {
                    let bar = ProgressBar::new(steps as u64);
                    bar.set_style(
                        ProgressStyle::with_template(
                            "[train] epoch {prefix:>2} {bar:40} {pos}/{len} steps, {eta} left",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    bar
                });
                bar.set_prefix(epoch.to_string());
                bar.set_position(step as u64);
            }
            TrainProgress::Epoch(m) => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                eprintln!(
                    "[train] epoch {}: lr {:.1e}, train loss {:.4}, validation loss {:.4}, accuracy {:.2}%, balanced accuracy {:.2}% ({:.2}% with personal calibration) ({:.1} s)",
                    m.epoch,
                    m.learning_rate,
                    m.train_loss,
                    m.validation_loss,
                    100.0 * m.validation_accuracy,
                    100.0 * m.validation_balanced_accuracy,
                    100.0 * m.validation_balanced_accuracy_calibrated,
                    m.seconds
                );
            }
        }
    }
}

pub(super) fn describe_event(event: &MonitorEvent) {
    match event {
        MonitorEvent::Baseline(BaselineEvent::Calibrated(b)) => {
            eprintln!("calibrated: empty mat at {:?} Pa", b.pressures)
        }
        MonitorEvent::Baseline(BaselineEvent::AutoBaseline(b)) => {
            eprintln!("baseline taken from a still stretch: {:?} Pa", b.pressures)
        }
        MonitorEvent::Baseline(BaselineEvent::CalibrationFailed(e)) => eprintln!("calibration refused: {e}"),
        MonitorEvent::AbsenceTimeout { t, absent_for_s } => {
            eprintln!("t={t:.1}s: nobody on the mat for {absent_for_s:.0} s — the app would stop its session now")
        }
        MonitorEvent::PersonalCalibration(Ok(c)) => {
            eprintln!("personal calibration: {:.0} Pa lying fully", c.reference_load_pa)
        }
        MonitorEvent::PersonalCalibration(Err(e)) => eprintln!("personal calibration refused: {e}"),
        MonitorEvent::Skipped(e) => eprintln!("skipped: {e}"),
        MonitorEvent::Status(SourceStatus::Reconnecting { attempt, delay }) => {
            eprintln!("reconnecting (attempt {attempt}) in {:.1} s", delay.as_secs_f64())
        }
        MonitorEvent::Status(s) => eprintln!("source: {s:?}"),
        MonitorEvent::State(_) => {}
    }
}

pub(super) fn print_summary(s: &MonitorSummary) {
    eprintln!("\n{} frames; states: {:?}", s.frames, s.state_frames);
    if s.skipped.is_empty() {
        eprintln!("no bad input");
    } else {
        eprintln!("skipped bad input: {:?}", s.skipped);
        for e in &s.skipped_examples {
            eprintln!("  {e}");
        }
    }
    eprintln!("inference: {} calls, p50 {:.1} µs, p99 {:.1} µs", s.inferences, s.inference_p50_us, s.inference_p99_us);
    if s.disconnects > 0 {
        eprintln!("link dropped {} times (reconnected with backoff)", s.disconnects);
    }
}

/// The readable live view: a line per state change; on a terminal also a status line redrawn in place.
pub(super) struct LiveView {
    tty: bool,
    last_state: Option<&'static str>,
    last_line_t: f64,
}

impl LiveView {
    pub(super) fn new(tty: bool) -> Self {
        LiveView { tty, last_state: None, last_line_t: f64::NEG_INFINITY }
    }

    pub(super) fn show(&mut self, out: &mut impl Write, u: &StateUpdate) -> std::io::Result<()> {
        let p = u.pressures.map(|v| v / 1000.0);
        // A posture the four bladders cannot tell apart is shown as "on the mat (posture?)".
        let unsure = u.posture_confidence.is_some_and(|c| c < hapticmat_core::monitor::POSTURE_CONFIDENT);
        let absent_for = u.absent_for_s.map_or(String::new(), |s| format!("   empty for {s:.0} s"));
        let line = format!(
            "t={:7.1}s  {:<13}{} confidence {:>4.0}%   pressures {:.3} {:.3} {:.3} {:.3} kPa{absent_for}",
            u.t,
            u.state_name(),
            if unsure { " (posture?)" } else { "" },
            100.0 * u.confidence,
            p[0],
            p[1],
            p[2],
            p[3]
        );
        let changed = self.last_state != Some(u.state_name());
        if changed || (!self.tty && u.t - self.last_line_t >= 5.0) {
            if self.tty {
                write!(out, "\r\x1b[2K")?;
            }
            writeln!(out, "{line}{}", if changed { "   <- change" } else { "" })?;
            self.last_state = Some(u.state_name());
            self.last_line_t = u.t;
        } else if self.tty {
            write!(out, "\r\x1b[2K{line}")?;
            out.flush()?;
        }
        Ok(())
    }
}

pub(super) fn print_log_summary(s: &pipeline::tracking::LogSummary) {
    eprintln!(
        "[log] MLflow run {} ({}) FINISHED in experiment {:?} ({}): {} params, {} metric values, {} artifacts + manifest",
        s.run_id,
        s.run_name,
        s.experiment_name,
        s.experiment_id,
        s.params,
        s.metrics,
        s.artifacts.len()
    );
    eprintln!("[log] registered model {:?} version {} ← {}", s.registered_model, s.model_version, s.model_source);
    match &s.git_commit {
        Some(c) => eprintln!("[log] git commit {c}; data fingerprint {}", s.data_fingerprint),
        None => eprintln!(
            "[log] git commit unknown (no git checkout here and GIT_COMMIT unset): tag omitted; data fingerprint {}",
            s.data_fingerprint
        ),
    }
    eprintln!("[log] {}", s.run_url);
}

/// The human lines of a release or rollback summary, on stderr.
pub(super) fn print_release_summary(command: &str, s: &hapticmat_release::release::ReleaseSummary) {
    use hapticmat_release::release::ReleaseOutcome;
    match s.outcome {
        ReleaseOutcome::AlreadyCurrent => eprintln!(
            "[{command}] {}: already current: sequence {} serves model {} (sha256 {}); nothing written",
            s.store, s.sequence, s.version, s.sha256
        ),
        ReleaseOutcome::Released => {
            let from = s.rollback_of.map(|r| format!(", the model of history/{r}.json")).unwrap_or_default();
            eprintln!(
                "[{command}] {}: sequence {} (was {}) now serves model {}{from} (sha256 {}, {} bytes, run {}), \
                 signed by key {}, expires {}",
                s.store,
                s.sequence,
                s.previous_sequence.map_or("none".to_string(), |p| p.to_string()),
                s.version,
                s.sha256,
                s.size,
                s.source_run_id,
                s.key_id,
                s.expires_at.to_rfc3339()
            );
            eprintln!("[{command}] wrote {}", s.written.join(", "));
        }
    }
    for w in &s.warnings {
        eprintln!("[{command}] warning: {w}");
    }
}
