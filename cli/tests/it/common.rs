//! Running the built `ief` from the workspace root.

use std::path::Path;
use std::process::Command;

pub(crate) fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("cli sits in the workspace")
}

/// Exit code, standard output and standard error of `ief ARGS` run in the workspace root.
pub(crate) fn ief(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ief")).args(args).current_dir(workspace()).output().expect("ief runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
