//! The session over any [`MatTransport`]: connect, start, poll, decode, notice a dropped or silent
//! link, reconnect with backoff, give up on a mat that never answers.

use super::*;

/// The session's stop condition: the caller's token, or the source's own flag set by `Drop` (dropping
/// a source must not cancel everything else that shares the caller's token).
#[derive(Debug, Clone)]
pub(super) struct Stop {
    pub(super) caller: CancelToken,
    pub(super) own: CancelToken,
}

impl Stop {
    fn is_set(&self) -> bool {
        self.caller.is_cancelled() || self.own.is_cancelled()
    }

    /// Completes soon after the stop flag is set. `CancelToken` is a plain flag, so this polls it.
    async fn wait(&self) {
        while !self.is_set() {
            tokio::time::sleep(CANCEL_CHECK).await;
        }
    }
}

/// Exponential reconnect delays: `initial` doubling per attempt up to `max`, shortened by jitter.
#[derive(Debug, Clone)]
pub(super) struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub(super) fn new(initial: Duration, max: Duration) -> Self {
        // A zero delay would turn a missing mat into a busy loop.
        let initial = initial.clamp(Duration::from_millis(1), BACKOFF_CEILING);
        Backoff { initial, max: max.clamp(initial, BACKOFF_CEILING), attempt: 0 }
    }

    /// The un-jittered delay before attempt `attempt` (1-based).
    pub(super) fn base(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.initial.saturating_mul(1u32 << doublings).min(self.max)
    }

    /// The next attempt number and its delay; `unit` in `0..1` picks the jitter.
    pub(super) fn next(&mut self, unit: f64) -> (u32, Duration) {
        self.attempt = self.attempt.saturating_add(1);
        let unit = if unit.is_finite() { unit.clamp(0.0, 1.0) } else { 0.0 };
        (self.attempt, self.base(self.attempt).mul_f64(1.0 - BACKOFF_JITTER * unit))
    }

    /// After a connection that delivered frames the mat is known to work: start over from `initial`.
    pub(super) fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// How one connection ended.
pub(super) enum LinkEnd {
    /// Cancelled, or nobody listens any more: the session ends.
    Stop,
    /// The link dropped or a write failed after `frames` good frames and `notifications` notifications
    /// of any kind (a mat that sent only garbage did answer).
    Lost { frames: u64, notifications: u64, error: BleError },
}

/// Sends an event; false once the receiving `BleSource` is gone.
pub(super) fn emit(tx: &mpsc::Sender<SourceEvent>, event: SourceEvent) -> bool {
    tx.send(event).is_ok()
}

/// The whole life of a BLE source: connect, stream, reconnect with backoff, until stopped or fatal.
pub(super) async fn run_session<T: MatTransport>(
    mut transport: T,
    config: BleConfig,
    stop: Stop,
    opened: Instant,
    tx: mpsc::Sender<SourceEvent>,
) {
    session_loop(&mut transport, &config, &stop, opened, &tx).await;
    if tokio::time::timeout(DISCONNECT_TIMEOUT, transport.shutdown()).await.is_err() {
        log::warn!("BLE: releasing the radio timed out");
    }
}

pub(super) async fn session_loop<T: MatTransport>(
    transport: &mut T,
    config: &BleConfig,
    stop: &Stop,
    opened: Instant,
    tx: &mpsc::Sender<SourceEvent>,
) {
    let mut backoff = Backoff::new(config.backoff_initial, config.backoff_max);
    // Connections in a row whose mat never answered a poll.
    let mut unanswered = 0u32;
    loop {
        if stop.is_set() || !emit(tx, SourceEvent::Status(SourceStatus::Scanning)) {
            return;
        }
        let connected = tokio::select! {
            biased;
            () = stop.wait() => return,
            result = transport.connect(config.name.as_deref(), config.scan_timeout) => result,
        };
        match connected {
            Err(error) => {
                log::warn!("BLE: {error}");
                let fatal = error.is_fatal();
                if !emit(tx, SourceEvent::Skipped(SourceError::Ble(error))) || fatal {
                    return;
                }
            }
            Ok(mut link) => {
                let name = link.name();
                log::info!("BLE: connected to {name}");
                let end = if emit(tx, SourceEvent::Status(SourceStatus::Connected { name })) {
                    stream_frames(&mut link, config, stop, opened, tx).await
                } else {
                    LinkEnd::Stop
                };
                if tokio::time::timeout(DISCONNECT_TIMEOUT, link.disconnect()).await.is_err() {
                    log::warn!("BLE: disconnect timed out");
                }
                match end {
                    LinkEnd::Stop => return,
                    LinkEnd::Lost { frames, notifications, error } => {
                        log::warn!("BLE: link lost after {frames} frames: {error}");
                        if frames > 0 {
                            backoff.reset();
                        }
                        if let BleError::Unanswered { device, .. } = &error {
                            unanswered += 1;
                            if unanswered >= MAX_UNANSWERED_CONNECTIONS {
                                let device = device.clone();
                                let fatal = BleError::NeverAnswered { device, connections: unanswered };
                                log::error!("BLE: {fatal}");
                                emit(tx, SourceEvent::Skipped(SourceError::Ble(fatal)));
                                return;
                            }
                        } else if notifications > 0 {
                            unanswered = 0;
                        }
                        let reason = error.to_string();
                        if stop.is_set() || !emit(tx, SourceEvent::Status(SourceStatus::Disconnected { reason })) {
                            return;
                        }
                    }
                }
            }
        }
        let (attempt, delay) = backoff.next(rand::random::<f64>());
        if stop.is_set() || !emit(tx, SourceEvent::Status(SourceStatus::Reconnecting { attempt, delay })) {
            return;
        }
        tokio::select! {
            biased;
            () = stop.wait() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// One connection: start command once, then poll and decode notifications until the link ends.
pub(super) async fn stream_frames<L: MatLink>(
    link: &mut L,
    config: &BleConfig,
    stop: &Stop,
    opened: Instant,
    tx: &mpsc::Sender<SourceEvent>,
) -> LinkEnd {
    let mut frames = 0u64;
    let mut notifications = 0u64;
    let mut polls = 0u64;
    let connected_at = Instant::now();
    match write_unless_stopped(link, &START_COMMAND, stop).await {
        None => return LinkEnd::Stop,
        Some(Err(error)) => return LinkEnd::Lost { frames, notifications, error },
        Some(Ok(())) => {}
    }
    // tokio's interval panics on a zero period.
    let mut poll = tokio::time::interval(config.poll_interval.max(Duration::from_millis(1)));
    // After a slow write, keep the period between polls rather than bursting to catch up.
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            biased;
            () = stop.wait() => return LinkEnd::Stop,
            notification = link.recv() => {
                let Some(bytes) = notification else {
                    return LinkEnd::Lost { frames, notifications, error: BleError::NotificationsEnded };
                };
                notifications += 1;
                last_heard = Instant::now();
                let t = opened.elapsed().as_secs_f64();
                let event = match Frame::decode(&bytes, t) {
                    Ok(frame) => {
                        frames += 1;
                        SourceEvent::Frame(frame)
                    }
                    Err(error) => {
                        log::debug!("BLE: skipped a notification of {} bytes: {error}", bytes.len());
                        SourceEvent::Skipped(SourceError::BadFrame(error))
                    }
                };
                if !emit(tx, event) {
                    return LinkEnd::Stop;
                }
            }
            _ = poll.tick() => {
                if last_heard.elapsed() > config.silence_timeout {
                    let error = if notifications == 0 {
                        BleError::Unanswered { device: link.name(), polls, after: connected_at.elapsed() }
                    } else {
                        BleError::Silent { after: config.silence_timeout }
                    };
                    return LinkEnd::Lost { frames, notifications, error };
                }
                match write_unless_stopped(link, &POLL_COMMAND, stop).await {
                    None => return LinkEnd::Stop,
                    Some(Err(error)) => return LinkEnd::Lost { frames, notifications, error },
                    Some(Ok(())) => polls += 1,
                }
            }
        }
    }
}

/// A write that gives way to a stop; `None` when stopped.
pub(super) async fn write_unless_stopped<L: MatLink>(
    link: &mut L,
    bytes: &[u8],
    stop: &Stop,
) -> Option<Result<(), BleError>> {
    tokio::select! {
        biased;
        () = stop.wait() => None,
        result = link.write(bytes) => Some(result),
    }
}
