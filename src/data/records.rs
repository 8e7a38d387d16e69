//! HitCast's CSV reader: one streaming pass over a file's bytes that checks the shape of every
//! record and keeps the text of the columns a caller asks for, each with the physical line its
//! record starts on, so that each problem is reported with its row, line and field count
//! instead of a parser's internal message. It finds compressed files, the wrong delimiter,
//! ragged records, unclosed quotes, invalid UTF-8 and duplicated headers.
//!
//! It replaced polars' reader (issue 21): polars held every column as text at once, about
//! four times the file, where this keeps only the wanted columns, packed, and never the whole
//! file. A test compares its cells with polars' on the same files.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// Most columns a CSV may have: a header of 10⁵ columns is a few MB, and each column costs a
/// little whatever its length.
pub(crate) const MAX_COLUMNS: usize = 10_000;

/// Bytes read at a time; a record longer than the buffer grows it.
const BLOCK: usize = 1 << 20;

/// The cells of one column, packed: their text end to end and where each ends.
#[derive(Debug, Clone, Default)]
pub(crate) struct Column {
    text: String,
    ends: Vec<u32>,
}

impl Column {
    /// Cell `i` (unquoted); `None` for an empty cell.
    pub fn get(&self, i: usize) -> Option<&str> {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        let end = self.ends[i] as usize;
        (end > start).then(|| &self.text[start..end])
    }

    /// Every cell in row order, as [`Column::get`].
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Option<&str>> + '_ {
        (0..self.ends.len()).map(|i| self.get(i))
    }

    /// Appends a field's raw bytes (already checked to be UTF-8), unquoting a quoted field.
    fn push(&mut self, path: &Path, name: &str, raw: &str) -> Result<()> {
        match quoted(raw) {
            Some(inner) if inner.contains("\"\"") => {
                let mut rest = inner;
                while let Some(k) = rest.find("\"\"") {
                    self.text.push_str(&rest[..=k]);
                    rest = &rest[k + 2..];
                }
                self.text.push_str(rest);
            }
            Some(inner) => self.text.push_str(inner),
            None => self.text.push_str(raw),
        }
        let end = u32::try_from(self.text.len()).map_err(|_| {
            csv_error(
                path,
                format!("column `{name}` holds more than 4 GiB of text; HitCast reads less"),
            )
        })?;
        self.ends.push(end);
        Ok(())
    }
}

/// What a read kept: the header, where each data record starts, and the wanted columns.
#[derive(Debug, Clone)]
pub(crate) struct Records {
    pub header: Vec<String>,
    /// Physical line (1-based) on which data record `i` (0-based) starts: differs from
    /// `i + 2` after a quoted field with a newline or a skipped blank line.
    pub lines: Vec<usize>,
    /// By header position: the cells of each column the caller wanted.
    pub columns: Vec<Option<Column>>,
}

fn csv_error(path: &Path, message: String) -> Error {
    Error::Csv {
        path: path.to_path_buf(),
        message,
    }
}

fn record_error(path: &Path, row: usize, line: usize, message: String) -> Error {
    Error::Record {
        path: path.to_path_buf(),
        row,
        line,
        message,
    }
}

fn delimiter_name(d: u8) -> String {
    match d {
        b',' => "comma".into(),
        b';' => "semicolon".into(),
        b'\t' => "tab".into(),
        b'|' => "pipe".into(),
        other => format!("`{}`", other as char),
    }
}

fn delimiter_flag(d: u8) -> &'static str {
    match d {
        b';' => "--delimiter ';'",
        b'\t' => "--delimiter tab",
        b'|' => "--delimiter '|'",
        _ => "--delimiter ','",
    }
}

/// One step of the tokenizer over `bytes[i..]`.
enum Step {
    /// A blank line (skipped); the next record starts at the offset.
    Blank(usize),
    /// A record whose fields were written out; the next starts at the offset, after this
    /// many newlines.
    Record(usize, usize),
    /// The buffer ends inside the record: read more and try again.
    More,
}

/// Splits the record at `bytes[i..]` with RFC 4180 quoting (`"` opens a quoted field at its
/// start, `""` inside is a quote) into `fields` (byte ranges). Blank lines outside quotes are
/// not records. `eof`: nothing follows `bytes`. `line`: the record's first line, for the
/// message of an unclosed quote.
fn split_record(
    path: &Path,
    bytes: &[u8],
    mut i: usize,
    eof: bool,
    delimiter: u8,
    line: usize,
    fields: &mut Vec<(usize, usize)>,
) -> Result<Step> {
    let n = bytes.len();
    // A blank line (or one holding only `\r`) is not a record.
    if bytes[i] == b'\n' {
        return Ok(Step::Blank(i + 1));
    }
    if bytes[i] == b'\r' {
        match bytes.get(i + 1) {
            Some(b'\n') => return Ok(Step::Blank(i + 2)),
            None if !eof => return Ok(Step::More),
            _ => {}
        }
    }
    fields.clear();
    let mut newlines = 0usize;
    loop {
        let field_start = i;
        if i < n && bytes[i] == b'"' {
            let quote_line = line + newlines;
            i += 1;
            loop {
                match bytes.get(i) {
                    None if eof => {
                        return Err(csv_error(
                            path,
                            format!("a quoted field opened on line {quote_line} is never closed"),
                        ))
                    }
                    None => return Ok(Step::More),
                    Some(b'"') => match bytes.get(i + 1) {
                        Some(b'"') => i += 2,
                        None if !eof => return Ok(Step::More),
                        _ => {
                            i += 1;
                            break;
                        }
                    },
                    Some(b'\n') => {
                        newlines += 1;
                        i += 1;
                    }
                    Some(_) => i += 1,
                }
            }
        }
        while i < n && bytes[i] != delimiter && bytes[i] != b'\n' {
            i += 1;
        }
        if i == n && !eof {
            return Ok(Step::More);
        }
        let mut end = i;
        // The last field of a line: strip the `\r` of a CRLF line ending.
        if end > field_start && bytes.get(end) != Some(&delimiter) && bytes[end - 1] == b'\r' {
            end -= 1;
        }
        fields.push((field_start, end));
        if i < n && bytes[i] == delimiter {
            i += 1;
            continue;
        }
        if i < n {
            // The newline.
            i += 1;
            newlines += 1;
        }
        return Ok(Step::Record(i, newlines));
    }
}

/// What lies between a field's quotes (`""` not yet collapsed), if it is quoted.
fn quoted(raw: &str) -> Option<&str> {
    raw.strip_prefix('"')?.strip_suffix('"')
}

/// The text of a header field, unquoted and trimmed.
fn unquote(raw: &str) -> String {
    let t = raw.trim();
    match quoted(t) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => t.to_string(),
    }
}

/// A buffered view of the source: `buf[start..]` is read but not yet used.
struct Stream<R> {
    source: R,
    buf: Vec<u8>,
    start: usize,
    eof: bool,
    /// Bytes read at a time (smaller in tests, to cut records at every byte).
    block: usize,
    /// Whether new bytes are checked for NUL (after the first are checked for a known
    /// binary format, which says more).
    checked: bool,
}

fn no_nul(path: &Path, bytes: &[u8]) -> Result<()> {
    if bytes.contains(&0) {
        return Err(csv_error(
            path,
            "the file contains NUL bytes: it is binary, or UTF-16 text; save it as UTF-8 CSV"
                .into(),
        ));
    }
    Ok(())
}

impl<R: Read> Stream<R> {
    /// Keeps `buf[start..]`, moved to the front, and reads more after it (at least one byte,
    /// unless the source is done). The buffer doubles when the kept part fills half of it,
    /// so a record of any length is read in linear time.
    fn refill(&mut self, path: &Path) -> Result<()> {
        self.buf.drain(..self.start);
        self.start = 0;
        let kept = self.buf.len();
        let want = self.block.max(kept);
        self.buf.resize(kept + want, 0);
        let mut filled = kept;
        while filled < self.buf.len() {
            match self.source.read(&mut self.buf[filled..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(k) => filled += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(path, e)),
            }
        }
        self.buf.truncate(filled);
        if self.checked {
            no_nul(path, &self.buf[kept..])?;
        }
        Ok(())
    }

    /// Finds the next record, its fields in `fields`, and returns the line it starts on;
    /// `None` at the end of the file. `line` is the line at `start` and moves past the record.
    fn next_record(
        &mut self,
        path: &Path,
        delimiter: u8,
        line: &mut usize,
        fields: &mut Vec<(usize, usize)>,
    ) -> Result<Option<usize>> {
        loop {
            if self.start == self.buf.len() {
                if self.eof {
                    return Ok(None);
                }
                self.refill(path)?;
                continue;
            }
            match split_record(
                path, &self.buf, self.start, self.eof, delimiter, *line, fields,
            )? {
                Step::Blank(at) => {
                    self.start = at;
                    *line += 1;
                }
                Step::Record(at, newlines) => {
                    let first = *line;
                    self.start = at;
                    *line += newlines;
                    return Ok(Some(first));
                }
                Step::More => self.refill(path)?,
            }
        }
    }
}

/// Reads the CSV at `path` from `source` with `delimiter`, keeping the columns for which
/// `wanted` (given the header) returns `true`.
///
/// # Errors
/// [`Error::Csv`] for a compressed or binary file, a header that looks separated by another
/// delimiter, a duplicated column name or an unclosed quote; [`Error::Record`] naming the
/// row and line of a record with the wrong number of fields or invalid UTF-8;
/// [`Error::Empty`] when no data record follows the header; [`Error::Io`] when the source
/// cannot be read.
pub(crate) fn read(
    path: &Path,
    source: impl Read,
    delimiter: u8,
    wanted: impl FnOnce(&[String]) -> Vec<bool>,
) -> Result<Records> {
    read_blocks(path, source, delimiter, wanted, BLOCK)
}

fn read_blocks(
    path: &Path,
    source: impl Read,
    delimiter: u8,
    wanted: impl FnOnce(&[String]) -> Vec<bool>,
    block: usize,
) -> Result<Records> {
    // The tokenizer splits bytes: a delimiter must be one ASCII byte that is not a quote or
    // a line ending (a byte of a multi-byte character would cut characters in two).
    if !delimiter.is_ascii() || matches!(delimiter, b'"' | b'\n' | b'\r') {
        return Err(csv_error(
            path,
            format!(
                "the delimiter must be one ASCII character other than a quote or a line ending, not byte {delimiter:#04x}"
            ),
        ));
    }
    let mut s = Stream {
        source,
        buf: Vec::new(),
        start: 0,
        eof: false,
        block,
        checked: false,
    };
    // The first block holds the magic bytes, if any.
    while !s.eof && s.buf.len() < 4 {
        s.refill(path)?;
    }
    if s.buf.starts_with(&[0x1f, 0x8b]) {
        return Err(csv_error(
            path,
            "this is a gzip-compressed file, not a CSV: decompress it first (`gunzip -k FILE`) and pass the .csv".into(),
        ));
    }
    if s.buf.starts_with(b"PK\x03\x04") {
        return Err(csv_error(
            path,
            "this is a zip archive (or an Excel workbook), not a CSV: extract or export it as CSV first".into(),
        ));
    }
    no_nul(path, &s.buf)?;
    s.checked = true;
    if s.buf.starts_with(&[0xef, 0xbb, 0xbf]) {
        s.start = 3;
    }
    let mut fields: Vec<(usize, usize)> = Vec::new();
    let mut line = 1usize;
    let Some(_) = s.next_record(path, delimiter, &mut line, &mut fields)? else {
        return Err(Error::Empty {
            path: path.to_path_buf(),
        });
    };
    let header = header_of(path, &s.buf, &fields, delimiter)?;
    let width = header.len();
    let keep = wanted(&header);
    let mut columns: Vec<Option<Column>> = (0..width)
        .map(|j| keep.get(j).copied().unwrap_or(false).then(Column::default))
        .collect();
    let kept: Vec<usize> = (0..width).filter(|&j| columns[j].is_some()).collect();
    let mut lines = Vec::new();
    while let Some(start_line) = s.next_record(path, delimiter, &mut line, &mut fields)? {
        let row = lines.len() + 1;
        if fields.len() != width {
            return Err(record_error(
                path,
                row,
                start_line,
                format!(
                    "has {} fields, but the header has {width} (split at the {} delimiter; a field holding the delimiter must be quoted)",
                    fields.len(),
                    delimiter_name(delimiter)
                ),
            ));
        }
        let (first, last) = (fields[0].0, fields[width - 1].1);
        let text = match std::str::from_utf8(&s.buf[first..last]) {
            Ok(t) => t,
            Err(_) => {
                // Name the field: the first one that is not UTF-8 on its own.
                for (j, &(a, b)) in fields.iter().enumerate() {
                    if let Err(e) = std::str::from_utf8(&s.buf[a..b]) {
                        return Err(record_error(
                            path,
                            row,
                            start_line,
                            format!(
                                "column `{}` is not valid UTF-8 text (byte {} of the field); save the file as UTF-8",
                                header[j],
                                e.valid_up_to() + 1
                            ),
                        ));
                    }
                }
                unreachable!("a record is UTF-8 when each of its fields is")
            }
        };
        for &j in &kept {
            let (a, b) = fields[j];
            if let Some(column) = columns[j].as_mut() {
                column.push(path, &header[j], &text[a - first..b - first])?;
            }
        }
        lines.push(start_line);
    }
    if lines.is_empty() {
        return Err(Error::Empty {
            path: path.to_path_buf(),
        });
    }
    for column in columns.iter_mut().flatten() {
        column.text.shrink_to_fit();
        column.ends.shrink_to_fit();
    }
    lines.shrink_to_fit();
    Ok(Records {
        header,
        lines,
        columns,
    })
}

/// The header's names, checked: UTF-8, not too many, not one column of another delimiter's
/// fields, not all numbers, no name twice.
fn header_of(
    path: &Path,
    bytes: &[u8],
    fields: &[(usize, usize)],
    delimiter: u8,
) -> Result<Vec<String>> {
    let header_text = std::str::from_utf8(&bytes[fields[0].0..fields.last().map_or(0, |f| f.1)])
        .map_err(|_| {
            csv_error(
                path,
                "the header line is not valid UTF-8 text; save the file as UTF-8".into(),
            )
        })?;
    let header: Vec<String> = fields
        .iter()
        .map(|&(a, b)| unquote(std::str::from_utf8(&bytes[a..b]).unwrap_or_default()))
        .collect();
    if header.len() > MAX_COLUMNS {
        return Err(csv_error(
            path,
            format!(
                "the header has {} columns, more than the {MAX_COLUMNS} HitCast reads; keep the columns you need (e.g. `cut -d, -f1-50`)",
                header.len()
            ),
        ));
    }
    if header.len() == 1 {
        let other = [b';', b'\t', b'|', b',']
            .into_iter()
            .filter(|&d| d != delimiter)
            .max_by_key(|&d| header_text.bytes().filter(|&b| b == d).count())
            .filter(|&d| header_text.bytes().any(|b| b == d));
        if let Some(d) = other {
            return Err(csv_error(
                path,
                format!(
                    "the header has one column when split at the {} delimiter: this looks like a {}-separated file: use {}",
                    delimiter_name(delimiter),
                    delimiter_name(d),
                    delimiter_flag(d)
                ),
            ));
        }
    }
    if header.iter().all(|h| h.parse::<f64>().is_ok()) {
        return Err(csv_error(
            path,
            "no header row: the first line holds only numbers, but the first line must name the columns".into(),
        ));
    }
    // A map, not a scan of the earlier names: a header of 10⁵ columns is a few MB.
    let mut first: HashMap<&str, usize> = HashMap::with_capacity(header.len());
    for (j, name) in header.iter().enumerate() {
        if let Some(&k) = first.get(name.as_str()) {
            return Err(csv_error(
                path,
                format!(
                    "column `{name}` appears twice in the header (columns {} and {}); rename one",
                    k + 1,
                    j + 1
                ),
            ));
        }
        first.insert(name, j);
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(bytes: &[u8], delimiter: u8, block: usize) -> Result<Records> {
        read_blocks(
            Path::new("t.csv"),
            bytes,
            delimiter,
            |h| vec![true; h.len()],
            block,
        )
    }

    fn scan(_: &Path, bytes: &[u8], delimiter: u8) -> Result<Records> {
        all(bytes, delimiter, BLOCK)
    }

    fn ok(text: &str) -> Records {
        scan(Path::new("t.csv"), text.as_bytes(), b',').unwrap()
    }

    fn err(bytes: &[u8], delimiter: u8) -> String {
        scan(Path::new("t.csv"), bytes, delimiter)
            .unwrap_err()
            .to_string()
    }

    fn cells(r: &Records) -> Vec<Vec<Option<String>>> {
        r.columns
            .iter()
            .map(|c| {
                c.as_ref()
                    .unwrap()
                    .iter()
                    .map(|v| v.map(str::to_string))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn cells_are_unquoted_and_empty_cells_are_none() {
        let r = ok("a,b,c\n\"x,\"\"y\"\"\",,\"\"\n 1 ,\"p\nq\",z\r\n");
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            cells(&r),
            [
                vec![s("x,\"y\""), s(" 1 ")],
                vec![None, s("p\nq")],
                vec![None, s("z")]
            ]
        );
    }

    #[test]
    fn records_cut_at_every_byte_read_the_same() {
        // Every block size cuts some record, quote, `""` or CRLF in two.
        let text = b"\xef\xbb\xbfa,b\r\n1,\"x\ny\nz\"\r\n\r\n2,3\n\n4,\"q\"\"r\"\n5,\"\"\"\"\"\"";
        let whole = all(text, b',', BLOCK).unwrap();
        assert_eq!(whole.lines, [2, 6, 8, 9]);
        for block in 1..text.len() + 2 {
            let r = all(text, b',', block).unwrap();
            assert_eq!(
                (&r.header, &r.lines),
                (&whole.header, &whole.lines),
                "{block}"
            );
            assert_eq!(cells(&r), cells(&whole), "{block}");
        }
        let e = all(b"a,b\n1,\"open\n", b',', 2).unwrap_err().to_string();
        assert!(e.contains("opened on line 2 is never closed"), "{e}");
    }

    #[test]
    fn only_wanted_columns_are_kept() {
        let r = read(Path::new("t.csv"), &b"a,b,c\n1,2,3\n"[..], b',', |h| {
            h.iter().map(|c| c != "b").collect()
        })
        .unwrap();
        assert!(r.columns[1].is_none());
        assert_eq!(r.columns[2].as_ref().unwrap().get(0), Some("3"));
        assert_eq!(r.lines.len(), 1);
    }

    #[test]
    fn lines_follow_quoted_newlines_blank_lines_and_crlf() {
        let r = ok("a,b\r\n1,\"x\ny\nz\"\r\n\r\n2,3\n4,\"q\"\"r\"\n");
        assert_eq!(r.header, ["a", "b"]);
        assert_eq!(r.lines, [2, 6, 7]);
    }

    #[test]
    fn ragged_records_name_row_line_and_counts() {
        let e = err(b"a,b,c\n1,2,3\n\"x\ny\",2,3\n1,2,3,4\n", b',');
        assert!(
            e.contains("t.csv: row 3 (line 5): has 4 fields, but the header has 3"),
            "{e}"
        );
        let e = err(b"a,b,c\n1,2\n", b',');
        assert!(e.contains("row 1 (line 2): has 2 fields"), "{e}");
    }

    #[test]
    fn the_wrong_delimiter_is_named_with_the_flag() {
        let e = err(b"danceability;energy;tempo\n0,5;0,6;120\n", b',');
        assert!(
            e.contains("semicolon-separated file: use --delimiter ';'"),
            "{e}"
        );
        let e = err(b"a\tb\tc\n1\t2\t3\n", b',');
        assert!(e.contains("tab-separated file: use --delimiter tab"), "{e}");
        let r = scan(Path::new("t.csv"), b"a;b\n1;2\n", b';').unwrap();
        assert_eq!(r.header, ["a", "b"]);
    }

    #[test]
    fn binary_compressed_and_broken_files_are_named() {
        assert!(err(&[0x1f, 0x8b, 8, 0], b',').contains("gzip-compressed"));
        assert!(err(b"PK\x03\x04xx", b',').contains("zip archive"));
        assert!(err(b"a,b\n1,\"open\n", b',').contains("opened on line 2 is never closed"));
        let e = err(b"name,tempo\nok,1\nbad\xff\xfe,2\n", b',');
        assert!(
            e.contains("row 2 (line 3): column `name` is not valid UTF-8 text (byte 4"),
            "{e}"
        );
        let e = err(b"tempo,energy,tempo\n1,2,3\n", b',');
        assert!(
            e.contains("column `tempo` appears twice in the header (columns 1 and 3)"),
            "{e}"
        );
        assert!(err(b"a,b\n", b',').contains("no data rows"));
        assert!(err(b"", b',').contains("no data rows"));
        for d in [0xe9, b'"', b'\n'] {
            assert!(
                err(b"a,b\n1,2\n", d).contains("the delimiter must be one ASCII"),
                "{d}"
            );
        }
    }

    #[test]
    fn a_header_wider_than_the_cap_is_refused_quickly() {
        let wide = |n: usize| {
            let names: Vec<String> = (0..n).map(|j| format!("c{j}")).collect();
            format!("{}\n{}\n", names.join(","), vec!["1"; n].join(","))
        };
        assert_eq!(ok(&wide(MAX_COLUMNS)).header.len(), MAX_COLUMNS);
        let e = err(wide(MAX_COLUMNS + 1).as_bytes(), b',');
        assert!(
            e.contains("t.csv: cannot read CSV: the header has 10001 columns, more than the 10000"),
            "{e}"
        );
        // A repeat among many columns is named with the column it repeats.
        let mut names: Vec<String> = (0..MAX_COLUMNS).map(|j| format!("c{j}")).collect();
        names[MAX_COLUMNS - 1] = "c17".into();
        let e = err(format!("{}\n", names.join(",")).as_bytes(), b',');
        assert!(
            e.contains("column `c17` appears twice in the header (columns 18 and 10000)"),
            "{e}"
        );
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let r = scan(Path::new("t.csv"), b"\xef\xbb\xbfa,b\n1,2\n", b',').unwrap();
        assert_eq!(r.header[0].as_str(), "a");
    }
}

/// polars' CSV reader, the reader this one replaced, as an independent oracle: the same
/// cells from the same files.
#[cfg(test)]
mod polars_oracle {
    use polars::prelude::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// A random cell's text: letters, digits, spaces, and sometimes a delimiter, a quote, a
    /// newline or a carriage return, which force quoting.
    fn cell(rng: &mut ChaCha8Rng) -> String {
        const PLAIN: &[u8] = b"ab1.9- ";
        const SPECIAL: &[u8] = b",\"\n\r";
        let len = rng.gen_range(0..6);
        (0..len)
            .map(|_| {
                if rng.gen_bool(0.15) {
                    SPECIAL[rng.gen_range(0..SPECIAL.len())] as char
                } else {
                    PLAIN[rng.gen_range(0..PLAIN.len())] as char
                }
            })
            .collect()
    }

    fn encode(text: &str, rng: &mut ChaCha8Rng) -> String {
        let must = text.contains([',', '"', '\n', '\r']);
        if must || (!text.is_empty() && rng.gen_bool(0.2)) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_string()
        }
    }

    #[test]
    fn cells_match_polars_on_random_files() {
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        for case in 0..300 {
            let width = rng.gen_range(1..5);
            let rows = rng.gen_range(1..8);
            let crlf = rng.gen_bool(0.3);
            let eol = if crlf { "\r\n" } else { "\n" };
            let header: Vec<String> = (0..width).map(|j| format!("c{j}")).collect();
            let mut text = header.join(",");
            for _ in 0..rows {
                text.push_str(eol);
                let mut cells: Vec<String> = (0..width)
                    .map(|_| encode(&cell(&mut rng), &mut rng))
                    .collect();
                // A record of one empty field is a blank line: polars and HitCast skip it.
                if width == 1 && cells[0].is_empty() {
                    cells[0] = "x".into();
                }
                text.push_str(&cells.join(","));
            }
            if rng.gen_bool(0.5) {
                text.push_str(eol);
            }
            let ours = read(Path::new("t.csv"), text.as_bytes(), b',', |h| {
                vec![true; h.len()]
            })
            .unwrap_or_else(|e| panic!("case {case}: {e}\n{text:?}"));
            let df = CsvReadOptions::default()
                .with_has_header(true)
                .with_infer_schema_length(Some(0))
                .into_reader_with_file_handle(std::io::Cursor::new(text.clone().into_bytes()))
                .finish()
                .unwrap();
            assert_eq!(df.height(), ours.lines.len(), "case {case}: {text:?}");
            for (j, name) in header.iter().enumerate() {
                let theirs: Vec<Option<String>> = df
                    .column(name)
                    .unwrap()
                    .str()
                    .unwrap()
                    .iter()
                    // HitCast reads a quoted empty cell as empty too.
                    .map(|v| v.filter(|s| !s.is_empty()).map(str::to_string))
                    .collect();
                let mine: Vec<Option<String>> = ours.columns[j]
                    .as_ref()
                    .unwrap()
                    .iter()
                    .map(|v| v.map(str::to_string))
                    .collect();
                assert_eq!(mine, theirs, "case {case}, column {name}: {text:?}");
            }
        }
    }
}
