//! How the `mqctl` tests run the binary: a process per command with a home of its own, its
//! stdout, stderr and exit code, bounded in time; `tail` in the background, read line by line
//! and stopped with SIGINT.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::server::{mqctl_binary, TestServer};

/// Bound on one run of mqctl, and on a running `tail` printing what it is waited for.
pub(crate) const RUN_WITHIN: Duration = Duration::from_secs(60);

/// How mqctl is run: the server it is pointed at (`--server`, unless the test sets it another
/// way), extra environment, and a home of its own, so that neither the user's config file nor
/// `MQ_*` variables of the shell running the tests leak in.
pub(crate) struct Ctl {
    pub(crate) server: Option<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) home: TempDir,
}

/// The outcome of one run.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) args: String,
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Asserts exit code 0.
    #[track_caller]
    pub(crate) fn ok(self) -> Run {
        self.code(0)
    }

    /// Asserts the exit code.
    #[track_caller]
    pub(crate) fn code(self, want: i32) -> Run {
        assert_eq!(
            self.code,
            Some(want),
            "mqctl {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.args,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Stdout as one JSON document.
    #[track_caller]
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("mqctl {}: stdout is not one JSON document ({e}):\n{}", self.args, self.stdout)
        })
    }

    /// Stdout as JSON lines.
    #[track_caller]
    pub(crate) fn json_lines(&self) -> Vec<Value> {
        self.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// The whitespace-separated cells of the stdout line starting with `first`.
    #[track_caller]
    pub(crate) fn row(&self, first: &str) -> Vec<String> {
        let line = self
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(first))
            .unwrap_or_else(|| {
                panic!("mqctl {}: no line for {first}:\n{}", self.args, self.stdout)
            });
        line.split_whitespace().map(str::to_owned).collect()
    }
}

impl Ctl {
    /// mqctl pointed at `server` with `--server`.
    pub(crate) fn new(server: &TestServer) -> Ctl {
        Ctl { server: Some(url(server)), ..Ctl::bare() }
    }

    /// mqctl with no server given: the environment or a config file must say.
    pub(crate) fn bare() -> Ctl {
        let home = tempfile::Builder::new().prefix("mqctl-home-").tempdir().unwrap();
        Ctl { server: None, env: Vec::new(), home }
    }

    /// The same, with one more environment variable.
    pub(crate) fn env(mut self, name: &str, value: &str) -> Ctl {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Where `$XDG_CONFIG_HOME/mqctl/config.toml` is for this mqctl.
    pub(crate) fn default_config(&self) -> PathBuf {
        self.home.path().join("xdg").join("mqctl").join("config.toml")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(mqctl_binary());
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("MQ_") || name.starts_with("MQCTL_") {
                command.env_remove(&*name);
            }
        }
        command
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("xdg"))
            .env("NO_COLOR", "1")
            .env("HOSTNAME", "e2e-host");
        for (name, value) in &self.env {
            command.env(name, value);
        }
        if let Some(server) = &self.server {
            command.arg("--server").arg(server);
        }
        command.args(args);
        command
    }

    /// Runs mqctl with `args` and no stdin.
    pub(crate) async fn run(&self, args: &[&str]) -> Run {
        self.run_in(args, None).await
    }

    /// Runs mqctl with `args`, `stdin` piped in (or none), bounded by [`RUN_WITHIN`].
    pub(crate) async fn run_in(&self, args: &[&str], stdin: Option<Vec<u8>>) -> Run {
        let mut command = self.command(args);
        let shown = args.join(" ");
        tokio::task::spawn_blocking(move || run_bounded(&mut command, shown, stdin)).await.unwrap()
    }

    /// Starts mqctl in the background, its stdout read line by line.
    pub(crate) fn spawn(&self, args: &[&str]) -> Background {
        let mut child = self
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (lines, receiver) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if lines.send(line.unwrap()).is_err() {
                    break;
                }
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Background { child, lines: receiver, stderr: Some(stderr), args: args.join(" ") }
    }
}

pub(crate) fn url(server: &TestServer) -> String {
    format!("http://127.0.0.1:{}", server.port())
}

fn run_bounded(command: &mut Command, args: String, stdin: Option<Vec<u8>>) -> Run {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = command.spawn().unwrap_or_else(|e| panic!("spawning mqctl {args}: {e}"));
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        // A thread, so that a large input cannot block against a full stdout pipe.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut text = String::new();
        out.read_to_string(&mut text).unwrap();
        text
    });
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        err.read_to_string(&mut text).unwrap();
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RUN_WITHIN {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mqctl {args} did not finish within {RUN_WITHIN:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        args,
        code: status.code(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// An mqctl running in the background (`tail`).
pub(crate) struct Background {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
    args: String,
}

impl Background {
    /// The next line of stdout, which must come within [`RUN_WITHIN`].
    pub(crate) fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(RUN_WITHIN) {
            Ok(line) => line,
            Err(e) => {
                let _ = self.child.kill();
                let stderr = self.stderr.take().map(|t| t.join().unwrap()).unwrap_or_default();
                panic!("mqctl {}: no line within {RUN_WITHIN:?} ({e})\n{stderr}", self.args)
            }
        }
    }

    /// Sends SIGINT (Ctrl-C) and returns the exit code and stderr.
    pub(crate) fn interrupt(self) -> (Option<i32>, String) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
        self.wait()
    }

    /// Waits (bounded by [`RUN_WITHIN`]) for the exit and returns the exit code and stderr.
    pub(crate) fn wait(mut self) -> (Option<i32>, String) {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > RUN_WITHIN {
                let _ = self.child.kill();
                panic!("mqctl {} did not end within {RUN_WITHIN:?}", self.args);
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let stderr = self.stderr.take().map(|t| t.join().unwrap()).unwrap_or_default();
        (status.code(), stderr)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fetches with `consume --json` until `n` messages came (acknowledging them), within a bound.
pub(crate) async fn consume_all(ctl: &Ctl, topic: &str, group: &str, n: usize) -> Vec<Value> {
    let mut got = Vec::new();
    let started = Instant::now();
    while got.len() < n && started.elapsed() < RUN_WITHIN {
        let run = ctl
            .run(&["--json", "consume", topic, "-g", group, "-n", "100", "--wait", "1s"])
            .await
            .ok();
        got.extend(run.json()["messages"].as_array().unwrap().iter().cloned());
    }
    assert_eq!(got.len(), n, "messages of {topic}/{group}: {got:?}");
    got
}

pub(crate) fn values(messages: &[Value]) -> Vec<Value> {
    messages.iter().map(|m| m["value"].clone()).collect()
}
