//! Atomic file writes: a reader sees the old file or the new one, never half of either, even across
//! a crash. One implementation for baselines, the model cache and the pipeline's outputs.

use std::io::Write;
use std::path::Path;

/// Prefix of the temporary files [`write_atomic`] leaves only if the process dies mid-write.
pub const TEMP_PREFIX: &str = ".tmp-";

/// Writes `bytes` to `path` through a temporary file in the same folder, fsync, rename, and an
/// fsync of the folder (a rename is durable only once the folder is on disk). Creates the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with_prefix(path, bytes, TEMP_PREFIX)
}

/// [`write_atomic`] with the temporary file's name prefix chosen by the caller (so a cache can
/// recognise and clean its own leftovers).
pub fn write_atomic_with_prefix(path: &Path, bytes: &[u8], prefix: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(prefix).tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_whole_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/state.json");
        write_atomic(&p, b"old").unwrap();
        write_atomic(&p, b"new contents").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new contents");
        let names: Vec<String> = std::fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into())
            .collect();
        assert_eq!(names, vec!["state.json".to_string()]);
    }
}
