//! Standard output and error for everything ief prints. A reader that closes the pipe early
//! (`ief merge … | head -1`) ends ief quietly with success, as other command-line tools do,
//! where `print!` would panic.

use std::fmt;
use std::io::Write;

/// `print!` that a closed pipe ends quietly.
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::stdout(format_args!($($arg)*)) };
}

/// `println!` that a closed pipe ends quietly.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::output::stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprint!` that a closed pipe ends quietly.
macro_rules! err {
    ($($arg:tt)*) => { $crate::output::stderr(format_args!($($arg)*)) };
}

/// `eprintln!` that a closed pipe ends quietly.
macro_rules! errln {
    ($($arg:tt)*) => { $crate::output::stderr(format_args!("{}\n", format_args!($($arg)*))) };
}

pub(crate) fn stdout(args: fmt::Arguments<'_>) {
    finish(std::io::stdout().lock().write_fmt(args));
}

pub(crate) fn stderr(args: fmt::Arguments<'_>) {
    finish(std::io::stderr().lock().write_fmt(args));
}

/// One line of a server's request log: a closed pipe loses the line, never the server.
pub(crate) fn log_line(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Raw bytes to standard output (an SVG, a graph).
pub(crate) fn stdout_bytes(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    finish(out.write_all(bytes).and_then(|()| out.flush()));
}

fn finish(written: std::io::Result<()>) {
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            // Standard output is gone (a full disk, a closed descriptor): say so once and stop.
            let _ = writeln!(std::io::stderr(), "error: cannot write the output: {e}");
            std::process::exit(2);
        }
    }
}
