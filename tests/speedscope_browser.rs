//! framescope's speedscope output opened in the speedscope app itself (the npm package's
//! built app, installed by scripts/provision) in headless Chromium: the app and the file
//! are served on 127.0.0.1 by a small server here, the page opened with
//! `#profileURL=...&view=sandwich`, and its DOM dumped after a virtual-time budget. A
//! rendered profile shows our file's name, its thread's profile and, in the sandwich
//! table, the hottest function first; a broken file shows none of it (the app's alert,
//! caught by a shim in the served page, says why). Runs only where `chromium` is
//! installed, and says so when it is not.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{among_others, framescope, matrix, ScenarioDir};

fn chromium() -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join("chromium"))
        .find(|p| p.is_file())
}

fn speedscope_app() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache"));
    cache.join("framescope/speedscope/node_modules/speedscope/dist/release")
}

/// The page's `alert` writes its message on the root element instead of blocking the
/// headless browser.
const ALERT_SHIM: &str = "<script>window.alert=function(m){document.documentElement\
                          .setAttribute(\"data-alert\",String(m))}</script>";

/// Serves `root` (index.html with the alert shim) on 127.0.0.1 from a thread; returns the
/// port. Each connection: one GET, answered and closed.
fn serve(root: PathBuf) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || answer(stream, &root));
        }
    });
    port
}

fn answer(mut stream: TcpStream, root: &Path) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    // Headers, up to the blank line (bounded).
    for _ in 0..100 {
        let mut line = String::new();
        if reader.read_line(&mut line).map_or(true, |n| n == 0) || line.trim().is_empty() {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let name = path.trim_start_matches('/');
    let name = if name.is_empty() { "index.html" } else { name };
    let file = root.join(name);
    let body = if name.contains("..") {
        None
    } else {
        std::fs::read(&file).ok()
    };
    let Some(mut body) = body else {
        let _ = stream.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    if name == "index.html" {
        let text =
            String::from_utf8_lossy(&body).replacen("<head>", &format!("<head>{ALERT_SHIM}"), 1);
        body = text.into_bytes();
    }
    let kind = match file.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("css") => "text/css",
        Some("json") => "application/json",
        Some("wasm") => "application/wasm",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    };
    let head = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

/// The DOM of the app with `profile` (a file name under the served root) loaded, in the
/// sandwich view.
fn dump_dom(chromium: &Path, port: u16, profile: &str, scratch: &Path) -> String {
    let profile_dir = scratch.join(format!("chromium-profile-{profile}"));
    let _ = std::fs::remove_dir_all(&profile_dir);
    let url = format!(
        "http://127.0.0.1:{port}/index.html#profileURL=http://127.0.0.1:{port}/{profile}&view=sandwich"
    );
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile_dir.display()))
        .arg(&url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
        text
    });
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s on {url}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().expect("reader")
}

/// What a rendered profile shows; the reason it does not, otherwise.
fn rendered(dom: &str, title: &str, profile_name: &str, hottest: &str) -> Result<(), String> {
    if let Some(at) = dom.find("data-alert=") {
        return Err(format!(
            "the app alerted: {}",
            &dom[at..dom.len().min(at + 200)]
        ));
    }
    if dom.contains("Something went wrong") {
        return Err("the app shows its error message".into());
    }
    let text = dom
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    if !text.contains(&format!("{title} - speedscope")) {
        return Err(format!("no title {title:?}"));
    }
    if !text.contains(profile_name) {
        return Err(format!("no profile {profile_name:?}"));
    }
    // The sandwich table's first symbol (sorted by self time).
    let symbols: Vec<&str> = text
        .split('<')
        .filter_map(|tag| tag.split_once('>').map(|(_, t)| t.trim()))
        .filter(|t| !t.is_empty())
        .skip_while(|t| *t != "Symbol Name")
        .skip(1)
        .filter(|t| !t.ends_with("%)"))
        .collect();
    match symbols.first() {
        Some(first) if *first == hottest => Ok(()),
        other => Err(format!("first symbol {other:?}, not {hottest}")),
    }
}

#[test]
fn speedscope_renders_our_file_and_not_a_broken_one() {
    let Some(chromium) = chromium() else {
        eprintln!("skipped: chromium is not installed (scripts/provision installs it)");
        return;
    };
    let app = speedscope_app();
    assert!(
        app.join("index.html").exists(),
        "{} is missing; run scripts/provision",
        app.display()
    );
    let _cpu = among_others();
    let py = matrix()
        .into_iter()
        .find(|p| p.name == "pyenv-3.12")
        .expect("pyenv-3.12; run scripts/provision");
    let dir = ScenarioDir::new(&py);
    let root = dir.host.join("www");
    std::fs::create_dir_all(&root).expect("www");
    for entry in std::fs::read_dir(&app).expect("app dir") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_file() {
            std::fs::copy(entry.path(), root.join(entry.file_name())).expect("copy app");
        }
    }
    let json = root.join("profile.json");
    let mut args = vec![
        "record".to_string(),
        "-q".into(),
        "-o".into(),
        json.to_string_lossy().into_owned(),
        "--".into(),
    ];
    args.extend(dir.argv(&py, "pstats_target.py", &["1.0"]));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = framescope(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&json).expect("speedscope file");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("json");
    let title = doc["name"].as_str().expect("name").to_string();
    let profile_name = doc["profiles"][doc["activeProfileIndex"].as_u64().unwrap_or(0) as usize]
        ["name"]
        .as_str()
        .expect("profile name")
        .to_string();
    // The same file cut short: not JSON any more.
    std::fs::write(root.join("broken.json"), &text[..text.len() / 2]).expect("broken");

    let port = serve(root.clone());
    let dom = dump_dom(&chromium, port, "profile.json", &dir.host);
    if let Err(why) = rendered(&dom, &title, &profile_name, "inner") {
        panic!("speedscope did not render profile.json: {why}\n{dom}");
    }
    let dom = dump_dom(&chromium, port, "broken.json", &dir.host);
    let verdict = rendered(&dom, &title, &profile_name, "inner");
    assert!(verdict.is_err(), "a broken file passed as rendered:\n{dom}");
    eprintln!("broken.json: {}", verdict.unwrap_err());
}
