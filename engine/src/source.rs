//! Loaded policy files and byte spans into them. Line and column exist only for display.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use line_index::{LineIndex, TextSize, WideEncoding};

/// Index of a file in a [`SourceDb`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// A byte range in one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        Span { file, start: start as u32, end: end.max(start) as u32 }
    }

    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(self) -> bool {
        self.end == self.start
    }
}

/// One-based line and column (columns count characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A file's name for display and its text (decoded to UTF-8, BOM removed).
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    lines: LineIndex,
}

impl SourceFile {
    pub fn position(&self, offset: u32) -> Position {
        let offset = self.char_boundary(offset as usize) as u32;
        let lc = self.lines.line_col(TextSize::from(offset));
        let column = self.lines.to_wide(WideEncoding::Utf32, lc).map_or(lc.col, |w| w.col);
        Position { line: lc.line + 1, column: column + 1 }
    }

    pub fn slice(&self, span: Span) -> &str {
        self.text.get(span.start as usize..span.end as usize).unwrap_or("")
    }

    /// The nearest character boundary at or before `offset`, within the text.
    pub fn char_boundary(&self, offset: usize) -> usize {
        let mut at = offset.min(self.text.len());
        while !self.text.is_char_boundary(at) {
            at -= 1;
        }
        at
    }

    /// Zero-based line holding a byte offset.
    pub fn line_of(&self, offset: usize) -> u32 {
        self.lines.line_col(TextSize::from(self.char_boundary(offset) as u32)).line
    }

    /// Byte range of a zero-based line, its line end included; `None` past the last line.
    pub fn line_range(&self, line: u32) -> Option<Range<usize>> {
        self.lines.line(line).map(|r| usize::from(r.start())..usize::from(r.end()))
    }
}

/// All files of a run; spans point into them.
#[derive(Debug, Default)]
pub struct SourceDb {
    files: Vec<SourceFile>,
}

impl SourceDb {
    pub fn new() -> SourceDb {
        SourceDb::default()
    }

    pub fn add(&mut self, path: impl Into<PathBuf>, text: String) -> FileId {
        let lines = LineIndex::new(&text);
        self.files.push(SourceFile { path: path.into(), text, lines });
        FileId(self.files.len() as u32 - 1)
    }

    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn path(&self, id: FileId) -> &Path {
        &self.file(id).path
    }

    pub fn position(&self, span: Span) -> Position {
        self.file(span.file).position(span.start)
    }

    pub fn slice(&self, span: Span) -> &str {
        self.file(span.file).slice(span)
    }

    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate().map(|(i, f)| (FileId(i as u32), f))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}
