//! `xlmr-sentiment`: classify text with an XLM-R sequence-classification model folder.
//!
//! Exit codes: 0 success; 1 some input lines could not be classified (each has an error object
//! in the output); 2 a usage or model error (one line on stderr).

mod cmd;

/// The static (musl) build of the container image links mimalloc: musl's allocator is slow
/// under threads (deploy/README.md has the figures).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use anyhow::Context;
use clap::FromArgMatches;

use cmd::flags::{Cli, Command};

fn main() -> ExitCode {
    // Mesa's device-select Vulkan layer connects to a Wayland display to pick a default GPU and
    // prints "error: XDG_RUNTIME_DIR is invalid" on a server without one; wgpu picks the
    // adapter itself. Set before any thread exists.
    if std::env::var_os("NODEVICE_SELECT").is_none() {
        std::env::set_var("NODEVICE_SELECT", "1");
    }
    let cli = match cmd::flags::command()
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches))
    {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                let _ = e.print();
                return ExitCode::from(2);
            }
            // clap renders a paragraph (problem, details, tips, usage); keep problem and details
            // on one line.
            let rendered = e.to_string();
            let summary: Vec<&str> = rendered
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:"))
                .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
                .collect();
            eprintln!("{} (see --help)", summary.join(" "));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(threads) = cli.threads {
        // The matrix products and attention run on rayon's global pool.
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads as usize)
            .build_global()
            .context("cannot start the thread pool")?;
    }
    match cli.command {
        Command::Bench(args) => cmd::serve::bench(args),
        Command::Classify(args) => cmd::classify::classify(args),
        Command::Eval(args) => cmd::eval::eval(args),
        Command::Reproduce(args) => cmd::reproduce::reproduce(args),
        Command::Fetch(args) => cmd::model::fetch(args),
        Command::Verify(args) => cmd::model::verify(args),
        Command::Pack(args) => cmd::model::pack(args),
        Command::Serve(args) => cmd::serve::serve(args),
    }
}
