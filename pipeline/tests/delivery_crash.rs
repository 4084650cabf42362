//! Crash consistency of the model cache: `pipeline fetch-model` (the phone's updater) is killed with
//! SIGKILL at random moments while it downloads, verifies and installs a new model; after every kill the
//! next start must clean the leftovers and serve a complete model, the old one or the new one, never a
//! partial one. A kill that lands in the new model's self-test (its trial marker is on disk) has the next
//! start refuse that model and serve the old one (issue 12 item 10).

mod support;

use hapticmat_core::delivery::cache::{CURRENT, FLOOR, LOCK, TRIAL_SELF_TEST};
use hapticmat_core::delivery::{Manifest, UpdateStatus};
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::fault_server::{Behaviour, FaultServer};
use support::{Store, fixture, updater};

const TRIALS: usize = 120;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().unwrap().is_dir() {
            names.extend(files_in(&e.path()).into_iter().map(|n| format!("{name}/{n}")));
        } else {
            names.push(name);
        }
    }
    names
}

#[test]
fn a_killed_update_leaves_the_old_or_the_new_model_never_a_partial_one() {
    let fx = fixture();
    let store = Store::new();
    let a: Manifest = store.publish(&fx.a, 1);
    let server = FaultServer::start(store.root());
    let template = tempfile::tempdir().unwrap();
    assert!(matches!(updater(&server.url(), template.path()).check_now(), Ok(UpdateStatus::Updated { .. })));
    let b = store.publish(&fx.b, 2);
    // Dripping the model (~0.1 s) spreads the kills over download, verification and install alike.
    server.set_rule(|r| {
        if r.path.starts_with("models/") {
            Behaviour::Drip { chunk: 2048, every: Duration::from_millis(5) }
        } else {
            Behaviour::Serve
        }
    });
    let fetch = |cache: &Path| {
        Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .args(["fetch-model", "--json", "--base-url", &server.url()])
            .arg("--cache-dir")
            .arg(cache)
            .arg("--public-key")
            .arg(&fx.public)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pipeline starts")
    };
    // How long an uninterrupted update takes: the kills land anywhere in [0, 1.2 × that].
    let full = {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(template.path(), dir.path());
        let start = Instant::now();
        assert!(fetch(dir.path()).wait().unwrap().success());
        start.elapsed()
    };

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let (mut old, mut new, mut with_leftovers, mut mid_self_test) = (0, 0, 0, 0);
    let root = tempfile::tempdir().unwrap();
    for trial in 0..TRIALS {
        let cache = root.path().join(trial.to_string());
        copy_dir(template.path(), &cache);
        let mut child = fetch(&cache);
        std::thread::sleep(full.mul_f64(rng.random_range(0.0..1.2)));
        let _ = child.kill(); // SIGKILL on Unix: no destructor runs, like a phone killing the app
        let _ = child.wait();

        let before = files_in(&cache);
        let in_self_test = cache.join(TRIAL_SELF_TEST).exists();
        let u = updater(&server.url(), &cache);
        if in_self_test {
            // Killed during B's self-test: as if B had crashed the app. A serves, B is refused for good.
            mid_self_test += 1;
            assert_eq!(u.current().map(|m| m.sha256), Some(a.sha256.clone()), "trial {trial}");
            let r = u.check_now();
            assert!(r.as_ref().is_err_and(|e| e.to_string().contains("never finished")), "trial {trial}: {r:?}");
        }
        let serving = u.current().expect("a model serves after every crash");
        let expected = if serving.sha256 == a.sha256 { &a } else { &b };
        assert_eq!((serving.sequence, &serving.sha256), (expected.sequence, &expected.sha256), "trial {trial}");
        assert_eq!(support::sha256_file(&serving.path), serving.sha256, "trial {trial}: bytes are complete");
        u.load_current().unwrap_or_else(|e| panic!("trial {trial}: serving model does not load: {e}"));
        let after = files_in(&cache);
        let allowed = [u.current(), u.known_good()].into_iter().flatten().map(|m| format!("models/{}.onnx", m.sha256));
        let mut allowed: Vec<String> =
            allowed.chain([CURRENT.to_string(), FLOOR.to_string(), LOCK.to_string()]).collect();
        allowed.sort();
        let mut after_sorted = after.clone();
        after_sorted.sort();
        assert_eq!(after_sorted, allowed, "trial {trial}: leftovers cleaned on start (before: {before:?})");
        if before.len() > after.len() {
            with_leftovers += 1;
        }
        if serving.sequence == b.sequence {
            new += 1
        } else {
            old += 1
        }
        std::fs::remove_dir_all(&cache).unwrap();
    }
    eprintln!(
        "{TRIALS} kills over {:.0} ms runs: {old} kept the old model, {new} had installed the new one, \
         {with_leftovers} left files that the next start removed, {mid_self_test} landed in B's self-test",
        full.as_secs_f64() * 1e3
    );
    assert!(old > 0 && new > 0, "kills landed on both sides of the switch: old {old}, new {new}");
    assert!(with_leftovers > 0, "some kills interrupted a download");
}
