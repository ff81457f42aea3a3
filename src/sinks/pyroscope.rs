//! The Pyroscope push of `record --pyroscope URL`: every `--push-every` interval of the
//! recording, as pprof, to Pyroscope's HTTP ingest API (`POST /ingest?name=APP{TAGS}&
//! from=&until=&format=pprof`, the profile and its sample type configuration as
//! `multipart/form-data`).
//!
//! One thread follows the recording file, builds each interval's profile once the
//! recording has passed its end, and sends it. Profiles wait in a queue of at most
//! [`QUEUE`] intervals: when the server is down, slow or failing, the oldest beyond that
//! are dropped, sending is retried with a backoff from 1 s doubling up to [`MAX_BACKOFF`],
//! and stderr says so once (and once when pushing works again). A refusal (a 4xx answer
//! other than 408 and 429) drops that interval: sending it again would not help. The
//! token comes from `FRAMESCOPE_PYROSCOPE_TOKEN` (sent as a Bearer token), never from the
//! command line, where `ps` would show it.

use std::fmt;
use std::fs::File;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::escape::visible;
use crate::recording::{cpu, Tail};
use crate::report::pprof::{self, Span};
use crate::report::ViewOptions;

/// The environment variable holding the token sent as `Authorization: Bearer TOKEN`.
pub const TOKEN_VARIABLE: &str = "FRAMESCOPE_PYROSCOPE_TOKEN";
/// The environment variable holding a tenant id sent as `X-Scope-OrgID` (multi-tenant
/// Pyroscope).
pub const TENANT_VARIABLE: &str = "FRAMESCOPE_PYROSCOPE_TENANT";

/// Intervals kept while the server cannot take them (at the default 10 s, 5 minutes).
pub const QUEUE: usize = 30;
/// The longest wait between two attempts to send.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often the recording is looked at for new samples.
const POLL: Duration = Duration::from_millis(200);
/// One request's time limit, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how to push, checked when the command line is read.
#[derive(Clone)]
pub struct PyroscopeConfig {
    /// The server's base URL, without a trailing slash.
    pub url: String,
    pub app_name: String,
    pub tags: Vec<(String, String)>,
    pub every: Duration,
    token: Option<String>,
    tenant: Option<String>,
}

impl fmt::Debug for PyroscopeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PyroscopeConfig")
            .field("url", &self.url)
            .field("app_name", &self.app_name)
            .field("tags", &self.tags)
            .field("every", &self.every)
            .field("token", &self.token.as_ref().map(|_| "(set)"))
            .field("tenant", &self.tenant)
            .finish()
    }
}

impl PyroscopeConfig {
    /// Checks the options of the push; the token and tenant come from the environment.
    pub fn new(
        url: &str,
        app_name: &str,
        tags: Vec<(String, String)>,
        every: Duration,
    ) -> Result<Self, String> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self::with_env(
            url,
            app_name,
            tags,
            every,
            env(TOKEN_VARIABLE),
            env(TENANT_VARIABLE),
        )
    }

    fn with_env(
        url: &str,
        app_name: &str,
        tags: Vec<(String, String)>,
        every: Duration,
        token: Option<String>,
        tenant: Option<String>,
    ) -> Result<Self, String> {
        Ok(PyroscopeConfig {
            url: check_url(url)?,
            app_name: check_app_name(app_name)?,
            tags,
            every,
            token: token
                .map(|t| check_header_value(t, TOKEN_VARIABLE))
                .transpose()?,
            tenant: tenant
                .map(|t| check_header_value(t, TENANT_VARIABLE))
                .transpose()?,
        })
    }

    /// `APP{k=v,...}`: the name Pyroscope files the profiles under (it adds the sample
    /// type to it).
    pub fn series_name(&self) -> String {
        let tags: Vec<String> = self.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{}{{{}}}", self.app_name, tags.join(","))
    }

    /// The ingest URL for an interval from `from` until `until` (Unix seconds).
    pub fn ingest_url(&self, from: u64, until: u64, rate_hz: f64) -> String {
        let rate = if rate_hz.is_finite() && rate_hz >= 1.0 {
            rate_hz.round() as u64
        } else {
            1
        };
        format!(
            "{}/ingest?name={}&from={from}&until={until}&format=pprof&spyName=framescope&sampleRate={rate}",
            self.url,
            percent_encode(&self.series_name())
        )
    }
}

fn check_url(url: &str) -> Result<String, String> {
    let bad = |why: &str| format!("--pyroscope {}: {why}", visible(url));
    let uri: ureq::http::Uri = url.parse().map_err(|e| bad(&format!("not a URL ({e})")))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(bad(
                "give an http:// or https:// URL, e.g. http://127.0.0.1:4040",
            ))
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("the URL names no host"));
    }
    if uri.query().is_some() {
        return Err(bad("give the server's base URL, without a query"));
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(bad(&format!(
            "no credentials in the URL, where `ps` shows them: set {TOKEN_VARIABLE}"
        )));
    }
    Ok(url.trim_end_matches('/').to_string())
}

fn check_app_name(name: &str) -> Result<String, String> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:".contains(c));
    if ok {
        Ok(name.to_string())
    } else {
        Err(format!(
            "--app-name {}: use 1 to 200 letters, digits and . _ - / :",
            visible(name)
        ))
    }
}

/// A `--tag KEY=VALUE`, as the key and the value.
pub fn parse_tag(tag: &str) -> Result<(String, String), String> {
    let bad = || {
        format!(
            "KEY=VALUE was expected, the key a letter or _ then letters, digits and _, \
             the value without spaces, quotes, commas, braces or =, not `{}`",
            visible(tag)
        )
    };
    let (key, value) = tag.split_once('=').ok_or_else(bad)?;
    let key_ok = key.len() <= 100
        && key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let value_ok = !value.is_empty()
        && value.len() <= 200
        && value
            .chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && !"{},=\"'".contains(c));
    if key_ok && value_ok {
        Ok((key.to_string(), value.to_string()))
    } else {
        Err(bad())
    }
}

fn check_header_value(value: String, variable: &str) -> Result<String, String> {
    if value.len() <= 8192 && value.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        Ok(value)
    } else {
        Err(format!(
            "{variable} must be printable ASCII without spaces (at most 8 KiB)"
        ))
    }
}

/// `10s`, `500ms`, `2m` or a number of seconds; between 1 s and 1 h.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let seconds = number
        .trim()
        .parse::<f64>()
        .ok()
        .map(|n| n * scale)
        .filter(|s| (1.0..=3600.0).contains(s))
        .ok_or_else(|| {
            format!(
                "a duration from 1s to 1h, like 10s, 1500ms or 2m, was expected, not `{}`",
                visible(text)
            )
        })?;
    Ok(Duration::from_secs_f64(seconds))
}

/// `application/x-www-form-urlencoded`-safe: everything but unreserved characters as %XX.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The sample types of framescope's pprof as Pyroscope should file them: the count as
/// samples, the wall and CPU time as nanoseconds summed over time.
const SAMPLE_TYPE_CONFIG: &str = r#"{
  "samples": {"units": "samples", "aggregation": "sum", "display-name": "samples", "sampled": true},
  "wall": {"aggregation": "sum", "display-name": "wall", "sampled": false},
  "cpu": {"aggregation": "sum", "display-name": "cpu", "sampled": false}
}"#;

/// One interval's profile, ready to send.
struct Interval {
    from: u64,
    until: u64,
    rate_hz: f64,
    /// Gzipped pprof.
    profile: Vec<u8>,
}

/// How a push went.
enum Sent {
    Ok,
    /// Worth trying again later: no connection, a timeout, 408, 429 or 5xx.
    Retry(String),
    /// The server will not take it.
    Refused(String),
}

/// The push thread, while `record` runs.
pub struct Pusher {
    wake: Sender<()>,
    done: Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

impl Pusher {
    /// Starts following `file`, the recording being written, and pushing the samples
    /// `view` keeps.
    pub fn start(
        config: PyroscopeConfig,
        file: File,
        view: ViewOptions,
    ) -> std::io::Result<Pusher> {
        let (wake, wakes) = mpsc::channel();
        let (finished, done) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("pyroscope-push".into())
            .spawn(move || {
                Follower::new(config, view).run(&file, &wakes);
                let _ = finished.send(());
            })?;
        Ok(Pusher {
            wake,
            done,
            thread: Some(thread),
        })
    }

    /// The recording is finished: pushes what is left, giving a server that does not take
    /// it [`FINAL_WAIT`] (what is still queued then is said on stderr).
    pub fn finish(mut self) {
        let _ = self.wake.send(());
        if self.done.recv_timeout(FINAL_WAIT + REQUEST_TIMEOUT).is_ok() {
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        // Tells the thread to stop; it is not waited for (a request may be under way).
        let _ = self.wake.send(());
    }
}

/// The push thread's state.
struct Follower {
    config: PyroscopeConfig,
    view: ViewOptions,
    agent: ureq::Agent,
    tail: Tail,
    /// Start of the next interval to build, ns since the recording's start.
    next_start_ns: u64,
    queue: std::collections::VecDeque<Interval>,
    /// No attempt before this.
    retry_at: Instant,
    backoff: Duration,
    /// Sending fails at the moment (said once on stderr).
    failing: bool,
    warned_failing: bool,
    warned_refused: bool,
    dropped: u64,
    refused: u64,
    pushed: u64,
}

impl Follower {
    fn new(config: PyroscopeConfig, view: ViewOptions) -> Follower {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .timeout_connect(Some(Duration::from_secs(3)))
            .http_status_as_error(false)
            .user_agent(format!("framescope/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Follower {
            config,
            view,
            agent,
            tail: Tail::new(),
            next_start_ns: 0,
            queue: Default::default(),
            retry_at: Instant::now(),
            backoff: Duration::from_secs(1),
            failing: false,
            warned_failing: false,
            warned_refused: false,
            dropped: 0,
            refused: 0,
            pushed: 0,
        }
    }

    fn run(&mut self, file: &File, wakes: &Receiver<()>) {
        let mut finishing: Option<Instant> = None;
        loop {
            if let Err(why) = self.tail.poll(file) {
                eprintln!(
                    "framescope: warning: the Pyroscope push stops: {}",
                    visible(&why)
                );
                return;
            }
            self.build_intervals(finishing.is_some());
            self.send_due();
            match finishing {
                Some(deadline) if self.queue.is_empty() || Instant::now() >= deadline => break,
                Some(deadline) => {
                    let until = self.retry_at.min(deadline);
                    std::thread::sleep(until.saturating_duration_since(Instant::now()).min(POLL));
                }
                None => match wakes.recv_timeout(POLL) {
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                        // The last look at the recording happens on the next turn, and
                        // what is queued is tried at once, whatever the backoff.
                        finishing = Some(Instant::now() + FINAL_WAIT);
                        self.retry_at = Instant::now();
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                },
            }
        }
        self.say_what_was_lost();
    }

    /// Builds the profile of every interval the recording has passed the end of (with
    /// `last`, the rest too), and queues it.
    fn build_intervals(&mut self, last: bool) {
        let every = self.config.every.as_nanos() as u64;
        loop {
            let rec = self.tail.recording();
            let start = self.next_start_ns;
            let end = start.saturating_add(every);
            let complete = rec.end_ns >= end;
            // An interval not over yet is built only at the end, if it has samples.
            let final_part = last && !rec.samples.is_empty();
            if !complete && !final_part {
                return;
            }
            // Skip intervals without samples at once.
            if let Some(first) = rec.samples.first() {
                if first.time_ns >= end {
                    self.next_start_ns = first.time_ns / every * every;
                    continue;
                }
            } else {
                self.next_start_ns = rec.end_ns / every * every;
                return;
            }
            let span_end = if complete {
                end
            } else {
                let summary_end = rec.summary.as_ref().map_or(0, |s| s.duration_ns);
                rec.end_ns.max(summary_end).max(start + 1)
            };
            let taken = rec.samples.partition_point(|s| s.time_ns < span_end);
            let later = rec.samples.split_off(taken);
            cpu::settle_on_cpu(rec);
            let profile = pprof::build(
                rec,
                &self.view,
                Span {
                    start_ns: start,
                    end_ns: span_end,
                },
            );
            rec.samples = later;
            self.next_start_ns = end;
            if !profile.sample.is_empty() {
                let start_unix = rec.meta.start_unix_ns;
                let from = (start_unix + start) / 1_000_000_000;
                let until = (start_unix + span_end)
                    .div_ceil(1_000_000_000)
                    .max(from + 1);
                let interval = Interval {
                    from,
                    until,
                    rate_hz: rec.meta.rate_hz,
                    profile: pprof::gzip(&profile),
                };
                self.queue.push_back(interval);
                if self.queue.len() > QUEUE {
                    self.queue.pop_front();
                    self.dropped += 1;
                }
            }
            if !complete {
                return;
            }
        }
    }

    /// Sends queued intervals, oldest first, unless waiting to retry.
    fn send_due(&mut self) {
        while let Some(interval) = self.queue.front() {
            if Instant::now() < self.retry_at {
                return;
            }
            match self.send(interval) {
                Sent::Ok => {
                    self.queue.pop_front();
                    self.pushed += 1;
                    self.backoff = Duration::from_secs(1);
                    if self.failing {
                        self.failing = false;
                        eprintln!(
                            "framescope: pushing to Pyroscope at {} works again{}",
                            visible(&self.config.url),
                            if self.dropped > 0 {
                                format!(
                                    " ({} intervals were dropped meanwhile; the local recording has them)",
                                    self.dropped
                                )
                            } else {
                                String::new()
                            }
                        );
                    }
                }
                Sent::Retry(why) => {
                    if !self.warned_failing {
                        self.warned_failing = true;
                        eprintln!(
                            "framescope: warning: cannot push to Pyroscope at {}: {}; retrying, keeping up to {QUEUE} intervals (the local recording is complete)",
                            visible(&self.config.url),
                            visible(&why)
                        );
                    }
                    self.failing = true;
                    self.retry_at = Instant::now() + self.backoff;
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                    return;
                }
                Sent::Refused(why) => {
                    self.queue.pop_front();
                    self.refused += 1;
                    if !self.warned_refused {
                        self.warned_refused = true;
                        eprintln!(
                            "framescope: warning: Pyroscope at {} refused a profile: {}",
                            visible(&self.config.url),
                            visible(&why)
                        );
                    }
                }
            }
        }
    }

    fn send(&self, interval: &Interval) -> Sent {
        let boundary = format!(
            "framescope-{:016x}{:016x}",
            fastrand::u64(..),
            fastrand::u64(..)
        );
        let body = multipart(&boundary, &interval.profile);
        let url = self
            .config
            .ingest_url(interval.from, interval.until, interval.rate_hz);
        let mut request = self.agent.post(&url).header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        );
        if let Some(token) = &self.config.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(tenant) = &self.config.tenant {
            request = request.header("X-Scope-OrgID", tenant.as_str());
        }
        match request.send(&body[..]) {
            Ok(mut response) => {
                let status = response.status().as_u16();
                if (200..300).contains(&status) {
                    return Sent::Ok;
                }
                let text = response
                    .body_mut()
                    .with_config()
                    .limit(512)
                    .read_to_string()
                    .unwrap_or_default();
                let first_line = text.lines().next().unwrap_or("").trim();
                let why = if first_line.is_empty() {
                    format!("HTTP {status}")
                } else {
                    format!("HTTP {status}: {first_line}")
                };
                if status == 408 || status == 429 || status >= 500 {
                    Sent::Retry(why)
                } else {
                    Sent::Refused(why)
                }
            }
            Err(e) => Sent::Retry(e.to_string()),
        }
    }

    fn say_what_was_lost(&self) {
        let unsent = self.queue.len() as u64 + self.dropped;
        if unsent > 0 || self.refused > 0 {
            eprintln!(
                "framescope: warning: Pyroscope at {} got {} intervals; {unsent} could not be sent and {} were refused (the local recording has every sample)",
                visible(&self.config.url),
                self.pushed,
                self.refused
            );
        }
    }
}

/// How long `record` waits at its end for a server that does not take the last intervals.
pub const FINAL_WAIT: Duration = Duration::from_secs(3);

/// The request body: the gzipped profile as form file `profile`, and the sample type
/// configuration as `sample_type_config`.
fn multipart(boundary: &str, profile: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(profile.len() + SAMPLE_TYPE_CONFIG.len() + 512);
    let part = |body: &mut Vec<u8>, name: &str, file: &str, kind: &str, data: &[u8]| {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: {kind}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    };
    part(
        &mut body,
        "profile",
        "profile.pb.gz",
        "application/octet-stream",
        profile,
    );
    part(
        &mut body,
        "sample_type_config",
        "sample_type_config.json",
        "application/json",
        SAMPLE_TYPE_CONFIG.as_bytes(),
    );
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEN_SECONDS: Duration = Duration::from_secs(10);

    fn config(url: &str, tags: &[&str]) -> Result<PyroscopeConfig, String> {
        let tags = tags
            .iter()
            .map(|t| parse_tag(t))
            .collect::<Result<_, _>>()?;
        PyroscopeConfig::with_env(
            url,
            "checkout",
            tags,
            TEN_SECONDS,
            Some("s3cret".into()),
            None,
        )
    }

    #[test]
    fn the_ingest_url_carries_name_tags_and_range() {
        let c = config("http://127.0.0.1:4040/", &["region=eu", "env=prod"]).expect("valid");
        assert_eq!(
            c.ingest_url(100, 110, 1000.0),
            "http://127.0.0.1:4040/ingest?name=checkout%7Bregion%3Deu%2Cenv%3Dprod%7D&from=100&until=110&format=pprof&spyName=framescope&sampleRate=1000"
        );
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "the token is never printed"
        );
    }

    #[test]
    fn bad_options_are_one_line_errors() {
        for (url, tags) in [
            ("ftp://host", &[][..]),
            ("127.0.0.1:4040", &[]),
            ("http://user:pw@host", &[]),
            ("http://host/?x=1", &[]),
            ("http://host", &["novalue"]),
            ("http://host", &["k=a,b"]),
            ("http://host", &["1k=v"]),
        ] {
            let err = config(url, tags).expect_err(url);
            assert!(!err.contains('\n'), "{err}");
        }
        assert!(
            PyroscopeConfig::with_env("http://h", "a b", Vec::new(), TEN_SECONDS, None, None)
                .is_err()
        );
        let token = PyroscopeConfig::with_env(
            "http://h",
            "a",
            Vec::new(),
            TEN_SECONDS,
            Some("a\nb".into()),
            None,
        );
        assert!(token.expect_err("newline").contains(TOKEN_VARIABLE));
    }

    #[test]
    fn intervals_parse_within_bounds() {
        assert_eq!(parse_interval("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_interval("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_interval("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_interval("3"), Ok(Duration::from_secs(3)));
        for bad in ["0s", "500ms", "2h", "ten", "", "NaNs", "-5s"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }
}
