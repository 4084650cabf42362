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
    let r = reevaluate(&model, Some(&model), &held_out).unwrap();
    eprintln!(
        "re-scored on {} windows of {} subjects × {} s: accuracy {:.4} in {:.2} s",
        r.windows, held_out.sessions, held_out.session_s, r.accuracy, r.seconds
    );
    assert!(r.windows > 1000, "{} windows", r.windows);
    assert!(r.accuracy > 0.0 && r.accuracy < 1.0, "{}", r.accuracy);
    // The same bytes score the same: the gate cannot be passed by re-running.
    assert_eq!(reevaluate(&model, None, &held_out).unwrap().accuracy, r.accuracy);
    assert_eq!((r.fp32_accuracy, r.accuracy_drop_points), (Some(r.accuracy), Some(0.0)));
    // The held-out subjects are not the training run's: its seed-1 subjects give other windows.
    let train_like = HeldOut { seed: 1, ..held_out.clone() };
    assert_ne!(held_out_windows(&train_like).x, held_out_windows(&held_out).x);
}

#[test]
fn bytes_that_are_not_a_model_are_an_error_not_a_score() {
    let e = reevaluate(b"not a model", None, &HeldOut { sessions: 1, session_s: 60.0, seed: 1 }).unwrap_err();
    assert!(format!("{e:#}").to_lowercase().contains("model"), "{e:#}");
}

/// The gates are decided on the promoter's figures: a run claiming 0.99 and no drop is refused when its
/// model scores below the accuracy gate here, or loses more than the drop gate against its float model.
#[test]
fn the_gates_are_decided_on_the_promoters_own_figures() {
    use pipeline::promote::{PromoteError, Reevaluation, check_gates};
    use pipeline::tracking::metric_keys::{INT8_ACCURACY_DROP_POINTS, INT8_TEST_ACCURACY};
    use pipeline::tracking::promotion::Gates;
    let claims = [(INT8_TEST_ACCURACY.to_string(), 0.99), (INT8_ACCURACY_DROP_POINTS.to_string(), 0.0)].into();
    let measured = |int8: f64, fp32: f64| Reevaluation {
        held_out: HeldOut::default(),
        windows: 1000,
        accuracy: int8,
        fp32_accuracy: Some(fp32),
        accuracy_drop_points: Some(100.0 * (fp32 - int8)),
        seconds: 0.0,
    };
    let gates = Gates { min_accuracy: 0.8, max_accuracy_drop: 2.0 };
    assert!(check_gates("r", &claims, &measured(0.8, 0.82), gates).is_ok(), "both gates at their bounds pass");
    let e = check_gates("r", &claims, &measured(0.79, 0.79), gates).unwrap_err();
    assert!(matches!(e, PromoteError::BelowGate { .. }) && e.to_string().contains("claims 0.99"), "{e}");
    let e = check_gates("r", &claims, &measured(0.85, 0.95), gates).unwrap_err();
    assert!(matches!(e, PromoteError::DropAboveGate { .. }) && e.to_string().contains("10.00 accuracy points"), "{e}");
    let nan = Reevaluation { accuracy: f64::NAN, ..measured(0.9, 0.9) };
    assert!(check_gates("r", &claims, &nan, gates).is_err(), "NaN never passes");
}

/// Against the stack's MLflow: an artifact listed larger than its bound is refused before it is read.
#[test]
fn an_artifact_larger_than_the_promoter_reads_is_refused_before_download() {
    use mlflow_rest::{Client, CreateRun};
    use pipeline::promote::{ARTIFACT_BOUNDS, PROMOTED_ARTIFACT, PromoteError, check_artifact_sizes};
    let Some(url) = std::env::var("HM_MLFLOW_URL").ok().filter(|u| !u.trim().is_empty()) else {
        assert_ne!(std::env::var("HM_REQUIRE_SERVICES").as_deref(), Ok("1"), "HM_MLFLOW_URL is unset");
        eprintln!("skipped: stack not running");
        return;
    };
    let client = Client::from_uri(&url).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let name = format!("h12-bounds-{}-{}", std::process::id(), chrono::Utc::now().timestamp_millis());
    let run = rt.block_on(async {
        let exp = client.get_or_create_experiment(&name).await.unwrap();
        let run = client
            .create_run(&CreateRun {
                experiment_id: exp.experiment_id,
                run_name: name.clone(),
                start_time: chrono::Utc::now().timestamp_millis(),
                tags: vec![],
            })
            .await
            .unwrap();
        client.upload_artifact(&run.info.artifact_uri, PROMOTED_ARTIFACT, vec![7u8; 4096]).await.unwrap();
        client.upload_artifact(&run.info.artifact_uri, "manifest.json", b"{}".to_vec()).await.unwrap();
        run
    });
    let id = &run.info.run_id;
    rt.block_on(check_artifact_sizes(&client, id, ARTIFACT_BOUNDS)).expect("within the real bounds");
    let tight = [("manifest.json", 1024), (PROMOTED_ARTIFACT, 4095)];
    let e = rt.block_on(check_artifact_sizes(&client, id, &tight)).unwrap_err();
    match e.downcast_ref::<PromoteError>() {
        Some(PromoteError::ArtifactTooLarge { artifact, size: 4096, limit: 4095, run_id }) => {
            assert_eq!((artifact.as_str(), run_id), (PROMOTED_ARTIFACT, id));
        }
        _ => panic!("{e:#}"),
    }
    assert!(e.to_string().contains(PROMOTED_ARTIFACT) && e.to_string().contains("4095"), "{e}");
}
