//! `.env` files as common dotenv readers (python-dotenv, dotenvy) read them: a BOM and CRLF
//! accepted, blank and `#` lines skipped, an optional `export `, `KEY=value` with spaces
//! around `=` trimmed, ` #` starting a comment in unquoted values, `'…'` literal, `"…"` with
//! `\n \t \" \\` escapes (may span lines), `KEY=` empty. Errors name the line. Pure: the
//! binary reads the file.

/// One `KEY=value` of a `.env` file, with the line it starts on (from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// Parses `text`.
///
/// # Errors
/// `(line, message)` of the first line that is not `KEY=value`, an invalid key, or an
/// unterminated quote.
pub fn parse(text: &str) -> Result<Vec<Entry>, (usize, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut entries = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let start = i + 1;
        let line = lines[i].trim_start();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let Some((key, rest)) = line.split_once('=') else {
            // The line may hold a secret: say what is wrong, not what it says.
            return Err((start, "expected KEY=VALUE (the line has no `=`)".into()));
        };
        let key = key.trim();
        let valid = key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !valid {
            // Not echoed: a mangled line may hold the secret itself.
            return Err((
                start,
                "the name before `=` is not a variable name (letters, digits, `_`, `.`; not starting with a digit; no spaces)".into(),
            ));
        }
        let rest = rest.trim_start();
        let value = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => {
                // The value runs to the matching quote, possibly over several lines.
                let mut body = rest[1..].to_string();
                let mut value = String::new();
                loop {
                    let mut chars = body.char_indices();
                    let mut closed = None;
                    while let Some((k, c)) = chars.next() {
                        match c {
                            '\\' if q == '"' => match chars.next() {
                                Some((_, 'n')) => value.push('\n'),
                                Some((_, 't')) => value.push('\t'),
                                Some((_, 'r')) => value.push('\r'),
                                Some((_, e @ ('"' | '\\' | '$' | '\''))) => value.push(e),
                                Some((_, e)) => {
                                    value.push('\\');
                                    value.push(e);
                                }
                                None => value.push('\\'),
                            },
                            c if c == q => {
                                closed = Some(k + c.len_utf8());
                                break;
                            }
                            c => value.push(c),
                        }
                    }
                    if let Some(end) = closed {
                        let after = body[end..].trim();
                        if !after.is_empty() && !after.starts_with('#') {
                            return Err((start, "unexpected text after the closing quote".into()));
                        }
                        break;
                    }
                    if i >= lines.len() {
                        return Err((
                            start,
                            format!(
                                "unterminated {} quote",
                                if q == '"' { "double" } else { "single" }
                            ),
                        ));
                    }
                    value.push('\n');
                    body = lines[i].to_string();
                    i += 1;
                }
                value
            }
            _ => {
                // ` #` starts a comment; a `#` inside a word (`a#b`) does not.
                let cut = rest
                    .char_indices()
                    .find(|&(k, c)| c == '#' && k > 0 && rest[..k].ends_with([' ', '\t']))
                    .map_or(rest.len(), |(k, _)| k);
                let v = if rest.starts_with('#') {
                    ""
                } else {
                    &rest[..cut]
                };
                v.trim().to_string()
            }
        };
        entries.push(Entry {
            key: key.to_string(),
            value,
            line: start,
        });
    }
    Ok(entries)
}

/// Reads credential `name` from the environment, then from the dotenv file `env_file` (a
/// git-ignored `.env`; absent is fine). An empty value counts as unset; the last entry of a
/// key wins, as dotenv readers do. The value is never logged.
///
/// # Errors
/// [`crate::Error::Io`] when `env_file` exists but cannot be read; [`crate::Error::Config`]
/// naming the file and line of a malformed entry.
pub fn credential(name: &str, env_file: &std::path::Path) -> crate::Result<Option<String>> {
    if let Ok(v) = std::env::var(name) {
        if !v.trim().is_empty() {
            return Ok(Some(v));
        }
    }
    let text = match std::fs::read_to_string(env_file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(crate::Error::io(env_file, e)),
    };
    let entries = parse(&text).map_err(|(line, message)| {
        crate::Error::Config(format!("{} line {line}: {message}", env_file.display()))
    })?;
    Ok(entries
        .into_iter()
        .rev()
        .find(|e| e.key == name)
        .map(|e| e.value)
        .filter(|v| !v.trim().is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(text: &str) -> Vec<(String, String)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect()
    }

    #[test]
    fn reads_what_dotenv_readers_read() {
        let text = "\u{feff}# credentials\r\nexport SPOTIFY_CLIENT_ID = abc123 # my app\r\nSECRET='lit #eral \\n'\nQ=\"a\\\"b\\nc\" # note\nEMPTY=\nHASH=a#b\nML=\"one\ntwo\"\n\n  SPACED=  v  \n";
        assert_eq!(
            kv(text),
            [
                ("SPOTIFY_CLIENT_ID", "abc123"),
                ("SECRET", "lit #eral \\n"),
                ("Q", "a\"b\nc"),
                ("EMPTY", ""),
                ("HASH", "a#b"),
                ("ML", "one\ntwo"),
                ("SPACED", "v"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        let lines: Vec<usize> = parse(text).unwrap().iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6, 7, 10]);
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            parse("A=1\n\nSPOTIFY_CLIENT_ID: x\n").unwrap_err(),
            (3, "expected KEY=VALUE (the line has no `=`)".into())
        );
        assert_eq!(
            parse("A=1\nB=\"open\nC=2\n").unwrap_err(),
            (2, "unterminated double quote".into())
        );
        assert_eq!(
            parse("1A=x").unwrap_err(),
            (1, "the name before `=` is not a variable name (letters, digits, `_`, `.`; not starting with a digit; no spaces)".into())
        );
        assert_eq!(
            parse("A='x' y").unwrap_err(),
            (1, "unexpected text after the closing quote".into())
        );
    }
}
