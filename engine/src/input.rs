//! Reading user-supplied files and folders with bounds: every read stops one byte past its
//! limit (a FIFO or `/dev/zero` cannot make ief read forever), and folder walks visit each
//! real directory once, skip anything that is not a regular file, and stay out of the
//! filesystem root and the kernel's pseudo filesystems.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a bounded read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{}", too_large_text(*.size, *.limit))]
    TooLarge {
        /// The file's size when the filesystem knows it (a regular file), else `None`.
        size: Option<u64>,
        limit: u64,
    },
    #[error("the file is not valid UTF-8")]
    NotUtf8,
    #[error("not a file but a FIFO or socket")]
    Pipe,
}

fn too_large_text(size: Option<u64>, limit: u64) -> String {
    match size {
        Some(size) => format!("the file has {size} bytes; ief reads at most {limit}"),
        None => format!("the file has more than {limit} bytes, the most ief reads"),
    }
}

/// The whole file, or an error once it is longer than `limit` bytes.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = std::fs::File::open(path)?;
    let known = file.metadata().ok().filter(std::fs::Metadata::is_file).map(|m| m.len());
    if let Some(size) = known.filter(|&s| s > limit) {
        return Err(ReadError::TooLarge { size: Some(size), limit });
    }
    let mut bytes = Vec::with_capacity(known.unwrap_or(0) as usize);
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { size: known, limit });
    }
    Ok(bytes)
}

/// [`read_limited`] as UTF-8 text.
pub fn read_text_limited(path: &Path, limit: u64) -> Result<String, ReadError> {
    String::from_utf8(read_limited(path, limit)?).map_err(|_| ReadError::NotUtf8)
}

/// Refuses a FIFO or socket. For files another file names (a scenario's trusted roots, a
/// snapshot): opening a FIFO waits for a writer, which only the user's own arguments may do.
pub fn refuse_pipe(path: &Path) -> Result<(), ReadError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = std::fs::metadata(path)?.file_type();
        if kind.is_fifo() || kind.is_socket() {
            return Err(ReadError::Pipe);
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// A folder walk's result: matching files in sorted order per folder, and what could not be
/// read or was refused.
#[derive(Debug, Default)]
pub struct Walk {
    pub files: Vec<PathBuf>,
    pub errors: Vec<(PathBuf, String)>,
}

/// Regular files under `root` (following symlinks) whose name satisfies `keep`. Each directory
/// is entered once by its canonical path, so symlink loops end; FIFOs, sockets and devices
/// are skipped; the filesystem root and `/proc`, `/sys`, `/dev` are refused.
pub fn walk(root: &Path, keep: &dyn Fn(&Path) -> bool) -> Walk {
    let mut walk = Walk::default();
    let mut seen = HashSet::new();
    visit(root, keep, &mut seen, &mut walk);
    walk
}

fn visit(dir: &Path, keep: &dyn Fn(&Path) -> bool, seen: &mut HashSet<PathBuf>, walk: &mut Walk) {
    let canonical = match dir.canonicalize() {
        Ok(c) => c,
        Err(e) => return walk.errors.push((dir.to_path_buf(), e.to_string())),
    };
    if let Err(reason) = searchable(&canonical) {
        return walk.errors.push((dir.to_path_buf(), reason));
    }
    if !seen.insert(canonical) {
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => return walk.errors.push((dir.to_path_buf(), e.to_string())),
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        // `metadata` follows symlinks: a link to a folder is walked, a link to a device skipped.
        let Ok(meta) = std::fs::metadata(&p) else { continue };
        if meta.is_dir() {
            visit(&p, keep, seen, walk);
        } else if meta.is_file() && keep(&p) {
            walk.files.push(p);
        }
    }
}

/// Refuses folders no policy or scenario set lives in: searching them would read the whole
/// machine or files without end.
pub fn searchable(canonical: &Path) -> Result<(), String> {
    if canonical.parent().is_none() {
        return Err(format!("refusing to search {} (the filesystem root) for files", canonical.display()));
    }
    let system = ["/proc", "/sys", "/dev"].into_iter().find(|s| canonical.starts_with(s));
    match system {
        Some(s) => {
            Err(format!("refusing to search {} ({s} is a system folder, not files of yours)", canonical.display()))
        }
        None => Ok(()),
    }
}

/// The folder a file sits in; `.` for a bare file name (whose parent is the empty path).
pub fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Refuses YAML text whose flow collections nest deeper than `max`, naming where, before any
/// YAML parser sees it (see [`yaml_too_deep`]).
pub fn check_yaml_nesting(text: &str, max: usize) -> Result<(), String> {
    match yaml_too_deep(text, max) {
        Some((line, column)) => {
            Err(format!("flow collections ([ or {{) nest deeper than {max} levels at line {line} column {column}"))
        }
        None => Ok(()),
    }
}

/// Where YAML text first nests flow collections (`[`, `{`) deeper than `max`: one-based line
/// and column. A cheap pass before parsing, because the YAML scanner's cost grows with the
/// square of that depth (100,000 `[` took 46 s before the parser's own limit ended it). Quoted
/// scalars, comments and block scalars (`|`, `>`) are skipped; block nesting needs indentation,
/// so the file size already bounds it.
pub fn yaml_too_deep(text: &str, max: usize) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    // After indentation, `- `, `: `, `[`, `{` or `,`, where a node (and so a collection) may start.
    let mut node_start = true;
    let mut block_scalar_parent: Option<usize> = None;
    // The quote of a quoted scalar that runs on to the next lines.
    let mut open_quote: Option<u8> = None;
    for (number, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if let Some(parent) = block_scalar_parent {
            if line.trim().is_empty() || indent > parent {
                continue;
            }
            block_scalar_parent = None;
        }
        let bytes = line.as_bytes();
        let mut i = indent;
        if let Some(quote) = open_quote {
            match closing_quote(bytes, quote, 0) {
                Some(end) => {
                    open_quote = None;
                    node_start = false;
                    i = end + 1;
                }
                None => continue,
            }
        }
        while i < bytes.len() {
            let c = bytes[i];
            let next_is_space = bytes.get(i + 1).is_none_or(|b| b.is_ascii_whitespace());
            match c {
                b' ' | b'\t' => {}
                b'#' if i == 0 || bytes[i - 1].is_ascii_whitespace() => break,
                b'"' | b'\'' if node_start => match closing_quote(bytes, c, i + 1) {
                    Some(end) => {
                        i = end;
                        node_start = false;
                    }
                    None => {
                        open_quote = Some(c);
                        break;
                    }
                },
                b'[' | b'{' if node_start || depth > 0 => {
                    depth += 1;
                    if depth > max {
                        let column = line[..i].chars().count() + 1;
                        return Some((number + 1, column));
                    }
                    node_start = true;
                }
                b']' | b'}' if depth > 0 => {
                    depth -= 1;
                    node_start = false;
                }
                b',' if depth > 0 => node_start = true,
                b':' if next_is_space || depth > 0 => node_start = true,
                b'-' | b'?' if node_start && next_is_space => {}
                b'|' | b'>' if node_start && depth == 0 => {
                    block_scalar_parent = Some(indent);
                    break;
                }
                _ => node_start = false,
            }
            i += 1;
        }
        if open_quote.is_none() {
            node_start = true;
        }
    }
    None
}

/// The index of the `quote` that closes a quoted scalar, searching `bytes` from `from`
/// (`''` escapes a single quote, `\` escapes in double quotes).
fn closing_quote(bytes: &[u8], quote: u8, from: usize) -> Option<usize> {
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote == b'"' => i += 1,
            b'\'' if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 1,
            q if q == quote => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("ief-input-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("scratch folder");
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn is_xml(p: &Path) -> bool {
        p.extension().is_some_and(|e| e == "xml")
    }

    #[test]
    fn reads_stop_one_byte_past_the_limit() {
        let s = Scratch::new("limit");
        let file = s.0.join("f.txt");
        std::fs::write(&file, b"12345").expect("write");
        assert_eq!(read_limited(&file, 5).expect("fits"), b"12345");
        assert!(matches!(read_limited(&file, 4), Err(ReadError::TooLarge { size: Some(5), limit: 4 })));
        assert!(matches!(read_text_limited(&file, 5), Ok(t) if t == "12345"));
    }

    #[cfg(unix)]
    #[test]
    fn an_endless_device_is_cut_off() {
        let started = std::time::Instant::now();
        let err = read_limited(Path::new("/dev/zero"), 1024).expect_err("too large");
        assert!(matches!(err, ReadError::TooLarge { size: None, limit: 1024 }), "{err:?}");
        assert!(err.to_string().contains("more than 1024 bytes"));
        assert!(started.elapsed().as_secs() < 5);
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loops_and_devices_are_walked_once_or_skipped() {
        let s = Scratch::new("loops");
        std::fs::write(s.0.join("a.xml"), "<a/>").expect("write");
        std::fs::create_dir(s.0.join("sub")).expect("sub");
        std::fs::write(s.0.join("sub/b.xml"), "<b/>").expect("write");
        for link in ["l1", "l2", "sub/up"] {
            let target = if link == "sub/up" { ".." } else { "." };
            std::os::unix::fs::symlink(target, s.0.join(link)).expect("symlink");
        }
        std::os::unix::fs::symlink("/dev/zero", s.0.join("zero.xml")).expect("symlink");
        let walk = walk(&s.0, &is_xml);
        let names: Vec<String> =
            walk.files.iter().map(|p| p.strip_prefix(&s.0).expect("inside").display().to_string()).collect();
        assert_eq!(names, ["a.xml", "sub/b.xml"]);
        assert!(walk.errors.is_empty(), "{:?}", walk.errors);
    }

    #[cfg(unix)]
    #[test]
    fn system_folders_are_refused() {
        for dir in ["/", "/proc/self", "/sys", "/dev"] {
            let walk = walk(Path::new(dir), &is_xml);
            assert!(walk.files.is_empty(), "{dir}");
            assert!(walk.errors[0].1.starts_with("refusing to search"), "{dir}: {:?}", walk.errors);
        }
    }

    #[test]
    fn a_bare_file_name_sits_in_the_current_folder() {
        assert_eq!(folder_of(Path::new("x.yaml")), Path::new("."));
        assert_eq!(folder_of(Path::new("a/x.yaml")), Path::new("a"));
        assert_eq!(folder_of(Path::new("/x.yaml")), Path::new("/"));
    }

    #[test]
    fn yaml_flow_nesting_is_measured_before_parsing() {
        let deep = format!("a: {}{}\n", "[".repeat(65), "]".repeat(65));
        assert_eq!(yaml_too_deep(&deep, 64), Some((1, 68)));
        assert_eq!(yaml_too_deep(&deep, 65), None);
        let maps = format!("body:\n  - {}1{}\n", "{a: ".repeat(70), "}".repeat(70));
        assert_eq!(yaml_too_deep(&maps, 64), Some((2, 5 + 4 * 64)));
        // Brackets inside plain and quoted scalars, comments and block scalars are text.
        let text = format!(
            "a: x[[[[\nb: \"{0}\"\nc: '{0}'\n# {0}\nd: |\n  {0}\n  {0}\ne: [1, [2], {{f: [3]}}]\n",
            "[".repeat(100)
        );
        assert_eq!(yaml_too_deep(&text, 3), None);
        assert_eq!(yaml_too_deep(&text, 2), Some((8, 17)));
        // Closing brackets inside a quoted scalar over several lines do not hide real depth.
        let hidden = format!("a: {0} \"x\n  {1}\n  y\" {0}\n", "[".repeat(40), "]".repeat(40));
        assert_eq!(yaml_too_deep(&hidden, 64), Some((3, 30)));
        let quoted = "a: ['it''s\n  ]]', \"q\\\"\n ]\"]\n";
        assert_eq!(yaml_too_deep(quoted, 1), None);
        let started = std::time::Instant::now();
        assert_eq!(yaml_too_deep(&"[".repeat(1 << 20), 64), Some((1, 65)));
        assert!(yaml_too_deep(&"a: [b, c]\n".repeat(100_000), 64).is_none());
        assert!(started.elapsed().as_secs() < 5);
    }
}
