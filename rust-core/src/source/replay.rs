//! Replay of recordings: several files play as one continuous session, time running on across files.

use super::{CancelToken, FrameSource, Pace, SourceError, SourceEvent, SourceStatus};
use crate::frame::Frame;
use crate::recording::Recording;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Interval assumed between the last frame of one file and the first of the next when a file has a
/// single row: the mat's observed median (docs/design.md §2).
const DEFAULT_INTERVAL_S: f64 = 0.150;

/// Plays recordings in order. Bad rows come out as `Skipped` events where they were in the file.
pub struct ReplaySource {
    events: VecDeque<SourceEvent>,
    pace: Pace,
    cancel: CancelToken,
    started: Option<Instant>,
    segments: Vec<ReplaySegment>,
}

/// Where one file lies in the replayed session's time.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplaySegment {
    /// The file.
    pub path: PathBuf,
    /// Session time of its first frame, s.
    pub start: f64,
    /// Session time of its last frame, s.
    pub end: f64,
}

impl ReplaySource {
    /// Reads every file now (file I/O); an unreadable file or one that is not a recording is an error.
    pub fn open(files: &[PathBuf], pace: Pace, cancel: CancelToken) -> Result<Self, SourceError> {
        let mut events = VecDeque::new();
        let mut offset = 0.0f64;
        let mut segments = Vec::with_capacity(files.len());
        for (i, path) in files.iter().enumerate() {
            let rec = Recording::read(path)?;
            if i == 0 {
                events.push_back(SourceEvent::Status(SourceStatus::Connected { name: path.display().to_string() }));
            }
            let frames = rec.frames();
            // Bad rows are reported in file order, before the frames (their position does not matter
            // to the monitor, only the count and the reason).
            events.extend(rec.skipped.iter().cloned().map(|e| SourceEvent::Skipped(e.into())));
            for f in &frames {
                events.push_back(SourceEvent::Frame(Frame { t: offset + f.t, pressures: f.pressures }));
            }
            let len = frames.last().map_or(0.0, |f| f.t);
            segments.push(ReplaySegment { path: path.clone(), start: offset, end: offset + len });
            if !frames.is_empty() {
                offset += len + rec.median_interval().unwrap_or(DEFAULT_INTERVAL_S);
            }
        }
        Ok(ReplaySource { events, pace, cancel, started: None, segments })
    }

    /// Where each file lies in session time, in play order.
    pub fn segments(&self) -> &[ReplaySegment] {
        &self.segments
    }
}

impl FrameSource for ReplaySource {
    fn next_event(&mut self) -> Option<SourceEvent> {
        if self.cancel.is_cancelled() {
            return None;
        }
        let event = self.events.pop_front()?;
        if let (Pace::Realtime, SourceEvent::Frame(f)) = (self.pace, &event) {
            let start = *self.started.get_or_insert_with(Instant::now);
            if !self.cancel.sleep_until(start + Duration::from_secs_f64(f.t.max(0.0))) {
                return None;
            }
        }
        Some(event)
    }

    fn describe(&self) -> String {
        match self.segments.len() {
            1 => "replay of 1 recording".to_string(),
            n => format!("replay of {n} recordings"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn real(name: &str) -> PathBuf {
        Path::new(crate::recording::REAL_RECORDINGS_DIR).join(name)
    }

    #[test]
    fn files_play_as_one_session_with_time_running_on() {
        let files = [real("empty_or_cat_on_mat.csv"), real("human_on_mat.csv")];
        let mut src = ReplaySource::open(&files, Pace::Max, CancelToken::new()).unwrap();
        let mut ts = Vec::new();
        while let Some(e) = src.next_event() {
            if let SourceEvent::Frame(f) = e {
                ts.push(f.t);
            }
        }
        assert_eq!(ts.len(), 764);
        assert!(ts.windows(2).all(|w| w[1] > w[0]), "time must increase across files");
        let gap = ts[382] - ts[381];
        assert!((0.1..0.2).contains(&gap), "gap between files {gap}");
    }

    #[test]
    fn an_unreadable_file_is_a_typed_error() {
        let err =
            ReplaySource::open(&[PathBuf::from("/nonexistent.csv")], Pace::Max, CancelToken::new()).err().unwrap();
        assert!(err.to_string().contains("/nonexistent.csv"), "{err}");
    }

    #[test]
    fn realtime_pace_honours_timestamps_and_cancel() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.csv");
        std::fs::write(&p, "Timestamp,Float1,Float2,Float3,Float4\n2025-11-22 15:11:03.000,98213.5,98163.4,98161.7,98164.9\n2025-11-22 15:11:03.300,98213.5,98163.4,98161.7,98164.9\n").unwrap();
        let cancel = CancelToken::new();
        let mut src = ReplaySource::open(&[p], Pace::Realtime, cancel.clone()).unwrap();
        let t0 = Instant::now();
        let mut frames = 0;
        while let Some(e) = src.next_event() {
            frames += matches!(e, SourceEvent::Frame(_)) as usize;
        }
        assert_eq!(frames, 2);
        assert!(t0.elapsed() >= Duration::from_millis(290), "second frame came too early");
        cancel.cancel();
        assert!(src.next_event().is_none());
    }
}
