//! Running a fake in a child process, so a benchmark's memory readings show the client alone:
//! the benchmark binary starts itself again with `COURIER_FAKE_CHILD=drive|graph`, and that
//! child serves the fake until its stdin closes.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

use crate::{DriveFake, GraphFake};

const ENV: &str = "COURIER_FAKE_CHILD";

/// Call first in `main`: in the child, serves the fake named by the environment, prints
/// `URL REFRESH_TOKEN`, and exits when the parent closes stdin; in the parent, returns.
pub fn serve_if_child() {
    let Ok(kind) = std::env::var(ENV) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    rt.block_on(async {
        let (url, refresh, _keep): (String, String, Box<dyn std::any::Any>) = match kind.as_str() {
            "drive" => {
                let fake = DriveFake::start().await;
                let (_, refresh) = fake.oauth().issue();
                (fake.url().to_string(), refresh, Box::new(fake))
            }
            _ => {
                let fake = GraphFake::start().await;
                fake.add_folder("Bench");
                let (_, refresh) = fake.oauth().issue();
                (fake.url().to_string(), refresh, Box::new(fake))
            }
        };
        println!("{url} {refresh}");
        std::io::stdout().flush().expect("stdout");
        tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        })
        .await
        .expect("stdin reader");
    });
    std::process::exit(0);
}

/// A fake serving from a child process; killed when dropped.
#[derive(Debug)]
pub struct FakeChild {
    child: Child,
    pub url: String,
    pub refresh_token: String,
}

impl FakeChild {
    /// Starts `kind` (`drive` or `graph`) in a child copy of this executable.
    pub fn spawn(kind: &str) -> Self {
        let mut child = Command::new(std::env::current_exe().expect("current executable"))
            .env(ENV, kind)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the fake's process");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("the fake's address");
        let mut words = line.split_whitespace().map(str::to_string);
        let (Some(url), Some(refresh_token)) = (words.next(), words.next()) else {
            panic!("the fake's process printed {line:?}");
        };
        FakeChild {
            child,
            url,
            refresh_token,
        }
    }
}

impl Drop for FakeChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
