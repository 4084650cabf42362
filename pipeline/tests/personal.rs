//! Personal calibration on the phone's code (rust-core) with real ONNX Runtime and the real
//! recordings: a model says which inputs it reads, the core refuses a model needing an input it
//! cannot give, keeps serving window-only models, and measures a user lying on the real mat.

use hapticmat_core::features::{CHANNELS, FEATURE_VERSION, INPUT_NAME, OUTPUT_NAME, WINDOW_FRAMES, WINDOW_LEN};
use hapticmat_core::frame::Frame;
use hapticmat_core::inference::{InferenceError, PresenceModel, meta};
use hapticmat_core::monitor::{Monitor, MonitorConfig, MonitorEvent};
use hapticmat_core::personal::{
    PERSONAL_CALIBRATION_S, PersonalCalibration, PersonalCalibrationError, UNCALIBRATED, USER_LOAD_NAME,
};
use hapticmat_core::recording::Recording;
use hapticmat_core::state::{NUM_STATES, STATE_NAMES};
use onnx_ptq::{Attr, GraphBuilder};
use pipeline::export::{ExportInfo, presence_model};
use pipeline::train::PresenceNet;
use prost::Message;

const REAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/seroton-mat");

fn exported() -> Vec<u8> {
    let w = PresenceNet::init(3).unwrap().weights().unwrap();
    presence_model(&w, &ExportInfo::default()).encode_to_vec()
}

/// A model of the older, window-only kind (`Flatten → Gemm → Softmax`), optionally with one more
/// input added to its logits.
fn window_only(extra_input: Option<&str>) -> Vec<u8> {
    let mut g = GraphBuilder::new("window_only");
    let (c, t, n) = (CHANNELS as i64, WINDOW_FRAMES as i64, NUM_STATES as i64);
    g.input_f32(INPUT_NAME, &[None, Some(c), Some(t)]);
    g.output_f32(OUTPUT_NAME, &[None, Some(n)]);
    g.node("Flatten", "flatten", &[INPUT_NAME], &["flat"], vec![("axis", Attr::Int(1))]);
    let w: Vec<f32> = (0..NUM_STATES * WINDOW_LEN).map(|i| ((i % 7) as f32 - 3.0) * 1e-4).collect();
    let w = g.init_f32("w", &[n, c * t], &w);
    let b = g.init_f32("b", &[n], &[0.5, 0.0, 0.0, 0.0]);
    g.node("Gemm", "fc", &["flat", &w, &b], &["logits"], vec![("transB", Attr::Int(1))]);
    let logits = match extra_input {
        Some(name) => {
            g.input_f32(name, &[None, Some(n)]);
            g.node("Add", "with_extra", &["logits", name], &["logits2"], vec![]);
            "logits2"
        }
        None => "logits",
    };
    g.node("Softmax", "softmax", &[logits], &[OUTPUT_NAME], vec![("axis", Attr::Int(1))]);
    let metadata = [
        (meta::FEATURE_VERSION, FEATURE_VERSION.to_string()),
        (meta::WINDOW, WINDOW_FRAMES.to_string()),
        (meta::CHANNELS, CHANNELS.to_string()),
        (meta::LABELS, STATE_NAMES.join(",")),
    ];
    g.into_model(&metadata).encode_to_vec()
}

fn loaded_window() -> [f32; WINDOW_LEN] {
    std::array::from_fn(|i| 1100.0 + 80.0 * (i as f32 * 0.7).sin())
}

#[test]
fn a_model_reading_the_personal_calibration_names_it_and_answers_to_it() {
    let mut model = PresenceModel::from_bytes(&exported(), "exported.onnx").unwrap();
    assert_eq!(model.info().inputs, [INPUT_NAME, USER_LOAD_NAME]);
    assert!(model.info().takes_user_load());
    let w = loaded_window();
    let plain = model.predict(&w).unwrap().probabilities;
    assert_eq!(plain, model.predict_with(&w, &UNCALIBRATED).unwrap().probabilities, "predict = uncalibrated");
    let full = model.predict_with(&w, &[1.0, 1.0]).unwrap().probabilities;
    let half = model.predict_with(&w, &[0.5, 1.0]).unwrap().probabilities;
    assert!(plain != full && full != half, "the share reaches the output: {plain:?} {full:?} {half:?}");
    // Batches: per-window inputs laid end to end, checked against the window count.
    let two: Vec<f32> = w.iter().chain(w.iter()).copied().collect();
    let batch = model.predict_batch_with(&two, Some(&[1.0, 1.0, 0.5, 1.0])).unwrap();
    for (a, b) in batch[0].iter().zip(&full).chain(batch[1].iter().zip(&half)) {
        assert!((a - b).abs() < 1e-5, "{batch:?} vs {full:?} {half:?}");
    }
    assert!(matches!(model.predict_batch_with(&two, Some(&[1.0, 1.0])), Err(InferenceError::Run(_))));
}

#[test]
fn a_window_only_model_still_serves_and_one_needing_an_input_the_phone_cannot_give_is_refused() {
    let mut old = PresenceModel::from_bytes(&window_only(None), "old.onnx").unwrap();
    assert_eq!(old.info().inputs, [INPUT_NAME]);
    assert!(!old.info().takes_user_load());
    let w = loaded_window();
    assert_eq!(old.predict(&w).unwrap().probabilities, old.predict_with(&w, &[1.0, 1.0]).unwrap().probabilities);

    let e = PresenceModel::from_bytes(&window_only(Some("heart_rate")), "future.onnx").err().unwrap();
    match &e {
        InferenceError::Contract { what, found, expected, .. } => {
            assert_eq!((*what, found.as_str()), ("model input", "'heart_rate'"));
            assert!(expected.contains(INPUT_NAME) && expected.contains(USER_LOAD_NAME), "{expected}");
        }
        other => panic!("expected a contract error, got {other:?}"),
    }
    assert!(e.to_string().contains("heart_rate"), "{e}");
}

fn frames(name: &str, offset: f64) -> Vec<Frame> {
    let rec = Recording::read(format!("{REAL}/{name}")).unwrap();
    rec.frames().into_iter().map(|f| Frame { t: f.t + offset, pressures: f.pressures }).collect()
}

/// Replays `frames` through `monitor`, asking for a personal calibration at session time `at`;
/// returns the calibration outcomes.
fn replay(
    monitor: &mut Monitor,
    frames: &[Frame],
    at: &[f64],
) -> Vec<Result<PersonalCalibration, PersonalCalibrationError>> {
    let (mut events, mut outcomes, mut pending) = (Vec::new(), Vec::new(), at.to_vec());
    for f in frames {
        if pending.first().is_some_and(|t| f.t >= *t) {
            pending.remove(0);
            monitor.calibrate_user(PERSONAL_CALIBRATION_S);
        }
        monitor.process(f, &mut events).unwrap();
        for e in events.drain(..) {
            if let MonitorEvent::PersonalCalibration(r) = e {
                outcomes.push(r);
            }
        }
    }
    outcomes
}

#[test]
fn a_user_lying_on_the_real_mat_is_measured_and_an_empty_mat_or_no_baseline_is_refused() {
    let empty = frames("empty_or_cat_on_mat.csv", 0.0);
    let end = empty.last().unwrap().t + 0.15;
    let human = frames("human_on_mat.csv", end);
    let mut all = empty.clone();
    all.extend(human.iter().copied());

    // What the mat says: the person's summed rise over the empty mat's last seconds.
    let tail = &empty[empty.len() - 40..];
    let base: Vec<f64> = (0..4).map(|i| tail.iter().map(|f| f.pressures[i] as f64).sum::<f64>() / 40.0).collect();
    let lying: Vec<&Frame> = human.iter().filter(|f| f.t >= end + 5.0 && f.t < end + 15.5).collect();
    let expected = lying.iter().map(|f| (0..4).map(|i| f.pressures[i] as f64 - base[i]).sum::<f64>()).sum::<f64>()
        / lying.len() as f64;

    let model = PresenceModel::from_bytes(&exported(), "exported.onnx").unwrap();
    let mut monitor = Monitor::new(model, MonitorConfig::default());
    // t = 0: no baseline yet; t = 30 s: the empty mat; 5 s after the person lay down: measured.
    let outcomes = replay(&mut monitor, &all, &[0.0, 30.0, end + 5.0]);
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    assert_eq!(outcomes[0], Err(PersonalCalibrationError::NoBaseline));
    assert!(
        matches!(outcomes[1], Err(PersonalCalibrationError::NobodyOnMat { load_pa }) if load_pa.abs() < 50.0),
        "{:?}",
        outcomes[1]
    );
    let c = outcomes[2].clone().expect("a person lying still is measured");
    assert!(
        (c.reference_load_pa as f64 - expected).abs() < 0.05 * expected,
        "measured {} Pa, the mat says {expected:.0} Pa",
        c.reference_load_pa
    );
    assert_eq!(monitor.personal_calibration(), Some(c), "in use from then on");

    // Stored per mat and user, read back by the next session.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mats/AA-BB/default-user.json");
    c.save(&path).unwrap();
    assert_eq!(PersonalCalibration::load(&path).unwrap(), c);
}
