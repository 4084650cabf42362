//! End to end over Bluetooth without a radio: `pipeline record` and `monitor` with `--source ble:…` go
//! through btleplug's real Linux backend (bluez-async, libdbus) to an emulated BlueZ and mat on a private
//! D-Bus system bus (scripts/mat-emulator.sh). Each test starts its own emulator in a temporary folder,
//! so faults do not leak between tests running in parallel.
//!
//! The emulator must be installed (`scripts/mat-emulator.sh install`, done by scripts/test.sh); without
//! it these tests skip, or fail when HM_REQUIRE_SERVICES=1 (the test command).

mod support;

use hapticmat_core::recording::Recording;
use hapticmat_core::simulator::SimConfig;
use hapticmat_core::source::sim::SimSource;
use hapticmat_core::source::{CancelToken, Pace};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const MAT: &str = "ble:Seroton-EMU";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn script() -> PathBuf {
    root().join("scripts/mat-emulator.sh")
}

/// One emulated BlueZ + mat, stopped (its process groups signalled by the script) when dropped.
struct Emulator {
    dir: tempfile::TempDir,
    address: String,
}

impl Emulator {
    /// Starts an emulator streaming `replay` with `fault`; `None` (test skipped) when it is not installed
    /// and the services are not required.
    fn start(replay: &Path, fault: &str) -> Option<Emulator> {
        let dir = tempfile::tempdir().expect("tempdir");
        let run = |arg: &str| {
            Command::new(script())
                .arg(arg)
                .env("HM_EMU_DIR", dir.path())
                .env("HM_EMU_NO_INSTALL", "1")
                .env("HM_EMU_REPLAY", replay)
                .env("HM_EMU_FAULT", fault)
                .output()
                .expect("scripts/mat-emulator.sh runs")
        };
        let started = run("start");
        if !started.status.success() {
            let err = String::from_utf8_lossy(&started.stderr);
            let missing = err.contains("not installed");
            if missing && std::env::var("HM_REQUIRE_SERVICES").as_deref() != Ok("1") {
                eprintln!("skipped: the mat emulator is not installed (scripts/mat-emulator.sh install)");
                return None;
            }
            // Leave nothing running from a half start.
            let _ = run("stop");
            panic!("the mat emulator did not start:\n{err}");
        }
        let env = String::from_utf8_lossy(&run("env").stdout).into_owned();
        let address = env
            .trim()
            .strip_prefix("export DBUS_SYSTEM_BUS_ADDRESS=")
            .unwrap_or_else(|| panic!("unexpected env output {env:?}"))
            .to_string();
        Some(Emulator { dir, address })
    }

    /// The `pipeline` binary, talking to this emulator's bus.
    fn pipeline(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pipeline"));
        cmd.env("DBUS_SYSTEM_BUS_ADDRESS", &self.address);
        cmd
    }

    /// What the emulated mat saw: connections with the hex of every write, notifications sent.
    fn stats(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.dir.path().join("stats.json")).expect("stats.json");
        serde_json::from_str(&text).expect("stats are JSON")
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let out = Command::new(script()).arg("stop").env("HM_EMU_DIR", self.dir.path()).output();
        if let Ok(out) = out
            && !out.status.success()
        {
            eprintln!("stopping the emulator: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

/// A makers' CSV of a simulated session (empty mat, then people come and go), written once per test
/// binary: the emulated mat streams it.
fn replay_file() -> &'static Path {
    static FILE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &FILE
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("session.csv");
            let cancel = CancelToken::new();
            let mut sim = SimSource::new(SimConfig::default(), 11, Pace::Max, cancel.clone());
            let start = chrono::NaiveDate::from_ymd_opt(2025, 11, 22).unwrap().and_hms_milli_opt(15, 12, 42, 47);
            pipeline::live::record(&mut sim, &cancel, 120.0, None, &path, start, |_| {}).expect("simulated CSV");
            (dir, path)
        })
        .1
}

fn replay_rows() -> Vec<[f32; 4]> {
    Recording::read(replay_file()).expect("replay CSV").rows.iter().map(|r| r.pressures).collect()
}

fn output_of(cmd: &mut Command) -> (Output, Duration) {
    let started = Instant::now();
    let out = cmd.output().expect("pipeline runs");
    (out, started.elapsed())
}

fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "failed:\n{}\n{err}", String::from_utf8_lossy(&out.stdout));
    err
}

/// Index in the replay where `rows` start, after checking they are a contiguous (looping) run of it,
/// float32 for float32.
fn contiguous_run(rows: &[[f32; 4]], replay: &[[f32; 4]]) -> usize {
    assert!(!rows.is_empty());
    let starts: Vec<usize> = (0..replay.len()).filter(|&k| bits(&replay[k]) == bits(&rows[0])).collect();

    starts
        .into_iter()
        .find(|&k| rows.iter().enumerate().all(|(i, r)| bits(r) == bits(&replay[(k + i) % replay.len()])))
        .unwrap_or_else(|| panic!("the recorded rows are not a contiguous run of the replay: first {:?}", rows[0]))
}

fn bits(p: &[f32; 4]) -> [u32; 4] {
    p.map(f32::to_bits)
}

fn record(emu: &Emulator, seconds: &str, out: &Path) -> (Output, Duration) {
    output_of(emu.pipeline().args(["record", "--source", MAT, "--seconds", seconds, "--out"]).arg(out))
}

/// The writes of each connection, as hex.
fn writes(stats: &serde_json::Value) -> Vec<Vec<String>> {
    stats["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .map(|c| c["writes"].as_array().unwrap().iter().map(|w| w.as_str().unwrap().to_string()).collect())
        .collect()
}

fn assert_start_then_polls(connection: &[String]) {
    assert_eq!(connection.first().map(String::as_str), Some("01d001"), "start command first: {connection:?}");
    assert!(connection[1..].iter().all(|w| w == "01c001"), "then only polls: {connection:?}");
    assert!(connection.len() > 3, "polled: {connection:?}");
}

#[test]
fn record_over_ble_writes_a_contiguous_run_of_the_replayed_rows_in_the_makers_format() {
    let Some(emu) = Emulator::start(replay_file(), "") else { return };
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("ble.csv");
    let (out, took) = record(&emu, "6", &csv);
    let err = ok(&out);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().next(), Some("Timestamp,Float1,Float2,Float3,Float4"));
    let recorded = Recording::read(&csv).unwrap();
    assert!(recorded.skipped.is_empty(), "{:?}", recorded.skipped);
    let rows: Vec<[f32; 4]> = recorded.rows.iter().map(|r| r.pressures).collect();
    // ~6.7 rows per second; connecting takes part of the 6 s.
    assert!(rows.len() >= 20, "{} rows in 6 s\n{err}", rows.len());
    let start = contiguous_run(&rows, &replay_rows());
    assert_eq!(start, 0, "a fresh mat streams from its first row");
    assert!(err.contains("Connected { name: \"Seroton-EMU\" }"), "{err}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let stats = emu.stats();
    let connections = writes(&stats);
    assert_eq!(connections.len(), 1, "{stats}");
    assert_start_then_polls(&connections[0]);
    assert_eq!(stats["connections"][0]["end"], "host disconnected", "record releases the link: {stats}");
}

#[test]
fn monitor_over_ble_gives_the_states_the_replay_of_the_same_file_gives() {
    let Some(emu) = Emulator::start(replay_file(), "") else { return };
    let model = &support::fixture().a;
    let (out, _) =
        output_of(emu.pipeline().args(["monitor", "--json", "--seconds", "40", "--source", MAT, "--model"]).arg(model));
    let err = ok(&out);
    let ble: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert!(ble.len() > 150, "{} states in 40 s\n{err}", ble.len());

    let replay = format!("replay:{}", replay_file().display());
    let (out, _) = output_of(
        Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .args(["monitor", "--json", "--source", &replay, "--model"])
            .arg(model),
    );
    ok(&out);
    let replayed: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    // The BLE session streamed the file from its first row, so frame i of both is the same row; the
    // states may differ only where the session clocks do (BLE time includes scanning and connecting).
    let states = |lines: &[serde_json::Value]| -> Vec<String> {
        lines.iter().map(|l| l["state"].as_str().unwrap().to_string()).collect()
    };
    let (ble, replayed) = (states(&ble), states(&replayed[..ble.len()]));
    let same = ble.iter().zip(&replayed).filter(|(a, b)| a == b).count();
    assert!(
        same as f64 >= 0.95 * ble.len() as f64,
        "{same} of {} states agree:\nble {ble:?}\nreplay {replayed:?}",
        ble.len()
    );
    assert!(ble.iter().any(|s| s != "unknown"), "the model decided something: {ble:?}");
}

#[test]
fn a_dropped_link_is_noticed_reconnected_with_backoff_and_counted() {
    let Some(emu) = Emulator::start(replay_file(), "disconnect-after=12") else { return };
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("ble.csv");
    let (out, _) = record(&emu, "8", &csv);
    let err = ok(&out);
    assert!(err.contains("source: Disconnected"), "{err}");
    assert!(err.contains("source: Reconnecting { attempt: 1"), "{err}");
    assert!(err.contains("link dropped 1 times"), "{err}");
    let recorded = Recording::read(&csv).unwrap();
    let rows: Vec<[f32; 4]> = recorded.rows.iter().map(|r| r.pressures).collect();
    assert!(rows.len() > 14, "frames resumed after the reconnect: {} rows\n{err}", rows.len());
    // The gap where the link was down holds the backoff (at least 0.5 s less jitter) and the reconnect.
    let (at, gap) = recorded
        .rows
        .windows(2)
        .map(|w| (w[1].timestamp - w[0].timestamp).num_milliseconds())
        .enumerate()
        .max_by_key(|(_, g)| *g)
        .unwrap();
    assert!(gap >= 375, "largest gap {gap} ms");
    // The mat keeps its place while the link is down: each connection's rows are a contiguous run, and
    // the second goes on where the first stopped. A notification in flight when the link drops may be
    // lost (as over a real radio), never duplicated or reordered.
    let replay = replay_rows();
    let (before, after) = rows.split_at(at + 1);
    let first = contiguous_run(before, &replay);
    let second = contiguous_run(after, &replay);
    let lost = second as i64 - (first + before.len()) as i64;
    assert!((0..=2).contains(&lost), "{lost} rows between the connections (first at {first}, second at {second})");
    let stats = emu.stats();
    let connections = writes(&stats);
    assert_eq!(connections.len(), 2, "{stats}");
    connections.iter().for_each(|c| assert_start_then_polls(c));
    assert_eq!(stats["connections"][0]["notifications"], 12);
}

#[test]
fn malformed_notifications_are_skipped_counted_and_never_fatal() {
    let Some(emu) = Emulator::start(replay_file(), "malformed-every=5") else { return };
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("ble.csv");
    let (out, _) = record(&emu, "6", &csv);
    let err = ok(&out);
    let recorded = Recording::read(&csv).unwrap();
    let rows: Vec<[f32; 4]> = recorded.rows.iter().map(|r| r.pressures).collect();
    contiguous_run(&rows, &replay_rows());
    let short = err.matches("skipped: bad frame: ").count();
    assert!(short >= 3, "{err}");
    assert!(err.contains("frame too short: 5 bytes"), "{err}");
    assert!(err.contains("pressure is not finite (NaN)"), "{err}");
    assert!(err.contains(&format!("({short} bad frames skipped, link dropped 0 times)")), "{err}");
    assert_eq!(writes(&emu.stats()).len(), 1, "no reconnect for bad data");
}

#[test]
fn a_mat_that_never_answers_the_poll_fails_with_a_clear_error_in_bounded_time() {
    let Some(emu) = Emulator::start(replay_file(), "mute") else { return };
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("ble.csv");
    let (out, took) = record(&emu, "120", &csv);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("Seroton-EMU accepts the poll command (01 C0 01) but never answered it in 2 connections"),
        "{err}"
    );
    assert!(took < Duration::from_secs(25), "took {took:?}");
    assert!(!csv.exists(), "no recording is left behind");
    let connections = writes(&emu.stats());
    assert_eq!(connections.len(), 2);
    connections.iter().for_each(|c| assert_start_then_polls(c));
}

#[test]
fn a_stalled_mat_counts_as_dropped_after_the_silence_timeout_and_streams_again_after_reconnecting() {
    let Some(emu) = Emulator::start(replay_file(), "stall-after=10:7") else { return };
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("ble.csv");
    let (out, _) = record(&emu, "12", &csv);
    let err = ok(&out);
    assert!(err.contains("the mat sent nothing for 5.0 s although polled"), "{err}");
    assert!(err.contains("link dropped 1 times"), "{err}");
    let rows: Vec<[f32; 4]> = Recording::read(&csv).unwrap().rows.iter().map(|r| r.pressures).collect();
    assert!(rows.len() > 12, "frames after the reconnect: {} rows\n{err}", rows.len());
    contiguous_run(&rows, &replay_rows());
    let stats = emu.stats();
    assert_eq!(writes(&stats).len(), 2, "{stats}");
    assert_eq!(stats["connections"][0]["notifications"], 10);
    assert_eq!(stats["connections"][0]["end"], "host disconnected", "the session dropped the silent link: {stats}");
}
