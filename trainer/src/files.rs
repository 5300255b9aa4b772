//! Writing files so that a failure is never reported as success and never leaves a broken
//! file behind: the bytes go to a temporary file beside the target, are synced to disk, and
//! the temporary file is renamed over the target; any error names the path it was writing.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` whole or not at all (creating its folder). A target that exists and
/// is not a regular file (a device such as /dev/null or /dev/full, a pipe) is written in place,
/// since renaming over it would replace it; its errors are reported all the same.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    write_inner(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

fn write_inner(path: &Path, bytes: &[u8]) -> Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        let mut f = std::fs::OpenOptions::new().write(true).truncate(true).open(path)?;
        f.write_all(bytes)?;
        return Ok(f.flush()?);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create folder {}", dir.display()))?;
    }
    let tmp = temporary(path);
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp); // the error below is what matters
    }
    Ok(written?)
}

/// A hidden name beside `path`, unique to this process, so two writers never share one.
fn temporary(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_device_is_an_error_naming_it() {
        let e = write(Path::new("/dev/full"), b"bytes").unwrap_err();
        assert!(format!("{e:#}").contains("cannot write /dev/full"), "{e:#}");
        assert!(Path::new("/dev/full").metadata().is_ok_and(|m| !m.is_file()), "the device is left as it was");
    }

    #[test]
    fn a_write_replaces_the_file_whole_and_leaves_nothing_else() {
        let dir = std::env::temp_dir().join(format!("files-test-{}", std::process::id()));
        let path = dir.join("sub/out.txt");
        write(&path, b"first").unwrap();
        write(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(std::fs::read_dir(dir.join("sub")).unwrap().count(), 1, "no temporary file is left");
        // a folder where the file should go: an error, and the folder is untouched
        let e = write(&dir.join("sub"), b"x").unwrap_err();
        assert!(format!("{e:#}").contains("cannot write"), "{e:#}");
        assert!(dir.join("sub/out.txt").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
