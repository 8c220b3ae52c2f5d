//! What every end-to-end test of the binary needs: run `aigis` in a folder and collect
//! its exit code and output, failing the test on a panic.
#![allow(dead_code, reason = "each test file uses a different part")]

use std::path::Path;
use std::process::{Command, Output, Stdio};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub raw: Vec<u8>,
}

impl Run {
    /// stdout parsed as one JSON document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Runs `aigis ARGS` in `dir` with `env` set (and no project or passphrase inherited).
pub fn aigis_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aigis"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("AIGIS_PROJECT")
        .env_remove("AIGIS_KEY_PASSPHRASE")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        raw: stdout,
    };
    assert!(
        !run.stderr.contains("panicked"),
        "aigis panicked: {}",
        run.stderr
    );
    run
}

pub fn aigis(dir: &Path, args: &[&str]) -> Run {
    aigis_in(dir, args, &[])
}

/// Runs `aigis ARGS` and asserts it exits with `code` and says `needle` on stderr.
pub fn fails(dir: &Path, args: &[&str], code: i32, needle: &str) -> Run {
    let r = aigis(dir, args);
    assert_eq!(r.code, code, "aigis {args:?}\n{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(needle), "aigis {args:?}: {}", r.stderr);
    r
}

/// Runs `aigis ARGS` and asserts it exits 0.
pub fn ok(dir: &Path, args: &[&str]) -> Run {
    let r = aigis(dir, args);
    assert_eq!(r.code, 0, "aigis {args:?}\n{}\n{}", r.stdout, r.stderr);
    r
}

/// `t.csv` in `dir`: two classes (`y`) in two features `a`, `b` within [0, 1], `n`
/// rows, well apart, seeded: a table every trainer separates.
#[allow(dead_code, reason = "shared by some of the test crates")]
pub fn two_class_table(dir: &Path, n: usize, seed: u64) {
    use std::fmt::Write as _;
    let mut rng = Rng(seed);
    let mut csv = String::from("a,b,y\n");
    for i in 0..n {
        let y = i % 2;
        let centre = if y == 0 { 0.3 } else { 0.7 };
        let _ = writeln!(
            csv,
            "{:.4},{:.4},{y}",
            centre + 0.2 * (rng.uniform() - 0.5),
            centre + 0.2 * (rng.uniform() - 0.5)
        );
    }
    std::fs::write(dir.join("t.csv"), csv).unwrap();
}

/// A seeded generator, so that the samples are the same on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A standard normal draw (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    pub fn pick<'a>(&mut self, items: &[&'a str], weights: &[f64]) -> &'a str {
        let mut u = self.uniform() * weights.iter().sum::<f64>();
        for (item, w) in items.iter().zip(weights) {
            if u < *w {
                return item;
            }
            u -= w;
        }
        items[items.len() - 1]
    }
}

/// A model of `tests/data/runtime`, by file name.
pub fn runtime_model(name: &str) -> String {
    let p: std::path::PathBuf = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/runtime")
        .join(name);
    p.display().to_string()
}

/// The model's test inputs from its fixture, as a CSV with `f0…` columns (and a
/// `label` column: the fixture's class when it has one).
pub fn inputs_csv(dir: &Path, fixture: &str, name: &str, labels: Option<&str>) {
    let text = std::fs::read_to_string(runtime_model(fixture)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let input = v["inputs"].as_object().unwrap().values().next().unwrap();
    let shape: Vec<usize> = input["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let data: Vec<f64> = input["data"]
        .as_array()
        .unwrap()
        .iter()
        // A missing value (JSON null) is written as an empty cell.
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect();
    let cols: usize = shape[1..].iter().product();
    let label: Option<Vec<i64>> = labels.map(|out| {
        v["outputs"][out]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect()
    });
    use std::fmt::Write as _;
    let mut csv: String = (0..cols).map(|j| format!("f{j},")).collect();
    csv.push_str("label\n");
    for i in 0..shape[0] {
        for j in 0..cols {
            let x = data[i * cols + j];
            if x.is_nan() {
                csv.push(',');
            } else {
                write!(csv, "{x},").unwrap();
            }
        }
        let l = label.as_ref().map_or(0, |l| l[i]);
        writeln!(csv, "{l}").unwrap();
    }
    std::fs::write(dir.join(name), csv).unwrap();
}

/// `aigis serve` on a free loopback port in `dir`, with `flags` before `serve`: the
/// process and the first thing it prints (the address, or with `--json` the start
/// document, which may span lines).
pub fn serve(dir: &Path, flags: &[&str]) -> (std::process::Child, String) {
    use std::io::BufRead as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_aigis"))
        .args(flags)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .env_remove("AIGIS_PROJECT")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    loop {
        let read = out.read_line(&mut text).unwrap();
        let done =
            !text.starts_with('{') || serde_json::from_str::<serde_json::Value>(&text).is_ok();
        if read == 0 || done {
            break;
        }
    }
    (child, text.trim().to_owned())
}
