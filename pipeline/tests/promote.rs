//! The promoter's own checks (issue 12 item 14): it re-scores the candidate on held-out subjects it
//! simulates itself, never trusting the run's metrics in MLflow. The whole path with a lying MLflow run
//! is in tests/e2e_servers.rs; here the re-scoring itself, on a real model through ONNX Runtime.

mod support;

use pipeline::promote::{HELD_OUT_SEED, HeldOut, held_out_windows, reevaluate};
use support::fixture;

#[test]
fn the_promoter_rescores_a_model_on_subjects_no_training_run_draws() {
    let model = std::fs::read(&fixture().a).unwrap();
    let held_out = HeldOut::default();
    assert_eq!(held_out.seed, HELD_OUT_SEED);
    let r = reevaluate(&model, &held_out, 0.8).unwrap();
    eprintln!(
        "re-scored on {} windows of {} subjects × {} s: accuracy {:.4} in {:.2} s",
        r.windows, held_out.sessions, held_out.session_s, r.accuracy, r.seconds
    );
    assert!(r.windows > 1000, "{} windows", r.windows);
    assert!(r.accuracy > 0.0 && r.accuracy < 1.0, "{}", r.accuracy);
    // The same bytes score the same: the gate cannot be passed by re-running.
    assert_eq!(reevaluate(&model, &held_out, 0.8).unwrap().accuracy, r.accuracy);
    // The held-out subjects are not the training run's: its seed-1 subjects give other windows.
    let train_like = HeldOut { seed: 1, ..held_out.clone() };
    assert_ne!(held_out_windows(&train_like).x, held_out_windows(&held_out).x);
}

#[test]
fn bytes_that_are_not_a_model_are_an_error_not_a_score() {
    let e = reevaluate(b"not a model", &HeldOut { sessions: 1, session_s: 60.0, seed: 1 }, 0.8).unwrap_err();
    assert!(format!("{e:#}").to_lowercase().contains("model"), "{e:#}");
}
