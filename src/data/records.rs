//! A first pass over a CSV's bytes, before polars parses it: the shape of every record and
//! the physical line it starts on, so that each problem is reported with its row, line and
//! field count instead of a parser's internal message. It finds compressed files, the wrong
//! delimiter, ragged records, unclosed quotes, invalid UTF-8 and duplicated headers.

use std::path::Path;

use crate::error::{Error, Result};

/// What the scan learnt: the header and where each data record starts.
#[derive(Debug, Clone)]
pub(crate) struct Records {
    pub header: Vec<String>,
    /// Physical line (1-based) on which data record `i` (0-based) starts: differs from
    /// `i + 2` after a quoted field with a newline or a skipped blank line.
    pub lines: Vec<usize>,
    /// Bytes a UTF-8 byte-order mark took at the start (skipped when parsing).
    pub bom: usize,
    /// When blank lines were skipped: the header and records alone, one per line, for the
    /// parser (which would read a blank line as a row of empty cells).
    pub cleaned: Option<Vec<u8>>,
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

/// One record's fields as byte ranges, and where it starts.
struct Record {
    fields: Vec<(usize, usize)>,
    start_line: usize,
    /// The record's bytes, without its line ending.
    span: (usize, usize),
}

/// Splits `bytes` into records with RFC 4180 quoting (`"` opens a quoted field at its start,
/// `""` inside is a quote). Blank lines outside quotes are skipped, as polars skips them.
fn split_records(path: &Path, bytes: &[u8], delimiter: u8) -> Result<(Vec<Record>, bool)> {
    let mut records = Vec::new();
    let mut skipped = false;
    let mut line = 1usize;
    let mut i = 0usize;
    let n = bytes.len();
    while i < n {
        let start_line = line;
        // A blank line (or one holding only `\r`) is not a record.
        if bytes[i] == b'\n' || (bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n')) {
            i += if bytes[i] == b'\r' { 2 } else { 1 };
            line += 1;
            skipped = true;
            continue;
        }
        let mut fields = Vec::new();
        let record_start = i;
        loop {
            let field_start = i;
            if i < n && bytes[i] == b'"' {
                let quote_line = line;
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => {
                            return Err(csv_error(
                                path,
                                format!(
                                    "a quoted field opened on line {quote_line} is never closed"
                                ),
                            ))
                        }
                        Some(b'"') if bytes.get(i + 1) == Some(&b'"') => i += 2,
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\n') => {
                            line += 1;
                            i += 1;
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            while i < n && bytes[i] != delimiter && bytes[i] != b'\n' {
                i += 1;
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
                line += 1;
            }
            break;
        }
        let span = (record_start, fields.last().map_or(record_start, |f| f.1));
        records.push(Record {
            fields,
            start_line,
            span,
        });
    }
    Ok((records, skipped))
}

/// The text of a field, unquoted.
fn unquote(raw: &str) -> String {
    let t = raw.trim();
    if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') {
        t[1..t.len() - 1].replace("\"\"", "\"")
    } else {
        t.to_string()
    }
}

/// Scans `bytes` (the whole file at `path`) with `delimiter`.
///
/// # Errors
/// [`Error::Csv`] for a compressed or binary file, a header that looks separated by another
/// delimiter, a duplicated column name or an unclosed quote; [`Error::Record`] naming the
/// row and line of a record with the wrong number of fields or invalid UTF-8;
/// [`Error::Empty`] when no data record follows the header.
pub(crate) fn scan(path: &Path, bytes: &[u8], delimiter: u8) -> Result<Records> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return Err(csv_error(
            path,
            "this is a gzip-compressed file, not a CSV: decompress it first (`gunzip -k FILE`) and pass the .csv".into(),
        ));
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return Err(csv_error(
            path,
            "this is a zip archive (or an Excel workbook), not a CSV: extract or export it as CSV first".into(),
        ));
    }
    let bom = if bytes.starts_with(&[0xef, 0xbb, 0xbf]) {
        3
    } else {
        0
    };
    let body = &bytes[bom..];
    if body.contains(&0) {
        return Err(csv_error(
            path,
            "the file contains NUL bytes: it is binary, or UTF-16 text; save it as UTF-8 CSV"
                .into(),
        ));
    }
    let (records, skipped_blank) = split_records(path, body, delimiter)?;
    let Some(head) = records.first() else {
        return Err(Error::Empty {
            path: path.to_path_buf(),
        });
    };
    let header_text =
        std::str::from_utf8(&body[head.fields[0].0..head.fields.last().map_or(0, |f| f.1)])
            .map_err(|_| {
                csv_error(
                    path,
                    "the header line is not valid UTF-8 text; save the file as UTF-8".into(),
                )
            })?;
    let header: Vec<String> = head
        .fields
        .iter()
        .map(|&(a, b)| unquote(std::str::from_utf8(&body[a..b]).unwrap_or_default()))
        .collect();
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
    for (j, name) in header.iter().enumerate() {
        if let Some(k) = header[..j].iter().position(|h| h == name) {
            return Err(csv_error(
                path,
                format!(
                    "column `{name}` appears twice in the header (columns {} and {}); rename one",
                    k + 1,
                    j + 1
                ),
            ));
        }
    }
    if records.len() < 2 {
        return Err(Error::Empty {
            path: path.to_path_buf(),
        });
    }
    let width = header.len();
    let mut lines = Vec::with_capacity(records.len() - 1);
    for (row0, rec) in records[1..].iter().enumerate() {
        let row = row0 + 1;
        if rec.fields.len() != width {
            return Err(record_error(
                path,
                row,
                rec.start_line,
                format!(
                    "has {} fields, but the header has {width} (split at the {} delimiter; a field holding the delimiter must be quoted)",
                    rec.fields.len(),
                    delimiter_name(delimiter)
                ),
            ));
        }
        for (j, &(a, b)) in rec.fields.iter().enumerate() {
            if let Err(e) = std::str::from_utf8(&body[a..b]) {
                return Err(record_error(
                    path,
                    row,
                    rec.start_line,
                    format!(
                        "column `{}` is not valid UTF-8 text (byte {} of the field); save the file as UTF-8",
                        header[j],
                        e.valid_up_to() + 1
                    ),
                ));
            }
        }
        lines.push(rec.start_line);
    }
    let cleaned = skipped_blank.then(|| {
        let mut out = Vec::with_capacity(body.len());
        for r in &records {
            out.extend_from_slice(&body[r.span.0..r.span.1]);
            out.push(b'\n');
        }
        out
    });
    Ok(Records {
        header,
        lines,
        bom,
        cleaned,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Records {
        scan(Path::new("t.csv"), text.as_bytes(), b',').unwrap()
    }

    fn err(bytes: &[u8], delimiter: u8) -> String {
        scan(Path::new("t.csv"), bytes, delimiter)
            .unwrap_err()
            .to_string()
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
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let r = scan(Path::new("t.csv"), b"\xef\xbb\xbfa,b\n1,2\n", b',').unwrap();
        assert_eq!((r.header[0].as_str(), r.bom), ("a", 3));
    }
}
