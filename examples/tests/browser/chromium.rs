//! Starting headless Chromium with a fresh profile, and stopping it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Set to `1` to let the browser test pass without Chromium.
pub(crate) const SKIP_ENV: &str = "TIDEPOOL_SKIP_BROWSER_TESTS";
/// Names another Chromium binary.
const BINARY_ENV: &str = "CHROMIUM";
/// How long Chromium may take to open its DevTools port.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// A headless Chromium, killed and its profile removed when dropped.
#[derive(Debug)]
pub(crate) struct Chromium {
    child: Child,
    profile: PathBuf,
    /// The browser's DevTools websocket.
    pub(crate) websocket_url: String,
}

impl Chromium {
    /// The Chromium binary: `$CHROMIUM` if set (`None` if it is not a
    /// file), else `/usr/bin/chromium`, or `chromium` or
    /// `chromium-browser` on `PATH`.
    pub(crate) fn locate() -> Option<PathBuf> {
        if let Some(path) = std::env::var_os(BINARY_ENV) {
            let path = PathBuf::from(path);
            return path.is_file().then_some(path);
        }
        let standard = Path::new("/usr/bin/chromium");
        if standard.exists() {
            return Some(standard.to_owned());
        }
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .flat_map(|dir| [dir.join("chromium"), dir.join("chromium-browser")])
            .find(|candidate| candidate.is_file())
    }

    /// The binary, or `None` when it is missing and [`SKIP_ENV`] is set;
    /// panics, saying what to install, when it is missing otherwise.
    pub(crate) fn locate_or_skip() -> Option<PathBuf> {
        let found = Self::locate();
        if found.is_none() && std::env::var(SKIP_ENV).is_ok_and(|v| v == "1") {
            eprintln!("Skipped: Chromium is not installed and {SKIP_ENV}=1.");
            return None;
        }
        Some(found.unwrap_or_else(|| {
            panic!(
                "this test needs headless Chromium (/usr/bin/chromium): install it with \
                 `apt-get install -y chromium`, name another binary with {BINARY_ENV}=..., \
                 or set {SKIP_ENV}=1 to skip the test"
            )
        }))
    }

    /// Starts `binary` headless with a fresh profile and waits for its
    /// DevTools port.
    pub(crate) fn launch(binary: &Path) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let profile = std::env::temp_dir().join(format!(
            "tidepool-chromium-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&profile);
        fs::create_dir_all(&profile).expect("a profile directory");
        let log = fs::File::create(profile.join("chromium.log")).expect("a log file");
        let child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--mute-audio",
                "--window-size=1400,1000",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut chromium = Self {
            child,
            profile,
            websocket_url: String::new(),
        };
        chromium.websocket_url = chromium.wait_for_devtools();
        chromium
    }

    /// Reads `DevToolsActivePort` (the port, then the browser's path) once
    /// Chromium has written it.
    fn wait_for_devtools(&mut self) -> String {
        let file = self.profile.join("DevToolsActivePort");
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Ok(text) = fs::read_to_string(&file)
                && let [port, path, ..] = text.lines().collect::<Vec<_>>()[..]
            {
                return format!("ws://127.0.0.1:{port}{path}");
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "Chromium exited ({status}) before opening DevTools:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "Chromium did not open DevTools within {START_DEADLINE:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(self.profile.join("chromium.log")).unwrap_or_default()
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.profile);
    }
}
