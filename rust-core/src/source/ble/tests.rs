//! The session against a fake mat, and the pure parts (backoff, names, errors).

use super::session::Backoff;
use super::*;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

/// Pressure of the fake mat's n-th answer (all four bladders), so frames can be told apart.
fn pressure(n: u64) -> f32 {
    98_000.0 + n as f32
}

/// What the fake mat was told to do and what it saw.
#[derive(Default)]
struct FakeState {
    /// Outcome of each connect, in order; once empty, connects succeed.
    connect_plan: VecDeque<Result<(), BleError>>,
    /// Per successful connection: drop the link after this many notifications (none: never).
    drop_after: VecDeque<usize>,
    /// The n-th notification overall (0-based) is garbage instead of a frame.
    garbage_at: Option<u64>,
    /// Ignore polls once this many notifications were sent overall (0: a mat that stays connected
    /// but never answers).
    mute_after: Option<u64>,
    connects: u32,
    connections: u32,
    /// Every write: (connection number, bytes, when).
    writes: Vec<(u32, Vec<u8>, Instant)>,
    notifications: u64,
    disconnects: u32,
    shutdowns: u32,
}

/// A simulated mat: answers each poll after the start command with one notification.
#[derive(Clone, Default)]
struct FakeMat(Arc<Mutex<FakeState>>);

impl FakeMat {
    fn state(&self) -> MutexGuard<'_, FakeState> {
        self.0.lock().expect("fake mat state")
    }
    fn with(self, f: impl FnOnce(&mut FakeState)) -> Self {
        f(&mut self.state());
        self
    }
    /// Writes grouped by connection, in order.
    fn writes_per_connection(&self) -> Vec<Vec<Vec<u8>>> {
        let state = self.state();
        let mut out = vec![Vec::new(); state.connections as usize];
        for (conn, bytes, _) in &state.writes {
            out[*conn as usize - 1].push(bytes.clone());
        }
        out
    }
}

struct FakeLink {
    mat: FakeMat,
    connection: u32,
    drop_after: Option<usize>,
    sent: usize,
    started: bool,
    pending: VecDeque<Vec<u8>>,
}

impl FakeLink {
    fn dropped(&self) -> bool {
        self.drop_after.is_some_and(|n| self.sent >= n)
    }
}

impl MatTransport for FakeMat {
    type Link = FakeLink;

    async fn connect(&mut self, _name: Option<&str>, _scan_timeout: Duration) -> Result<FakeLink, BleError> {
        let mut state = self.state();
        state.connects += 1;
        if let Some(Err(error)) = state.connect_plan.pop_front() {
            return Err(error);
        }
        state.connections += 1;
        let drop_after = state.drop_after.pop_front();
        Ok(FakeLink {
            mat: self.clone(),
            connection: state.connections,
            drop_after,
            sent: 0,
            started: false,
            pending: VecDeque::new(),
        })
    }

    async fn shutdown(&mut self) {
        self.state().shutdowns += 1;
    }
}

impl MatLink for FakeLink {
    fn name(&self) -> String {
        "Seroton-1234".to_string()
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), BleError> {
        let mut state = self.mat.state();
        state.writes.push((self.connection, bytes.to_vec(), Instant::now()));
        if self.dropped() {
            return Err(BleError::WriteFailed { reason: "not connected".to_string() });
        }
        if bytes == START_COMMAND {
            self.started = true;
        } else if bytes == POLL_COMMAND
            && self.started
            && state.mute_after.is_none_or(|after| state.notifications < after)
        {
            let n = state.notifications;
            state.notifications += 1;
            self.sent += 1;
            let notification = if state.garbage_at == Some(n) {
                vec![0x01, 0x02]
            } else {
                Frame { t: 0.0, pressures: [pressure(n); 4] }.encode(1).to_vec()
            };
            self.pending.push_back(notification);
        }
        Ok(())
    }

    async fn recv(&mut self) -> Option<Vec<u8>> {
        if let Some(bytes) = self.pending.pop_front() {
            return Some(bytes);
        }
        if self.dropped() {
            return None;
        }
        std::future::pending().await
    }

    async fn disconnect(self) {
        self.mat.state().disconnects += 1;
    }
}

/// Short periods so every test finishes in well under a second.
fn fast_config() -> BleConfig {
    BleConfig {
        name: Some("Seroton".to_string()),
        scan_timeout: Duration::from_millis(50),
        poll_interval: Duration::from_millis(5),
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(40),
        silence_timeout: Duration::from_secs(2),
    }
}

/// Opens a source over `mat`; a watchdog cancels it after 4 s so a broken session fails the test
/// instead of hanging it.
fn open(mat: &FakeMat, config: BleConfig) -> (BleSource, CancelToken) {
    let cancel = CancelToken::new();
    let watchdog = cancel.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(4));
        watchdog.cancel();
    });
    let source = BleSource::with_transport(mat.clone(), config, cancel.clone()).expect("fake source opens");
    (source, cancel)
}

/// Events until `done` holds for the list so far (or the source ends).
fn events_until(source: &mut BleSource, done: impl Fn(&[SourceEvent]) -> bool) -> Vec<SourceEvent> {
    let mut events = Vec::new();
    while let Some(event) = source.next_event() {
        events.push(event);
        if done(&events) {
            return events;
        }
    }
    panic!("source ended before the expected events; got {events:?}");
}

fn frames(events: &[SourceEvent]) -> Vec<Frame> {
    events.iter().filter_map(|e| if let SourceEvent::Frame(f) = e { Some(*f) } else { None }).collect()
}

fn count(events: &[SourceEvent], pred: impl Fn(&SourceEvent) -> bool) -> usize {
    events.iter().filter(|e| pred(e)).count()
}

fn is_connected(e: &SourceEvent) -> bool {
    matches!(e, SourceEvent::Status(SourceStatus::Connected { .. }))
}

fn reconnects(events: &[SourceEvent]) -> Vec<(u32, Duration)> {
    events
        .iter()
        .filter_map(|e| match e {
            SourceEvent::Status(SourceStatus::Reconnecting { attempt, delay }) => Some((*attempt, *delay)),
            _ => None,
        })
        .collect()
}

/// Whether `delay` is the jittered form of `base_ms`.
fn jittered(delay: Duration, base_ms: u64) -> bool {
    let base = Duration::from_millis(base_ms);
    delay <= base && delay >= base.mul_f64(1.0 - BACKOFF_JITTER)
}

#[test]
fn notifications_become_frames_with_increasing_time_since_open() {
    let mat = FakeMat::default();
    let (mut source, _cancel) = open(&mat, fast_config());
    let events = events_until(&mut source, |e| frames(e).len() == 5);
    assert_eq!(events[0], SourceEvent::Status(SourceStatus::Scanning));
    assert_eq!(events[1], SourceEvent::Status(SourceStatus::Connected { name: "Seroton-1234".to_string() }));
    let frames = frames(&events);
    for (n, frame) in frames.iter().enumerate() {
        assert_eq!(frame.pressures, [pressure(n as u64); 4]);
    }
    assert!(frames[0].t > 0.0 && frames[0].t < 2.0, "t counts from open: {}", frames[0].t);
    assert!(frames.windows(2).all(|w| w[0].t < w[1].t), "t must increase: {frames:?}");
}

#[test]
fn start_command_is_written_once_per_connection_before_any_poll() {
    let mat = FakeMat::default().with(|s| s.drop_after = VecDeque::from([3]));
    let (mut source, _cancel) = open(&mat, fast_config());
    events_until(&mut source, |e| count(e, is_connected) == 2 && frames(e).len() >= 6);
    drop(source);
    let connections = mat.writes_per_connection();
    assert_eq!(connections.len(), 2);
    for writes in &connections {
        assert_eq!(writes[0], START_COMMAND);
        assert_eq!(writes.iter().filter(|w| **w == START_COMMAND).count(), 1);
        assert!(writes[1..].iter().all(|w| *w == POLL_COMMAND), "{writes:?}");
        assert!(writes.len() >= 4);
    }
}

#[test]
fn polls_follow_the_poll_interval_of_the_makers_script() {
    let mat = FakeMat::default();
    let (mut source, _cancel) = open(&mat, BleConfig { poll_interval: POLL_INTERVAL, ..fast_config() });
    events_until(&mut source, |e| frames(e).len() == 5);
    drop(source);
    let state = mat.state();
    let polls: Vec<Instant> =
        state.writes.iter().filter(|(_, bytes, _)| *bytes == POLL_COMMAND).map(|(_, _, at)| *at).collect();
    assert!(polls.len() >= 5);
    // Timers never fire early, so no gap may be shorter than the interval (less a timer tick);
    // no upper bound is asserted because a loaded machine may be late.
    for gap in polls.windows(2).map(|w| w[1] - w[0]) {
        assert!(gap >= POLL_INTERVAL - Duration::from_millis(5), "poll gap {gap:?}");
    }
}

#[test]
fn a_garbage_notification_is_skipped_and_the_stream_goes_on() {
    let mat = FakeMat::default().with(|s| s.garbage_at = Some(2));
    let (mut source, _cancel) = open(&mat, fast_config());
    let events = events_until(&mut source, |e| frames(e).len() == 4);
    let skipped: Vec<&SourceEvent> = events.iter().filter(|e| matches!(e, SourceEvent::Skipped(_))).collect();
    assert_eq!(skipped, [&SourceEvent::Skipped(SourceError::BadFrame(crate::frame::FrameError::TooShort { len: 2 }))]);
    let pressures: Vec<f32> = frames(&events).iter().map(|f| f.pressures[0]).collect();
    assert_eq!(pressures, [pressure(0), pressure(1), pressure(3), pressure(4)]);
    assert_eq!(count(&events, |e| matches!(e, SourceEvent::Status(SourceStatus::Disconnected { .. }))), 0);
}

#[test]
fn a_dropped_link_reconnects_with_doubling_capped_backoff_and_frames_resume() {
    let not_found = BleError::NotFound { name: Some("Seroton".to_string()), timeout: Duration::from_millis(50) };
    let mat = FakeMat::default().with(|s| {
        s.drop_after = VecDeque::from([2]);
        s.connect_plan = VecDeque::from([
            Ok(()),
            Err(not_found.clone()),
            Err(not_found.clone()),
            Err(not_found.clone()),
            Err(not_found.clone()),
        ]);
    });
    let (mut source, _cancel) = open(&mat, fast_config());
    let events = events_until(&mut source, |e| count(e, is_connected) == 2 && frames(e).len() == 4);

    let disconnected = events
        .iter()
        .position(|e| matches!(e, SourceEvent::Status(SourceStatus::Disconnected { .. })))
        .expect("a Disconnected status");
    assert_eq!(frames(&events[..disconnected]).len(), 2, "the first link delivered two frames");
    assert_eq!(count(&events, |e| *e == SourceEvent::Skipped(SourceError::Ble(not_found.clone()))), 4);

    let reconnects = reconnects(&events);
    let attempts: Vec<u32> = reconnects.iter().map(|(a, _)| *a).collect();
    assert_eq!(attempts, [1, 2, 3, 4, 5]);
    // 10 ms doubling, capped at 40 ms, each shortened by at most the jitter.
    for ((_, delay), base_ms) in reconnects.iter().zip([10, 20, 40, 40, 40]) {
        assert!(jittered(*delay, base_ms), "delay {delay:?} is not jittered {base_ms} ms");
    }
    assert!(reconnects[0].1 < reconnects[1].1 && reconnects[1].1 < reconnects[2].1);

    let second = events.iter().rposition(is_connected).expect("connected again");
    assert!(second > disconnected);
    let resumed = frames(&events[second..]);
    assert_eq!(resumed.len(), 2);
    assert!(resumed[0].t > frames(&events[..disconnected])[1].t);
    assert_eq!(mat.state().connects, 6);
}

#[test]
fn backoff_starts_over_after_a_connection_that_delivered_frames() {
    let mat = FakeMat::default().with(|s| s.drop_after = VecDeque::from([2, 2]));
    let (mut source, _cancel) = open(&mat, fast_config());
    let events = events_until(&mut source, |e| count(e, is_connected) == 3);
    let attempts: Vec<u32> = reconnects(&events).iter().map(|(a, _)| *a).collect();
    assert_eq!(attempts, [1, 1]);
}

#[test]
fn backoff_keeps_growing_over_connections_that_delivered_nothing() {
    let mat = FakeMat::default().with(|s| s.drop_after = VecDeque::from([0, 0, 0]));
    let (mut source, _cancel) = open(&mat, fast_config());
    let events = events_until(&mut source, |e| count(e, is_connected) == 4);
    let attempts: Vec<u32> = reconnects(&events).iter().map(|(a, _)| *a).collect();
    assert_eq!(attempts, [1, 2, 3]);
    assert_eq!(mat.state().disconnects, 3, "every dropped link is disconnected before reconnecting");
}

#[test]
fn a_mat_that_stops_answering_counts_as_disconnected() {
    let mat = FakeMat::default().with(|s| s.mute_after = Some(2));
    let config = BleConfig { silence_timeout: Duration::from_millis(50), ..fast_config() };
    let (mut source, _cancel) = open(&mat, config);
    let events = events_until(&mut source, |e| !reconnects(e).is_empty());
    assert_eq!(frames(&events).len(), 2);
    let silent = BleError::Silent { after: Duration::from_millis(50) };
    assert!(events.contains(&SourceEvent::Status(SourceStatus::Disconnected { reason: silent.to_string() })));
}

#[test]
fn a_mat_that_never_answers_the_poll_ends_the_source_with_a_typed_error() {
    let mat = FakeMat::default().with(|s| s.mute_after = Some(0));
    let config = BleConfig { silence_timeout: Duration::from_millis(50), ..fast_config() };
    let (mut source, _cancel) = open(&mat, config);
    let mut events = Vec::new();
    while let Some(event) = source.next_event() {
        events.push(event);
    }
    let unanswered: Vec<&SourceEvent> = events
        .iter()
        .filter(|e| matches!(e, SourceEvent::Status(SourceStatus::Disconnected { reason }) if reason.contains("answered none of")))
        .collect();
    assert_eq!(unanswered.len() as u32, MAX_UNANSWERED_CONNECTIONS - 1, "{events:?}");
    let never = BleError::NeverAnswered { device: "Seroton-1234".to_string(), connections: MAX_UNANSWERED_CONNECTIONS };
    assert_eq!(events.last(), Some(&SourceEvent::Skipped(SourceError::Ble(never.clone()))));
    assert!(never.is_fatal());
    assert!(never.to_string().contains("never answered") && never.to_string().contains("01 C0 01"), "{never}");
    assert_eq!(mat.state().connections, MAX_UNANSWERED_CONNECTIONS);
    assert!(frames(&events).is_empty());
}

#[test]
fn a_fatal_bluetooth_error_is_reported_and_ends_the_source() {
    let mat = FakeMat::default().with(|s| s.connect_plan = VecDeque::from([Err(BleError::NoAdapter)]));
    let (mut source, _cancel) = open(&mat, fast_config());
    assert_eq!(source.next_event(), Some(SourceEvent::Status(SourceStatus::Scanning)));
    assert_eq!(source.next_event(), Some(SourceEvent::Skipped(SourceError::Ble(BleError::NoAdapter))));
    assert_eq!(source.next_event(), None);
    assert_eq!(mat.state().connects, 1);
}

#[test]
fn cancel_stops_the_source_promptly_and_disconnects_the_mat() {
    let mat = FakeMat::default();
    let (mut source, cancel) = open(&mat, fast_config());
    events_until(&mut source, |e| frames(e).len() == 2);
    let cancelled_at = Instant::now();
    cancel.cancel();
    assert_eq!(source.next_event(), None);
    drop(source);
    assert!(cancelled_at.elapsed() < Duration::from_millis(200), "took {:?}", cancelled_at.elapsed());
    let state = mat.state();
    assert_eq!((state.disconnects, state.shutdowns), (1, 1));
}

#[test]
fn dropping_the_source_stops_its_session_but_not_the_callers_token() {
    let mat = FakeMat::default();
    let (mut source, cancel) = open(&mat, fast_config());
    events_until(&mut source, |e| !frames(e).is_empty());
    drop(source);
    assert!(!cancel.is_cancelled());
    let writes = mat.state().writes.len();
    std::thread::sleep(Duration::from_millis(30));
    let state = mat.state();
    assert_eq!(state.writes.len(), writes, "no polls after drop");
    assert_eq!((state.disconnects, state.shutdowns), (1, 1));
}

#[test]
fn a_source_cancelled_before_it_connects_ends_at_once() {
    let mat = FakeMat::default();
    let cancel = CancelToken::new();
    cancel.cancel();
    let mut source = BleSource::with_transport(mat.clone(), fast_config(), cancel).expect("opens");
    assert_eq!(source.next_event(), None);
    drop(source);
    assert_eq!(mat.state().connections, 0);
}

#[test]
fn backoff_doubles_from_initial_and_caps_at_max() {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    let delays: Vec<Duration> = (0..9).map(|_| backoff.next(0.0).1).collect();
    let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
    assert_eq!(ms, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    assert_eq!(backoff.next(1.0), (10, Duration::from_millis(22_500)));
    assert_eq!(backoff.next(f64::NAN).1, Duration::from_secs(30), "bad jitter input is ignored");
    backoff.reset();
    assert_eq!(backoff.next(0.0), (1, Duration::from_millis(500)));
}

#[test]
fn backoff_survives_absurd_configuration() {
    let mut zero = Backoff::new(Duration::ZERO, Duration::ZERO);
    assert_eq!(zero.next(0.0).1, Duration::from_millis(1), "never a busy loop");
    let mut huge = Backoff::new(Duration::MAX, Duration::MAX);
    for _ in 0..100 {
        assert!(huge.next(0.0).1 <= BACKOFF_CEILING);
    }
}

#[test]
fn names_match_case_insensitively_by_part_or_by_device_id() {
    assert!(name_matches("seroton", Some("SEROTON-Mat 12"), "AA:BB"));
    assert!(name_matches("Mat 1", Some("SEROTON-Mat 12"), "AA:BB"));
    assert!(!name_matches("Seroton", Some("Headphones"), "AA:BB"));
    assert!(!name_matches("Seroton", None, "AA:BB"));
    assert!(name_matches("aa:bb:cc:dd:ee:ff", None, "AA:BB:CC:DD:EE:FF"));
    assert!(name_matches("  ", None, "AA:BB"), "a blank filter matches all");
}

#[test]
fn config_defaults_are_the_makers_session_and_blank_names_mean_any() {
    let config = BleConfig::new(Some("Seroton".to_string()));
    assert_eq!(config.poll_interval, Duration::from_millis(100));
    assert_eq!((config.backoff_initial, config.backoff_max), (Duration::from_millis(500), Duration::from_secs(30)));
    assert_eq!(BleConfig::new(Some(" ".to_string())).name, None);
}

#[test]
fn gatt_constants_are_the_mats() {
    assert_eq!(WRITE_CHARACTERISTIC.to_string(), "6e400002-c352-11e5-953d-0002a5d5c51b");
    assert_eq!(NOTIFY_CHARACTERISTIC.to_string(), "6e400003-c352-11e5-953d-0002a5d5c51b");
    assert_eq!(MAT_SERVICE.to_string(), "6e400001-c352-11e5-953d-0002a5d5c51b");
}

#[test]
fn describes_the_name_filter() {
    let mat = FakeMat::default();
    let (source, _cancel) = open(&mat, fast_config());
    assert_eq!(source.describe(), "BLE mat \"Seroton\"");
    let (source, _cancel) = open(&mat, BleConfig { name: None, ..fast_config() });
    assert_eq!(source.describe(), "BLE mat (first found)");
}

#[test]
fn errors_name_the_filter_and_the_missing_characteristic() {
    let named = BleError::NotFound { name: Some("Seroton".to_string()), timeout: Duration::from_secs(10) };
    assert_eq!(named.to_string(), "mat \"Seroton\" not found within 10.0 s");
    let any = BleError::NotFound { name: None, timeout: Duration::from_secs(10) };
    assert!(any.to_string().contains("HapticMat characteristics"), "{any}");
    let missing = BleError::CharacteristicMissing { device: "Speaker".to_string(), uuid: NOTIFY_CHARACTERISTIC };
    assert!(missing.to_string().contains("6e400003-c352-11e5-953d-0002a5d5c51b"), "{missing}");
    assert!(BleError::NoAdapter.is_fatal() && !named.is_fatal());
}

#[test]
fn ble_source_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<BleSource>();
    assert_send::<BtleplugTransport>();
    assert_send::<BtleplugLink>();
}
