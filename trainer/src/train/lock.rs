//! One training process per run folder: two runs writing one folder would mix their weights,
//! metrics and checkpoints. The lock is a file holding the owner's process id, created
//! exclusively; a lock whose process is gone (killed, the machine restarted) is taken over, so a
//! killed run still resumes with the same command.

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

const LOCK: &str = ".lock";

/// Held while a run writes its folder; removed when dropped.
pub struct RunLock {
    path: PathBuf,
}

impl RunLock {
    /// Takes `dir`'s lock (creating the folder), or fails naming the process that holds it.
    /// Taking a lock this process already holds is allowed (a command and its training loop).
    pub fn take(dir: &Path) -> Result<Option<RunLock>> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(LOCK);
        loop {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    write!(f, "{}", std::process::id()).with_context(|| format!("cannot write {}", path.display()))?;
                    return Ok(Some(RunLock { path }));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
            }
            let owner = std::fs::read_to_string(&path).unwrap_or_default().trim().parse::<u32>().ok();
            match owner {
                Some(pid) if pid == std::process::id() => return Ok(None),
                Some(pid) if alive(pid) => bail!(
                    "another run (process {pid}) is writing {}: wait for it to finish or stop it; two runs in one folder would mix their outputs",
                    dir.display()
                ),
                // its process is gone (or the file is being written this instant): take it over
                _ => {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether process `pid` exists (Linux's /proc; elsewhere every owner counts as alive).
fn alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.exists() || proc.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_owner_keeps_the_folder_and_a_dead_one_does_not() {
        let dir = std::env::temp_dir().join(format!("lock-test-{}", std::process::id()));
        let held = RunLock::take(&dir).unwrap().expect("a new lock");
        assert!(RunLock::take(&dir).unwrap().is_none(), "this process holds it already");
        drop(held);
        assert!(!dir.join(LOCK).exists(), "released on drop");
        // pid 1 is alive on Linux: another live process holds the folder
        std::fs::write(dir.join(LOCK), "1").unwrap();
        let e = RunLock::take(&dir).err().expect("held by process 1");
        assert!(e.to_string().contains("another run (process 1)"), "{e}");
        // a process id that cannot exist: a stale lock, taken over
        std::fs::write(dir.join(LOCK), u32::MAX.to_string()).unwrap();
        assert!(RunLock::take(&dir).unwrap().is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
