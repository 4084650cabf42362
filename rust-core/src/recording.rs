//! Recordings in the mat makers' CSV format: `Timestamp,Float1,Float2,Float3,Float4[,Label]`,
//! timestamp `YYYY-MM-DD HH:MM:SS.mmm` local time, pressures in pascal (docs/design.md §2).

use crate::frame::{BLADDERS, Frame, FrameError};
use crate::state::Label;
use chrono::NaiveDateTime;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Timestamp format of the makers' tool (millisecond precision).
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

/// Column names of the makers' format, in order.
pub const HEADER: [&str; 1 + BLADDERS] = ["Timestamp", "Float1", "Float2", "Float3", "Float4"];

/// Name of the optional per-row label column.
pub const LABEL_COLUMN: &str = "Label";

/// The real mat's two recordings, kept in the repository (`data/seroton-mat/`, provenance in its README).
#[cfg(test)]
pub(crate) const REAL_RECORDINGS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/seroton-mat");

/// One row of a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingRow {
    /// Local wall-clock time of the reading.
    pub timestamp: NaiveDateTime,
    /// Absolute pressures of bladders 1..4 in pascal.
    pub pressures: [f32; BLADDERS],
    /// The row's label, when the file has a `Label` column.
    pub label: Option<Label>,
}

/// What went wrong reading or writing a recording, with the file and line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordingError {
    /// The file cannot be opened, read or written.
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    /// The header is not the makers' format.
    #[error(
        "{path}: header {found:?} is not the recording format: expected Timestamp,Float1,Float2,Float3,Float4[,Label]"
    )]
    BadHeader { path: PathBuf, found: String },
    /// The file has a header but no rows.
    #[error("{path}: no rows")]
    Empty { path: PathBuf },
    /// A row lacks a column.
    #[error("{path}:{line}: missing column {column}")]
    MissingColumn { path: PathBuf, line: u64, column: &'static str },
    /// A field cannot be parsed.
    #[error("{path}:{line}: field {column} = {value:?}: expected {expected}")]
    BadField { path: PathBuf, line: u64, column: &'static str, value: String, expected: &'static str },
    /// The pressures parse but do not make a valid frame.
    #[error("{path}:{line}: {source}")]
    BadFrame { path: PathBuf, line: u64, source: FrameError },
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> RecordingError {
    RecordingError::Io { path: path.to_path_buf(), message: e.to_string() }
}

/// A recording read into memory: the good rows, and every bad row with its error.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    /// Where it was read from.
    pub path: PathBuf,
    /// Rows that parsed and hold a valid frame, in file order.
    pub rows: Vec<RecordingRow>,
    /// Rows that were skipped, each with the reason.
    pub skipped: Vec<RecordingError>,
}

impl Recording {
    /// Reads a whole recording (file I/O). A bad header or an unreadable file is an error; bad rows
    /// are skipped and listed in `skipped`.
    pub fn read(path: impl AsRef<Path>) -> Result<Recording, RecordingError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| io_err(path, e))?;
        Self::from_reader(path, file)
    }

    /// Reads a recording from any reader; `path` only names it in errors.
    pub fn from_reader(path: &Path, reader: impl std::io::Read) -> Result<Recording, RecordingError> {
        let mut csv =
            csv::ReaderBuilder::new().has_headers(true).flexible(true).trim(csv::Trim::All).from_reader(reader);
        let header = csv.headers().map_err(|e| io_err(path, e))?.clone();
        let names: Vec<&str> = header.iter().collect();
        let has_label = match names.as_slice() {
            [a, b, c, d, e] if [*a, *b, *c, *d, *e] == HEADER => false,
            [a, b, c, d, e, l] if [*a, *b, *c, *d, *e] == HEADER && *l == LABEL_COLUMN => true,
            _ => return Err(RecordingError::BadHeader { path: path.to_path_buf(), found: names.join(",") }),
        };
        let mut rows = Vec::new();
        let mut skipped = Vec::new();
        let mut record = csv::StringRecord::new();
        loop {
            match csv.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {
                    let line = record.position().map_or(0, |p| p.line());
                    match parse_row(path, line, &record, has_label) {
                        Ok(row) => rows.push(row),
                        Err(e) => skipped.push(e),
                    }
                }
                Err(e) => {
                    if let csv::ErrorKind::Io(_) = e.kind() {
                        return Err(io_err(path, e));
                    }
                    // A malformed record (bad quoting, invalid UTF-8): skip it and keep reading.
                    let line = e.position().map_or(0, |p| p.line());
                    skipped.push(RecordingError::BadField {
                        path: path.to_path_buf(),
                        line,
                        column: "row",
                        value: e.to_string(),
                        expected: "a CSV row of UTF-8 text",
                    });
                }
            }
        }
        if rows.is_empty() && skipped.is_empty() {
            return Err(RecordingError::Empty { path: path.to_path_buf() });
        }
        Ok(Recording { path: path.to_path_buf(), rows, skipped })
    }

    /// The rows as frames with `t` in seconds from the first row.
    pub fn frames(&self) -> Vec<Frame> {
        let Some(first) = self.rows.first() else { return Vec::new() };
        self.rows
            .iter()
            .map(|r| Frame { t: seconds_between(first.timestamp, r.timestamp), pressures: r.pressures })
            .collect()
    }

    /// Median interval between rows in seconds (`None` with fewer than two rows).
    pub fn median_interval(&self) -> Option<f64> {
        let mut gaps: Vec<f64> =
            self.rows.windows(2).map(|w| seconds_between(w[0].timestamp, w[1].timestamp)).collect();
        if gaps.is_empty() {
            return None;
        }
        gaps.sort_by(f64::total_cmp);
        Some(gaps[gaps.len() / 2])
    }
}

/// Seconds from `a` to `b` (negative if `b` is earlier).
pub fn seconds_between(a: NaiveDateTime, b: NaiveDateTime) -> f64 {
    (b - a).num_microseconds().map_or(0.0, |us| us as f64 / 1e6)
}

fn parse_row(path: &Path, line: u64, r: &csv::StringRecord, has_label: bool) -> Result<RecordingRow, RecordingError> {
    let field = |i: usize, column: &'static str| {
        r.get(i).filter(|s| !s.is_empty()).ok_or(RecordingError::MissingColumn {
            path: path.to_path_buf(),
            line,
            column,
        })
    };
    let ts = field(0, HEADER[0])?;
    let timestamp = NaiveDateTime::parse_from_str(ts, TIMESTAMP_FORMAT).map_err(|_| RecordingError::BadField {
        path: path.to_path_buf(),
        line,
        column: HEADER[0],
        value: ts.to_string(),
        expected: "a timestamp YYYY-MM-DD HH:MM:SS.mmm",
    })?;
    let mut pressures = [0f32; BLADDERS];
    for (i, p) in pressures.iter_mut().enumerate() {
        let column = HEADER[i + 1];
        let text = field(i + 1, column)?;
        *p = text.parse().map_err(|_| RecordingError::BadField {
            path: path.to_path_buf(),
            line,
            column,
            value: text.to_string(),
            expected: "a pressure in pascal",
        })?;
    }
    Frame::new(0.0, pressures).map_err(|source| RecordingError::BadFrame { path: path.to_path_buf(), line, source })?;
    let label = if has_label {
        let text = field(1 + BLADDERS, LABEL_COLUMN)?;
        Some(text.parse().map_err(|_| RecordingError::BadField {
            path: path.to_path_buf(),
            line,
            column: LABEL_COLUMN,
            value: text.to_string(),
            expected: "absent, sitting, lying_full, lying_partial or present",
        })?)
    } else {
        None
    };
    Ok(RecordingRow { timestamp, pressures, label })
}

/// Writes a recording in the makers' format. Rows go to `FILE.partial`; [`finish`](Self::finish)
/// renames it into place, so a reader never sees a half-written recording.
pub struct RecordingWriter {
    path: PathBuf,
    partial: PathBuf,
    out: BufWriter<File>,
    with_label: bool,
    rows: u64,
}

impl RecordingWriter {
    /// Creates `path.partial` and writes the header (file I/O).
    pub fn create(path: impl AsRef<Path>, with_label: bool) -> Result<Self, RecordingError> {
        let path = path.as_ref().to_path_buf();
        let mut partial = path.clone().into_os_string();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = File::create(&partial).map_err(|e| io_err(&partial, e))?;
        let mut out = BufWriter::new(file);
        let mut header = HEADER.join(",");
        if with_label {
            header.push(',');
            header.push_str(LABEL_COLUMN);
        }
        writeln!(out, "{header}").map_err(|e| io_err(&partial, e))?;
        Ok(RecordingWriter { path, partial, out, with_label, rows: 0 })
    }

    /// Appends one row. The label is written only if the writer was created with a label column.
    pub fn write(&mut self, row: &RecordingRow) -> Result<(), RecordingError> {
        let p = row.pressures;
        let ts = row.timestamp.format(TIMESTAMP_FORMAT);
        let r = if self.with_label {
            let label = row.label.map_or("", |l| l.name());
            writeln!(self.out, "{ts},{},{},{},{},{label}", p[0], p[1], p[2], p[3])
        } else {
            writeln!(self.out, "{ts},{},{},{},{}", p[0], p[1], p[2], p[3])
        };
        r.map_err(|e| io_err(&self.partial, e))?;
        self.rows += 1;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Flushes, syncs and renames the file into place; returns its final path.
    pub fn finish(mut self) -> Result<PathBuf, RecordingError> {
        self.out.flush().map_err(|e| io_err(&self.partial, e))?;
        self.out.get_ref().sync_all().map_err(|e| io_err(&self.partial, e))?;
        std::fs::rename(&self.partial, &self.path).map_err(|e| io_err(&self.path, e))?;
        Ok(self.path.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_str(s: &str) -> Result<Recording, RecordingError> {
        Recording::from_reader(Path::new("mem.csv"), s.as_bytes())
    }

    #[test]
    fn reads_the_makers_format() {
        let r = read_str("Timestamp,Float1,Float2,Float3,Float4\n2025-11-22 15:11:03.854,98213.5,98163.484375,98161.734375,98164.9453125\n2025-11-22 15:11:04.035,98214.203125,98163.1328125,98162.046875,98163.9375\n").unwrap();
        assert_eq!(r.rows.len(), 2);
        assert!(r.skipped.is_empty());
        let f = r.frames();
        assert!((f[1].t - 0.181).abs() < 1e-9);
        assert_eq!(f[0].pressures[0], 98213.5);
    }

    #[test]
    fn bad_rows_are_skipped_with_file_line_and_field() {
        let r = read_str("Timestamp,Float1,Float2,Float3,Float4,Label\n2025-11-22 15:11:03.854,98213.5,98163.4,98161.7,98164.9,absent\n22/11/2025,1,2,3,4,absent\n2025-11-22 15:11:04.035,98214.2,98163.1\n2025-11-22 15:11:04.135,98214.2,x,98163.1,98163.1,absent\n2025-11-22 15:11:04.235,98214.2,NaN,98163.1,98163.1,absent\n2025-11-22 15:11:04.335,98214.2,98163.1,98163.1,98163.1,dancing\n").unwrap();
        assert_eq!(r.rows.len(), 1);
        assert_eq!(r.rows[0].label, Some(Label::State(crate::PresenceState::Absent)));
        let msgs: Vec<String> = r.skipped.iter().map(|e| e.to_string()).collect();
        assert!(matches!(&r.skipped[0], RecordingError::BadField { line: 3, column: "Timestamp", .. }), "{msgs:?}");
        assert!(matches!(&r.skipped[1], RecordingError::MissingColumn { line: 4, column: "Float3", .. }), "{msgs:?}");
        assert!(matches!(&r.skipped[2], RecordingError::BadField { line: 5, column: "Float2", .. }), "{msgs:?}");
        assert!(matches!(&r.skipped[3], RecordingError::BadFrame { line: 6, .. }), "{msgs:?}");
        assert!(matches!(&r.skipped[4], RecordingError::BadField { line: 7, column: "Label", .. }), "{msgs:?}");
        assert!(msgs[0].starts_with("mem.csv:3:"), "{}", msgs[0]);
    }

    #[test]
    fn rejects_a_file_that_is_not_a_recording() {
        assert!(matches!(read_str("a,b\n1,2\n"), Err(RecordingError::BadHeader { .. })));
        assert!(matches!(read_str("Timestamp,Float1,Float2,Float3,Float4\n"), Err(RecordingError::Empty { .. })));
        assert!(matches!(Recording::read("/nonexistent/x.csv"), Err(RecordingError::Io { .. })));
    }

    #[test]
    fn written_recordings_read_back_and_appear_only_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec.csv");
        let mut w = RecordingWriter::create(&path, true).unwrap();
        let ts = NaiveDateTime::parse_from_str("2025-11-22 15:11:03.854", TIMESTAMP_FORMAT).unwrap();
        let row = RecordingRow {
            timestamp: ts,
            pressures: [98213.5, 98163.484, 98161.73, 98164.945],
            label: Some(Label::Present),
        };
        w.write(&row).unwrap();
        assert!(!path.exists(), "the final file must not exist before finish()");
        w.finish().unwrap();
        let r = Recording::read(&path).unwrap();
        assert_eq!(r.rows, vec![row]);
    }

    #[test]
    fn reads_the_real_recordings() {
        let dir = Path::new(REAL_RECORDINGS_DIR);
        for name in ["empty_or_cat_on_mat.csv", "human_on_mat.csv"] {
            let r = Recording::read(dir.join(name)).unwrap();
            assert_eq!(r.rows.len(), 382, "{name}");
            assert!(r.skipped.is_empty());
            let m = r.median_interval().unwrap();
            assert!((0.14..0.16).contains(&m), "{name}: median interval {m}");
        }
    }

    proptest! {
        #[test]
        fn reader_never_panics_on_arbitrary_text(body in "[0-9a-zA-Z:.,\\- \n\"]{0,300}") {
            let text = format!("Timestamp,Float1,Float2,Float3,Float4\n{body}");
            let _ = read_str(&text);
        }

        #[test]
        fn any_valid_row_round_trips(p in proptest::array::uniform4(60_000f32..120_000f32), ms in 0u32..86_400_000) {
            let base = NaiveDateTime::parse_from_str("2025-11-22 00:00:00.000", TIMESTAMP_FORMAT).unwrap();
            let ts = base + chrono::Duration::milliseconds(ms as i64);
            let text = format!("Timestamp,Float1,Float2,Float3,Float4\n{},{},{},{},{}\n", ts.format(TIMESTAMP_FORMAT), p[0], p[1], p[2], p[3]);
            let r = read_str(&text).unwrap();
            prop_assert_eq!(r.rows[0].pressures, p);
            prop_assert_eq!(r.rows[0].timestamp, ts);
        }
    }
}
